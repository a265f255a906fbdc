package diagnose

import (
	"math/rand/v2"
	"slices"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// genCase is one generated diagnosis input.
type genCase struct {
	inv     probe.Inventory
	plan    probe.Plan
	results []probe.Result
}

// mutations change the seed inventory; generate applies each with its
// probability.
var mutations = []struct {
	p float64
	f func(rng *rand.Rand, inv *probe.Inventory)
}{
	{0.7, func(_ *rand.Rand, inv *probe.Inventory) { withPods(inv) }},
	{0.25, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].ExternalTrafficPolicy = probe.PolicyLocal }},
	{0.2, func(_ *rand.Rand, inv *probe.Inventory) {
		svc := &inv.Services[0]
		svc.Type, svc.LoadBalancerIngress = probe.TypeLoadBalancer, []string{"192.0.2.10"}
		if svc.ExternalTrafficPolicy == probe.PolicyLocal {
			svc.HealthCheckNodePort = 32000
		}
	}},
	{0.2, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].SessionAffinity = "ClientIP" }},
	{0.1, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].InternalTrafficPolicy = probe.PolicyLocal }},
	{0.1, func(_ *rand.Rand, inv *probe.Inventory) {
		inv.Services[0].ClusterIPs = append(inv.Services[0].ClusterIPs, "fd00::100")
	}},
	{0.25, func(rng *rand.Rand, inv *probe.Inventory) {
		for i := range inv.Services[0].Endpoints {
			ep := &inv.Services[0].Endpoints[i]
			switch rng.IntN(3) {
			case 0:
				ep.Ready = false
			case 1:
				ep.Ready, ep.Terminating = false, true
			}
		}
	}},
	{0.08, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].Endpoints = nil }},
	{0.1, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].Ports[0].TargetPort = "htp" }},
	{0.15, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].Ports[0].TargetPort = "8081" }},
	{0.05, func(_ *rand.Rand, inv *probe.Inventory) { inv.Services[0].Selector = nil }},
	{0.1, func(_ *rand.Rand, inv *probe.Inventory) {
		if len(inv.Services[0].Selector) > 0 {
			inv.Services[0].Selector = map[string]string{"app": "wbe"}
		}
	}},
	{0.1, func(rng *rand.Rand, inv *probe.Inventory) {
		if len(inv.Services[0].Selector) > 0 {
			inv.Services[0].Selector = map[string]string{"app": "wbe", "tier": "front"}
		}
		for i := range inv.Pods {
			if rng.IntN(2) == 0 {
				inv.Pods[i].Labels["tier"] = "front"
			}
		}
		inv.Pods = append(inv.Pods, probe.Pod{Namespace: "other", Name: "web-x", Labels: map[string]string{"app": "wbe", "tier": "front"}})
	}},
	{0.1, func(rng *rand.Rand, inv *probe.Inventory) {
		for i := range inv.Pods {
			switch rng.IntN(4) {
			case 0:
				inv.Pods[i].Ready, inv.Pods[i].NotReady, inv.Pods[i].ReadyMessage = false, []string{"web"}, "containers with unready status: [web]"
			case 1:
				inv.Pods[i].Ready, inv.Pods[i].NotReady, inv.Pods[i].ProbeMessage = false, []string{"web"}, "Readiness probe failed"
			case 2:
				inv.Pods[i].Ready, inv.Pods[i].Phase = false, "Pending"
			}
		}
	}},
	{0.05, func(_ *rand.Rand, inv *probe.Inventory) {
		for i := range inv.Pods {
			inv.Pods[i].Ports = nil
		}
	}},
	{0.05, func(_ *rand.Rand, inv *probe.Inventory) {
		for i := range inv.Services[0].Endpoints {
			inv.Services[0].Endpoints[i].PodName = ""
		}
	}},
	{0.2, func(rng *rand.Rand, inv *probe.Inventory) {
		proto := []string{"TCP", "UDP"}[rng.IntN(2)]
		svc := &inv.Services[0]
		svc.Ports = append(svc.Ports, probe.ServicePort{Name: "metrics", Protocol: proto, Port: 9090, TargetPort: "9090", NodePort: 30090})
		for i := range svc.Endpoints {
			svc.Endpoints[i].Ports = map[string]int32{"http": 80, "metrics": 9090}
		}
	}},
	{0.1, func(rng *rand.Rand, inv *probe.Inventory) { inv.Nodes[rng.IntN(len(inv.Nodes))].Ready = false }},
	{0.1, func(rng *rand.Rand, inv *probe.Inventory) { inv.Nodes[rng.IntN(len(inv.Nodes))].Unschedulable = true }},
	{0.2, func(_ *rand.Rand, inv *probe.Inventory) {
		second := inv.Services[0]
		second.Name, second.Type, second.ClusterIPs = "api", probe.TypeClusterIP, []string{"10.96.0.200"}
		second.Ports = []probe.ServicePort{{Name: "grpc", Protocol: "TCP", Port: 9000, TargetPort: "80"}}
		second.Endpoints = nil
		for _, ep := range inv.Services[0].Endpoints {
			ep.Ports = map[string]int32{"grpc": 80}
			second.Endpoints = append(second.Endpoints, ep)
		}
		inv.Services = append(inv.Services, second)
	}},
	{0.05, func(_ *rand.Rand, inv *probe.Inventory) {
		inv.Services = append(inv.Services, probe.Service{Namespace: "default", Name: "ext", Type: probe.TypeExternalName, ExternalName: "example.com"})
	}},
}

