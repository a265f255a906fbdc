//go:build linux

package prober

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// fakeFlows is a conntrack table behind a fake netlink socket. Like the
// kernel, Get returns the entry whose original tuple (addresses, protocol,
// ports) is the one asked for, or ENOENT. With dnat valid, a connection
// with no entry of its own was sent to dnat on the port it was sent to, as
// if kube-proxy had translated it there; addresses of mixed or mapped
// families match nothing, as in the kernel's per-family tables.
type fakeFlows struct {
	mu      sync.Mutex
	entries []conntrack.Flow
	dnat    netip.Addr
	asked   []conntrack.Tuple
}

func (f *fakeFlows) Get(q conntrack.Flow) (conntrack.Flow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, q.TupleOrig)
	for _, e := range f.entries {
		if e.TupleOrig == q.TupleOrig {
			return e, nil
		}
	}
	o := q.TupleOrig
	src, dst := o.IP.SourceAddress, o.IP.DestinationAddress
	if f.dnat.IsValid() && !src.Is4In6() && !dst.Is4In6() && src.Is4() == dst.Is4() && dst.Is4() == f.dnat.Is4() {
		return natted(o.Proto.Protocol, netip.AddrPortFrom(src, o.Proto.SourcePort), netip.AddrPortFrom(dst, o.Proto.DestinationPort),
			netip.AddrPortFrom(f.dnat, o.Proto.DestinationPort)), nil
	}
	return conntrack.Flow{}, syscall.ENOENT
}

func (f *fakeFlows) Close() error { return nil }

// lookups returns the original tuples the tracer asked for.
func (f *fakeFlows) lookups() []conntrack.Tuple {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// natted is the entry of a connection local→vip that a DNAT sent to
// backend: its reply comes from backend back to local.
func natted(proto uint8, local, vip, backend netip.AddrPort) conntrack.Flow {
	return conntrack.Flow{
		TupleOrig: conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: local.Addr(), DestinationAddress: vip.Addr()},
			Proto: conntrack.ProtoTuple{Protocol: proto, SourcePort: local.Port(), DestinationPort: vip.Port()},
		},
		TupleReply: conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: backend.Addr(), DestinationAddress: local.Addr()},
			Proto: conntrack.ProtoTuple{Protocol: proto, SourcePort: backend.Port(), DestinationPort: local.Port()},
		},
	}
}

