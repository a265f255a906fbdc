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
	// Ports holds, per port of the target, what its connection observed: an
	// answer (OK, Refused, Reset: the address is there), a failure that says
	// it is not (Timeout, NoRoute), or "" when nothing can be concluded (the
	// connection was abandoned once another port answered, the run was
	// stopped, or a local error).
	Ports []probe.Outcome
	// Detail is the last failure's error text.
	Detail string
}

// Answered reports whether some port answered.
func (r Reach) Answered() bool {
	for _, o := range r.Ports {
		if answered(o) {
			return true
		}
	}
	return false
}

// Silent reports whether every port failed in a way that says "not there";
// a target with an inconclusive port is not silent.
func (r Reach) Silent() bool {
	for _, o := range r.Ports {
		if o != probe.Timeout && o != probe.NoRoute {
			return false
		}
	}
	return len(r.Ports) > 0
}

func answered(o probe.Outcome) bool { return o == probe.OK || o == probe.Refused || o == probe.Reset }

// Reach makes one TCP connection to each port of each target, all at once
// as far as the Limiter allows. A target's other connections are abandoned
// as soon as one of them is answered. It never takes much more than one
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
	res := Reach{Ports: make([]probe.Outcome, len(t.Ports))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k, port := range t.Ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := s.knock(ctx, net.JoinHostPort(t.Host, strconv.Itoa(int(port))))
			mu.Lock()
			defer mu.Unlock()
			res.Ports[k] = o
			if answered(o) {
				cancel() // one answer is enough
			} else if o != "" {
				res.Detail = err.Error()
			}
		}()
	}
	wg.Wait()
	return res
}

// knock makes one TCP connection and classifies it: an answer, a timeout or
// no route, or "" when it proves nothing.
func (s *Sockets) knock(ctx context.Context, addr string) (probe.Outcome, error) {
	if _, err := s.Limit.acquire(ctx, 1); err != nil {
		return "", err
	}
	defer s.Limit.release(1)
	d := net.Dialer{Timeout: s.timeout()}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		o := probe.Classify(err)
		if ctx.Err() != nil || !answered(o) && o != probe.Timeout && o != probe.NoRoute {
			return "", err
		}
		return o, err
	}
	_ = c.Close()
	return probe.OK, nil
}
