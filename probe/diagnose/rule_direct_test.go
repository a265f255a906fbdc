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
		{name: "a port mismatch leaves an exposure to the exposure rule", from: allFroms, mutate: withUnlistedEndpoints,
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				if p.From == probe.FromLocal && p.Via == probe.ViaClusterIP {
					return probe.OK, nil
				}
				return notListening()(p)
			},
			codes: "error:portMismatch", pod: "web-a", cites: failedWhere(notExposure), msgs: []string{"and web-a, web-b refused on it"}},
		{name: "a pod answering on the undeclared port: no mismatch", from: allFroms, mutate: withUnlistedEndpoints, outcome: notListening("web-b")},
		{name: "declared port: not a mismatch", from: allFroms, mutate: withPods, outcome: notListening()},
		{name: "no direct failure", from: allFroms, mutate: withUnlistedEndpoints, outcome: nodePortsRefused},
		{name: "direct failures already explained", from: allFroms, mutate: withUnlistedEndpoints, outcome: notListening(),
			cited: func(*probe.Probe) bool { return true }},
	})
}

func TestUndeclaredPortFromOutside(t *testing.T) {
	testRule(t, undeclaredPortFromOutside{}, []ruleCase{
		{name: "every NodePort fails on an undeclared port", from: local, mutate: withUnlisted, outcome: nodePortsRefused,
			codes: "error:portMismatch", cites: everyFailed,
			msgs: []string{"targetPort 8081 is declared by no container of the selected pods (they declare http/80); every NodePort fails (refused)"}},
		{name: "from inside, forwarded paths fail and pods answer on another port", from: []probe.From{probe.FromPod}, mutate: withUnlisted,
			outcome: failing(forwardedReach, probe.Refused), codes: "error:portMismatch", cites: everyFailed},
		{name: "a path reached a backend: no mismatch", from: []probe.From{probe.FromPod}, mutate: withUnlisted, outcome: nodePortsRefused},
		{name: "NodePorts time out: no mismatch", from: local, mutate: withUnlisted,
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Timeout)},
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