// generate builds a random inventory from the seed, plans it from random
// vantage points (all of them half of the time) and scripts outcomes from a
// mix of node, pod and path faults and random noise.
func generate(rng *rand.Rand) genCase {
	inv := testinv.Seed()
	for _, m := range mutations {
		if rng.Float64() < m.p {
			m.f(rng, &inv)
		}
	}
	from := []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}
	if rng.IntN(2) == 0 {
		from = slices.DeleteFunc(slices.Clone(from), func(probe.From) bool { return rng.IntN(2) == 0 })
	}
	opts := plan.Options{From: from, HTTP: rng.IntN(4) > 0}
	if rng.IntN(4) == 0 {
		opts.AddressTypes = []string{"InternalIP", "ExternalIP"}
	}
	pl := plan.Build(inv, opts)
	if rng.IntN(2) == 0 {
		pl.AgentNodes = map[probe.From]string{probe.FromPod: inv.Nodes[rng.IntN(len(inv.Nodes))].Name}
	}
	f := newFaults(rng, inv)
	res := make([]probe.Result, len(pl.Probes))
	for i := range pl.Probes {
		res[i] = f.result(rng, &pl, &pl.Probes[i])
	}
	return genCase{inv: inv, plan: pl, results: res}
}

// faults is what is broken in a generated cluster.
type faults struct {
	noise       float64         // chance of a random outcome on any probe
	deadNodes   map[string]bool // kube-proxy down: NodePort and VIP through the node fail
	walledNodes map[string]bool // firewalled from the operator: NodePort from local fails
	deafPods    map[string]bool // not listening: direct connections refused
	allNodePort bool            // every NodePort times out
	exposed     bool            // ClusterIP and pod IPs answer from outside
}

func newFaults(rng *rand.Rand, inv probe.Inventory) *faults {
	f := &faults{noise: []float64{0, 0, 0.05, 0.2, 0.6, 1}[rng.IntN(6)],
		deadNodes: map[string]bool{}, walledNodes: map[string]bool{}, deafPods: map[string]bool{},
		allNodePort: rng.IntN(8) == 0, exposed: rng.IntN(8) == 0}
	for _, n := range inv.Nodes {
		if rng.IntN(5) == 0 {
			f.deadNodes[n.Name] = true
		}
		if rng.IntN(5) == 0 {
			f.walledNodes[n.Name] = true
		}
	}
	for _, p := range []string{"web-a", "web-b"} {
		if rng.IntN(5) == 0 {
			f.deafPods[p] = true
		}
	}
	return f
}

func (f *faults) result(rng *rand.Rand, pl *probe.Plan, p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1}
	switch {
	case p.Skip != "" || rng.IntN(40) == 0:
		r = probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: "not run"}
	case rng.Float64() < f.noise:
		f.random(rng, p, &r)
	case f.broken(pl, p):
		r.Outcome = []probe.Outcome{probe.Refused, probe.Timeout, probe.Reset}[rng.IntN(3)]
		r.Failures = 1
	case p.Via == probe.ViaClusterIP && p.From == probe.FromLocal || p.Via == probe.ViaEndpoint && p.From == probe.FromLocal:
		if !f.exposed {
			r.Outcome, r.Failures = probe.Timeout, 1
		}
	case p.Expect.Want == probe.NoReach:
		r.Outcome, r.Failures = probe.Timeout, 1
	default:
		r.Seen, r.Connections, r.HTTPStatus = p.Backends, max(len(p.Backends), 1), p.Expect.Status
		if rng.IntN(6) == 0 && len(p.Backends) > 1 {
			r.Seen, r.Connections = p.Backends[:1], p.Connections
		}
	}
	probe.Evaluate(p, &r)
	return r
}

// broken reports whether a structural fault breaks p.
func (f *faults) broken(pl *probe.Plan, p *probe.Probe) bool {
	switch p.Via {
	case probe.ViaNodePort:
		return f.allNodePort || f.deadNodes[p.Node] || f.walledNodes[p.Node] && p.From == probe.FromLocal ||
			f.deadNodes[pl.NodeOf(p.From)]
	case probe.ViaClusterIP:
		return p.From != probe.FromLocal && f.deadNodes[pl.NodeOf(p.From)]
	case probe.ViaEndpoint:
		return p.From != probe.FromLocal && f.deafPods[p.Pod]
	}
	return false
}

// random gives p an arbitrary outcome: a failure, a partial failure, a
// wrong status, several backends, or an answer.
func (f *faults) random(rng *rand.Rand, p *probe.Probe, r *probe.Result) {
	switch rng.IntN(6) {
	case 0, 1:
		r.Outcome, r.Failures = []probe.Outcome{probe.Refused, probe.Timeout, probe.Reset, probe.NoRoute, probe.DNSError, probe.Error}[rng.IntN(6)], 1
	case 2:
		r.Connections, r.Failures, r.Seen = 5, 2, p.Backends
	case 3:
		r.HTTPStatus = []int{200, 500, 503}[rng.IntN(3)]
	case 4:
		r.Seen, r.Connections = []string{"web-a", "web-b"}, 5
	default:
		r.Seen = p.Backends
	}
}
