package prober

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// droppingPort returns a loopback port whose SYNs are dropped, as a
// firewall would: a listener whose accept queue (backlog 0) is full and
// that never accepts.
func droppingPort(t *testing.T) int32 {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; i < 2; i++ { // fill the queue
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	return int32(port)
}

func TestReach(t *testing.T) {
	_, open := hostPort(t, acceptingListener(t).Addr().String())
	_, closed := hostPort(t, closedPort(t))
	drop1, drop2 := droppingPort(t), droppingPort(t)
	s := &Sockets{Timeout: 500 * time.Millisecond, Limit: NewLimiter(100)}
	start := time.Now()
	got := s.Reach(context.Background(), []ReachTarget{
		{Host: "127.0.0.1", Ports: []int32{drop1, open}},   // one Service firewalled, the other answers
		{Host: "127.0.0.1", Ports: []int32{closed, drop1}}, // a refusal is an answer
		{Host: "127.0.0.1", Ports: []int32{drop1, drop2}},  // nothing answers
	})
	took := time.Since(start)
	if !got[0].Answered() || got[0].Ports[1] != probe.OK || got[0].Ports[0] != "" || got[0].Silent() {
		t.Errorf("answering target: %+v", got[0])
	}
	if !got[1].Answered() || got[1].Ports[0] != probe.Refused {
		t.Errorf("refusing target: %+v", got[1])
	}
	if got[2].Answered() || !got[2].Silent() || got[2].Ports[0] != probe.Timeout || got[2].Detail == "" {
		t.Errorf("silent target: %+v", got[2])
	}
	if took > 950*time.Millisecond { // two timeouts in a row would be 1s
		t.Errorf("took %s, want about one timeout", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := s.Reach(ctx, []ReachTarget{{Host: "127.0.0.1", Ports: []int32{drop1}}}); r[0].Silent() || r[0].Answered() {
		t.Errorf("a stopped run concludes nothing: %+v", r[0])
	}
}
