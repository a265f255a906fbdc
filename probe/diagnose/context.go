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
}

func newSvcContext(svc *probe.Service, pods []probe.Pod, plan *probe.Plan, results []probe.Result, idx []int) *svcContext {
	c := &svcContext{svc: svc, pods: pods, plan: plan, results: results, idx: idx, cited: map[int]bool{}}
	for _, p := range pods {
		if p.Namespace == svc.Namespace && len(svc.Selector) > 0 && matches(svc.Selector, p.Labels) {
			c.selected = append(c.selected, p)
		}
	}
	return c
}

// run applies rs in order until one stops, and returns the findings.
func (c *svcContext) run(rs []rule) []Finding {
	for _, r := range rs {
		if r.apply(c) {
			break
		}
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

// Probe predicates the rules share.

func anyProbe(*probe.Probe) bool { return true }

// insideEndpoint: a direct connection to an endpoint from inside the cluster.
func insideEndpoint(p *probe.Probe) bool {
	return p.Via == probe.ViaEndpoint && p.From != probe.FromLocal
}

// reachNodePort: a NodePort that must answer.
func reachNodePort(p *probe.Probe) bool {
	return p.Via == probe.ViaNodePort && p.Expect.Want == probe.Reach
}

// viaNode is the node a probe's path goes through (the NodePort's node, or a
// ClusterIP's vantage point's node), or "".
func (c *svcContext) viaNode(p *probe.Probe) string {
	switch p.Via {
	case probe.ViaNodePort:
		return p.Node
	case probe.ViaClusterIP:
		return c.plan.NodeOf(p.From)
	}
	return ""
}
