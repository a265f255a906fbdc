package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// nodeFaults places the failed connections no earlier rule explained, of
// paths a node forwards (its NodePort; a ClusterIP or DNS name probed from
// it), on that node, and gives each such node, in the order of its first
// failure, one verdict:
//
//   - dataplaneBroken: the node's own paths fail (a ClusterIP or DNS name
//     probed from an agent on it, its NodePort from its own host): kube-proxy
//     or the CNI on the node; it cites every failed path through the node;
//   - blockedFromOperator: its NodePort fails from outside only and answers
//     from inside the cluster: a firewall between the operator and the node;
//   - nodePortBlocked: its NodePort fails from elsewhere while the node's
//     own paths answer: a firewall on or in front of the node drops (or,
//     when every failure is a refusal or reset, rejects) the port;
//   - nodePathFailed: its NodePort fails, and nothing probed from the node
//     tells a broken forwarder from a firewall.
//
// A failure that is not a failed connection (a second backend on a sticky
// path, a wrong status, an answer where none is wanted) is the hop rule's.
// When every NodePort of the Service that must answer fails, on more than
// one node or on the only node its NodePort is probed through (a one-node
// cluster has no other node to compare with), the Service is broken, not a
// node, and the rule leaves it to hopFailures.
type nodeFaults struct{}

func (nodeFaults) apply(c *svcContext) bool {
	c.vantageNodeFaults() // rule_vantage.go: a node failing its own paths and others' NodePorts from an agent on it
	nodes := c.failingNodes()
	if ran := c.ran(reachNodePort); len(nodes) > 0 && len(ran) > 0 && len(c.failed(reachNodePort)) == len(ran) && (len(nodes) > 1 || c.nodePortNodes() == 1) {
		return false // every node failing is the Service's problem, not a node's
	}
	for _, n := range nodes {
		c.nodeVerdict(n)
	}
	return false
}

// nodePortNodes counts the nodes the Service's NodePort is probed through,
// whatever each is expected to do.
func (c *svcContext) nodePortNodes() int {
	var nodes []string
	for _, i := range c.idx {
		if p := &c.plan.Probes[i]; targetForwarded(p.Via) && p.Node != "" && !slices.Contains(nodes, p.Node) {
			nodes = append(nodes, p.Node)
		}
	}
	return len(nodes)
}

// forwardedBy: a path node n forwards that must reach.
func (c *svcContext) forwardedBy(p *probe.Probe, n string) bool {
	m, ok := c.forwarder(p)
	return ok && m == n && p.Expect.Want == probe.Reach
}

// ownPath: a path node n forwards for itself: a ClusterIP or DNS name probed
// from an agent on n, or n's NodePort probed from n's own host (which does
// not cross a firewall in front of n's port).
func (c *svcContext) ownPath(p *probe.Probe, n string) bool {
	if m, ok := c.forwarder(p); !ok || m != n {
		return false
	}
	return p.Via.Kind().Through == probe.ThroughVantage || p.From == probe.FromNode(n)
}

// openConnFailures lists the probes matching f whose connections failed and
// that no finding cites yet.
func (c *svcContext) openConnFailures(f func(p *probe.Probe) bool) []int {
	var out []int
	for _, i := range c.open(f) {
		if p, r := c.probe(i); connFailed(p, r) {
			out = append(out, i)
		}
	}
	return out
}

