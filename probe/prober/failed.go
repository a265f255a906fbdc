package prober

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"github.com/svccheck/svccheck/probe"
)

// A failed connection through a VIP is attributed to the backend the NAT sent
// it to: a node's connection-tracking table keeps an entry for a connection
// nobody answered (SYN_SENT, unreplied) or that the backend refused, and the
// entry's reply tuple still names the endpoint. Looking it up needs the
// connection's local address, which a failed dial does not report, so with a
// Tracer the connectors bind each socket before it connects.

// boundDialer returns a dialer for one connection. With bind, the socket is
// bound before it connects to the source address the routing table picks for
// the destination, on a port of the kernel's choosing, and that address is
// stored in local; a socket that cannot be bound connects unbound. Without
// bind it is a plain dialer.
func boundDialer(bind bool, local *atomic.Pointer[net.TCPAddr]) *net.Dialer {
	if !bind {
		return &net.Dialer{}
	}
	return &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		if a, err := bindSource(network, address, c); err == nil && a != nil {
			local.Store(a)
		}
		return nil // an unbound socket still connects; it is just not traceable
	}}
}

// dialFailure is the Attempt of a dial that failed: its error, the local
// address the socket was bound to (nil when unknown) and the address it
// dialled, as the error names it.
func dialFailure(err error, local *net.TCPAddr) Attempt {
	a := Attempt{Err: err}
	if local != nil {
		a.Local = local
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		a.Remote = op.Addr
	}
	return a
}

// failedBackend names the backend a failed connection through a VIP went
// to: the one its answer names (an HTTP 5xx page), or the one the NAT table
// sent it to; "" when neither says, and always for a direct connection, whose
// backend is the probe's own.
func (s *Sockets) failedBackend(p *probe.Probe, a Attempt) string {
	if p.Via.Kind().Route == probe.RouteDirect || !a.Connected && a.Local == nil {
		return ""
	}
	if a.Remote == nil {
		if ap, err := netip.ParseAddrPort(p.Address()); err == nil {
			a.Remote = net.TCPAddrFromAddrPort(ap)
		}
	}
	b, _ := s.attribute(p, a)
	return b
}

// fastFailure: an outcome that costs no wait, so trying again costs nothing.
func fastFailure(o probe.Outcome) bool {
	return o == probe.Refused || o == probe.Reset || o == probe.ServerError
}

// worthAnother reports whether a path none of whose connections answered is
// worth another connection. A path is given up as dead after two failures,
// except when failing costs nothing (every failure a refusal, a reset or an
// error status: the budget is spent, so that one refusing backend among good
// ones cannot pass for a dead path), or when the NAT table says every failure
// went to a backend, and not all backends were tried yet.
func worthAnother(p *probe.Probe, r *probe.Result) bool {
	if r.Failures < 2 {
		return true
	}
	fast := true
	for o, n := range r.Observed {
		if n > 0 && !fastFailure(o) {
			fast = false
		}
	}
	if fast {
		return true
	}
	traced := 0
	for _, n := range r.FailedBackends {
		traced += n
	}
	return traced == r.Failures && len(r.FailedBackends) < len(p.Backends)
}
