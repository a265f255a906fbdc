package diagnose

import (
	"slices"
	"sort"

	"github.com/svccheck/svccheck/probe"
)

// place is where a backend was tried from: directly from a vantage point, or
// forwarded by a node (a NodePort's node, the node a ClusterIP or DNS name
// was probed from), or by a path whose node is unknown (a LoadBalancer, an
// agent on no known node).
type place struct {
	direct bool
	at     string // direct: the vantage point; forwarded: the node, or the path
	node   string // the node the place is on, "" when unknown
}

func (pl place) String() string {
	switch {
	case pl.direct && pl.node != "" && pl.at == string(probe.FromPod):
		return "directly from pod (on " + pl.node + ")"
	case pl.direct:
		return "directly from " + pl.at
	case pl.node != "":
		return "through " + pl.node
	}
	return "through the " + pl.at
}

// placeOf is where probe p tries its backends from.
func (c *svcContext) placeOf(p *probe.Probe) place {
	if direct(p.Via) {
		return place{direct: true, at: string(p.From), node: c.plan.NodeOf(p.From)}
	}
	if n := c.viaNode(p); n != "" {
		return place{at: n, node: n}
	}
	if p.Via.Kind().Through == probe.ThroughVantage {
		// Forwarded by the vantage point's node, whichever that is: a DNS
		// name leads to the ClusterIP.
		return place{at: "node of " + string(p.From)}
	}
	return place{at: string(p.Via) + " from " + string(p.From)}
}

// sighting is what one probe says about one backend: it answered, or some
// connections to it failed.
type sighting struct {
	i     int // the probe
	place place
	ok    bool
	kinds []probe.Outcome // how its connections failed, when they did
	// fact: the failures are known to be the backend's (a direct probe, the
	// NAT table, an answer naming it, or the path's only backend accepting);
	// otherwise they are inferred from coverage: the path failed some
	// connections and never reached the backend, while others answered.
	fact   bool
	failed int // failed connections that were, or most likely were, the backend's
}

// backend is what the probes of one Service port say about one backend.
type backend struct {
	port, pod string
	seen      []sighting
}

// backends gathers, per Service port and backend (a pod, or an endpoint's
// address when it has no pod), in the order of the plan, every sighting:
// answers on any direct probe from inside the cluster or forwarded path,
// whatever it expected, and failures of those that must reach. Failures of
// probes cited already are left out.
func (c *svcContext) backends() []*backend {
	var out []*backend
	by := map[[2]string]*backend{}
	add := func(p *probe.Probe, pod string, s sighting) {
		if !s.ok && c.cited[s.i] {
			return
		}
		b := by[[2]string{p.Port, pod}]
		if b == nil {
			b = &backend{port: p.Port, pod: pod}
			by[[2]string{p.Port, pod}] = b
			out = append(out, b)
		}
		b.seen = append(b.seen, s)
	}
	for _, i := range c.idx {
		p, r := c.probe(i)
		route := p.Via.Kind().Route
		if r.Outcome == probe.NotRun || route == probe.RouteProxy || p.From == probe.FromLocal && route == probe.RouteDirect {
			continue
		}
		pl := c.placeOf(p)
		if route == probe.RouteDirect {
			if s, ok := directSighting(i, pl, p, r); ok {
				add(p, nameOr(p.Pod, p.Host), s)
			}
			continue
		}
		for _, pod := range r.Seen {
			add(p, pod, sighting{i: i, place: pl, ok: true})
		}
		for _, fs := range forwardedFailures(p, r, c.candidates(p)) {
			fs.sighting.i, fs.sighting.place = i, pl
			add(p, fs.pod, fs.sighting)
		}
	}
	return out
}

// directSighting is what a direct probe says about its endpoint.
func directSighting(i int, pl place, p *probe.Probe, r *probe.Result) (sighting, bool) {
	switch {
	case r.Outcome == probe.OK:
		return sighting{i: i, place: pl, ok: true}, true
	case connFailed(p, r):
		return sighting{i: i, place: pl, kinds: failureKinds(r), fact: true, failed: r.Failures}, true
	}
	return sighting{}, false
}

// podSighting is a failure sighting of one backend.
type podSighting struct {
	pod      string
	sighting sighting
}

// candidates are the backends a forwarded path may reach: its pods, and the
// addresses of the Service's ready endpoints on its port that have no pod.
func (c *svcContext) candidates(p *probe.Probe) []string {
	out := p.Backends
	name := ""
	for _, sp := range c.svc.Ports {
		if sp.Label() == p.Port {
			name = sp.Name
		}
	}
	for _, ep := range c.svc.Endpoints {
		if _, ok := ep.Ports[name]; ok && ep.Ready && ep.PodName == "" && !slices.Contains(out, ep.Address) {
			out = append(slices.Clip(out), ep.Address)
		}
	}
	return out
}

// forwardedFailures attributes the failed connections of a forwarded path
// whose backends are cands: to the backends the NAT table or the answers
// name (fact); the rest to the path's only backend when the connections
// reached a listener (fact: only a backend accepts), or else, when the path
// reached some backends, to the backends it never reached (inferred). A
// path that reached nothing and has no attribution says nothing about any
// one backend.
func forwardedFailures(p *probe.Probe, r *probe.Result, cands []string) []podSighting {
	if !connFailed(p, r) {
		return nil
	}
	kinds := failureKinds(r)
	var out []podSighting
	rest := r.Failures
	pods := make([]string, 0, len(r.FailedBackends))
	for pod := range r.FailedBackends {
		pods = append(pods, pod)
	}
	sort.Strings(pods)
	for _, pod := range pods {
		n := r.FailedBackends[pod]
		rest -= n
		out = append(out, podSighting{pod, sighting{kinds: kinds, fact: true, failed: n}})
	}
	switch {
	case rest <= 0:
	case len(r.Seen) == 0 && len(cands) == 1 && connectedOnly(kinds):
		out = append(out, podSighting{cands[0], sighting{kinds: kinds, fact: true, failed: rest}})
	case len(r.Seen) > 0:
		for _, pod := range missing(cands, r.Seen) {
			out = append(out, podSighting{pod, sighting{kinds: kinds, failed: rest}})
		}
	}
	return out
}

// connectedOnly: every kind of failure proves a listener accepted.
func connectedOnly(kinds []probe.Outcome) bool {
	for _, k := range kinds {
		if !k.Connected() {
			return false
		}
	}
	return len(kinds) > 0
}

// slowOnly: every kind of failure is a wait, after which a prober gives a
// path up as dead after two connections (see prober.worthAnother).
func slowOnly(kinds []probe.Outcome) bool {
	for _, k := range kinds {
		if k == probe.Refused || k == probe.Reset || k == probe.ServerError {
			return false
		}
	}
	return len(kinds) > 0
}

// unionKinds merges lists of failure kinds, in the order of probe.Outcomes.
func unionKinds(lists ...[]probe.Outcome) []probe.Outcome {
	var out []probe.Outcome
	for _, o := range probe.Outcomes {
		for _, l := range lists {
			if slices.Contains(l, o) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// subsetKinds: every kind of a is in b.
func subsetKinds(a, b []probe.Outcome) bool {
	for _, k := range a {
		if !slices.Contains(b, k) {
			return false
		}
	}
	return true
}
