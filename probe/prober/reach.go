package prober

import (
	"context"
	"net"
	"strconv"
	"sync"

	"github.com/svccheck/svccheck/probe"
)

// ReachTarget is one node address to prove reachable before its paths are
// probed: one TCP connection to each of Ports (NodePorts of different
// Services, so that one broken Service cannot make a node look gone).
type ReachTarget struct {
	Host  string
	Ports []int32
}

// Reach is what a target's connections observed.
type Reach struct {
	// Reachable is set when some connection was answered: accepted, refused
	// or reset, the address is there. It is also set when nothing can be
	// concluded (a local error, or the run was stopped).
	Reachable bool
	// Outcome and Detail, when not reachable, are the last failure: a timeout
	// or no route.
	Outcome probe.Outcome
	Detail  string
}

// Reach makes one TCP connection to each port of each target, all at once
// as far as the Limiter allows, and says which targets answered. A target
// is reachable as soon as one of its connections is answered; its other
// connections are then abandoned. It never takes much more than one
// Timeout per Limit.Size() connections.
func (s *Sockets) Reach(ctx context.Context, targets []ReachTarget) []Reach {
	out := make([]Reach, len(targets))
	var wg sync.WaitGroup
	for i := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.reachOne(ctx, targets[i])
		}()
	}
	wg.Wait()
	return out
}

func (s *Sockets) reachOne(ctx context.Context, t ReachTarget) Reach {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type seen struct {
		o   probe.Outcome
		err error
	}
	ch := make(chan seen, len(t.Ports))
	for _, port := range t.Ports {
		go func() {
			o, err := s.knock(ctx, net.JoinHostPort(t.Host, strconv.Itoa(int(port))))
			ch <- seen{o, err}
		}()
	}
	res := Reach{}
	for range t.Ports {
		got := <-ch
		switch got.o {
		case probe.Timeout, probe.NoRoute:
			if ctx.Err() == nil {
				res.Outcome, res.Detail = got.o, got.err.Error()
			}
		default:
			if !res.Reachable {
				res.Reachable = true
				cancel() // one answer is enough
			}
		}
	}
	if res.Outcome == "" {
		res.Reachable = true // nothing failed in a way that says "gone"
	}
	if res.Reachable {
		res.Outcome, res.Detail = "", ""
	}
	return res
}

// knock makes one TCP connection and classifies it; a connection the run
// stopped is an Error (it proves nothing).
func (s *Sockets) knock(ctx context.Context, addr string) (probe.Outcome, error) {
	if _, err := s.Limit.acquire(ctx, 1); err != nil {
		return probe.Error, err
	}
	defer s.Limit.release(1)
	d := net.Dialer{Timeout: s.timeout()}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return probe.Error, err
		}
		return probe.Classify(err), err
	}
	_ = c.Close()
	return probe.OK, nil
}
