package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// withUnlistedEndpoints: targetPort 8081, which the endpoints carry and no
// container declares.
func withUnlistedEndpoints(inv *probe.Inventory) {
	withUnlisted(inv)
	for i := range inv.Services[0].Endpoints {
		inv.Services[0].Endpoints[i].Ports = map[string]int32{"http": 8081}
	}
}

// notListening: pods fail direct connections from inside, and every path
// that leads to them fails too.
func notListening(pods ...string) func(p *probe.Probe) (probe.Outcome, []string) {
	return failing(func(p *probe.Probe) bool {
		return p.Via == probe.ViaEndpoint && p.From != probe.FromLocal && (len(pods) == 0 || p.Pod == pods[0] || len(pods) > 1 && p.Pod == pods[1]) ||
			p.Via != probe.ViaEndpoint && p.Expect.Want == probe.Reach
	}, probe.Refused)
}

func TestUndeclaredPortRefused(t *testing.T) {
	testRule(t, undeclaredPortRefused{}, []ruleCase{
		{name: "every pod refuses an undeclared port", from: allFroms, mutate: withUnlistedEndpoints, outcome: notListening(),
			codes: "error:portMismatch", pod: "web-a", cites: everyFailed,
			msgs: []string{"targetPort 8081 is declared by no container of the selected pods (they declare http/80) and web-a, web-b refused on it"}},
		{name: "a port mismatch explains an exposure too", from: allFroms, mutate: withUnlistedEndpoints,
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				if p.From == probe.FromLocal && p.Via == probe.ViaClusterIP {
					return probe.OK, nil
				}
				return notListening("web-b")(p)
			},
			codes: "error:portMismatch", pod: "web-b", cites: everyFailed, msgs: []string{"and web-b refused on it"}},
		{name: "declared port: not a mismatch", from: allFroms, mutate: withPods, outcome: notListening()},
		{name: "no direct failure", from: allFroms, mutate: withUnlistedEndpoints, outcome: nodePortsRefused},
		{name: "direct failures already explained", from: allFroms, mutate: withUnlistedEndpoints, outcome: notListening(),
			cited: func(*probe.Probe) bool { return true }},
	})
}

func TestBackendNotListening(t *testing.T) {
	isEndpoint := func(pod string) func(p *probe.Probe) bool {
		return func(p *probe.Probe) bool { return p.Via == probe.ViaEndpoint && p.Pod == pod }
	}
	testRule(t, backendNotListening{}, []ruleCase{
		{name: "one pod; VIP failures are its", from: allFroms, mutate: withPods, outcome: notListening("web-b"),
			codes: "error:backendNotListening", node: "worker1", pod: "web-b", cites: everyFailed,
			msgs: []string{"web-b does not answer on 10.244.1.7:80 (refused from pod): the application is not listening"}},
		{name: "two pods, one finding each, VIP failures on the first", from: []probe.From{probe.FromNodes}, mutate: withPods, outcome: notListening("web-a", "web-b"),
			codes: "error:backendNotListening,error:backendNotListening", node: "master", pod: "web-a", cites: everyFailed,
			msgs: []string{"web-a does not answer on 10.244.0.5:80 (refused from node/master)", "web-b does not answer on 10.244.1.7:80 (refused from node/master)"}},
		{name: "an endpoint without a pod is named by its address", from: []probe.From{probe.FromPod}, outcome: notListening(""),
			mutate: func(inv *probe.Inventory) {
				for i := range inv.Services[0].Endpoints {
					inv.Services[0].Endpoints[i].PodName = ""
				}
			},
			codes: "error:backendNotListening,error:backendNotListening", node: "master", pod: "10.244.0.5", cites: everyFailed},
		{name: "pods answer directly", from: allFroms, mutate: withPods, outcome: nodePortsRefused},
		{name: "from outside only", from: local, mutate: withPods, outcome: notListening()},
		{name: "direct failures already explained", from: allFroms, mutate: withPods, outcome: notListening("web-b"),
			cited: isEndpoint("web-b"), cites: nil},
		{name: "an earlier verdict's VIP failures are not cited again", from: allFroms, mutate: withPods, outcome: notListening("web-b"),
			cited: func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort },
			codes: "error:backendNotListening", node: "worker1", pod: "web-b",
			cites: failedWhere(func(p *probe.Probe) bool { return p.Via != probe.ViaNodePort })},
	})
}

func TestUndeclaredPortFromOutside(t *testing.T) {
	testRule(t, undeclaredPortFromOutside{}, []ruleCase{
		{name: "every NodePort fails on an undeclared port", from: local, mutate: withUnlisted, outcome: nodePortsRefused,
			codes: "error:portMismatch", cites: everyFailed,
			msgs: []string{"targetPort 8081 is declared by no container of the selected pods (they declare http/80); every NodePort fails (refused)"}},
		{name: "from inside, NodePorts fail and pods answer", from: []probe.From{probe.FromPod}, mutate: withUnlisted, outcome: nodePortsRefused,
			codes: "error:portMismatch", cites: everyFailed},
		{name: "one node fails", from: local, mutate: withUnlisted,
			outcome: failing(onNode(probe.ViaNodePort, "worker1"), probe.Refused)},
		{name: "declared port", from: local, mutate: withPods, outcome: nodePortsRefused},
		{name: "no pod selected", from: local, mutate: func(inv *probe.Inventory) { inv.Services[0].Ports[0].TargetPort = "8081" },
			outcome: nodePortsRefused},
		{name: "named targetPort", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) { withPods(inv); inv.Services[0].Ports[0].TargetPort = "web" }},
		{name: "direct failures from inside are the direct rules'", from: allFroms, mutate: withUnlistedEndpoints, outcome: notListening()},
		{name: "a single node", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) { withUnlisted(inv); inv.Nodes = inv.Nodes[:1] }},
	})
}
