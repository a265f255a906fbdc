package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// fromAgent: a probe sent by the agent pod.
func fromAgent(p *probe.Probe) bool { return p.From == probe.FromPod }

// forwardedFromAgent: a ClusterIP, DNS name or NodePort probed by the agent.
func forwardedFromAgent(p *probe.Probe) bool { return fromAgent(p) && p.Via != probe.ViaEndpoint }

// withAPI adds a second Service over the same pods, ClusterIP only.
func withAPI(inv *probe.Inventory) {
	withPods(inv)
	api := inv.Services[0]
	api.Name, api.Type, api.ClusterIPs = "api", probe.TypeClusterIP, []string{"10.96.0.200"}
	api.Ports = []probe.ServicePort{{Name: "http", Protocol: "TCP", Port: 8080, TargetPort: "80"}}
	inv.Services = append(inv.Services, api)
}

func TestVantageCutOff(t *testing.T) {
	fromPod := []probe.From{probe.FromLocal, probe.FromPod}
	testRule(t, vantageCutOff{}, []ruleCase{
		{name: "the agent's node reaches nothing", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: failing(fromAgent, probe.Timeout), codes: "error:dataplaneBroken", node: "worker1", cites: everyFailed, stop: true,
			msgs: []string{"node worker1 reaches nothing: every path probed from the agent pod on worker1 failed without a connection (timeout), pods' own addresses included: its network is cut (links, routes, the CNI on worker1), or a NetworkPolicy drops the agent pod's traffic, so nothing is concluded"}},
		{name: "no route counts as no connection", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: failing(fromAgent, probe.NoRoute), codes: "error:dataplaneBroken", node: "worker1", cites: everyFailed, stop: true},
		{name: "a refusal is a connection: the agent reaches the network", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				if fromAgent(p) && p.Via == probe.ViaEndpoint && p.Pod == "web-b" {
					return probe.Refused, nil
				}
				return failing(fromAgent, probe.Timeout)(p)
			}},
		{name: "one path answered from the agent", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: failing(func(p *probe.Probe) bool { return fromAgent(p) && p.Via != probe.ViaClusterIP }, probe.Timeout)},
		{name: "every pod on one other node: that node may be the dead one", from: fromPod, agent: "worker2",
			mutate: func(inv *probe.Inventory) {
				withPods(inv)
				for i := range inv.Services[0].Endpoints {
					inv.Services[0].Endpoints[i].NodeName = "master"
				}
			},
			outcome: failing(fromAgent, probe.Timeout)},
		{name: "the pods fail from a node agent elsewhere too", from: allFroms, agent: "worker1", mutate: withPods,
			outcome: failing(func(p *probe.Probe) bool {
				return fromAgent(p) || p.From == probe.FromNode("worker1") || p.From == probe.FromNode("master") && p.Via == probe.ViaEndpoint
			}, probe.Timeout)},
		{name: "the agent pod and the node agent on one node: one finding", from: allFroms, agent: "worker1", mutate: withPods,
			outcome: failing(func(p *probe.Probe) bool {
				return fromAgent(p) || p.From == probe.FromNode("worker1") || p.Via == probe.ViaNodePort && p.Node == "worker1"
			}, probe.Timeout),
			codes: "error:dataplaneBroken", node: "worker1", cites: everyFailed, stop: true,
			msgs: []string{"every path probed from the agent pod on worker1 and the node agent on worker1 failed"},
			also: []string{"; the pods answer directly from node/master, node/worker2"}},
		{name: "the agent pod is cut, the node agent beside it is not", from: allFroms, agent: "worker1", mutate: withPods,
			outcome: failing(fromAgent, probe.Timeout), codes: "error:dataplaneBroken", node: "worker1", cites: everyFailed, stop: true,
			msgs: []string{"every path probed from the agent pod on worker1 failed without a connection (timeout), pods' own addresses included; the pods answer directly from node/master, node/worker1, node/worker2"}},
		{name: "healthy", from: fromPod, agent: "worker1", mutate: withPods, outcome: healthy},
	})
}

func TestVantageNodeFaults(t *testing.T) {
	fromPod := []probe.From{probe.FromLocal, probe.FromPod}
	testRule(t, nodeFaults{}, []ruleCase{
		{name: "forwarded paths fail from the agent's node only; the NodePorts answer from outside", from: fromPod, agent: "worker1", mutate: withPods,
			outcome: failing(forwardedFromAgent, probe.Timeout), codes: "error:dataplaneBroken", node: "worker1", cites: everyFailed,
			msgs: []string{"dataplane broken on node worker1: ClusterIP 10.96.0.100 and NodePort 30080 and DNS name web.default.svc.cluster.local through worker1 fail, and so does NodePort 30080 of master, worker2 from worker1 (timeout); those NodePorts answer from elsewhere; pods answer directly from worker1: check kube-proxy and the CNI on worker1"}},
		{name: "one vantage point, one Service: the Service's, not a node's", from: []probe.From{probe.FromPod}, agent: "worker1", mutate: withPods,
			outcome: failing(forwardedFromAgent, probe.Timeout)},
		{name: "one vantage point, another Service failing there too", from: []probe.From{probe.FromPod}, agent: "worker1", mutate: withAPI,
			outcome: failing(forwardedFromAgent, probe.Timeout), codes: "error:dataplaneBroken", node: "worker1",
			cites: failedWhere(func(p *probe.Probe) bool { return p.Service == "web" }),
			msgs:  []string{"; other Services' paths through worker1 fail too"}},
		{name: "the other node's own paths fail too: its NodePort is its own", from: allFroms, agent: "worker1", mutate: withPods,
			outcome: failing(func(p *probe.Probe) bool {
				return forwardedFromAgent(p) && p.Via != probe.ViaNodePort || p.Via == probe.ViaNodePort && p.Node == "master" ||
					p.Via == probe.ViaClusterIP && p.From == probe.FromNode("master")
			}, probe.Timeout),
			codes: "error:dataplaneBroken,error:dataplaneBroken", node: "master", cites: everyFailed,
			msgs: []string{"dataplane broken on node master: NodePort 30080 and ClusterIP 10.96.0.100 through master fail (timeout)",
				"dataplane broken on node worker1: ClusterIP 10.96.0.100 and DNS name web.default.svc.cluster.local through worker1 fail (timeout)"}},
	})
}
