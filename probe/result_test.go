package probe

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	refused := Classify(func() error { _, err := net.Dial("tcp", closed); return err }())
	if refused != Refused {
		t.Errorf("refused dial = %s", refused)
	}
	dnsErr := &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "web.default.svc.cluster.local", IsNotFound: true}}
	if got := Classify(dnsErr); got != DNSError {
		t.Errorf("DNS error classified %s", got)
	}
	if Classify(context.DeadlineExceeded) != Timeout || Classify(nil) != OK || Classify(fmt.Errorf("boom")) != Error {
		t.Error("basic classes wrong")
	}
	// A blackhole route, a prohibit route, a firewall on the way out: the
	// host does not send the connection. Not the same errno elsewhere.
	for _, errno := range []syscall.Errno{syscall.EINVAL, syscall.EACCES, syscall.EPERM} {
		dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
		if got := Classify(dial); got != NoRoute {
			t.Errorf("dial %v classified %s, want noRoute", errno, got)
		}
		if got := Classify(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}); got != Error {
			t.Errorf("read %v classified %s, want error", errno, got)
		}
	}
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		want Want
		r    Result
		pass bool
	}{
		{Reach, Result{Outcome: OK, Connections: 3}, true},
		{Reach, Result{Outcome: Refused, Connections: 3, Failures: 1}, false},
		{NoReach, Result{Outcome: Timeout, Connections: 1, Failures: 1}, true},
		{NoReach, Result{Outcome: OK, Connections: 1}, false},
		{NoReach, Result{Outcome: NoAnswer, Connections: 1, Failures: 1, Observed: map[Outcome]int{NoAnswer: 1}}, false},
		{NoReach, Result{Outcome: Timeout, Connections: 2, Failures: 2, Observed: map[Outcome]int{Timeout: 2}}, true},
		{Reach, Result{Outcome: ServerError, Connections: 2, Failures: 1, Observed: map[Outcome]int{OK: 1, ServerError: 1}}, false},
		{Unknown, Result{Outcome: Refused, Connections: 1, Failures: 1}, true},
		{Reach, Result{Outcome: NotRun}, true},
	} {
		r := tc.r
		Evaluate(&Probe{Expect: Expectation{Want: tc.want}}, &r)
		if r.Pass != tc.pass {
			t.Errorf("%s with %+v: pass=%v", tc.want, tc.r, r.Pass)
		}
	}
}
