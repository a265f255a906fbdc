// Package prober makes real connections on a probe's path and reports what
// they observed. A Connector per protocol (TCP, HTTP, …) makes one connection;
// Sockets repeats connections through a VIP until every backend answered or
// the budget is spent, and attributes each answer to the pod that gave it.
package prober

import (
	"context"
	"net"
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
	// Local and Remote are the connection's addresses, for conntrack.
	Local, Remote net.Addr
}

// Protocols are the Service port protocols Sockets probes; the planner marks
// ports of any other protocol not probed.
var Protocols = []string{"TCP"}

// connector picks how p is probed. This is the one place a protocol is added:
// write its Connector, return it here and list it in Protocols.
func (s *Sockets) connector(p *probe.Probe) Connector {
	switch p.Protocol {
	case "TCP", "":
		if p.HTTP {
			return newHTTP(s.timeout(), s.MaxBody)
		}
		return &TCP{Timeout: s.timeout()}
	}
	return nil
}

// Probe runs p: one connection, or repeated connections until every backend
// has answered, the budget is spent, or the path proves dead.
func (s *Sockets) Probe(ctx context.Context, p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID}
	if p.Skip != "" {
		r.Outcome, r.Detail = probe.NotRun, p.Skip
		return r
	}
	conn := s.connector(p)
	if conn == nil {
		r.Outcome, r.Detail = probe.NotRun, "protocol "+p.Protocol+" is not probed"
		return r
	}
	defer conn.Close()
	seen := map[string]bool{}
	var lat []time.Duration
	var lastErr error
	worst := probe.OK
	budget := max(p.Connections, 1)
	for r.Connections < budget {
		if ctx.Err() != nil {
			r.Interrupted = true
			break
		}
		a := conn.Connect(ctx, p)
		if a.Err != nil && ctx.Err() != nil {
			r.Interrupted = true // the run was stopped, the path did not fail
			break
		}
		r.Connections++
		if a.Err != nil {
			r.Failures++
			lastErr = a.Err
			worst = probe.Classify(a.Err)
			// A dead path: the first two connections failed and nothing answered.
			if r.Failures >= 2 && len(lat) == 0 {
				break
			}
			continue
		}
		lat = append(lat, a.Latency)
		r.HTTPStatus = a.Status
		if b, how := s.attribute(p, a); b != "" {
			seen[b] = true
			r.Attribution = how
		} else if len(p.Backends) > 0 {
			// Nothing names the backend: coverage cannot be measured, one
			// answer is all the proof there is.
			break
		}
		if len(p.Backends) > 0 && len(seen) == len(p.Backends) {
			break
		}
	}
	if r.Interrupted && r.Connections == 0 {
		r.Outcome, r.Detail = probe.NotRun, "interrupted"
		return r
	}
	r.Outcome = probe.OK
	if r.Failures > 0 {
		r.Outcome = worst
		r.Detail = lastErr.Error()
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.Latency = lat[len(lat)/2]
	}
	for b := range seen {
		r.Seen = append(r.Seen, b)
	}
	sort.Strings(r.Seen)
	if len(r.Seen) == 1 {
		r.Backend = r.Seen[0]
	}
	if len(r.Seen) > 0 && p.Via == probe.ViaEndpoint {
		r.Attribution = probe.AttrDirect
	}
	return r
}

func (s *Sockets) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 2 * time.Second
	}
	return s.Timeout
}
