package prober

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/svccheck/svccheck/probe"
)

// Limiter bounds the sockets open at once, over every probe of a Sockets and
// its reachability pass. A socket waiting for an answer costs a file
// descriptor, an ephemeral port towards its destination and a conntrack
// entry on the node it goes through, but no CPU: the limit is about those,
// and can be in the thousands. A nil Limiter does not limit.
type Limiter struct {
	sem  *semaphore.Weighted
	size int
}

// NewLimiter allows n sockets at once (at least 1).
func NewLimiter(n int) *Limiter {
	n = max(n, 1)
	return &Limiter{sem: semaphore.NewWeighted(int64(n)), size: n}
}

// Size is how many sockets the limiter allows at once (0: no limit).
func (l *Limiter) Size() int {
	if l == nil {
		return 0
	}
	return l.size
}

// acquire waits for up to n sockets and returns how many it got: n, or the
// limiter's size when n is larger. It fails only when ctx ends first.
func (l *Limiter) acquire(ctx context.Context, n int) (int, error) {
	if l == nil {
		return n, nil
	}
	n = min(n, l.size)
	return n, l.sem.Acquire(ctx, int64(n))
}

func (l *Limiter) release(n int) {
	if l != nil {
		l.sem.Release(int64(n))
	}
}

// maxRound is the widest round of parallel connections one probe makes.
const maxRound = 8

// rounds makes one probe's connections in rounds of parallel connections:
// the first round has two when the probe's budget allows more than one, so
// that a dead path is confirmed by two failures within one timeout instead
// of two timeouts in a row; later rounds have one while every connection
// answers (a healthy path stops as soon as it saw every backend), and up to
// maxRound once one failed (a path that loses some connections does not
// spend its budget one timeout after another). Each parallel connection has
// a connector of its own.
type rounds struct {
	s     *Sockets
	p     *probe.Probe
	conns []Connector
}

func (s *Sockets) rounds(p *probe.Probe, first Connector) *rounds {
	return &rounds{s: s, p: p, conns: []Connector{first}}
}

// width is the size of the next round, given what r has seen so far.
func (rs *rounds) width(r *probe.Result) int {
	left := max(rs.p.Connections, 1) - r.Connections
	switch {
	case left <= 1:
		return max(left, 1)
	case r.Connections == 0:
		return 2
	case r.Failures > 0:
		return min(left, maxRound)
	}
	return 1
}

// next makes the next round of connections and returns their attempts in
// order. When ctx ends before a socket is free it returns one attempt whose
// Err is the context's.
func (rs *rounds) next(ctx context.Context, r *probe.Result) []Attempt {
	w, err := rs.s.Limit.acquire(ctx, rs.width(r))
	if err != nil {
		return []Attempt{{Err: err}}
	}
	defer rs.s.Limit.release(w)
	for len(rs.conns) < w {
		rs.conns = append(rs.conns, rs.s.connector(rs.p))
	}
	out := make([]Attempt, w)
	if w == 1 {
		out[0] = rs.conns[0].Connect(ctx, rs.p)
		return out
	}
	var wg sync.WaitGroup
	for j := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[j] = rs.conns[j].Connect(ctx, rs.p)
		}()
	}
	wg.Wait()
	return out
}

// close releases the connectors of the parallel connections; the first is
// the caller's.
func (rs *rounds) close() {
	for _, c := range rs.conns[1:] {
		c.Close()
	}
}
