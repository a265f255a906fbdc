package prober

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// natTable is a Tracer that sends every connection to one backend address and
// records the tuples it was asked about.
type natTable struct {
	mu      sync.Mutex
	backend netip.Addr
	asked   []netip.AddrPort // local addresses
	remotes []netip.AddrPort
}

func (n *natTable) Backend(_ probe.Protocol, local, remote netip.AddrPort) (netip.Addr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.asked = append(n.asked, local)
	n.remotes = append(n.remotes, remote)
	return n.backend, true
}

func (n *natTable) Close() error { return nil }

// A failed connection through a VIP is counted against the backend the NAT
// table names, which needs its local address: the socket is bound before it
// connects, so even a refused connection has one.
func TestFailedConnectionsAttributedByNAT(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sockets are bound for conntrack on Linux only")
	}
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	for _, tc := range []struct {
		name    string
		addr    func(t *testing.T) string
		http    bool
		conns   int
		outcome probe.Outcome
	}{
		{"tcp refused", closedPort, false, 6, probe.Refused},
		{"http refused", closedPort, true, 6, probe.Refused},
		{"http accepted, never answered", func(t *testing.T) string {
			return podServer(t, func(http.ResponseWriter, *http.Request) { <-hang })
		}, true, 2, probe.NoAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nat := &natTable{backend: netip.MustParseAddr("10.244.1.7")}
			p := probe.Probe{ID: "x", Via: probe.ViaClusterIP, HTTP: tc.http, Connections: 6, Backends: []string{"web-a", "web-b"},
				BackendAddrs: map[string]string{"10.244.0.5": "web-a", "10.244.1.7": "web-b"}, Expect: probe.Expectation{Want: probe.Reach}}
			p.Host, p.TargetPort = hostPort(t, tc.addr(t))
			r := (&Sockets{Timeout: 300 * time.Millisecond, Tracer: nat}).Probe(context.Background(), &p)
			// Every failure went to web-b, and web-a was never tried: the
			// path is worth every connection of its budget.
			if r.Outcome != tc.outcome || r.Connections != 6 || r.FailedBackends["web-b"] != 6 {
				t.Fatalf("got %+v", r)
			}
			nat.mu.Lock()
			defer nat.mu.Unlock()
			for i, l := range nat.asked {
				if l.Addr() != netip.MustParseAddr("127.0.0.1") || l.Port() == 0 || nat.remotes[i].Port() != uint16(p.TargetPort) {
					t.Errorf("looked up %s -> %s, want a bound 127.0.0.1 port to the probe's port", l, nat.remotes[i])
				}
			}
		})
	}
}

// Without a Tracer sockets are not bound, and failures are not attributed.
func TestFailedConnectionsWithoutTracer(t *testing.T) {
	p := probe.Probe{ID: "x", Via: probe.ViaClusterIP, Connections: 4, Backends: []string{"web-a", "web-b"},
		BackendAddrs: map[string]string{"10.244.0.5": "web-a"}}
	p.Host, p.TargetPort = hostPort(t, closedPort(t))
	r := (&Sockets{Timeout: 300 * time.Millisecond}).Probe(context.Background(), &p)
	if r.Outcome != probe.Refused || r.FailedBackends != nil || r.Connections != 4 {
		t.Errorf("got %+v", r)
	}
}

func TestWorthAnother(t *testing.T) {
	two := []string{"web-a", "web-b"}
	for _, tc := range []struct {
		name     string
		failures int
		observed map[probe.Outcome]int
		failedTo map[string]int
		want     bool
	}{
		{"one failure", 1, map[probe.Outcome]int{probe.Timeout: 1}, nil, true},
		{"two timeouts: dead", 2, map[probe.Outcome]int{probe.Timeout: 2}, nil, false},
		{"two refusals cost nothing", 2, map[probe.Outcome]int{probe.Refused: 2}, nil, true},
		{"refusals, resets and 5xx", 3, map[probe.Outcome]int{probe.Refused: 1, probe.Reset: 1, probe.ServerError: 1}, nil, true},
		{"a timeout among refusals", 3, map[probe.Outcome]int{probe.Refused: 2, probe.Timeout: 1}, nil, false},
		{"every timeout went to one of two backends", 2, map[probe.Outcome]int{probe.Timeout: 2}, map[string]int{"web-b": 2}, true},
		{"timeouts to both backends", 2, map[probe.Outcome]int{probe.Timeout: 2}, map[string]int{"web-a": 1, "web-b": 1}, false},
		{"a timeout nobody traced", 3, map[probe.Outcome]int{probe.Timeout: 3}, map[string]int{"web-b": 2}, false},
	} {
		r := probe.Result{Failures: tc.failures, Observed: tc.observed, FailedBackends: tc.failedTo}
		if got := worthAnother(&probe.Probe{Backends: two}, &r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDialFailure(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	_, err := net.DialTimeout("tcp", closedPort(t), time.Second)
	a := dialFailure(err, local)
	if a.Err == nil || a.Local != local || a.Remote == nil || a.Connected {
		t.Errorf("got %+v", a)
	}
	if a := dialFailure(err, nil); a.Local != nil {
		t.Errorf("unknown local address became %v", a.Local)
	}
}
