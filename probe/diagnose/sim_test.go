package diagnose

import (
	"math/rand/v2"
	"slices"

	"github.com/svccheck/svccheck/probe"
)

// sim scripts the results a real run would give on a cluster with faults:
// direct probes see what the pod does from where they are; a forwarded path
// balances its connections over its backends (round robin, or at random
// with rng), stops as the prober does (every backend seen; given up after two
// slow failures with nothing answered), and attributes failed connections as
// the prober can (conntrack on a node agent's own node, a 5xx page naming
// the pod).
type sim struct {
	bad       map[string]probe.Outcome   // pod: how every connection to it fails, from everywhere
	cut       map[string]map[string]bool // node: pods it cannot reach at all (timeout)
	noForward map[string]map[string]bool // node: pods its host reaches directly but it does not forward to
	deadNodes map[string]bool            // kube-proxy down: every path through the node is refused
	walled    map[string]bool            // the node's NodePort is dropped from outside the cluster
	blocked   map[string]bool            // the node's NodePort is dropped from all but its own host
	stale     map[string]bool            // the node sends every other connection to an address nobody has
	exposed   bool                       // ClusterIPs and pod IPs answer from outside
	unnamed   []string                   // addresses of endpoints without a pod, which paths also forward to
	rng       *rand.Rand                 // the balancer's choices; nil: round robin
}

func (s *sim) results(pl *probe.Plan) []probe.Result {
	rs := make([]probe.Result, len(pl.Probes))
	for i := range pl.Probes {
		rs[i] = s.result(pl, &pl.Probes[i])
	}
	return rs
}

func (s *sim) result(pl *probe.Plan, p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1}
	switch {
	case p.Skip != "":
		r = probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: p.Skip}
	case p.From == probe.FromLocal && (p.Via == probe.ViaClusterIP || p.Via == probe.ViaEndpoint):
		if !s.exposed {
			r.Outcome, r.Failures = probe.Timeout, 1
		}
	case p.Via == probe.ViaHealthCheck:
		r.HTTPStatus = p.Expect.Status
	case p.Via == probe.ViaEndpoint:
		if o := s.direct(pl, p); o != probe.OK {
			r.Outcome, r.Failures = o, 1
		} else if p.Pod != "" {
			r.Seen, r.Backend, r.Attribution = []string{p.Pod}, p.Pod, probe.AttrDirect
		}
	case p.Expect.Want == probe.NoReach:
		r.Outcome, r.Failures = probe.Timeout, 1
	default:
		s.forward(pl, p, &r)
	}
	probe.Evaluate(p, &r)
	return r
}

// direct is the outcome of a direct connection from p's vantage point to its pod.
func (s *sim) direct(pl *probe.Plan, p *probe.Probe) probe.Outcome {
	from := pl.NodeOf(p.From)
	pod := nameOr(p.Pod, p.Host)
	switch {
	case s.bad[pod] != "":
		return s.bad[pod]
	case s.cut[from][pod], p.From == probe.FromPod && s.noForward[from][pod]:
		return probe.Timeout // a pod's traffic is forwarded by its node
	}
	return probe.OK
}

// forward runs the connections of a forwarded path.
func (s *sim) forward(pl *probe.Plan, p *probe.Probe, r *probe.Result) {
	n := ""
	switch p.Via {
	case probe.ViaNodePort:
		n = p.Node
	case probe.ViaClusterIP, probe.ViaDNS:
		n = pl.NodeOf(p.From)
	}
	conntrack := p.From == probe.FromNode(n) && n != ""
	attributable := p.HTTP || conntrack
	start := 0
	seen := map[string]bool{}
	r.Connections, r.Observed = 0, map[probe.Outcome]int{}
	for k := 0; r.Connections < max(p.Connections, 1); k++ {
		r.Connections++
		b, o := s.connection(p, n, start+k)
		if o == probe.OK {
			r.Observed[o]++
			if !attributable || !slices.Contains(p.Backends, b) {
				break
			}
			if seen[b] = true; len(seen) == len(p.Backends) {
				break
			}
			continue
		}
		s.fail(r, b, o, slices.Contains(p.Backends, b) && (conntrack || p.HTTP && o == probe.ServerError))
		if len(seen) == 0 && r.Observed[probe.OK] == 0 && !worthAnotherSim(p, r) {
			break
		}
	}
	s.finish(p, r, seen)
}

// connection picks the k-th connection's backend and outcome on a path
// through node n ("" for an address nobody has).
func (s *sim) connection(p *probe.Probe, n string, k int) (string, probe.Outcome) {
	switch {
	case s.deadNodes[n] && n != "":
		return "", probe.Refused
	case p.Via == probe.ViaNodePort && s.walled[n] && p.From == probe.FromLocal,
		p.Via == probe.ViaNodePort && s.blocked[n] && p.From != probe.FromNode(n):
		return "", probe.Timeout
	case len(p.Backends)+len(s.unnamed) == 0:
		return "", probe.Refused // no endpoints: the proxy rejects
	case s.stale[n] && k%2 == 0:
		return "", probe.Timeout
	case s.stale[n]:
		k /= 2 // the live half of the connections still go round every backend
	}
	all := append(slices.Clip(p.Backends), s.unnamed...)
	b := all[k%len(all)]
	if s.rng != nil {
		b = all[s.rng.IntN(len(all))]
	}
	switch {
	case s.bad[b] != "":
		return b, s.bad[b]
	case s.cut[n][b], s.noForward[n][b]:
		return b, probe.Timeout
	}
	return b, probe.OK
}

func (s *sim) fail(r *probe.Result, b string, o probe.Outcome, attributed bool) {
	r.Failures++
	r.Observed[o]++
	r.Outcome = o
	if o == probe.ServerError {
		r.HTTPStatus = 500
	}
	if attributed && b != "" {
		if r.FailedBackends == nil {
			r.FailedBackends = map[string]int{}
		}
		r.FailedBackends[b]++
	}
}

func (s *sim) finish(p *probe.Probe, r *probe.Result, seen map[string]bool) {
	for b := range seen {
		r.Seen = append(r.Seen, b)
	}
	slices.Sort(r.Seen)
	if len(r.Seen) == 1 {
		r.Backend = r.Seen[0]
	}
	if r.Failures == 0 {
		r.Outcome, r.Observed = probe.OK, nil
		if p.Expect.Status != 0 {
			r.HTTPStatus = p.Expect.Status
		}
	} else if r.HTTPStatus == 0 && r.Observed[probe.OK] > 0 {
		r.HTTPStatus = 200
	}
}

// worthAnotherSim is the prober's rule for a path nothing answered yet.
func worthAnotherSim(p *probe.Probe, r *probe.Result) bool {
	if r.Failures < 2 {
		return true
	}
	fast := true
	for o := range r.Observed {
		fast = fast && (o == probe.Refused || o == probe.Reset || o == probe.ServerError)
	}
	traced := 0
	for _, n := range r.FailedBackends {
		traced += n
	}
	return fast || traced == r.Failures && len(r.FailedBackends) < len(p.Backends)
}

func setOf(items ...string) map[string]bool {
	m := map[string]bool{}
	for _, i := range items {
		m[i] = true
	}
	return m
}
