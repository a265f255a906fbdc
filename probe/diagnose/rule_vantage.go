package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// A vantage point inside the cluster (an agent pod or a node agent) sends
// every probe through its own node's network. When that node's network
// fails, every path probed from there fails, whichever Service or backend it
// leads to: the failures say nothing about the backends or the other nodes,
// and the node is the one common hop. Two rules place such failures on the
// vantage point's node (dataplaneBroken) instead of on the pods or the
// Service:
//
//   - vantageCutOff, before the backend rules: nothing probed from the
//     vantage point, in the whole run, made a connection (timeouts and no
//     route only, no answer, no refusal), and the pods it failed to reach
//     directly run on its own node or on two nodes or more, and no other
//     vantage point failed to reach them;
//   - vantageNodeFaults, within nodeFaults: the node's own paths (a ClusterIP
//     or DNS name probed from it) fail, and so do other nodes' NodePorts
//     probed from it, while those NodePorts answer from elsewhere or other
//     Services' paths through the node fail too.
type vantageCutOff struct{}

func (vantageCutOff) apply(c *svcContext) bool {
	var nodes []string
	byNode := map[string][]probe.From{}
	for _, i := range c.open(anyProbe) {
		f := c.plan.Probes[i].From
		n := c.plan.NodeOf(f)
		if f == probe.FromLocal || n == "" || slices.Contains(byNode[n], f) {
			continue
		}
		if _, ok := byNode[n]; !ok {
			nodes = append(nodes, n)
		}
		byNode[n] = append(byNode[n], f)
	}
	found := false
	for _, n := range nodes {
		// The vantage points on n that reach nothing, each on its own (an
		// agent pod may be cut while the node agent beside it is not).
		var cut []probe.From
		for _, v := range byNode[n] {
			if c.cutOff(v, n) {
				cut = append(cut, v)
			}
		}
		if len(cut) == 0 {
			continue
		}
		on := func(p *probe.Probe) bool { return slices.Contains(cut, p.From) }
		var names []string
		for _, v := range cut {
			names = append(names, vantageName(v, n))
		}
		cite := c.open(on)
		if len(cut) == len(byNode[n]) {
			// Its NodePort fails from everywhere else too: the same cut.
			cite = c.open(func(p *probe.Probe) bool { return on(p) || c.forwardedBy(p, n) && targetForwarded(p.Via) })
		}
		policy := ""
		if slices.Contains(cut, probe.FromPod) {
			policy = ", or a NetworkPolicy drops the agent pod's traffic"
		}
		c.add(SevError, VerdictDataplaneBroken, n, "", cite,
			"node %s reaches nothing: every path probed from %s failed without a connection (%s), pods' own addresses included%s: its network is cut (links, routes, the CNI on %s)%s, so nothing is concluded about the backends from there",
			n, strings.Join(names, " and "), c.kindsText(cite), c.reachedElsewhere(on), n, policy)
		found = true
	}
	return found && len(c.open(anyProbe)) == 0
}

// cutOff: every probe from vantage point v (on node n) that must reach,
// across the whole run, ran and failed without a connection; the pods it
// failed to reach directly run on n or on two nodes or more; no vantage
// point on another node failed to reach those pods. Judged once per run.
func (c *svcContext) cutOff(v probe.From, n string) bool {
	if cut, ok := c.facts.cut[v]; ok {
		return cut
	}
	if c.facts.cut == nil {
		c.facts.cut = map[probe.From]bool{}
	}
	cut := c.judgeCutOff(v, n)
	c.facts.cut[v] = cut
	return cut
}

func (c *svcContext) judgeCutOff(v probe.From, n string) bool {
	var podNodes []string
	hosts := map[string]bool{}
	count := 0
	for i := range c.plan.Probes {
		p, r := &c.plan.Probes[i], &c.results[i]
		if p.From != v || p.Expect.Want != probe.Reach || r.Outcome == probe.NotRun {
			continue
		}
		if r.Pass || !connFailed(p, r) {
			return false
		}
		for _, k := range failureKinds(r) {
			if k != probe.Timeout && k != probe.NoRoute && k != probe.DNSError {
				return false
			}
		}
		count++
		if direct(p.Via) {
			if p.Node != "" && !slices.Contains(podNodes, p.Node) {
				podNodes = append(podNodes, p.Node)
			}
			hosts[p.Host] = true
		}
	}
	if count < 2 || len(hosts) == 0 || len(podNodes) < 2 && !slices.Contains(podNodes, n) {
		return false
	}
	for i := range c.plan.Probes {
		p, r := &c.plan.Probes[i], &c.results[i]
		if insideEndpoint(p) && hosts[p.Host] && c.plan.NodeOf(p.From) != n && connFailed(p, r) {
			return false // the pod fails from another node too: not n's alone
		}
	}
	return true
}

