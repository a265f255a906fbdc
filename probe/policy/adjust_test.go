package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// seed is the seed inventory with its pods: web-a on master, web-b on
// worker1, nodes 10.10.0.10-12.
func seed() probe.Inventory {
	inv := testinv.Seed()
	for _, ep := range inv.Services[0].Endpoints {
		inv.Pods = append(inv.Pods, probe.Pod{Namespace: "default", Name: ep.PodName, NodeName: ep.NodeName, PodIP: ep.Address,
			Labels: map[string]string{"app": "web"}, Ready: true, Phase: "Running",
			Ports: []probe.ContainerPort{{Container: "web", Name: "http", Port: 80, Protocol: "TCP"}}})
	}
	return inv
}

func planWith(inv probe.Inventory, set *Set, c Clients) probe.Plan {
	a := NewAdjuster(&inv, set, c)
	return plan.Build(inv, plan.Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, HTTP: true,
		Adjust: []func(*probe.Probe){a.Adjust}})
}

// expectations maps "from via node pod" of each probe to its want.
func expectations(pl probe.Plan) map[string]probe.Want {
	out := map[string]probe.Want{}
	for _, p := range pl.Probes {
		out[fmt.Sprintf("%s %s %s %s", p.From, p.Via, p.Node, p.Pod)] = p.Expect.Want
	}
	return out
}

var defaultAgent = Clients{Agent: Host{Pod: true, Namespace: "svccheck", Labels: map[string]string{"app.kubernetes.io/name": "svccheck"}, Desc: "svccheck's agent"}}

func TestAdjustDefaultDeny(t *testing.T) {
	inv := seed()
	set := &Set{Policies: []Policy{{Namespace: "default", Name: "default-deny", Ingress: true}}}
	pl := planWith(inv, set, defaultAgent)
	got := expectations(pl)
	for key, want := range map[string]probe.Want{
		"pod endpoint master web-a":          probe.NoReach,
		"pod clusterIP  ":                    probe.NoReach,
		"pod nodePort worker2 ":              probe.NoReach, // forwarded from worker2's address
		"pod dns  ":                          probe.NoReach,
		"node/master endpoint master web-a":  probe.Reach, // a node's own pod
		"node/master endpoint worker1 web-b": probe.NoReach,
		"node/master clusterIP  ":            probe.Unknown, // one backend local, one not
		"node/worker2 clusterIP  ":           probe.NoReach,
		"local nodePort worker2 ":            probe.NoReach,
		"local clusterIP  ":                  probe.NoReach, // unchanged: it never had to reach
		"local endpoint master web-a":        probe.NoReach,
	} {
		if got[key] != want {
			t.Errorf("%s: got %s, want %s", key, got[key], want)
		}
	}
	for _, p := range pl.Probes {
		if p.From == probe.FromPod && p.Via == probe.ViaEndpoint {
			if want := "NetworkPolicy default/default-deny admits no ingress from svccheck's agent on port 80/TCP"; p.Expect.Reason != want {
				t.Errorf("reason %q, want %q", p.Expect.Reason, want)
			}
			if strings.Join(p.Expect.Policies, ",") != "default/default-deny" || p.Connections != 1 {
				t.Errorf("policies %v, connections %d", p.Expect.Policies, p.Connections)
			}
		}
		if p.From == probe.FromPod && p.Via == probe.ViaClusterIP && p.Connections != 1 {
			t.Errorf("a blocked ClusterIP keeps a budget of %d connections", p.Connections)
		}
	}
}

func TestAdjustAllowClientAndNodes(t *testing.T) {
	inv := seed()
	allow := Policy{Namespace: "default", Name: "allow-frontend", PodSelector: *sel("app", "web"), Ingress: true, IngressRules: []Rule{
		{Peers: []Peer{{PodSelector: sel("app", "frontend")}}, Ports: []Port{{Name: "http"}}},
		{Peers: []Peer{{IPBlock: block("10.10.0.0/24")}}},
	}}
	set := &Set{Policies: []Policy{allow}}
	client := Clients{Agent: Host{Pod: true, Namespace: "default", Labels: map[string]string{"app": "frontend"}, Desc: "svccheck's agent as default/frontend"}}
	asClient := expectations(planWith(inv, set, client))
	asAgent := expectations(planWith(inv, set, defaultAgent))
	for key, want := range map[string][2]probe.Want{
		"pod endpoint master web-a": {probe.Reach, probe.NoReach},
		"pod clusterIP  ":           {probe.Reach, probe.NoReach},
		"pod nodePort master ":      {probe.Reach, probe.Unknown},   // web-a sees the agent, web-b master's address
		"node/worker2 clusterIP  ":  {probe.Reach, probe.Reach},     // nodes are in the ipBlock
		"local nodePort worker2 ":   {probe.Reach, probe.Reach},     // forwarded from worker2's address
		"local nodePort master ":    {probe.Unknown, probe.Unknown}, // web-a sees svccheck's machine
	} {
		if asClient[key] != want[0] || asAgent[key] != want[1] {
			t.Errorf("%s: got %s as the client, %s as the agent; want %s, %s", key, asClient[key], asAgent[key], want[0], want[1])
		}
	}
}

