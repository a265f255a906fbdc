package plan

import "github.com/svccheck/svccheck/probe"

// pathPlanner plans the probes of one path kind from the operator's machine
// or from an in-cluster vantage point. Adding a path kind adds its planners
// here; everything else about the kind is its probe.PathKind.
type pathPlanner struct {
	via probe.Via
	// inside: it plans from an in-cluster vantage point (an agent pod or a
	// node agent); otherwise from the operator's machine (FromLocal).
	inside bool
	plan   func(b *planner, pc *portCtx, from probe.From)
}

// planners are the planners of every path kind, in the order their probes
// appear in a plan for each Service port and vantage point.
var planners = []pathPlanner{
	{probe.ViaNodePort, false, (*planner).nodePortFromLocal},
	{probe.ViaLoadBalancer, false, (*planner).loadBalancerFromLocal},
	{probe.ViaClusterIP, false, (*planner).clusterIPFromLocal},
	{probe.ViaEndpoint, false, (*planner).endpointFromLocal},
	{probe.ViaHealthCheck, false, (*planner).healthCheckFromLocal},
	{probe.ViaEndpoint, true, (*planner).endpointFromInside},
	{probe.ViaClusterIP, true, (*planner).clusterIPFromInside},
	{probe.ViaNodePort, true, (*planner).nodePortFromInside},
	{probe.ViaDNS, true, (*planner).dnsFromInside},
}

// paths plans every path kind of one Service port from one vantage point.
func (b *planner) paths(pc *portCtx, from probe.From) {
	inside := from != probe.FromLocal
	for _, pp := range planners {
		if pp.inside == inside {
			pp.plan(b, pc, from)
		}
	}
}
