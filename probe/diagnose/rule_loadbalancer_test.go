package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func TestLoadBalancerNotDelivering(t *testing.T) {
	lb := func(policy string) func(inv *probe.Inventory) {
		return func(inv *probe.Inventory) {
			svc := &inv.Services[0]
			svc.Type, svc.LoadBalancerIngress, svc.ExternalTrafficPolicy = probe.TypeLoadBalancer, []string{"192.0.2.10"}, policy
			if policy == probe.PolicyLocal {
				svc.HealthCheckNodePort = 32000
			}
		}
	}
	ingress := func(p *probe.Probe) bool { return p.Via == probe.ViaLoadBalancer }
	testRule(t, loadBalancerNotDelivering{}, []ruleCase{
		{name: "ingress silent, every NodePort answers", from: local, mutate: lb(probe.PolicyCluster), outcome: failing(ingress, probe.Timeout),
			codes: "error:loadBalancerNotDelivering", cites: everyFailed,
			msgs: []string{"LoadBalancer 192.0.2.10:8080 fails from here (timeout) while NodePort 30080 answers on master, worker1, worker2: the nodes forward the Service; the load balancer does not deliver"}},
		{name: "externalTrafficPolicy=Local: the nodes with an endpoint answer", from: local, mutate: lb(probe.PolicyLocal), outcome: failing(ingress, probe.NoRoute),
			codes: "error:loadBalancerNotDelivering", cites: everyFailed,
			msgs: []string{"(noRoute) while NodePort 30080 answers on master, worker1:"}},
		{name: "a NodePort fails too: not the load balancer alone", from: local, mutate: lb(probe.PolicyCluster),
			outcome: failing(func(p *probe.Probe) bool { return ingress(p) || p.Via == probe.ViaNodePort && p.Node == "worker1" }, probe.Timeout)},
		{name: "some connections fail: not this", from: local, mutate: lb(probe.PolicyCluster), outcome: healthy,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if ingress(p) {
					r.Outcome, r.Connections, r.Failures = probe.Timeout, 21, 3
				}
			}},
		{name: "explained already", from: local, mutate: lb(probe.PolicyCluster), outcome: failing(ingress, probe.Timeout),
			cited: func(*probe.Probe) bool { return true }},
		{name: "healthy", from: local, mutate: lb(probe.PolicyCluster), outcome: healthy},
	})
}
