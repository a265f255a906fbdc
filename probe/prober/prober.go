// Package prober makes real connections on a probe's path and reports what
// they observed. A Connector per protocol (TCP, HTTP, …) makes one connection;
// Sockets repeats connections through a VIP until every backend answered or
// the budget is spent, and attributes each answer to the pod that gave it.
package prober

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// Sockets probes from the machine it runs on with real sockets. Every
// connection is new, so a VIP balances each one afresh.
type Sockets struct {
	// Tracer, when set, attributes connections through a VIP to the endpoint
	// they were translated to (conntrack on a node).
	Tracer Tracer
	// Timeout bounds each connection (connect plus, for HTTP, the response).
	Timeout time.Duration
	// MaxBody caps how much of an HTTP body is read for attribution; 64 KiB
	// when zero.
	MaxBody int64
	// Limit bounds the sockets open at once (rounds.go); nil: no bound.
	Limit *Limiter
}

// Connector makes one connection on a probe's path. It never returns an
// error: a failed connection is an Attempt with Err set.
type Connector interface {
	Connect(ctx context.Context, p *probe.Probe) Attempt
	// Close releases what the connector kept between connections.
	Close()
}

// Attempt is what one connection observed.
type Attempt struct {
	Err     error
	Latency time.Duration
	// Status is the HTTP status, when the protocol has one.
	Status int
	// Answer is what the backend said (HTTP headers and body), used to
	// attribute the answer to a pod.
	Answer string
	// Outcome, when set, classifies a failed connection instead of its error.
	Outcome probe.Outcome
	// Connected is set when the connection was established, so a timeout
	// that follows is a silent listener, not an unreachable one.
	Connected bool
	// Local and Remote are the connection's addresses, for conntrack.
	Local, Remote net.Addr
	// Resolved, when valid, is the address outside the probe's expected
	// addresses that its DNS name resolved to (see checkResolved).
	Resolved netip.Addr
}

// Protocols are the Service port protocols Sockets probes; the planner marks
// ports of any other protocol not probed.
var Protocols = []probe.Protocol{probe.ProtocolTCP, probe.ProtocolUDP}

// connector picks how p is probed. This is the one place a protocol is added:
// write its Connector, return it here and list it in Protocols. A probe via
// a DNS name resolves it before each connection (resolve.go).
func (s *Sockets) connector(p *probe.Probe) Connector {
	var c Connector
	switch p.Protocol {
	case probe.ProtocolTCP, "":
		if p.HTTP {
			c = newHTTP(s.timeout(), s.MaxBody, s.Tracer != nil)
		} else {
			c = &TCP{Timeout: s.timeout(), Bind: s.Tracer != nil}
		}
	case probe.ProtocolUDP:
		c = &UDP{Timeout: s.timeout(), Payload: []byte("svccheck\n")}
	default:
		return nil
	}
	return resolveFirst(p, c, s.timeout())
}

// Probe runs p: one connection, or repeated connections until every backend
// has answered, the budget is spent, or the path proves dead.
func (s *Sockets) Probe(ctx context.Context, p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID}
	if p.Skip != "" {
		r.Outcome, r.Detail, r.Cause = probe.NotRun, p.Skip, p.SkipCause
		return r
	}
	conn := s.connector(p)
	if conn == nil {
		r.Outcome, r.Detail, r.Cause = probe.NotRun, "protocol "+string(p.Protocol)+" is not probed", probe.NotRunProtocol
		return r
	}
	defer conn.Close()
	rs := s.rounds(p, conn) // rounds.go: connections in parallel rounds
	defer rs.close()
	t := tally{seen: map[string]bool{}}
	for more := true; more && r.Connections < max(p.Connections, 1); {
		if ctx.Err() != nil {
			r.Interrupted = true
			break
		}
		for _, a := range rs.next(ctx, &r) {
			checkResolved(p, &a)
			if a.Err != nil && ctx.Err() != nil {
				r.Interrupted, more = true, false // the run was stopped, the path did not fail
				break
			}
			r.Connections++
			more = t.add(s, p, &r, a) && more // a round's every connection counts
		}
	}
	if r.Interrupted && r.Connections == 0 {
		r.Outcome, r.Detail = probe.NotRun, "interrupted"
		return r
	}
	t.finish(p, &r)
	return r
}

