//go:build linux

package prober

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"

	"github.com/ti-mo/conntrack"

	"github.com/svccheck/svccheck/probe"
)

// conntrackTracer reads the node's connection-tracking table over netlink.
type conntrackTracer struct {
	mu sync.Mutex
	c  flowTable
}

// flowTable is what the tracer reads the table through: a netlink
// connection (*conntrack.Conn), or a fake in tests. Get returns the entry
// whose original tuple is f's, or an error when there is none.
type flowTable interface {
	Get(f conntrack.Flow) (conntrack.Flow, error)
	Close() error
}

// NewConntrack opens the network namespace's conntrack table. It needs
// CAP_NET_ADMIN; the caller falls back to no attribution when it fails.
func NewConntrack() (Tracer, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("open conntrack over netlink: %w", err)
	}
	return &conntrackTracer{c: c}, nil
}

// ipProtocols are the IANA protocol numbers conntrack keys flows by.
var ipProtocols = map[probe.Protocol]uint8{probe.ProtocolTCP: 6, "": 6, probe.ProtocolUDP: 17, probe.ProtocolSCTP: 132}

// Backend looks up the connection local→remote by its original tuple and
// returns the source of its reply tuple: the endpoint a DNAT (kube-proxy)
// sent it to. The entry exists whether or not the endpoint answered: a
// connection nobody answered stays in the table, unreplied, for minutes.
func (t *conntrackTracer) Backend(protocol probe.Protocol, local, remote netip.AddrPort) (netip.Addr, bool) {
	num, ok := ipProtocols[protocol]
	if !ok {
		return netip.Addr{}, false
	}
	// A failed dial names the address it dialled in IPv4-mapped IPv6 form;
	// conntrack keys an IPv4 connection by IPv4 addresses (and the netlink
	// request refuses a tuple of mixed families).
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	f := conntrack.Flow{TupleOrig: conntrack.Tuple{
		IP:    conntrack.IPTuple{SourceAddress: local.Addr(), DestinationAddress: remote.Addr()},
		Proto: conntrack.ProtoTuple{Protocol: num, SourcePort: local.Port(), DestinationPort: remote.Port()},
	}}
	t.mu.Lock()
	got, err := t.c.Get(f)
	t.mu.Unlock()
	if err != nil {
		return netip.Addr{}, false
	}
	src := got.TupleReply.IP.SourceAddress
	if !src.IsValid() || src == remote.Addr() {
		return netip.Addr{}, false // not translated: nothing to attribute
	}
	return src, true
}

func (t *conntrackTracer) Close() error { return t.c.Close() }

// bindSource binds a TCP socket that is about to connect to address to the
// source address the routing table picks for that destination, on a port of
// the kernel's choosing, and returns the bound address: the source of the
// connection's original tuple in conntrack, known even when the connection
// then fails. It binds nothing for other networks.
func bindSource(network, address string, c syscall.RawConn) (*net.TCPAddr, error) {
	if !strings.HasPrefix(network, "tcp") {
		return nil, nil
	}
	dst, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	src, err := routeSource(dst)
	if err != nil {
		return nil, err
	}
	var sa syscall.Sockaddr = &syscall.SockaddrInet6{Addr: src.As16()}
	if src.Is4() {
		sa = &syscall.SockaddrInet4{Addr: src.As4()}
	}
	var bound *net.TCPAddr
	var opErr error
	err = c.Control(func(fd uintptr) {
		if opErr = syscall.Bind(int(fd), sa); opErr != nil {
			return
		}
		var got syscall.Sockaddr
		if got, opErr = syscall.Getsockname(int(fd)); opErr != nil {
			return
		}
		switch got := got.(type) {
		case *syscall.SockaddrInet4:
			bound = &net.TCPAddr{IP: net.IP(got.Addr[:]), Port: got.Port}
		case *syscall.SockaddrInet6:
			bound = &net.TCPAddr{IP: net.IP(got.Addr[:]), Port: got.Port}
		}
	})
	if err == nil {
		err = opErr
	}
	return bound, err
}

// routeSource is the source address the kernel would use to reach dst: a
// connected UDP socket learns it from the routing table without sending.
func routeSource(dst netip.AddrPort) (netip.Addr, error) {
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("route to %s: %w", dst, err)
	}
	defer u.Close()
	return u.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