func TestAdjustEgressAndPinnedAgent(t *testing.T) {
	inv := seed()
	egress := Policy{Namespace: "svccheck", Name: "only-pods", Egress: true, EgressRules: []Rule{{Peers: []Peer{{NamespaceSelector: sel()}}}}}
	set := &Set{Policies: []Policy{egress}}
	free := expectations(planWith(inv, set, defaultAgent))
	pinned := defaultAgent
	pinned.AgentNode = "worker2"
	onW2 := expectations(planWith(inv, set, pinned))
	pinned.AgentNode = "master"
	onMaster := expectations(planWith(inv, set, pinned))
	key := "pod nodePort master "
	// Egress to a node's address is refused; from master itself the
	// NodePort is translated before the traffic leaves the agent's node.
	if free[key] != probe.Unknown || onW2[key] != probe.NoReach || onMaster[key] != probe.Reach {
		t.Errorf("%s: got %s (any node), %s (worker2), %s (master)", key, free[key], onW2[key], onMaster[key])
	}
	if free["pod endpoint master web-a"] != probe.Reach {
		t.Errorf("egress to pods is admitted, got %s", free["pod endpoint master web-a"])
	}
}

func TestAdjustLeavesWhatNeedNotReach(t *testing.T) {
	inv := seed()
	inv.Services[0].Type = probe.TypeLoadBalancer
	inv.Services[0].LoadBalancerIngress = []string{"192.0.2.10"}
	inv.Services[0].HealthCheckNodePort = 32000
	inv.Services[0].ExternalTrafficPolicy = probe.PolicyLocal
	set := &Set{Policies: []Policy{{Namespace: "default", Name: "allow-world", PodSelector: *sel("app", "web"), Ingress: true,
		IngressRules: []Rule{{Peers: []Peer{{IPBlock: block("0.0.0.0/0")}}}}}}}
	for _, p := range planWith(inv, set, defaultAgent).Probes {
		switch {
		case p.Via == probe.ViaHealthCheck && len(p.Expect.Policies) > 0:
			t.Errorf("%s: the health check is kube-proxy's, not a pod's", p.ID)
		case p.From == probe.FromLocal && p.Via == probe.ViaLoadBalancer && p.Expect.Want != probe.Reach:
			t.Errorf("%s: an ipBlock of everything admits the world, got %s (%s)", p.ID, p.Expect.Want, p.Expect.Reason)
		}
	}
	if a := NewAdjuster(&inv, &Set{}, defaultAgent); a != nil {
		p := probe.Probe{Via: probe.ViaEndpoint, Pod: "web-a", Namespace: "default", Expect: probe.Expectation{Want: probe.Reach, Reason: "r"}}
		a.Adjust(&p)
		if p.Expect.Reason != "r" || p.Expect.Policies != nil {
			t.Errorf("no policy changed the probe: %+v", p.Expect)
		}
	}
}

func TestHostNetworkTargetsAreNotSelected(t *testing.T) {
	inv := seed()
	inv.Pods[0].PodIP = "10.10.0.10" // web-a on master's address: hostNetwork
	set := &Set{Policies: []Policy{{Namespace: "default", Name: "default-deny", Ingress: true}}}
	a := NewAdjuster(&inv, set, defaultAgent)
	tg := a.target("default", "web-a", 80)
	if tg.host.Pod || tg.host.Addr != netip.MustParseAddr("10.10.0.10") {
		t.Errorf("a hostNetwork pod is selected by policy: %+v", tg.host)
	}
	if tg := a.target("default", "gone", 80); tg.unknown == "" {
		t.Error("a pod discovery did not find has unknown labels")
	}
}

// TestAgentAddressFromPodNetwork: the agent's address, unknown before it
// runs, is a pod address: a block holding every pod address discovery saw
// admits it, one holding none does not, one holding some cannot tell.
func TestAgentAddressFromPodNetwork(t *testing.T) {
	inv := seed() // pods 10.244.0.5 and 10.244.1.7
	for cidr, want := range map[string]probe.Want{"10.244.0.0/16": probe.Reach, "10.10.0.0/24": probe.NoReach, "10.244.0.0/24": probe.Unknown} {
		set := &Set{Policies: []Policy{{Namespace: "default", Name: "cidr", PodSelector: *sel("app", "web"), Ingress: true,
			IngressRules: []Rule{{Peers: []Peer{{IPBlock: block(cidr)}}}}}}}
		got := expectations(planWith(inv, set, defaultAgent))["pod endpoint master web-a"]
		if got != want {
			t.Errorf("ipBlock %s: got %s, want %s", cidr, got, want)
		}
	}
}
