package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// nodeFaults places failures of NodePort and ClusterIP paths that must
// answer on the node they go through (the NodePort's node, or the node a
// ClusterIP was probed from), and gives each such node, in the order of its
// first failure, one verdict: dataplaneBroken when a path through it fails
// from inside the cluster too (kube-proxy or the CNI on the node), citing
// every failed path through the node; blockedFromOperator when its NodePort
// fails from outside but answers from inside (a firewall), and
// nodePathFailed when it fails from outside and no in-cluster view tells
// which, both citing its failed NodePort probes from outside. Only failures
// no earlier rule cited place a node; when more than one node fails and
// every NodePort fails, the Service is broken, not a node, and the rule
// leaves it to hopFailures.
type nodeFaults struct{}

func (nodeFaults) apply(c *svcContext) bool {
	nodes := c.failingNodes()
	if len(nodes) > 1 && len(c.failed(reachNodePort)) == len(c.ran(reachNodePort)) {
		return false // every node failing is the Service's problem, not a node's
	}
	for _, n := range nodes {
		c.nodeVerdict(n)
	}
	return false
}

// reachThroughNode: a NodePort or ClusterIP path that must answer.
func reachThroughNode(p *probe.Probe) bool {
	return (p.Via == probe.ViaNodePort || p.Via == probe.ViaClusterIP) && p.Expect.Want == probe.Reach
}

// failingNodes lists the nodes that uncited failures of reachThroughNode
// probes go through, in the order of their first failure.
func (c *svcContext) failingNodes() []string {
	var order []string
	seen := map[string]bool{}
	for _, i := range c.open(reachThroughNode) {
		p, _ := c.probe(i)
		if n := c.viaNode(p); n != "" && !seen[n] {
			seen[n] = true
			order = append(order, n)
		}
	}
	return order
}

// nodeVerdict adds the verdict about node n, whose paths fail.
func (c *svcContext) nodeVerdict(n string) {
	through := func(p *probe.Probe) bool { return reachThroughNode(p) && c.viaNode(p) == n }
	nodePort := func(p *probe.Probe) bool { return reachNodePort(p) && p.Node == n }
	failedHere := c.failed(through)
	outsideFail := c.failed(func(p *probe.Probe) bool { return nodePort(p) && p.From == probe.FromLocal })
	insideFail := c.failed(func(p *probe.Probe) bool { return through(p) && p.From != probe.FromLocal })
	insideOK := c.passed(func(p *probe.Probe) bool { return nodePort(p) && p.From != probe.FromLocal })
	directOK := c.passed(func(p *probe.Probe) bool { return insideEndpoint(p) && c.plan.NodeOf(p.From) == n })
	switch {
	case len(insideFail) > 0:
		evidence := ""
		if len(directOK) > 0 {
			evidence = fmt.Sprintf("; pods answer directly from %s", n)
		}
		c.add(SevError, VerdictDataplaneBroken, n, "", failedHere,
			"dataplane broken on node %s: %s through %s fail%s (%s)%s: check kube-proxy and the CNI on %s",
			n, c.hops(failedHere), n, plural(len(c.hopsList(failedHere)), "", "s"), c.results[failedHere[0]].Outcome, evidence, n)
	case len(outsideFail) > 0 && len(insideOK) > 0:
		c.add(SevError, VerdictBlockedFromOperator, n, "", outsideFail,
			"blocked between the operator and node %s: NodePort %d answers from inside the cluster but not from outside (%s): check firewalls and security groups",
			n, c.plan.Probes[outsideFail[0]].TargetPort, c.results[outsideFail[0]].Outcome)
	case len(outsideFail) > 0:
		c.add(SevError, VerdictNodePathFailed, n, "", outsideFail,
			"NodePort %d fails on node %s only (%s from outside; other nodes answer); --from all tells a broken kube-proxy from a firewall",
			c.plan.Probes[outsideFail[0]].TargetPort, n, c.results[outsideFail[0]].Outcome)
	}
}

func (c *svcContext) hops(idx []int) string { return strings.Join(c.hopsList(idx), " and ") }

// hopsList names the distinct hops of idx: "NodePort 30080", "ClusterIP 10.96.0.1".
func (c *svcContext) hopsList(idx []int) []string {
	var hs []string
	for _, i := range idx {
		p, _ := c.probe(i)
		h := fmt.Sprintf("NodePort %d", p.TargetPort)
		if p.Via == probe.ViaClusterIP {
			h = "ClusterIP " + p.Host
		}
		if !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return hs
}
