package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// badPod: pod fails every connection with o, from everywhere.
func badPod(pod string, o probe.Outcome) *sim { return &sim{bad: map[string]probe.Outcome{pod: o}} }

func TestBackendFaults(t *testing.T) {
	fromNodes := []probe.From{probe.FromLocal, probe.FromNodes}
	fromPod := []probe.From{probe.FromLocal, probe.FromPod}
	noPodNames := func(inv *probe.Inventory) {
		for i := range inv.Services[0].Endpoints {
			inv.Services[0].Endpoints[i].PodName = ""
		}
	}
	testRule(t, backendFaults{}, []ruleCase{
		{name: "refused from everywhere: not listening; the paths to it are its", from: allFroms, mutate: withPods, sim: badPod("web-b", probe.Refused),
			codes: "error:backendNotListening", node: "worker1", pod: "web-b", cites: everyFailed,
			msgs: []string{"web-b does not answer on 10.244.1.7:80 (directly from pod, node/master, node/worker1, node/worker2 (refused); through "}},
		{name: "from outside only, inferred from the paths that never reached it", from: local, mutate: withPods, sim: badPod("web-b", probe.Refused),
			codes: "error:backendNotListening", node: "worker1", pod: "web-b", cites: everyFailed,
			msgs: []string{"web-b does not answer on 10.244.1.7:80 (through master, worker1, worker2 (30 of 63 connections failed: refused, and it never answered there))"},
			also: []string{"inferred from the paths"}},
		{name: "accepts and never answers: hung", from: fromPod, mutate: withPods, sim: badPod("web-a", probe.NoAnswer),
			codes: "error:backendHung", node: "master", pod: "web-a", cites: everyFailed,
			msgs: []string{"web-a accepts connections on 10.244.0.5:80 but never answers (directly from pod (no answer)"}},
		{name: "the one address of a Service without selector, where nothing answers", from: fromNodes,
			mutate: func(inv *probe.Inventory) { noPodNames(inv); inv.Services[0].Endpoints = inv.Services[0].Endpoints[1:] },
			sim:    &sim{bad: map[string]probe.Outcome{"10.244.1.7": probe.Timeout}, unnamed: []string{"10.244.1.7"}},
			codes:  "error:endpointUnreachable", node: "worker1", pod: "10.244.1.7", cites: everyFailed,
			msgs: []string{"nothing answers at 10.244.1.7:80 (directly from node/master, node/worker1, node/worker2 (timeout); through master, worker1, worker2 (" +
				"15 of 15 connections failed: timeout, and it never answered there)): no host behind that address, or all traffic to it dropped"}},
		{name: "no route directly, timeouts through the nodes: one dead address", from: fromNodes,
			mutate: func(inv *probe.Inventory) { noPodNames(inv); inv.Services[0].Endpoints = inv.Services[0].Endpoints[1:] },
			sim:    &sim{bad: map[string]probe.Outcome{"10.244.1.7": probe.NoRoute}, unnamed: []string{"10.244.1.7"}},
			tweak: func(p *probe.Probe, r *probe.Result) {
				// The operator waits out its timeout where a node's failed
				// neighbour entry answers the node's own connections at once.
				if p.From == probe.FromLocal {
					r.Outcome, r.Observed = probe.Timeout, map[probe.Outcome]int{probe.Timeout: r.Failures}
				}
			},
			codes: "error:endpointUnreachable", node: "worker1", pod: "10.244.1.7", cites: everyFailed,
			msgs: []string{"nothing answers at 10.244.1.7:80 (directly from node/master, node/worker1, node/worker2 (no route); through master, worker1, worker2 ("}},
		{name: "HTTP 500 from one pod, named by its page, from outside only", from: local, mutate: withPods, sim: badPod("web-a", probe.ServerError),
			codes: "error:applicationError", node: "master", pod: "web-a", cites: everyFailed,
			msgs: []string{"web-a answers HTTP 500 on 10.244.0.5:80 (through master, worker1, worker2 (33 of 63 connections went to it: HTTP 5xx)): the application fails"}},
		{name: "one node cannot reach one pod", from: fromNodes, mutate: withPods,
			sim:   &sim{cut: map[string]map[string]bool{"worker2": setOf("web-b")}},
			codes: "error:backendUnreachableFrom", node: "worker2", pod: "web-b", cites: everyFailed,
			msgs: []string{"web-b (10.244.1.7:80 on worker1) does not answer directly from node/worker2 (timeout); through worker2 ("},
			also: []string{"50 of 105 connections failed: timeout, 20 known to have gone to it); it answers directly from node/master, node/worker1 and through master, worker1: check the network between worker2 and worker1"}},
		{name: "a node that reaches a pod but does not forward to it", from: allFroms, mutate: withPods, agent: "worker2",
			sim:   &sim{noForward: map[string]map[string]bool{"worker2": setOf("web-b")}},
			codes: "error:backendUnreachableFrom", node: "worker2", pod: "web-b", cites: everyFailed,
			msgs: []string{"does not answer directly from pod (on worker2) (timeout); through worker2 ("},
			also: []string{"it answers directly from node/master, node/worker1, node/worker2 and through master, worker1: worker2 reaches it directly but does not forward to it"}},
		{name: "mixed outcomes, answered nowhere", from: fromNodes, mutate: withPods, sim: badPod("web-b", probe.Timeout),
			tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaEndpoint && p.From == probe.FromNode("master") && p.Pod == "web-b" {
					r.Outcome = probe.Refused
				}
			},
			codes: "error:backendUnreachable", node: "worker1", pod: "web-b", cites: everyFailed,
			msgs: []string{"web-b answers on 10.244.1.7:80 from nowhere (directly from node/master (refused); directly from node/worker1, node/worker2 (timeout)"}},
		{name: "failures where it also answered claim nothing", from: []probe.From{probe.FromPod}, mutate: withPods, outcome: healthy,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaClusterIP {
					r.Connections, r.Failures, r.Outcome, r.FailedBackends = 21, 3, probe.Timeout, map[string]int{"web-a": 3}
				}
			}},
		{name: "failures explained already", from: allFroms, mutate: withPods, sim: badPod("web-b", probe.Refused),
			cited: func(*probe.Probe) bool { return true }},
		{name: "healthy", from: allFroms, mutate: withPods, sim: &sim{}},
	})
}

