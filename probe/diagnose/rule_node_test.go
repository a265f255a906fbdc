package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// proxyDown: kube-proxy is down on node: its NodePort fails from everywhere,
// and so does the ClusterIP from the node.
func proxyDown(node string) func(p *probe.Probe) bool {
	return func(p *probe.Probe) bool {
		return p.Via == probe.ViaNodePort && p.Node == node || p.Via == probe.ViaClusterIP && p.From == probe.FromNode(node)
	}
}

// firewalled: node's NodePort fails from outside only.
func firewalled(node string) func(p *probe.Probe) bool {
	return func(p *probe.Probe) bool {
		return p.Via == probe.ViaNodePort && p.Node == node && p.From == probe.FromLocal
	}
}

func TestNodeFaults(t *testing.T) {
	either := func(a, b func(p *probe.Probe) bool) func(p *probe.Probe) bool {
		return func(p *probe.Probe) bool { return a(p) || b(p) }
	}
	fromPod := []probe.From{probe.FromLocal, probe.FromPod}
	oneNode := func(inv *probe.Inventory) { inv.Nodes = inv.Nodes[:1] }
	testRule(t, nodeFaults{}, []ruleCase{
		{name: "one node: its NodePort failing says nothing of other nodes", from: local, mutate: oneNode,
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Refused)},
		{name: "NodePort fails from outside only", from: local, outcome: failing(firewalled("worker1"), probe.Refused),
			codes: "error:nodePathFailed", node: "worker1", cites: everyFailed,
			msgs: []string{"NodePort 30080 fails on node worker1 only (refused from outside; other nodes answer); --from everywhere tells a broken kube-proxy from a firewall"}},
		{name: "NodePort answers from inside, not from outside", from: allFroms, mutate: withPods, outcome: failing(firewalled("worker2"), probe.Timeout),
			codes: "error:blockedFromOperator", node: "worker2", cites: everyFailed,
			msgs: []string{"blocked between the operator and node worker2: NodePort 30080 answers from inside the cluster but not from outside (timeout): check firewalls and security groups"}},
		{name: "kube-proxy down, seen by node agents", from: allFroms, mutate: withPods, outcome: failing(proxyDown("worker1"), probe.Refused),
			codes: "error:dataplaneBroken", node: "worker1", cites: everyFailed,
			msgs: []string{"dataplane broken on node worker1: NodePort 30080 and ClusterIP 10.96.0.100 through worker1 fail (refused); pods answer directly from worker1: check kube-proxy and the CNI on worker1"}},
		{name: "kube-proxy down under the pod agent", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaClusterIP && p.From == probe.FromPod }, probe.Timeout),
			codes:   "error:dataplaneBroken", node: "worker1", cites: everyFailed,
			msgs: []string{"dataplane broken on node worker1: ClusterIP 10.96.0.100 through worker1 fails (timeout); pods answer directly from worker1"}},
		{name: "the node forwards its ClusterIP, not its NodePort: blocked", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				switch {
				case p.Via == probe.ViaEndpoint && p.From == probe.FromPod:
					return probe.NotRun, nil
				case p.Via == probe.ViaNodePort && p.Node == "worker1":
					return probe.Refused, nil
				}
				return healthy(p)
			},
			codes: "error:nodePortBlocked", node: "worker1", cites: everyFailed,
			msgs: []string{"NodePort 30080 of node worker1 is blocked: it fails from local, pod (refused) while worker1 forwards its own paths (ClusterIP 10.96.0.100 and DNS name web.default.svc.cluster.local answer there): a firewall on or in front of worker1 rejects the port"}},
		{name: "two nodes, in plan order", from: allFroms, mutate: withPods,
			outcome: failing(either(firewalled("worker2"), proxyDown("worker1")), probe.Refused),
			codes:   "error:dataplaneBroken,error:blockedFromOperator", node: "worker1", cites: everyFailed,
			msgs: []string{"dataplane broken on node worker1", "blocked between the operator and node worker2"}},
		{name: "every node fails: the Service's, not a node's", from: local, outcome: nodePortsRefused},
		{name: "a ClusterIP from an agent on no known node", from: fromPod, mutate: withPods,
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaClusterIP && p.From == probe.FromPod }, probe.Refused)},
		{name: "explained already", from: allFroms, mutate: withPods, outcome: failing(proxyDown("worker1"), probe.Refused),
			cited: func(*probe.Probe) bool { return true }},
		{name: "healthy", from: allFroms, mutate: withPods, outcome: healthy},
	})
}
