//go:build linux

package probe

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

// Backend looks up the TCP connection local→remote and returns the source of
// its reply tuple: the endpoint a DNAT (kube-proxy) sent it to.
func (t *conntrackTracer) Backend(local, remote netip.AddrPort) (netip.Addr, bool) {
	f := conntrack.Flow{TupleOrig: conntrack.Tuple{
		IP:    conntrack.IPTuple{SourceAddress: local.Addr(), DestinationAddress: remote.Addr()},
		Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: local.Port(), DestinationPort: remote.Port()},
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
