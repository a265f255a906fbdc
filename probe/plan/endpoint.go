package plan

import "github.com/svccheck/svccheck/probe"

// endpointFromLocal plans one pod IP per Service port, which stands for the
// pod network: reachable from outside means every pod is exposed. Endpoints
// on a node's own address (hostNetwork pods, the API server) are meant to
// answer there.
func (b *planner) endpointFromLocal(pc *portCtx, _ probe.From) {
	for _, ep := range pc.svc.Endpoints {
		if tp, ok := ep.Ports[pc.port.Name]; ok && ep.Ready && ep.PodName != "" && !b.nodeAddr[ep.Address] {
			b.add(pc, probe.FromLocal, probe.ViaEndpoint, ep.NodeName, "", ep.PodName, ep.Address, tp, nil,
				probe.Expectation{Want: probe.NoReach, Reason: "pod IPs are cluster-internal: answering from outside is an exposure"})
			break
		}
	}
}

// endpointFromInside plans every endpoint of the Service port on its target
// port from an in-cluster vantage point.
func (b *planner) endpointFromInside(pc *portCtx, from probe.From) {
	for _, ep := range pc.svc.Endpoints {
		tp, ok := ep.Ports[pc.port.Name]
		if !ok {
			continue
		}
		exp := probe.Expectation{Want: probe.Reach, Reason: "a ready endpoint answers on its target port"}
		switch {
		case ep.Terminating:
			exp = probe.Expectation{Want: probe.Unknown, Reason: "endpoint is terminating"}
		case !ep.Ready:
			exp = probe.Expectation{Want: probe.Unknown, Reason: "endpoint is not ready"}
		}
		var backends []string
		if ep.PodName != "" {
			backends = []string{ep.PodName}
		}
		b.add(pc, from, probe.ViaEndpoint, ep.NodeName, "", ep.PodName, ep.Address, tp, backends, exp)
	}
}
