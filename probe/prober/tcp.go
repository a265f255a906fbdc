package prober

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// TCP proves a path with a TCP handshake: connected is reached.
type TCP struct {
	Timeout time.Duration
	// Bind binds each socket before it connects, so that a connection that
	// fails still has a known local address to look up in conntrack.
	Bind bool
}

// Connect dials p's address once.
func (t *TCP) Connect(ctx context.Context, p *probe.Probe) Attempt {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	var local atomic.Pointer[net.TCPAddr]
	start := time.Now()
	c, err := boundDialer(t.Bind, &local).DialContext(ctx, "tcp", p.Address())
	if err != nil {
		return dialFailure(err, local.Load())
	}
	a := Attempt{Latency: time.Since(start), Connected: true, Local: c.LocalAddr(), Remote: c.RemoteAddr()}
	_ = c.Close()
	return a
}

// Close does nothing: every connection is closed at once.
func (t *TCP) Close() {}
