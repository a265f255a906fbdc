package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func hostPort(t *testing.T, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}

// listener returns a TCP listener on 127.0.0.1 that accepts and closes.
func acceptingListener(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// podServer answers like the seed's hostname server, cycling through names.
func podServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

func cycling(names ...string) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "Hello from %s\n", names[int(n.Add(1)-1)%len(names)])
	}
}

func TestLocalProbe(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var flaky atomic.Int64
	tests := []struct {
		name  string
		addr  func(t *testing.T) string
		probe Probe
		check func(t *testing.T, r Result)
	}{
		{"tcp accepting", func(t *testing.T) string { return acceptingListener(t).Addr().String() }, Probe{Attempts: 1},
			func(t *testing.T, r Result) {
				if r.Outcome != OK || r.Attempts != 1 || r.Failures != 0 || r.Latency <= 0 {
					t.Errorf("got %+v", r)
				}
			}},
		{"tcp refused", closedPort, Probe{Attempts: 1},
			func(t *testing.T, r Result) {
				if r.Outcome != Refused || r.Failures != 1 || r.Detail == "" {
					t.Errorf("got %+v", r)
				}
			}},
		{"refused path stops after two failures", closedPort, Probe{Attempts: 10, HTTP: true, Backends: []string{"a", "b"}},
			func(t *testing.T, r Result) {
				if r.Outcome != Refused || r.Attempts != 2 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http never answers: timeout", func(t *testing.T) string {
			return podServer(t, func(http.ResponseWriter, *http.Request) { <-hang })
		}, Probe{Attempts: 1, HTTP: true},
			func(t *testing.T, r Result) {
				if r.Outcome != Timeout {
					t.Errorf("got %+v", r)
				}
			}},
		{"http attributes every backend", func(t *testing.T) string { return podServer(t, cycling("web-a", "web-b", "web-c")) },
			Probe{Attempts: Budget(3), HTTP: true, Backends: []string{"web-a", "web-b", "web-c"}},
			func(t *testing.T, r Result) {
				if r.Outcome != OK || r.Attempts != 3 || len(r.Seen) != 3 || r.Attribution != AttrHTTPBody || r.HTTPStatus != 200 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http partial coverage spends the budget", func(t *testing.T) string { return podServer(t, cycling("web-a")) },
			Probe{Attempts: 7, HTTP: true, Backends: []string{"web-a", "web-b"}},
			func(t *testing.T, r Result) {
				if r.Outcome != OK || r.Attempts != 7 || r.Backend != "web-a" || len(r.Seen) != 1 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http anonymous answer stops at one", func(t *testing.T) string { return podServer(t, cycling("nginx")) },
			Probe{Attempts: 10, HTTP: true, Backends: []string{"web-a", "web-b"}},
			func(t *testing.T, r Result) {
				if r.Outcome != OK || r.Attempts != 1 || len(r.Seen) != 0 || r.Attribution != "" {
					t.Errorf("got %+v", r)
				}
			}},
		{"http some connections reset", func(t *testing.T) string {
			return podServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if flaky.Add(1)%2 == 0 {
					c, _, _ := w.(http.Hijacker).Hijack()
					_ = c.(*net.TCPConn).SetLinger(0)
					_ = c.Close()
					return
				}
				fmt.Fprint(w, "web-a")
			})
		}, Probe{Attempts: 6, HTTP: true, Backends: []string{"web-a", "web-b"}},
			func(t *testing.T, r Result) {
				if r.Outcome == OK || r.Failures != 3 || r.Attempts != 6 || r.Backend != "web-a" {
					t.Errorf("got %+v", r)
				}
				Evaluate(&Probe{Expect: Expectation{Want: Reach}}, &r)
				if r.Pass {
					t.Error("a path that dropped 3 of 6 connections passed a reach expectation")
				}
			}},
		{"http to a port that does not speak HTTP still reaches", func(t *testing.T) string {
			l := acceptingListener(t)
			return l.Addr().String()
		}, Probe{Attempts: 1, HTTP: true, Via: ViaEndpoint, Backends: []string{"raw-0"}},
			func(t *testing.T, r Result) {
				if r.Outcome != OK || r.HTTPStatus != 0 || r.Backend != "raw-0" || r.Attribution != AttrDirect {
					t.Errorf("got %+v", r)
				}
			}},
		{"skipped probe does not dial", closedPort, Probe{Skip: "protocol UDP is not probed"},
			func(t *testing.T, r Result) {
				if r.Outcome != NotRun || r.Attempts != 0 || r.Detail != "protocol UDP is not probed" {
					t.Errorf("got %+v", r)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.probe
			p.ID = tc.name
			p.Host, p.TargetPort = hostPort(t, tc.addr(t))
			l := &Local{Timeout: 300 * time.Millisecond}
			r := l.Probe(context.Background(), &p)
			if r.ID != p.ID {
				t.Errorf("ID = %q", r.ID)
			}
			tc.check(t, r)
		})
	}
}

func TestLocalProbeInterrupted(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	addr := podServer(t, func(http.ResponseWriter, *http.Request) { <-hang })
	p := Probe{ID: "x", HTTP: true, Attempts: 1}
	p.Host, p.TargetPort = hostPort(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r := (&Local{Timeout: 10 * time.Second}).Probe(ctx, &p)
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
	if r.Outcome != NotRun || !r.Interrupted || r.Attempts != 0 {
		t.Errorf("got %+v, want notRun interrupted", r)
	}
}

func TestAttribute(t *testing.T) {
	cands := []string{"web-1", "web-12", "api-1"}
	for _, tc := range []struct{ text, want string }{
		{"Hello from web-1\n", "web-1"},
		{"web-12", "web-12"},
		{"<h1>web-12</h1> and web-1", ""}, // two names: ambiguous
		{"myweb-1", ""},
		{"X-Pod: api-1\nok", "api-1"},
		{"web-1.default.svc", "web-1"},
		{"nothing", ""},
	} {
		if got := Attribute(tc.text, cands); got != tc.want {
			t.Errorf("Attribute(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	refused := Classify(func() error { _, err := net.Dial("tcp", closedPort(t)); return err }())
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
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		want Want
		r    Result
		pass bool
	}{
		{Reach, Result{Outcome: OK, Attempts: 3}, true},
		{Reach, Result{Outcome: Refused, Attempts: 3, Failures: 1}, false},
		{NoReach, Result{Outcome: Timeout, Attempts: 1, Failures: 1}, true},
		{NoReach, Result{Outcome: OK, Attempts: 1}, false},
		{Unknown, Result{Outcome: Refused, Attempts: 1, Failures: 1}, true},
		{Reach, Result{Outcome: NotRun}, true},
	} {
		r := tc.r
		Evaluate(&Probe{Expect: Expectation{Want: tc.want}}, &r)
		if r.Pass != tc.pass {
			t.Errorf("%s with %+v: pass=%v", tc.want, tc.r, r.Pass)
		}
	}
}
