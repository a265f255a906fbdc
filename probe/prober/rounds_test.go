package prober

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// silentListener accepts connections and never answers, counting how many
// are open at once.
func silentListener(t *testing.T) (addr string, open, peak *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open, peak = new(atomic.Int64), new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			go func() {
				_, _ = io.Copy(io.Discard, c) // until the client gives up
				open.Add(-1)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return l.Addr().String(), open, peak
}

// TestDeadPathConfirmedInOneTimeout: two failed connections confirm a dead
// path, made at once, so it costs one timeout, not two.
func TestDeadPathConfirmedInOneTimeout(t *testing.T) {
	addr, _, peak := silentListener(t)
	host, port := hostPort(t, addr)
	p := probe.Probe{ID: "dead", Host: host, TargetPort: port, Connections: 21, HTTP: true, Backends: []string{"a", "b"}}
	s := &Sockets{Timeout: 300 * time.Millisecond}
	start := time.Now()
	r := s.Probe(context.Background(), &p)
	took := time.Since(start)
	if r.Outcome != probe.NoAnswer || r.Connections != 2 || r.Failures != 2 {
		t.Errorf("got %+v, want 2 connections without an answer", r)
	}
	if took > 550*time.Millisecond {
		t.Errorf("took %s: the two connections were made one after the other", took)
	}
	if peak.Load() != 2 {
		t.Errorf("%d connections at once, want 2", peak.Load())
	}
}

// TestLimiterBoundsSockets: the sockets open at once over many probes never
// exceed the limiter, however wide their rounds: 20 dead paths confirmed by
// two connections each, 5 sockets at a time, cannot take less than ten
// timeouts (two probes per timeout).
func TestLimiterBoundsSockets(t *testing.T) {
	addr, _, _ := silentListener(t)
	host, port := hostPort(t, addr)
	s := &Sockets{Timeout: 100 * time.Millisecond, Limit: NewLimiter(5)}
	probes := make([]probe.Probe, 20)
	for i := range probes {
		probes[i] = probe.Probe{ID: "p", Host: host, TargetPort: port, Connections: 21, HTTP: true, Backends: []string{"a", "b"}}
	}
	start := time.Now()
	res := probe.RunScheduled(context.Background(), probes, map[probe.From]probe.Prober{"": s}, probe.Schedule{InFlight: 20}, nil)
	if d := time.Since(start); d < 950*time.Millisecond {
		t.Errorf("took %s: more than 5 sockets were open at once", d)
	}
	for _, r := range res {
		if r.Connections != 2 || r.Outcome != probe.NoAnswer {
			t.Fatalf("got %+v", r)
		}
	}
}

func TestRoundWidth(t *testing.T) {
	rs := (&Sockets{}).rounds(&probe.Probe{Connections: 21}, nil)
	for _, tc := range []struct {
		conns, failures, want int
	}{
		{0, 0, 2}, {2, 0, 1}, {2, 1, 8}, {16, 1, 5}, {20, 1, 1},
	} {
		if got := rs.width(&probe.Result{Connections: tc.conns, Failures: tc.failures}); got != tc.want {
			t.Errorf("width after %d connections, %d failed = %d, want %d", tc.conns, tc.failures, got, tc.want)
		}
	}
	one := (&Sockets{}).rounds(&probe.Probe{Connections: 1}, nil)
	if got := one.width(&probe.Result{}); got != 1 {
		t.Errorf("single-connection probe: width %d", got)
	}
}
