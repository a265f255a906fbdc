package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

// zoned is the seed with master in zone a, worker1 in zone b, worker2 in
// zone c, and its endpoints hinted for their own zones (PreferClose):
// web-a (on master) for a, web-b (on worker1) for b.
func zoned() probe.Inventory {
	inv := testinv.Seed()
	for i := range inv.Nodes {
		inv.Nodes[i].Zone = map[string]string{"master": "a", "worker1": "b", "worker2": "c"}[inv.Nodes[i].Name]
	}
	eps := inv.Services[0].Endpoints
	eps[0].ForZones, eps[1].ForZones = []string{"a"}, []string{"b"}
	return inv
}

// backendsOf maps "from via node" to the backends each probe of pl must
// cover, for the paths a node forwards.
func backendsOf(pl probe.Plan) map[string]string {
	out := map[string]string{}
	for _, p := range pl.Probes {
		if p.Via != probe.ViaEndpoint && p.Expect.Want == probe.Reach {
			out[string(p.From)+" "+string(p.Via)+" "+p.Node] = strings.Join(p.Backends, ",")
		}
	}
	return out
}

func TestTopologyZoneHints(t *testing.T) {
	inv := zoned()
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, HTTP: true})
	got := backendsOf(pl)
	for k, want := range map[string]string{
		"local nodePort master":         "web-a",       // zone a: web-a only
		"local nodePort worker1":        "web-b",       // zone b
		"local nodePort worker2":        "web-a,web-b", // zone c has no endpoint: every one
		"node/master clusterIP ":        "web-a",
		"node/worker1 clusterIP ":       "web-b",
		"node/worker2 clusterIP ":       "web-a,web-b",
		"node/worker2 nodePort master":  "web-a", // the NodePort's node decides, not the sender's
		"pod clusterIP ":                "web-a,web-b",
		"pod dns ":                      "web-a,web-b", // the agent pod's node is not known yet
		"node/master nodePort worker2":  "web-a,web-b",
		"node/worker1 nodePort worker1": "web-b",
		"node/worker2 nodePort worker2": "web-a,web-b",
		"pod nodePort worker1":          "web-b",
		"node/worker1 nodePort master":  "web-a",
	} {
		if got[k] != want {
			t.Errorf("%s: backends %q, want %q", k, got[k], want)
		}
	}
	for _, p := range pl.Probes {
		if p.From == probe.FromLocal && p.Via == probe.ViaNodePort && p.Node == "master" &&
			(!strings.HasSuffix(p.Expect.Reason, "; topology hints: master forwards to the endpoints hinted for zone a") || p.Connections != 1) {
			t.Errorf("reason %q, %d connections; want the hints named and one connection for its one backend", p.Expect.Reason, p.Connections)
		}
	}

	// Once the agent pod is placed (on worker1), its paths narrow too; a
	// second call changes nothing.
	pl.AgentNodes = map[probe.From]string{probe.FromPod: "worker1"}
	if n := Topology(&pl, &inv); n != 2 {
		t.Errorf("narrowed %d probes once the agent was placed, want 2 (its ClusterIP and DNS name)", n)
	}
	if got := backendsOf(pl); got["pod clusterIP "] != "web-b" || got["pod dns "] != "web-b" {
		t.Errorf("agent pod on worker1: ClusterIP %q DNS %q, want web-b", got["pod clusterIP "], got["pod dns "])
	}
	before := slices.Clone(pl.Probes)
	if n := Topology(&pl, &inv); n != 0 {
		t.Errorf("a second call narrowed %d probes", n)
	}
	for i := range before {
		if before[i].Expect.Reason != pl.Probes[i].Expect.Reason {
			t.Errorf("%s: reason changed on a second call: %q", pl.Probes[i].ID, pl.Probes[i].Expect.Reason)
		}
	}
}

func TestTopologyHintsThatDoNotApply(t *testing.T) {
	all := Options{From: []probe.From{probe.FromLocal, probe.FromNodes}, HTTP: true}
	for _, tc := range []struct {
		name   string
		mutate func(inv *probe.Inventory)
	}{
		{"an endpoint without a hint", func(inv *probe.Inventory) { inv.Services[0].Endpoints[1].ForZones = nil }},
		{"nodes without a zone label", func(inv *probe.Inventory) {
			for i := range inv.Nodes {
				inv.Nodes[i].Zone = ""
			}
		}},
		{"no hints", func(inv *probe.Inventory) { *inv = testinv.Seed() }},
	} {
		inv := zoned()
		tc.mutate(&inv)
		got := backendsOf(Build(inv, all))
		if len(got) < 6 {
			t.Fatalf("%s: %d forwarded paths planned", tc.name, len(got))
		}
		for k, b := range got {
			if b != "web-a,web-b" {
				t.Errorf("%s: %s backends %q, want both", tc.name, k, b)
			}
		}
	}

	// externalTrafficPolicy=Local and internalTrafficPolicy=Local pick local
	// endpoints, which hints do not change.
	inv := zoned()
	inv.Services[0].ExternalTrafficPolicy, inv.Services[0].InternalTrafficPolicy = probe.PolicyLocal, probe.PolicyLocal
	got := backendsOf(Build(inv, all))
	if got["local nodePort worker2"] != "" || got["local nodePort master"] != "web-a" || got["node/worker2 clusterIP "] != "" {
		t.Errorf("local policies: %v", got)
	}
}

