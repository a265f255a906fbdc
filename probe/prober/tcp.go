package prober

import (
	"context"
	"net"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// TCP proves a path with a TCP handshake: connected is reached.
type TCP struct {
	Timeout time.Duration
}

// Connect dials p's address once.
func (t *TCP) Connect(ctx context.Context, p *probe.Probe) Attempt {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	var d net.Dialer
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", p.Address())
	if err != nil {
		return Attempt{Err: err}
	}
	a := Attempt{Latency: time.Since(start), Connected: true, Local: c.LocalAddr(), Remote: c.RemoteAddr()}
	_ = c.Close()
	return a
}

// Close does nothing: every connection is closed at once.
func (t *TCP) Close() {}
