package diagnose

import (
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// loadBalancerNotDelivering: a LoadBalancer ingress that fails from here
// while the nodes behind it forward the Service (their NodePorts answer from
// here, on the nodes that should: every node, or under
// externalTrafficPolicy=Local the nodes with a ready endpoint). The Service
// and the nodes work; the load balancer does not deliver to them: with
// MetalLB the speaker announcing the address, in a cloud the load balancer,
// its listeners or its security groups. When the NodePorts fail too the node
// and hop rules explain the Service, not this one.
type loadBalancerNotDelivering struct{}

func (loadBalancerNotDelivering) apply(c *svcContext) bool {
	// An answer, or a partial failure, is not "does not deliver".
	ports, byPort := c.openGroups(func(p *probe.Probe) bool { return p.From == probe.FromLocal && p.Via == probe.ViaLoadBalancer },
		func(_ *probe.Probe, r *probe.Result) bool {
			return r.Outcome != probe.OK && r.Failures >= r.Connections
		},
		func(p *probe.Probe, _ *probe.Result) string { return p.Port })
	for _, port := range ports {
		idx := byPort[port]
		behind := func(p *probe.Probe) bool {
			return p.From == probe.FromLocal && reachNodePort(p) && p.Port == port
		}
		ok, all := c.answered(behind), c.ran(behind)
		if len(all) == 0 || len(ok) != len(all) {
			continue
		}
		var addrs, outcomes, nodes []string
		for _, i := range idx {
			p, r := c.probe(i)
			addrs = append(addrs, p.Address())
			outcomes = append(outcomes, string(r.Outcome))
		}
		for _, i := range ok {
			nodes = append(nodes, c.plan.Probes[i].Node)
		}
		p, _ := c.probe(ok[0])
		c.add(SevError, VerdictLoadBalancerNotDelivering, "", "", idx,
			"LoadBalancer %s fails from here (%s) while NodePort %d answers on %s: the nodes forward the Service; the load balancer does not deliver to them (MetalLB: the speaker announcing the address; a cloud load balancer: its listeners, health checks or security groups)",
			strings.Join(addrs, ", "), strings.Join(dedupe(outcomes), ", "), p.TargetPort, strings.Join(dedupe(nodes), ", "))
	}
	return false
}

// dedupe keeps the first of each value, in order.
func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
