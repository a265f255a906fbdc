package diagnose

import (
	"fmt"

	"github.com/svccheck/svccheck/probe"
)

// svcContext is what the rules share while diagnosing one Service: what they
// read (the Service, the pods its selector matches, its probes and their
// results) and what they build (the findings so far, and which failed probes
// those findings cite).
type svcContext struct {
	svc      *probe.Service
	pods     []probe.Pod // every pod of the inventory
	selected []probe.Pod // the pods the Service's selector matches
	plan     *probe.Plan
	results  []probe.Result
	idx      []int        // the Service's probes: indexes into plan.Probes and results, in plan order
	cited    map[int]bool // probes a finding cites
	out      []Finding
	facts    *runFacts // what is learned once per run, across Services
	dns      *probe.ClusterDNS
}

// runFacts holds what rules learn from the whole run rather than from one
// Service, computed on first use and shared by every Service's context.
type runFacts struct {
	cut      map[probe.From]bool // vantageCutOff's judgement of each in-cluster vantage point
	failedVI map[string][]string // node -> the first two Services whose ClusterIP or DNS name failed from it
}

func newSvcContext(svc *probe.Service, pods []probe.Pod, plan *probe.Plan, results []probe.Result, idx []int,
	facts *runFacts, dns *probe.ClusterDNS) *svcContext {
	c := &svcContext{svc: svc, pods: pods, plan: plan, results: results, idx: idx, cited: map[int]bool{}, facts: facts, dns: dns}
	for _, p := range pods {
		if p.Namespace == svc.Namespace && len(svc.Selector) > 0 && matches(svc.Selector, p.Labels) {
			c.selected = append(c.selected, p)
		}
	}
	return c
}

// run applies rs in order, and returns the findings. Once a rule stops, only
// the rules marked always still run.
func (c *svcContext) run(rs []rule) []Finding {
	stopped := false
	for _, r := range rs {
		if _, ok := r.(always); stopped && !ok {
			continue
		}
		stopped = r.apply(c) || stopped
	}
	return c.out
}

// add records a finding about the Service citing probes (indexes), and
// marks them cited.
func (c *svcContext) add(sev Severity, code Code, node, pod string, probes []int, format string, args ...any) {
	f := Finding{Namespace: c.svc.Namespace, Service: c.svc.Name, Severity: sev, Code: code, Node: node, Pod: pod,
		Message: fmt.Sprintf(format, args...)}
	for _, i := range probes {
		f.Probes = append(f.Probes, c.plan.Probes[i].ID)
		c.cited[i] = true
	}
	c.out = append(c.out, f)
}

// addList is add for a message that is a list (List): its members are
// cut in a table, never in the JSON.
func (c *svcContext) addList(sev Severity, code Code, node string, probes []int, l *List) {
	c.add(sev, code, node, "", probes, "%s", l.Text())
	c.out[len(c.out)-1].List = l
}

func (c *svcContext) probe(i int) (*probe.Probe, *probe.Result) {
	return &c.plan.Probes[i], &c.results[i]
}

// filter selects probes that ran by their result.
type filter int

const (
	ranFilter    filter = iota // any result
	failedFilter               // failed
	passedFilter               // passed
	openFilter                 // failed and cited by no finding yet
)

// selectRun lists the Service's probes that ran, pass the filter and match f.
func (c *svcContext) selectRun(which filter, f func(p *probe.Probe) bool) []int {
	var out []int
	for _, i := range c.idx {
		if p, r := c.probe(i); r.Outcome != probe.NotRun && c.keep(which, i) && f(p) {
			out = append(out, i)
		}
	}
	return out
}

func (c *svcContext) keep(which filter, i int) bool {
	switch pass := c.results[i].Pass; which {
	case failedFilter:
		return !pass
	case passedFilter:
		return pass
	case openFilter:
		return !pass && !c.cited[i]
	}
	return true
}

func (c *svcContext) ran(f func(p *probe.Probe) bool) []int    { return c.selectRun(ranFilter, f) }
func (c *svcContext) failed(f func(p *probe.Probe) bool) []int { return c.selectRun(failedFilter, f) }
func (c *svcContext) passed(f func(p *probe.Probe) bool) []int { return c.selectRun(passedFilter, f) }
func (c *svcContext) open(f func(p *probe.Probe) bool) []int   { return c.selectRun(openFilter, f) }

