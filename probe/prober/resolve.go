package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// resolveFirst wraps the connector of a probe via a DNS name so that each
// connection first resolves the name on its own timeout: a name that does not
// resolve is a dnsError in the resolver's words ("lookup NAME on SERVER: ..."),
// not a timeout of the connection that never started. The connection then
// dials the name as a client does.
func resolveFirst(p *probe.Probe, c Connector, timeout time.Duration) Connector {
	if !p.Via.Kind().ByName {
		return c
	}
	return &resolving{Connector: c, timeout: timeout}
}

type resolving struct {
	Connector
	timeout  time.Duration
	resolver *net.Resolver // nil: the system's, as the connection's dial uses
}

func (r *resolving) Connect(ctx context.Context, p *probe.Probe) Attempt {
	lctx, cancel := context.WithTimeout(ctx, r.timeout)
	_, err := r.resolver.LookupHost(lctx, p.Host)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return Attempt{Err: ctx.Err()} // the run was stopped
	case err != nil:
		return Attempt{Err: err, Outcome: probe.DNSError}
	}
	return r.Connector.Connect(ctx, p)
}

// checkResolved turns a connection to a DNS name into a DNSError when the
// name resolved to an address outside p.Expect.Addresses: the answer pointed
// elsewhere, whatever the connection then saw. A name that did not resolve,
// or a probe with no expected addresses, is left as it is.
func checkResolved(p *probe.Probe, a *Attempt) {
	if !p.Via.Kind().ByName || len(p.Expect.Addresses) == 0 || a.Outcome == probe.DNSError {
		return
	}
	got, ok := remoteIP(a)
	if !ok {
		return
	}
	for _, want := range p.Expect.Addresses {
		if w, err := netip.ParseAddr(want); err == nil && w.Unmap() == got {
			return
		}
	}
	err := fmt.Errorf("resolved to %s, not %s", got, expectedAddrs(p))
	if a.Err != nil {
		err = fmt.Errorf("%w (and the connection failed: %v)", err, a.Err)
	}
	a.Err, a.Outcome, a.Resolved = err, probe.DNSError, got
}

// remoteIP is the address a connection went to: its remote address, or the
// one a failed dial names.
func remoteIP(a *Attempt) (netip.Addr, bool) {
	if a.Remote != nil {
		if ap, ok := addrPort(a.Remote); ok {
			return ap.Addr().Unmap(), true
		}
	}
	var op *net.OpError
	if errors.As(a.Err, &op) && op.Addr != nil {
		if ap, ok := addrPort(op.Addr); ok {
			return ap.Addr().Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// expectedAddrs names what the name should have resolved to: the ClusterIP(s),
// or a headless Service's endpoints (every expected address is an endpoint's).
func expectedAddrs(p *probe.Probe) string {
	list := strings.Join(p.Expect.Addresses, ", ")
	endpoints := true
	for _, a := range p.Expect.Addresses {
		if _, ok := p.BackendAddrs[a]; !ok {
			endpoints = false
		}
	}
	switch {
	case endpoints && len(p.Expect.Addresses) == 1:
		return "its endpoint " + list
	case endpoints:
		return "one of its endpoints " + list
	case len(p.Expect.Addresses) == 1:
		return "the ClusterIP " + list
	}
	return "one of the ClusterIPs " + list
}