func tcpAddr(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
func udpAddr(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
func ap(s string) netip.AddrPort    { return netip.MustParseAddrPort(s) }

const (
	tcpProto = 6
	udpProto = 17
)

// A connection through a VIP is attributed to the backend pod whose address
// conntrack names as the source of its reply, looked up by the connection's
// own original tuple.
func TestConntrackAttributesAnswer(t *testing.T) {
	v4 := map[string]string{"10.244.0.5": "web-a", "10.244.1.7": "web-b", "10.244.2.9": "web-c"}
	v6 := map[string]string{"fd00:244::5": "web-a", "fd00:244:1::7": "web-b"}
	several := []conntrack.Flow{
		natted(tcpProto, ap("10.0.0.9:40000"), ap("10.96.0.10:80"), ap("10.244.0.5:8080")),
		natted(tcpProto, ap("10.0.0.9:40001"), ap("10.96.0.10:80"), ap("10.244.1.7:8080")),
		natted(udpProto, ap("10.0.0.9:40000"), ap("10.96.0.10:80"), ap("10.244.2.9:8080")),
		natted(tcpProto, ap("10.0.0.9:40000"), ap("10.96.0.11:80"), ap("10.244.2.9:8080")),
	}
	for _, tc := range []struct {
		name          string
		entries       []conntrack.Flow
		protocol      probe.Protocol
		addrs         map[string]string
		local, remote net.Addr
		want, how     string
	}{
		{"reply from a known backend", several[:1], "TCP", v4,
			tcpAddr("10.0.0.9:40000"), tcpAddr("10.96.0.10:80"), "web-a", probe.AttrConntrack},
		{"reply from an address no backend has", []conntrack.Flow{natted(tcpProto, ap("10.0.0.9:40000"), ap("10.96.0.10:80"), ap("10.244.3.3:8080"))}, "TCP", v4,
			tcpAddr("10.0.0.9:40000"), tcpAddr("10.96.0.10:80"), "", ""},
		{"no entry", nil, "TCP", v4,
			tcpAddr("10.0.0.9:40000"), tcpAddr("10.96.0.10:80"), "", ""},
		{"entry not translated: the reply comes from the address dialled", []conntrack.Flow{natted(tcpProto, ap("10.0.0.9:40000"), ap("10.244.0.5:8080"), ap("10.244.0.5:8080"))}, "TCP", v4,
			tcpAddr("10.0.0.9:40000"), tcpAddr("10.244.0.5:8080"), "", ""},
		{"several entries: this connection's source port", several, "TCP", v4,
			tcpAddr("10.0.0.9:40001"), tcpAddr("10.96.0.10:80"), "web-b", probe.AttrConntrack},
		{"several entries: this connection's protocol", several, "UDP", v4,
			udpAddr("10.0.0.9:40000"), udpAddr("10.96.0.10:80"), "web-c", probe.AttrConntrack},
		{"several entries: this connection's VIP", several, "", v4,
			tcpAddr("10.0.0.9:40000"), tcpAddr("10.96.0.11:80"), "web-c", probe.AttrConntrack},
		{"several entries, none of this connection", several, "TCP", v4,
			tcpAddr("10.0.0.9:40002"), tcpAddr("10.96.0.10:80"), "", ""},
		{"IPv6", []conntrack.Flow{natted(tcpProto, ap("[fd00::9]:40000"), ap("[fd00:96::10]:80"), ap("[fd00:244:1::7]:8080"))}, "TCP", v6,
			tcpAddr("[fd00::9]:40000"), tcpAddr("[fd00:96::10]:80"), "web-b", probe.AttrConntrack},
		{"IPv6 reply from an address no backend has", []conntrack.Flow{natted(tcpProto, ap("[fd00::9]:40000"), ap("[fd00:96::10]:80"), ap("[fd00:244:9::9]:8080"))}, "TCP", v6,
			tcpAddr("[fd00::9]:40000"), tcpAddr("[fd00:96::10]:80"), "", ""},
		{"a protocol conntrack is not asked about", several, "ICMP", v4,
			tcpAddr("10.0.0.9:40000"), tcpAddr("10.96.0.10:80"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flows := &fakeFlows{entries: tc.entries}
			s := &Sockets{Tracer: &conntrackTracer{c: flows}}
			p := &probe.Probe{Via: probe.ViaClusterIP, Protocol: tc.protocol, Backends: []string{"web-a", "web-b", "web-c"}, BackendAddrs: tc.addrs}
			if got, how := s.attribute(p, Attempt{Connected: true, Local: tc.local, Remote: tc.remote}); got != tc.want || how != tc.how {
				t.Errorf("attributed to %q (%s), want %q (%s)", got, how, tc.want, tc.how)
			}
			if tc.protocol == "ICMP" {
				if asked := flows.lookups(); len(asked) != 0 {
					t.Errorf("looked up %v for a protocol conntrack is not asked about", asked)
				}
				return
			}
			local, remote := addrOf(t, tc.local), addrOf(t, tc.remote)
			if asked := flows.lookups(); len(asked) != 1 || asked[0].IP.SourceAddress != local.Addr() || asked[0].Proto.SourcePort != local.Port() ||
				asked[0].IP.DestinationAddress != remote.Addr() || asked[0].Proto.DestinationPort != remote.Port() {
				t.Errorf("looked up %+v, want the one tuple %s -> %s", asked, local, remote)
			}
		})
	}
}

func addrOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	p, ok := addrPort(a)
	if !ok {
		t.Fatalf("%v has no address and port", a)
	}
	return p
}

// conntrack is not asked about a connection the probe dialled to a pod's own
// address, nor about one it does not know the local address of, nor when the
// probe has no backend addresses to name.
func TestConntrackNotAsked(t *testing.T) {
	entry := []conntrack.Flow{natted(tcpProto, ap("10.0.0.9:40000"), ap("10.96.0.10:80"), ap("10.244.1.7:8080"))}
	addrs := map[string]string{"10.244.1.7": "web-b"}
	for _, tc := range []struct {
		name  string
		probe probe.Probe
		a     Attempt
	}{
		{"direct to the pod", probe.Probe{Via: probe.ViaEndpoint, Backends: []string{"web-c"}, BackendAddrs: addrs},
			Attempt{Connected: true, Local: tcpAddr("10.0.0.9:40000"), Remote: tcpAddr("10.96.0.10:80")}},
		{"local address unknown", probe.Probe{Via: probe.ViaClusterIP, Backends: []string{"web-b"}, BackendAddrs: addrs},
			Attempt{Connected: true, Remote: tcpAddr("10.96.0.10:80")}},
		{"no backend addresses", probe.Probe{Via: probe.ViaClusterIP, Backends: []string{"web-b"}},
			Attempt{Connected: true, Local: tcpAddr("10.0.0.9:40000"), Remote: tcpAddr("10.96.0.10:80")}},
	} {
		flows := &fakeFlows{entries: entry}
		got, _ := (&Sockets{Tracer: &conntrackTracer{c: flows}}).attribute(&tc.probe, tc.a)
		if asked := flows.lookups(); len(asked) != 0 || got == "web-b" {
			t.Errorf("%s: looked up %v, attributed to %q", tc.name, asked, got)
		}
	}
}

// A failed connection through a VIP is counted against the backend the NAT
// sent it to: its entry stays, unreplied, with the endpoint in its reply
// tuple. Its remote address is the probe's when the failure does not say.
func TestConntrackFailedBackend(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr("10.96.0.10:80"), Err: syscall.ECONNREFUSED}
	// A dial error names an IPv4 address in its 16-byte form, as the
	// resolver returns it.
	mapped := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.ParseIP("10.96.0.10"), Port: 80}, Err: syscall.ECONNREFUSED}
	noAddr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}
	entries := []conntrack.Flow{
		natted(tcpProto, ap("10.0.0.9:40000"), ap("10.96.0.10:80"), ap("10.244.1.7:8080")),
		natted(tcpProto, ap("[fd00::9]:40000"), ap("[fd00:96::10]:80"), ap("[fd00:244::5]:8080")),
	}
	addrs := map[string]string{"10.244.0.5": "web-a", "10.244.1.7": "web-b", "fd00:244::5": "web-a"}
	for _, tc := range []struct {
		name  string
		host  string
		via   probe.Via
		a     Attempt
		want  string
		asked int
	}{
		{"refused, sent to a known backend", "10.96.0.10", probe.ViaClusterIP, dialFailure(refused, tcpAddr("10.0.0.9:40000")), "web-b", 1},
		{"the error names the address IPv4-mapped", "10.96.0.10", probe.ViaClusterIP, dialFailure(mapped, tcpAddr("10.0.0.9:40000")), "web-b", 1},
		{"the error names no address: the probe's is used", "10.96.0.10", probe.ViaClusterIP, dialFailure(noAddr, tcpAddr("10.0.0.9:40000")), "web-b", 1},
		{"IPv6", "fd00:96::10", probe.ViaClusterIP, dialFailure(noAddr, tcpAddr("[fd00::9]:40000")), "web-a", 1},
		{"no entry for this source port", "10.96.0.10", probe.ViaClusterIP, dialFailure(refused, tcpAddr("10.0.0.9:40001")), "", 1},
		{"socket not bound: nothing to look up", "10.96.0.10", probe.ViaClusterIP, dialFailure(refused, nil), "", 0},
		{"direct to the pod: its backend is the probe's own", "10.96.0.10", probe.ViaEndpoint, dialFailure(refused, tcpAddr("10.0.0.9:40000")), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flows := &fakeFlows{entries: entries}
			p := &probe.Probe{Via: tc.via, Host: tc.host, TargetPort: 80, Backends: []string{"web-a", "web-b"}, BackendAddrs: addrs}
			if got := (&Sockets{Tracer: &conntrackTracer{c: flows}}).failedBackend(p, tc.a); got != tc.want {
				t.Errorf("counted against %q, want %q", got, tc.want)
			}
			if asked := flows.lookups(); len(asked) != tc.asked {
				t.Errorf("looked up %v, want %d lookups", asked, tc.asked)
			}
		})
	}
}

