package prober

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
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
		probe probe.Probe
		check func(t *testing.T, r probe.Result)
	}{
		{"tcp accepting", func(t *testing.T) string { return acceptingListener(t).Addr().String() }, probe.Probe{Connections: 1},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.OK || r.Connections != 1 || r.Failures != 0 || r.Latency <= 0 {
					t.Errorf("got %+v", r)
				}
			}},
		{"tcp refused", closedPort, probe.Probe{Connections: 1},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.Refused || r.Failures != 1 || r.Detail == "" {
					t.Errorf("got %+v", r)
				}
			}},
		{"a refused path spends its budget: refusing costs nothing", closedPort, probe.Probe{Connections: 10, HTTP: true, Backends: []string{"a", "b"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.Refused || r.Connections != 10 || r.Observed[probe.Refused] != 10 {
					t.Errorf("got %+v", r)
				}
			}},
		{"a silent path stops after two failures", func(t *testing.T) string {
			return podServer(t, func(http.ResponseWriter, *http.Request) { <-hang })
		}, probe.Probe{Connections: 10, HTTP: true, Backends: []string{"a", "b"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.NoAnswer || r.Connections != 2 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http accepts but never answers: noAnswer, not a timeout to connect", func(t *testing.T) string {
			return podServer(t, func(http.ResponseWriter, *http.Request) { <-hang })
		}, probe.Probe{Connections: 1, HTTP: true},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.NoAnswer || r.Observed[probe.NoAnswer] != 1 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http 5xx from one backend: serverError naming it", func(t *testing.T) string {
			var n atomic.Int64
			return podServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if n.Add(1)%2 == 0 {
					w.WriteHeader(http.StatusServiceUnavailable)
					fmt.Fprintln(w, "web-b is broken")
					return
				}
				fmt.Fprintln(w, "Hello from web-a")
			})
		}, probe.Probe{Connections: 6, HTTP: true, Via: probe.ViaClusterIP, Backends: []string{"web-a", "web-b"}, Expect: probe.Expectation{Want: probe.Reach}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.ServerError || r.Connections != 6 || r.Failures != 3 || r.FailedBackends["web-b"] != 3 ||
					r.Observed[probe.OK] != 3 || r.Observed[probe.ServerError] != 3 || len(r.Seen) != 1 || r.HTTPStatus != 503 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http 503 where 503 is expected is an answer", func(t *testing.T) string {
			return podServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		}, probe.Probe{Connections: 1, HTTP: true, Via: probe.ViaHealthCheck, Expect: probe.Expectation{Want: probe.Reach, Status: 503}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.OK || r.Failures != 0 || r.HTTPStatus != 503 || r.Observed != nil {
					t.Errorf("got %+v", r)
				}
			}},
		{"http attributes every backend", func(t *testing.T) string { return podServer(t, cycling("web-a", "web-b", "web-c")) },
			probe.Probe{Connections: plan.Budget(3), HTTP: true, Backends: []string{"web-a", "web-b", "web-c"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.OK || r.Connections != 3 || len(r.Seen) != 3 || r.Attribution != probe.AttrHTTPBody || r.HTTPStatus != 200 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http partial coverage spends the budget", func(t *testing.T) string { return podServer(t, cycling("web-a")) },
			probe.Probe{Connections: 7, HTTP: true, Backends: []string{"web-a", "web-b"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.OK || r.Connections != 7 || r.Backend != "web-a" || len(r.Seen) != 1 {
					t.Errorf("got %+v", r)
				}
			}},
		{"http anonymous answer stops at the first round", func(t *testing.T) string { return podServer(t, cycling("nginx")) },
			probe.Probe{Connections: 10, HTTP: true, Backends: []string{"web-a", "web-b"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.OK || r.Connections != 2 || len(r.Seen) != 0 || r.Attribution != "" {
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
		}, probe.Probe{Connections: 6, HTTP: true, Backends: []string{"web-a", "web-b"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome == probe.OK || r.Failures != 3 || r.Connections != 6 || r.Backend != "web-a" {
					t.Errorf("got %+v", r)
				}
				probe.Evaluate(&probe.Probe{Expect: probe.Expectation{Want: probe.Reach}}, &r)
				if r.Pass {
					t.Error("a path that dropped 3 of 6 connections passed a reach expectation")
				}
			}},
		{"http to a port that does not speak HTTP still reaches", func(t *testing.T) string {
			// A server of another protocol: it greets, reads what it is
			// sent and closes, so the client reads a malformed answer (a
			// close right away races the request into a reset instead).
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_, _ = c.Write([]byte("SSH-2.0-raw\r\n"))
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					_, _ = c.Read(make([]byte, 4096))
					_ = c.Close()
				}
			}()
			return l.Addr().String()
		}, probe.Probe{Connections: 1, HTTP: true, Via: probe.ViaEndpoint, Backends: []string{"raw-0"}},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.OK || r.HTTPStatus != 0 || r.Backend != "raw-0" || r.Attribution != probe.AttrDirect {
					t.Errorf("got %+v", r)
				}
			}},
		{"skipped probe does not dial", closedPort, probe.Probe{Skip: "protocol UDP is not probed"},
			func(t *testing.T, r probe.Result) {
				if r.Outcome != probe.NotRun || r.Connections != 0 || r.Detail != "protocol UDP is not probed" {
					t.Errorf("got %+v", r)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.probe
			p.ID = tc.name
			p.Host, p.TargetPort = hostPort(t, tc.addr(t))
			l := &Sockets{Timeout: 300 * time.Millisecond}
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
	p := probe.Probe{ID: "x", HTTP: true, Connections: 1}
	p.Host, p.TargetPort = hostPort(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r := (&Sockets{Timeout: 10 * time.Second}).Probe(ctx, &p)
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
	if r.Outcome != probe.NotRun || !r.Interrupted || r.Connections != 0 {
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

const benchConcurrency = 64

// BenchmarkRunLoopback measures the runner with the Sockets prober: one TCP
// connect per op at concurrency 64. Compare with BenchmarkDialLoop (target:
// at least 0.8x its throughput).
func BenchmarkRunLoopback(b *testing.B) {
	addr := acceptingListener(b).Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	var pn int
	for _, c := range port {
		pn = pn*10 + int(c-'0')
	}
	probes := make([]probe.Probe, b.N)
	for i := range probes {
		probes[i] = probe.Probe{ID: "p", From: probe.FromLocal, Host: host, TargetPort: int32(pn), Connections: 1, Expect: probe.Expectation{Want: probe.Reach}}
	}
	b.ResetTimer()
	res := probe.Run(context.Background(), probes, map[probe.From]probe.Prober{probe.FromLocal: &Sockets{}}, benchConcurrency, nil)
	b.StopTimer()
	for _, r := range res {
		if r.Outcome != probe.OK {
			b.Fatalf("probe failed: %+v", r)
		}
	}
}

// BenchmarkDialLoop is the floor: bare dials at the same concurrency.
func BenchmarkDialLoop(b *testing.B) {
	addr := acceptingListener(b).Addr().String()
	var g errgroup.Group
	g.SetLimit(benchConcurrency)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Go(func() error {
			var d net.Dialer
			c, err := d.DialContext(context.Background(), "tcp", addr)
			if err != nil {
				return err
			}
			return c.Close()
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// A hostNetwork pod answers with its node's name: the answer names the pod
// through BackendHosts; a pod's own name still wins.
func TestAttributeHostNetworkPod(t *testing.T) {
	p := &probe.Probe{HTTP: true, Backends: []string{"ingress-abc", "web-1"}, BackendHosts: map[string]string{"worker2": "ingress-abc"}}
	s := &Sockets{}
	for _, tc := range []struct{ answer, want, how string }{
		{"worker2", "ingress-abc", probe.AttrHTTPBody},
		{"web-1", "web-1", probe.AttrHTTPBody},
		{"worker1", "", ""},
	} {
		if got, how := s.attribute(p, Attempt{Answer: tc.answer}); got != tc.want || how != tc.how {
			t.Errorf("answer %q attributed to %q (%s), want %q (%s)", tc.answer, got, how, tc.want, tc.how)
		}
	}
}
