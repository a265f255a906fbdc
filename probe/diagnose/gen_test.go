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
		proto := []probe.Protocol{probe.ProtocolTCP, probe.ProtocolUDP, probe.ProtocolSCTP}[rng.IntN(3)]
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
// vantage points (all of them half of the time) and scripts its results with
// a simulated cluster (sim) with random faults, and random noise on top.
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
	opts := plan.Options{From: from, HTTP: rng.IntN(4) > 0, Protocols: [][]probe.Protocol{{probe.ProtocolTCP}, probed}[rng.IntN(2)]}
	if rng.IntN(4) == 0 {
		opts.AddressTypes = []string{"InternalIP", "ExternalIP"}
	}
	pl := plan.Build(inv, opts)
	if rng.IntN(2) == 0 {
		pl.AgentNodes = map[probe.From]string{probe.FromPod: inv.Nodes[rng.IntN(len(inv.Nodes))].Name}
	}
	s := randomSim(rng, inv)
	noise := []float64{0, 0, 0, 0.05, 0.2, 0.6, 1}[rng.IntN(7)]
	res := make([]probe.Result, len(pl.Probes))
	for i := range pl.Probes {
		p := &pl.Probes[i]
		res[i] = s.result(&pl, p)
		if p.Skip == "" && rng.Float64() < noise {
			res[i] = noisy(rng, p)
		}
	}
	return genCase{inv: inv, plan: pl, results: res}
}

// randomSim breaks a generated cluster: pods that refuse, hang, time out or
// fail; nodes that cannot reach a pod or do not forward to it; nodes whose
// kube-proxy is down, whose NodePort is firewalled from outside or from
// everywhere but themselves, or that forward to a stale address; exposed
// internal addresses.
func randomSim(rng *rand.Rand, inv probe.Inventory) *sim {
	s := &sim{bad: map[string]probe.Outcome{}, cut: map[string]map[string]bool{}, noForward: map[string]map[string]bool{},
		deadNodes: map[string]bool{}, walled: map[string]bool{}, blocked: map[string]bool{}, stale: map[string]bool{},
		exposed: rng.IntN(8) == 0, rng: rng}
	var backends []string
	for _, ep := range inv.Services[0].Endpoints {
		if ep.PodName == "" {
			s.unnamed = append(s.unnamed, ep.Address)
		}
		backends = append(backends, nameOr(ep.PodName, ep.Address))
	}
	kinds := []probe.Outcome{probe.Refused, probe.Timeout, probe.NoAnswer, probe.ServerError, probe.NoRoute, probe.Reset}
	for _, b := range backends {
		if rng.IntN(5) == 0 {
			s.bad[b] = kinds[rng.IntN(len(kinds))]
		}
	}
	for _, n := range inv.Nodes {
		for _, f := range []struct {
			odds int
			set  map[string]bool
		}{{6, s.deadNodes}, {6, s.walled}, {8, s.blocked}, {8, s.stale}} {
			if rng.IntN(f.odds) == 0 {
				f.set[n.Name] = true
			}
		}
		if len(backends) > 0 && rng.IntN(6) == 0 {
			s.cut[n.Name] = setOf(backends[rng.IntN(len(backends))])
		}
		if len(backends) > 0 && rng.IntN(8) == 0 {
			s.noForward[n.Name] = setOf(backends[rng.IntN(len(backends))])
		}
	}
	return s
}

// noisy is an arbitrary result for p: any outcome, a partial failure with or
// without attributed failures, a wrong status, several backends, an answer.
func noisy(rng *rand.Rand, p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1}
	pick := func() []string {
		var out []string
		for _, b := range append(slices.Clone(p.Backends), "web-a", "web-b") {
			if rng.IntN(2) == 0 && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
		slices.Sort(out)
		return out
	}
	outcomes := []probe.Outcome{probe.Refused, probe.Timeout, probe.Reset, probe.NoRoute, probe.DNSError, probe.Error, probe.NoAnswer, probe.ServerError}
	switch o := outcomes[rng.IntN(len(outcomes))]; rng.IntN(7) {
	case 0, 1:
		r.Outcome, r.Failures, r.Connections = o, 1+rng.IntN(2), 2
		r.Observed = map[probe.Outcome]int{o: r.Failures}
	case 2:
		r.Outcome, r.Connections, r.Failures, r.Seen = o, 5, 2, pick()
		r.Observed = map[probe.Outcome]int{probe.OK: 3, o: 2}
		if fb := pick(); len(fb) > 0 && len(p.Backends) > 0 {
			r.FailedBackends = map[string]int{fb[0]: 2}
		}
	case 3:
		r.HTTPStatus = []int{200, 500, 503}[rng.IntN(3)]
	case 4:
		r.Seen, r.Connections = pick(), 5
	case 5:
		r.Outcome, r.Detail = probe.NotRun, "not run"
	default:
		r.Seen = p.Backends
	}
	probe.Evaluate(p, &r)
	return r
}