// Through Sockets.Probe on loopback, with a conntrack that translated every
// connection to web-b: the answers are attributed to web-b by conntrack, and
// refused connections are counted against it. The tuples looked up are the
// connections' own, in IPv4 form: bound loopback source, the probe's port.
func TestConntrackProbe(t *testing.T) {
	addrs := map[string]string{"10.244.0.5": "web-a", "10.244.1.7": "web-b"}
	for _, tc := range []struct {
		name  string
		addr  func(t *testing.T) string
		http  bool
		check func(t *testing.T, r probe.Result)
	}{
		{"tcp answered", func(t *testing.T) string { return acceptingListener(t).Addr().String() }, false, func(t *testing.T, r probe.Result) {
			if r.Outcome != probe.OK || r.Attribution != probe.AttrConntrack || r.Backend != "web-b" || !slices.Equal(r.Seen, []string{"web-b"}) {
				t.Errorf("got %+v", r)
			}
		}},
		{"tcp refused", closedPort, false, func(t *testing.T, r probe.Result) {
			if r.Outcome != probe.Refused || r.Attribution != "" || len(r.Seen) != 0 || r.FailedBackends["web-b"] != r.Connections || len(r.FailedBackends) != 1 {
				t.Errorf("got %+v", r)
			}
		}},
		{"http refused", closedPort, true, func(t *testing.T, r probe.Result) {
			if r.Outcome != probe.Refused || r.FailedBackends["web-b"] != r.Connections || len(r.FailedBackends) != 1 {
				t.Errorf("got %+v", r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flows := &fakeFlows{dnat: netip.MustParseAddr("10.244.1.7")}
			p := probe.Probe{ID: "x", Via: probe.ViaClusterIP, HTTP: tc.http, Connections: plan.Budget(2), Backends: []string{"web-a", "web-b"},
				BackendAddrs: addrs, Expect: probe.Expectation{Want: probe.Reach}}
			p.Host, p.TargetPort = hostPort(t, tc.addr(t))
			r := (&Sockets{Timeout: 300 * time.Millisecond, Tracer: &conntrackTracer{c: flows}}).Probe(context.Background(), &p)
			tc.check(t, r)
			asked := flows.lookups()
			if len(asked) != r.Connections {
				t.Errorf("%d lookups for %d connections", len(asked), r.Connections)
			}
			for _, q := range asked {
				if q.IP.SourceAddress != netip.MustParseAddr("127.0.0.1") || q.Proto.SourcePort == 0 || q.Proto.Protocol != tcpProto ||
					q.IP.DestinationAddress != netip.MustParseAddr(p.Host) || q.Proto.DestinationPort != uint16(p.TargetPort) {
					t.Errorf("looked up %+v, want a bound 127.0.0.1 port to %s", q, p.Address())
				}
			}
		})
	}
}