// reachedElsewhere notes the vantage points inside the cluster, not those
// on (a node's), that reached pods of this Service directly.
func (c *svcContext) reachedElsewhere(on func(p *probe.Probe) bool) string {
	if v := c.vantages(c.answered(func(p *probe.Probe) bool { return !on(p) && insideEndpoint(p) })); v != "" {
		return "; the pods answer directly from " + v
	}
	return ""
}

// vantageName names an in-cluster vantage point on node n.
func vantageName(v probe.From, n string) string {
	if v == probe.FromPod {
		return "the agent pod on " + n
	}
	return "the node agent on " + n
}

// vantageNodeFaults gives dataplaneBroken to each node whose own paths fail
// from a vantage point on it that also fails other nodes' NodePorts, when
// those answer from elsewhere or other Services' paths through the node
// fail too; it cites every open failed connection the node forwards and
// those NodePorts.
func (c *svcContext) vantageNodeFaults() {
	var order []string
	others := map[string][]int{}
	for _, i := range c.openConnFailures(reachNodePort) {
		p := &c.plan.Probes[i]
		if p.From == probe.FromLocal {
			continue
		}
		if n := c.plan.NodeOf(p.From); n != "" && p.Node != n {
			if _, ok := others[n]; !ok {
				order = append(order, n)
			}
			others[n] = append(others[n], i)
		}
	}
	owns := map[string]bool{} // node -> whether its own paths fail, asked once per node
	ownFails := func(n string) bool {
		f, ok := owns[n]
		if !ok {
			f = len(c.openConnFailures(func(p *probe.Probe) bool { return c.forwardedBy(p, n) && c.ownPath(p, n) })) > 0
			owns[n] = f
		}
		return f
	}
	for _, n := range order {
		if !ownFails(n) {
			continue
		}
		// Another node's NodePort is n's to explain only while that node
		// forwards its own paths, and no other verdict cites it yet.
		var rest []int
		for _, i := range others[n] {
			if m := c.plan.Probes[i].Node; !c.cited[i] && !ownFails(m) {
				rest = append(rest, i)
			}
		}
		if others[n] = rest; len(rest) == 0 {
			continue
		}
		why := ""
		switch {
		case c.answerElsewhere(others[n]):
			why = "; those NodePorts answer from elsewhere"
		case c.nodeWide(n):
			why = fmt.Sprintf("; other Services' paths through %s fail too", n)
		default:
			continue
		}
		through := c.openConnFailures(func(p *probe.Probe) bool { return c.forwardedBy(p, n) })
		cite := append(slices.Clone(through), others[n]...)
		var nodes []string
		for _, i := range others[n] {
			if m := c.plan.Probes[i].Node; !slices.Contains(nodes, m) {
				nodes = append(nodes, m)
			}
		}
		c.add(SevError, VerdictDataplaneBroken, n, "", cite,
			"dataplane broken on node %s: %s through %s fail%s, and so does NodePort %d of %s from %s (%s)%s%s: check kube-proxy and the CNI on %s",
			n, c.hops(through), n, plural(len(c.hopsList(through)), "", "s"), c.plan.Probes[others[n][0]].TargetPort,
			strings.Join(nodes, ", "), n, c.kindsText(cite), why, c.podsAnswerFrom(n), n)
	}
}

// answerElsewhere: each NodePort of idx answered, in this Service, from a
// vantage point other than the one that failed it.
func (c *svcContext) answerElsewhere(idx []int) bool {
	for _, i := range idx {
		p := &c.plan.Probes[i]
		if len(c.answered(func(q *probe.Probe) bool { return reachNodePort(q) && q.Node == p.Node && q.From != p.From })) == 0 {
			return false
		}
	}
	return true
}

// nodeWide: a ClusterIP or DNS name of another Service, probed from a
// vantage point on node n, failed its connections.
func (c *svcContext) nodeWide(n string) bool {
	if c.facts.failedVI == nil {
		// Once per run: for each node, the first two Services whose
		// ClusterIP or DNS name failed from it (one other than any Service
		// is among them).
		c.facts.failedVI = map[string][]string{}
		for i := range c.plan.Probes {
			p, r := &c.plan.Probes[i], &c.results[i]
			if p.Via.Kind().Through != probe.ThroughVantage || !connFailed(p, r) {
				continue
			}
			m, key := c.plan.NodeOf(p.From), p.ServiceKey()
			if svcs := c.facts.failedVI[m]; m != "" && len(svcs) < 2 && !slices.Contains(svcs, key) {
				c.facts.failedVI[m] = append(svcs, key)
			}
		}
	}
	return slices.ContainsFunc(c.facts.failedVI[n], func(key string) bool { return key != c.svc.Key() })
}
