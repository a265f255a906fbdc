package plan

import "github.com/svccheck/svccheck/probe"

// clusterIPFromLocal plans each ClusterIP from outside the cluster, where
// it must not answer.
func (b *planner) clusterIPFromLocal(pc *portCtx, _ probe.From) {
	for _, ip := range pc.svc.ClusterIPs {
		b.add(pc, probe.FromLocal, probe.ViaClusterIP, "", "", "", ip, pc.port.Port, nil,
			probe.Expectation{Want: probe.NoReach, Reason: "a ClusterIP is cluster-internal: answering from outside is an exposure"})
	}
}

// clusterIPFromInside plans each ClusterIP from an in-cluster vantage point.
func (b *planner) clusterIPFromInside(pc *portCtx, from probe.From) {
	svc := pc.svc
	self := from.Node() // "" for an agent pod
	for _, ip := range svc.ClusterIPs {
		exp, backends := probe.Expectation{Want: probe.Reach, Reason: "the ClusterIP forwards to every ready endpoint"}, pc.backends
		if svc.InternalTrafficPolicy == probe.PolicyLocal && self != "" {
			backends = pc.byNode[self]
			exp = localExpectation(self, backends)
		}
		b.add(pc, from, probe.ViaClusterIP, "", "", "", ip, pc.port.Port, backends, exp)
	}
}