// A path given up after two timeouts that both went to the pod a node cannot
// reach is explained by that pod when the node forwards other paths.
func TestBackendFaultsDeadPath(t *testing.T) {
	s := &sim{cut: map[string]map[string]bool{"worker2": setOf("web-b")}}
	testRule(t, backendFaults{}, []ruleCase{
		{name: "dead NodePort from outside through the node", from: []probe.From{probe.FromLocal, probe.FromNodes}, mutate: withPods, sim: s,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaNodePort && p.Node == "worker2" && p.From == probe.FromLocal {
					*r = probe.Result{ID: p.ID, Outcome: probe.Timeout, Connections: 2, Failures: 2, Observed: map[probe.Outcome]int{probe.Timeout: 2}}
				}
			},
			codes: "error:backendUnreachableFrom", node: "worker2", pod: "web-b", cites: everyFailed},
		{name: "a slow answer besides the timeout, at a node that forwards", from: []probe.From{probe.FromLocal, probe.FromNodes}, mutate: withPods, sim: s,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaNodePort && p.Node == "worker2" && p.From == probe.FromLocal {
					*r = probe.Result{ID: p.ID, Outcome: probe.Timeout, Connections: 2, Failures: 2, Observed: map[probe.Outcome]int{probe.Timeout: 1, probe.NoAnswer: 1}}
				}
			},
			codes: "error:backendUnreachableFrom", node: "worker2", pod: "web-b", cites: everyFailed},
	})
}