// failingNodes lists the nodes that forward paths with open failed
// connections, in the order of their first failure.
func (c *svcContext) failingNodes() []string {
	var order []string
	for _, i := range c.openConnFailures(anyProbe) {
		p, _ := c.probe(i)
		if n := c.viaNode(p); n != "" && c.forwardedBy(p, n) && !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	return order
}

// nodeVerdict adds the verdict about node n, whose paths fail.
func (c *svcContext) nodeVerdict(n string) {
	failed := c.openConnFailures(func(p *probe.Probe) bool { return c.forwardedBy(p, n) })
	var own, outside, elsewhere []int
	for _, i := range failed {
		switch p := &c.plan.Probes[i]; {
		case c.ownPath(p, n):
			own = append(own, i)
		case p.From == probe.FromLocal:
			outside = append(outside, i)
		default:
			elsewhere = append(elsewhere, i)
		}
	}
	ownOK := c.answered(func(p *probe.Probe) bool { return c.forwardedBy(p, n) && c.ownPath(p, n) })
	insideOK := c.answered(func(p *probe.Probe) bool {
		return reachNodePort(p) && p.Node == n && p.From != probe.FromLocal && !c.ownPath(p, n)
	})
	outsideOK := c.answered(func(p *probe.Probe) bool { return reachNodePort(p) && p.Node == n && p.From == probe.FromLocal })
	kinds := c.kindsText(failed)
	switch {
	case len(own) > 0:
		c.add(SevError, VerdictDataplaneBroken, n, "", failed,
			"dataplane broken on node %s: %s through %s fail%s (%s)%s%s: check kube-proxy and the CNI on %s",
			n, c.hops(failed), n, plural(len(c.hopsList(failed)), "", "s"), kinds, c.podsAnswerFrom(n), c.staleHint(failed), n)
	case len(outside) > 0 && len(elsewhere) == 0 && len(insideOK) > 0:
		c.add(SevError, VerdictBlockedFromOperator, n, "", outside,
			"blocked between the operator and node %s: NodePort %d answers from inside the cluster but not from outside (%s): check firewalls and security groups",
			n, c.plan.Probes[outside[0]].TargetPort, kinds)
	case len(ownOK) > 0 || len(outside) == 0 && len(outsideOK) > 0:
		c.add(SevError, VerdictNodePortBlocked, n, "", failed,
			"NodePort %d of node %s is blocked: it fails from %s (%s) while %s: a firewall on or in front of %s %s the port",
			c.plan.Probes[failed[0]].TargetPort, n, c.vantages(failed), kinds, c.forwardsText(n, ownOK, outsideOK), n, c.blockVerb(failed))
	case len(elsewhere) == 0:
		c.add(SevError, VerdictNodePathFailed, n, "", outside,
			"NodePort %d fails on node %s only (%s from outside; other nodes answer)%s; --from everywhere tells a broken kube-proxy from a firewall",
			c.plan.Probes[outside[0]].TargetPort, n, kinds, c.staleHint(outside))
	default:
		c.add(SevError, VerdictNodePathFailed, n, "", failed,
			"NodePort %d fails on node %s from %s (%s; other nodes answer)%s: kube-proxy on %s, or a firewall on it; --from nodes tells them apart",
			c.plan.Probes[failed[0]].TargetPort, n, c.vantages(failed), kinds, c.staleHint(failed), n)
	}
}

// podsAnswerFrom notes that pods answer directly from a vantage point on
// node n, when one did: the node's network reaches them.
func (c *svcContext) podsAnswerFrom(n string) string {
	if len(c.answered(func(p *probe.Probe) bool { return insideEndpoint(p) && c.plan.NodeOf(p.From) == n })) > 0 {
		return "; pods answer directly from " + n
	}
	return ""
}

// forwardsText says how node n is seen to forward: its own paths (ownOK)
// answer on it, its NodePort answers from outside (outsideOK).
func (c *svcContext) forwardsText(n string, ownOK, outsideOK []int) string {
	var parts []string
	if len(ownOK) > 0 {
		parts = append(parts, fmt.Sprintf("%s forwards its own paths (%s answer%s there)", n, c.hops(ownOK), plural(len(c.hopsList(ownOK)), "", "s")))
	}
	if len(outsideOK) > 0 {
		parts = append(parts, "it answers from outside the cluster")
	}
	return strings.Join(parts, " and ")
}

// staleHint notes, when every failed path of idx reached all its backends,
// that the failed connections went to no current endpoint.
func (c *svcContext) staleHint(idx []int) string {
	for _, i := range idx {
		if p, r := c.probe(i); len(p.Backends) == 0 || len(missing(p.Backends, r.Seen)) > 0 {
			return ""
		}
	}
	return "; every backend answered there, so the failed connections went to no current endpoint: stale rules?"
}

// kindsText names how the connections of the probes idx failed.
func (c *svcContext) kindsText(idx []int) string {
	var kinds []probe.Outcome
	for _, i := range idx {
		kinds = unionKinds(kinds, failureKinds(&c.results[i]))
	}
	return kindsText(kinds)
}

// vantages names the vantage points of the probes idx: "local, pod".
func (c *svcContext) vantages(idx []int) string {
	var out []string
	for _, i := range idx {
		if f := string(c.plan.Probes[i].From); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return strings.Join(out, ", ")
}

func (c *svcContext) hops(idx []int) string { return strings.Join(c.hopsList(idx), " and ") }

// hopsList names the distinct hops of idx: "NodePort 30080", "ClusterIP 10.96.0.1".
func (c *svcContext) hopsList(idx []int) []string {
	var hs []string
	for _, i := range idx {
		p, _ := c.probe(i)
		if h := p.Via.Kind().Hop(p); !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return hs
}

// blockVerb says how a firewall blocks the failed probes idx: "rejects"
// when every failed connection was refused or reset (a REJECT rule answers),
// "drops" otherwise.
func (c *svcContext) blockVerb(idx []int) string {
	for _, i := range idx {
		for _, k := range failureKinds(&c.results[i]) {
			if k != probe.Refused && k != probe.Reset {
				return "drops"
			}
		}
	}
	return "rejects"
}