// tally accumulates the connections of one probe.
type tally struct {
	seen    map[string]bool
	lat     []time.Duration
	lastErr error
	worst   probe.Outcome
	// resolved are the wrong addresses the name resolved to, kept when
	// the last failure was one (lastWrong).
	resolved  []string
	lastWrong bool
}

// add records connection a in r and reports whether another connection is
// worth making.
func (t *tally) add(s *Sockets, p *probe.Probe, r *probe.Result, a Attempt) bool {
	if a.Err == nil && a.Status >= 500 && a.Status != p.Expect.Status {
		a.Err = fmt.Errorf("HTTP %d %s", a.Status, http.StatusText(a.Status))
	}
	if a.Err != nil {
		return t.failed(s, p, r, a)
	}
	t.count(r, probe.OK)
	t.lat = append(t.lat, a.Latency)
	if r.Failures == 0 { // once one failed, its status is the probe's, whatever the order of a round
		r.HTTPStatus = a.Status
	}
	b, how := s.attribute(p, a)
	if b == "" {
		// Nothing names the backend: coverage cannot be measured, one
		// answer is all the proof there is.
		return len(p.Backends) == 0
	}
	t.seen[b] = true
	r.Attribution = how
	return len(t.seen) < len(p.Backends)
}

// failed records a failed connection: its outcome, and the backend it went
// to when the answer or the NAT table says so.
func (t *tally) failed(s *Sockets, p *probe.Probe, r *probe.Result, a Attempt) bool {
	r.Failures++
	o := probe.Classify(a.Err)
	switch {
	case a.Outcome != "":
		o = a.Outcome
	case a.Status >= 500:
		o = probe.ServerError
		r.HTTPStatus = a.Status
	case a.Connected && o == probe.Timeout:
		o = probe.NoAnswer
	}
	t.count(r, o)
	t.lastErr, t.worst, t.lastWrong = a.Err, o, a.Resolved.IsValid()
	if ip := a.Resolved.String(); t.lastWrong && !slices.Contains(t.resolved, ip) {
		t.resolved = append(t.resolved, ip)
	}
	if b := s.failedBackend(p, a); b != "" {
		if r.FailedBackends == nil {
			r.FailedBackends = map[string]int{}
		}
		r.FailedBackends[b]++
	}
	return len(t.lat) > 0 || worthAnother(p, r)
}

func (t *tally) count(r *probe.Result, o probe.Outcome) {
	if r.Observed == nil {
		r.Observed = map[probe.Outcome]int{}
	}
	r.Observed[o]++
}

// finish sets the outcome, median latency and backends seen.
func (t *tally) finish(p *probe.Probe, r *probe.Result) {
	r.Outcome = probe.OK
	if r.Failures > 0 {
		r.Outcome, r.Detail = t.worst, t.lastErr.Error()
		if t.lastWrong {
			r.Resolved = t.resolved
		}
	} else if len(r.Observed) == 1 {
		r.Observed = nil // every connection answered: the count is Connections
	}
	if len(t.lat) > 0 {
		sort.Slice(t.lat, func(i, j int) bool { return t.lat[i] < t.lat[j] })
		r.Latency = t.lat[len(t.lat)/2]
	}
	for b := range t.seen {
		r.Seen = append(r.Seen, b)
	}
	sort.Strings(r.Seen)
	if len(r.Seen) == 1 {
		r.Backend = r.Seen[0]
	}
	if len(r.Seen) > 0 && p.Via.Kind().Route == probe.RouteDirect {
		r.Attribution = probe.AttrDirect
	}
}

func (s *Sockets) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 2 * time.Second
	}
	return s.Timeout
}