// answered lists the Service's probes that match f and passed with an answer.
func (c *svcContext) answered(f func(p *probe.Probe) bool) []int {
	var out []int
	for _, i := range c.passed(f) {
		if c.results[i].Outcome == probe.OK {
			out = append(out, i)
		}
	}
	return out
}

// Probe predicates the rules share.

func anyProbe(*probe.Probe) bool { return true }

// direct: paths of kind v go straight at one endpoint, which alone may
// answer.
func direct(v probe.Via) bool { return v.Kind().Route == probe.RouteDirect }

// targetForwarded: paths of kind v go to the backends through the node the
// probe connects to, which forwards them (a NodePort).
func targetForwarded(v probe.Via) bool {
	k := v.Kind()
	return k.Route == probe.RouteForwarded && k.Through == probe.ThroughTarget
}

// insideEndpoint: a direct connection to an endpoint from inside the cluster.
func insideEndpoint(p *probe.Probe) bool {
	return direct(p.Via) && p.From != probe.FromLocal
}

// reachNodePort: a NodePort (a path its target node forwards) that must
// answer.
func reachNodePort(p *probe.Probe) bool {
	return targetForwarded(p.Via) && p.Expect.Want == probe.Reach
}

// viaNode is the node a probe's forwarded path is forwarded by (the
// NodePort's node, or the node of the vantage point of a ClusterIP or of a
// DNS name, which resolves to the ClusterIP), or "".
func (c *svcContext) viaNode(p *probe.Probe) string {
	n, _ := c.forwarder(p)
	return n
}

// forwarder is the node that forwards a probe's path, as viaNode, and
// whether the path is one a node the probe names forwards: its target's or
// its vantage point's, though that may be unknown ("").
func (c *svcContext) forwarder(p *probe.Probe) (string, bool) {
	if k := p.Via.Kind(); k.Route == probe.RouteForwarded {
		switch k.Through {
		case probe.ThroughTarget:
			return p.Node, true
		case probe.ThroughVantage:
			return c.plan.NodeOf(p.From), true
		}
	}
	return "", false
}

// forwardedReach: a path to the Service's backends through a VIP, a name or
// a NodePort that must reach them (not kube-proxy's health check, which
// answers for the node, not for a backend).
func forwardedReach(p *probe.Probe) bool {
	return p.Via.Kind().Route == probe.RouteForwarded && p.Expect.Want == probe.Reach
}

// exposureProbe: a cluster-internal address probed from outside, which must
// not answer; the exposure rule judges these, and no verdict about the
// Service's reach cites them.
func exposureProbe(p *probe.Probe) bool {
	return p.From == probe.FromLocal && p.Expect.Want == probe.NoReach && p.Via.Kind().ClusterInternal
}

// notExposure: any probe but an exposure probe.
func notExposure(p *probe.Probe) bool { return !exposureProbe(p) }

// failureKinds lists the outcomes of a result's failed connections, in the
// order of probe.Outcomes: its per-outcome counts, or its outcome when it
// has none.
func failureKinds(r *probe.Result) []probe.Outcome {
	var out []probe.Outcome
	for _, o := range probe.Outcomes {
		if o != probe.OK && o != probe.NotRun && r.Observed[o] > 0 {
			out = append(out, o)
		}
	}
	if len(out) == 0 && r.Outcome != probe.OK && r.Outcome != probe.NotRun {
		out = append(out, r.Outcome)
	}
	return out
}

// connFailed reports whether a probe failed because connections failed (not
// an answer where none was wanted, a wrong status, or several backends of a
// sticky path), UDP silence aside, which proves nothing.
func connFailed(p *probe.Probe, r *probe.Result) bool {
	if r.Pass || r.Outcome == probe.NotRun || r.Failures == 0 || p.Expect.Want != probe.Reach {
		return false
	}
	kinds := failureKinds(r)
	return !(p.Protocol == probe.ProtocolUDP && len(kinds) == 1 && kinds[0] == probe.NoAnswer)
}

// openGroups lists the Service's open failed probes that match f and keep
// accepts, grouped by key: the keys in plan order, and each key's probes.
func (c *svcContext) openGroups(f func(p *probe.Probe) bool, keep func(p *probe.Probe, r *probe.Result) bool,
	key func(p *probe.Probe, r *probe.Result) string) ([]string, map[string][]int) {
	var keys []string
	groups := map[string][]int{}
	for _, i := range c.open(f) {
		p, r := c.probe(i)
		if !keep(p, r) {
			continue
		}
		k := key(p, r)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	return keys, groups
}
