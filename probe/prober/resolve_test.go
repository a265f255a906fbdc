package prober

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// TestDNSAnswerPointingElsewhere: a DNS probe passes only when its name led
// to an address it should resolve to; anywhere else is a DNSError naming
// both, even when the connection there went well.
func TestDNSAnswerPointingElsewhere(t *testing.T) {
	web := podServer(t, cycling("web-a", "web-b"))
	webHost, webPort := hostPort(t, web)
	closedHost, closedPort := hostPort(t, closedPort(t))
	udpHost, udpPort := udpServer(t, func([]byte) []byte { return []byte("echo-a\n") })
	backends := []string{"web-a", "web-b"}
	headless := map[string]string{"127.0.0.1": "web-a"}
	for _, tc := range []struct {
		name   string
		p      probe.Probe
		want   probe.Outcome
		detail string // what Detail must contain; "" for none
	}{
		{"resolves to the ClusterIP", probe.Probe{Host: webHost, TargetPort: webPort, HTTP: true, Connections: 21, Backends: backends,
			Expect: probe.Expectation{Addresses: []string{"10.96.0.9", "127.0.0.1"}}}, probe.OK, ""},
		{"a name resolves through the resolver", probe.Probe{Host: "localhost", TargetPort: webPort, HTTP: true, Connections: 1,
			Expect: probe.Expectation{Addresses: []string{"127.0.0.1", "::1"}}}, probe.OK, ""},
		{"answers from elsewhere", probe.Probe{Host: webHost, TargetPort: webPort, HTTP: true, Connections: 21, Backends: backends,
			Expect: probe.Expectation{Addresses: []string{"10.96.0.9"}}}, probe.DNSError, "resolved to 127.0.0.1, not the ClusterIP 10.96.0.9"},
		{"dual-stack ClusterIPs", probe.Probe{Host: webHost, TargetPort: webPort, Connections: 1,
			Expect: probe.Expectation{Addresses: []string{"10.96.0.9", "fd00::9"}}}, probe.DNSError, "not one of the ClusterIPs 10.96.0.9, fd00::9"},
		{"headless: an endpoint", probe.Probe{Host: webHost, TargetPort: webPort, Connections: 1, BackendAddrs: headless,
			Expect: probe.Expectation{Addresses: []string{"127.0.0.1"}}}, probe.OK, ""},
		{"headless: elsewhere", probe.Probe{Host: webHost, TargetPort: webPort, Connections: 1, BackendAddrs: map[string]string{"10.244.0.5": "web-a", "10.244.1.7": "web-b"},
			Expect: probe.Expectation{Addresses: []string{"10.244.0.5", "10.244.1.7"}}}, probe.DNSError, "not one of its endpoints 10.244.0.5, 10.244.1.7"},
		{"elsewhere and refused there", probe.Probe{Host: closedHost, TargetPort: closedPort, Connections: 3,
			Expect: probe.Expectation{Addresses: []string{"10.96.0.9"}}}, probe.DNSError, "resolved to 127.0.0.1, not the ClusterIP 10.96.0.9 (and the connection failed"},
		{"refused at the right address stays refused", probe.Probe{Host: closedHost, TargetPort: closedPort, Connections: 1,
			Expect: probe.Expectation{Addresses: []string{closedHost}}}, probe.Refused, "refused"},
		{"UDP elsewhere", probe.Probe{Protocol: "UDP", Host: udpHost, TargetPort: udpPort, Connections: 1,
			Expect: probe.Expectation{Addresses: []string{"10.96.0.10"}}}, probe.DNSError, "resolved to 127.0.0.1, not the ClusterIP 10.96.0.10"},
		{"a name that does not resolve", probe.Probe{Host: "no-such-name.invalid", TargetPort: webPort, Connections: 1,
			Expect: probe.Expectation{Addresses: []string{"10.96.0.9"}}}, probe.DNSError, "no-such-name.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.ID, p.Via, p.Expect.Want = tc.name, probe.ViaDNS, probe.Reach
			r := (&Sockets{Timeout: 500 * time.Millisecond}).Probe(context.Background(), &p)
			probe.Evaluate(&p, &r)
			if r.Outcome != tc.want || r.Pass != (tc.want == probe.OK) || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("got %s pass=%v detail %q, want %s with %q", r.Outcome, r.Pass, r.Detail, tc.want, tc.detail)
			}
			if wrong := strings.HasPrefix(tc.detail, "resolved to ") || strings.HasPrefix(tc.detail, "not "); wrong != (len(r.Resolved) > 0) ||
				wrong && (len(r.Resolved) != 1 || r.Resolved[0] != "127.0.0.1") {
				t.Errorf("resolved %q, want 127.0.0.1 exactly when the name resolved elsewhere", r.Resolved)
			}
			if tc.want == probe.DNSError && r.Connections > 2 {
				t.Errorf("%d connections: a path whose first two fail is not retried", r.Connections)
			}
		})
	}
}

// TestAddressesOnlyCheckDNSProbes: the same expectation on a ClusterIP probe
// is not a resolution, so nothing is checked.
func TestAddressesOnlyCheckDNSProbes(t *testing.T) {
	host, port := hostPort(t, podServer(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	p := probe.Probe{ID: "x", Via: probe.ViaClusterIP, Host: host, TargetPort: port, HTTP: true, Connections: 1,
		Expect: probe.Expectation{Want: probe.Reach, Addresses: []string{"10.96.0.9"}}}
	if r := (&Sockets{Timeout: 500 * time.Millisecond}).Probe(context.Background(), &p); r.Outcome != probe.OK {
		t.Errorf("got %+v", r)
	}
}

// TestNameThatDoesNotResolveInTime: a DNS server that never answers makes
// the probe a dnsError in the resolver's words, within the probe's timeout,
// before any connection is tried.
func TestNameThatDoesNotResolveInTime(t *testing.T) {
	silent, port := udpServer(t, func([]byte) []byte { return nil })
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", net.JoinHostPort(silent, fmt.Sprint(port)))
	}}
	connected := false
	c := &resolving{Connector: connectorFunc(func() Attempt { connected = true; return Attempt{} }), timeout: 300 * time.Millisecond, resolver: res}
	start := time.Now()
	a := c.Connect(context.Background(), &probe.Probe{Via: probe.ViaDNS, Host: "web.default.svc.cluster.local"})
	if a.Outcome != probe.DNSError || !strings.Contains(a.Err.Error(), "lookup web.default.svc.cluster.local") || connected {
		t.Errorf("got %s %v (connected %v), want a dnsError before connecting", a.Outcome, a.Err, connected)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s, want about the 300ms timeout", d)
	}
}

type connectorFunc func() Attempt

func (f connectorFunc) Connect(context.Context, *probe.Probe) Attempt { return f() }
func (f connectorFunc) Close()                                        {}
