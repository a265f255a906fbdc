package plan

import "github.com/svccheck/svccheck/probe"

// loadBalancerFromLocal plans each LoadBalancer ingress of the Service.
func (b *planner) loadBalancerFromLocal(pc *portCtx, _ probe.From) {
	if pc.svc.Type != probe.TypeLoadBalancer {
		return
	}
	for _, ing := range pc.svc.LoadBalancerIngress {
		b.add(pc, probe.FromLocal, probe.ViaLoadBalancer, "", "", "", ing, pc.port.Port, pc.backends,
			probe.Expectation{Want: probe.Reach, Reason: "LoadBalancer ingress answers from outside the cluster"})
	}
}
