package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func TestEndpointsOnOneNode(t *testing.T) {
	onNode := func(node string) func(inv *probe.Inventory) {
		return func(inv *probe.Inventory) {
			for i := range inv.Services[0].Endpoints {
				inv.Services[0].Endpoints[i].NodeName = node
			}
		}
	}
	third := func(ep probe.Endpoint) func(inv *probe.Inventory) {
		return func(inv *probe.Inventory) {
			onNode("worker1")(inv)
			inv.Services[0].Endpoints = append(inv.Services[0].Endpoints, ep)
		}
	}
	testRule(t, endpointsOnOneNode{}, []ruleCase{
		{name: "two endpoints on one node", from: local, mutate: onNode("worker1"), outcome: healthy,
			codes: "info:endpointsOnOneNode", node: "worker1",
			msgs: []string{"all 2 ready endpoints of default/web run on node worker1: losing that node loses the Service"}},
		{name: "a third on the same node, without a pod", from: local, outcome: healthy, node: "worker1", codes: "info:endpointsOnOneNode",
			mutate: third(probe.Endpoint{Address: "10.244.1.9", NodeName: "worker1", Ready: true, Serving: true, Ports: map[string]int32{"http": 80}}),
			msgs:   []string{"all 3 ready endpoints of default/web run on node worker1"}},
		{name: "a pod's second address counts once", from: local, outcome: healthy, node: "worker1", codes: "info:endpointsOnOneNode",
			mutate: third(probe.Endpoint{Address: "fd00::7", PodName: "web-b", NodeName: "worker1", Ready: true, Serving: true, Ports: map[string]int32{"http": 80}}),
			msgs:   []string{"all 2 ready endpoints of default/web run on node worker1"}},
		{name: "a not-ready endpoint elsewhere does not count", from: local, outcome: healthy, node: "worker1", codes: "info:endpointsOnOneNode",
			mutate: third(probe.Endpoint{Address: "10.244.2.4", PodName: "web-c", NodeName: "worker2", Ports: map[string]int32{"http": 80}})},
		{name: "spread over two nodes", from: local, outcome: healthy},
		{name: "one ready endpoint", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) { inv.Services[0].Endpoints = inv.Services[0].Endpoints[:1] }},
		{name: "a ready endpoint's node unknown", from: local, outcome: healthy,
			mutate: third(probe.Endpoint{Address: "10.244.9.9", PodName: "web-x", Ready: true, Serving: true, Ports: map[string]int32{"http": 80}})},
		{name: "failures are other rules' business", from: local, mutate: onNode("worker1"), outcome: nodePortsRefused,
			codes: "info:endpointsOnOneNode", node: "worker1"},
	})
}
