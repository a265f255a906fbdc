//go:build linux

package prober

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/ti-mo/conntrack"
)

// conntrackTracer reads the node's connection-tracking table over netlink.
type conntrackTracer struct {
	mu sync.Mutex
	c  *conntrack.Conn
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
var ipProtocols = map[string]uint8{"TCP": 6, "": 6, "UDP": 17, "SCTP": 132}

// Backend looks up the connection local→remote and returns the source of its
// reply tuple: the endpoint a DNAT (kube-proxy) sent it to.
func (t *conntrackTracer) Backend(protocol string, local, remote netip.AddrPort) (netip.Addr, bool) {
	num, ok := ipProtocols[protocol]
	if !ok {
		return netip.Addr{}, false
	}
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