func TestTopologyNodeHints(t *testing.T) {
	inv := zoned()
	eps := inv.Services[0].Endpoints
	eps[0].ForNodes, eps[1].ForNodes = []string{"master", "worker2"}, []string{"worker1"}
	// Zone b holds both pods: node hints win where they name the node.
	eps[0].ForZones, eps[1].ForZones = []string{"a", "b"}, []string{"b"}
	got := backendsOf(Build(inv, Options{From: []probe.From{probe.FromLocal}, HTTP: true}))
	for node, want := range map[string]string{"master": "web-a", "worker1": "web-b", "worker2": "web-a"} {
		if b := got["local nodePort "+node]; b != want {
			t.Errorf("NodePort of %s: backends %q, want %q", node, b, want)
		}
	}
	eps[0].ForNodes = nil // not every endpoint has a node hint: zones decide
	got = backendsOf(Build(inv, Options{From: []probe.From{probe.FromLocal}, HTTP: true}))
	if b := got["local nodePort worker1"]; b != "web-a,web-b" {
		t.Errorf("NodePort of worker1 by zone b: backends %q, want both", b)
	}
}

func TestTopologyLoadBalancer(t *testing.T) {
	inv := zoned()
	inv.Services[0].Type, inv.Services[0].LoadBalancerIngress = probe.TypeLoadBalancer, []string{"192.0.2.10"}
	lbs := 0
	for _, p := range Build(inv, Options{From: []probe.From{probe.FromLocal}, HTTP: true}).Probes {
		if p.Via != probe.ViaLoadBalancer {
			continue
		}
		lbs++
		if p.Backends != nil || !strings.Contains(p.Expect.Reason, "the nodes the ingress delivers to decide") {
			t.Errorf("LoadBalancer: backends %v reason %q, want none to cover", p.Backends, p.Expect.Reason)
		}
	}
	if lbs != 1 {
		t.Errorf("%d LoadBalancer probes planned, want 1", lbs)
	}
}

// internalTrafficPolicy=Local from an agent pod: once its node is known, the
// ClusterIP and DNS name reach only that node's endpoints, or none.
func TestTopologyInternalTrafficPolicyLocalFromAgentPod(t *testing.T) {
	inv := testinv.Seed()
	inv.Services[0].InternalTrafficPolicy = probe.PolicyLocal
	for _, tc := range []struct{ node, want string }{
		{"worker1", "reach web-b 1,reach web-b 1"},
		{"worker2", "noReach  1,noReach  1"},
	} {
		pl := Build(inv, Options{From: []probe.From{probe.FromPod}, HTTP: true})
		describe := func() string {
			var out []string
			for _, p := range pl.Probes {
				if p.Via == probe.ViaClusterIP || p.Via == probe.ViaDNS {
					out = append(out, fmt.Sprintf("%s %s %d", p.Expect.Want, strings.Join(p.Backends, ","), p.Connections))
				}
			}
			return strings.Join(out, ",")
		}
		if got := describe(); got != "reach web-a,web-b 21,reach web-a,web-b 21" {
			t.Fatalf("before the agent's node is known: %s", got)
		}
		pl.AgentNodes = map[probe.From]string{probe.FromPod: tc.node}
		if n := Topology(&pl, &inv); n != 2 {
			t.Errorf("agent on %s: %d probes changed, want 2", tc.node, n)
		}
		if got := describe(); got != tc.want {
			t.Errorf("agent on %s: %s, want %s", tc.node, got, tc.want)
		}
		if n := Topology(&pl, &inv); n != 0 {
			t.Errorf("agent on %s: a second pass changed %d probes", tc.node, n)
		}
	}
}

// internalTrafficPolicy=Local changes the ClusterIP only: a NodePort of the
// same Service is still narrowed by its hints.
func TestTopologyHintsWithInternalTrafficPolicyLocal(t *testing.T) {
	inv := zoned()
	inv.Services[0].InternalTrafficPolicy = probe.PolicyLocal
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod}, HTTP: true})
	pl.AgentNodes = map[probe.From]string{probe.FromPod: "worker1"}
	Topology(&pl, &inv)
	got := backendsOf(pl)
	for k, want := range map[string]string{"local nodePort master": "web-a", "local nodePort worker1": "web-b", "pod clusterIP ": "web-b"} {
		if got[k] != want {
			t.Errorf("%s covers %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
}
