package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// UDP sends one datagram per connection and waits for a reply: a reply proves
// reach (and names the pod when it carries its name, as the lab's echo server
// does); an ICMP port unreachable is a refusal; silence is a NoAnswer that
// proves nothing either way, since a UDP server need not answer.
type UDP struct {
	Timeout time.Duration
	// Payload is what is sent; DNS ports get a real query instead.
	Payload []byte
}

// errSilent is the error of a UDP connection nobody answered.
var errSilent = errors.New("no UDP reply within the timeout: a UDP server need not answer, silence proves nothing")

// Connect sends one datagram from a new socket and reads one reply.
func (u *UDP) Connect(ctx context.Context, p *probe.Probe) Attempt {
	ctx, cancel := context.WithTimeout(ctx, u.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", p.Address())
	if err != nil {
		return Attempt{Err: err}
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	payload, check := u.Payload, func([]byte) error { return nil }
	if isDNS(p) {
		payload, check = dnsQuery()
	}
	start := time.Now()
	if _, err := c.Write(payload); err != nil {
		return Attempt{Err: err}
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	a := Attempt{Local: c.LocalAddr(), Remote: c.RemoteAddr()}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		a.Err, a.Outcome = errSilent, probe.NoAnswer
	case err != nil:
		a.Err = err
	default:
		if cerr := check(buf[:n]); cerr != nil {
			a.Err, a.Connected = fmt.Errorf("reply is not an answer: %w", cerr), true
			return a
		}
		a.Latency, a.Connected, a.Answer = time.Since(start), true, string(buf[:n])
	}
	return a
}

// Close does nothing: every datagram has its own socket.
func (u *UDP) Close() {}
