package plan

import (
	"slices"

	"github.com/svccheck/svccheck/probe"
)

// Topology narrows the backends each probe must cover to those the node
// forwarding it uses when the Service's EndpointSlices carry topology hints
// (trafficDistribution PreferClose/PreferSameZone or PreferSameNode,
// topology-aware routing): a node in zone a reaches only zone a's pods
// through a ClusterIP or its NodePort, so seeing no other pod there is not a
// coverage gap. It follows kube-proxy's choice (CategorizeEndpoints in
// pkg/proxy/topology.go): node hints when every ready endpoint has one and
// one names the node, else zone hints when every ready endpoint has one and
// one names the node's zone, else every ready endpoint. Only cluster-wide
// forwarding is narrowed (a ClusterIP or DNS name without
// internalTrafficPolicy=Local, a NodePort without externalTrafficPolicy=
// Local); a LoadBalancer's ingress, delivered to nodes the report does not
// know, keeps no backends to cover when hints are in use.
//
// Under internalTrafficPolicy=Local a ClusterIP or DNS name probed from an
// agent pod reaches only the endpoints on the agent's node, and none when it
// has none (the node must drop): the planner knows a node agent's node, and
// Topology sets the same expectation for an agent pod.
//
// A ClusterIP probed from an agent pod is narrowed once pl.AgentNodes says
// where it ran: Topology is idempotent and is called again then. It returns
// how many probes it changed.
func Topology(pl *probe.Plan, inv *probe.Inventory) int {
	hinted := map[string]*probe.Service{}
	local := map[string]map[string]string{} // an internalTrafficPolicy=Local Service -> its pods' nodes
	names := map[string]bool{}              // the names of both: most probes are ruled out without building a key
	for i := range inv.Services {
		s := &inv.Services[i]
		h, l := hasHints(s), internalLocal(s)
		if h {
			hinted[s.Key()] = s
		}
		if l {
			nodes := make(map[string]string, len(s.Endpoints))
			for _, ep := range s.Endpoints {
				nodes[ep.PodName] = ep.NodeName
			}
			local[s.Key()] = nodes
		}
		if h || l {
			names[s.Name] = true
		}
	}
	if len(names) == 0 {
		return 0
	}
	zones := make(map[string]string, len(inv.Nodes))
	for _, n := range inv.Nodes {
		zones[n.Name] = n.Zone
	}
	changed := 0
	for i := range pl.Probes {
		p := &pl.Probes[i]
		if p.Expect.Want != probe.Reach || len(p.Backends) == 0 || !names[p.Service] {
			continue
		}
		key := p.ServiceKey()
		kind := p.Via.Kind()
		if nodes := local[key]; nodes != nil && p.From == probe.FromPod && kind.Traffic == probe.TrafficInternal {
			if localToAgent(pl, p, nodes) {
				changed++
			}
			continue
		}
		svc := hinted[key]
		if svc == nil || kind.Route != probe.RouteForwarded || !clusterWide(svc, kind.Traffic) {
			continue
		}
		node := ""
		switch kind.Through {
		case probe.ThroughTarget:
			node = p.Node
		case probe.ThroughVantage:
			node = pl.NodeOf(p.From)
		case probe.ThroughAny:
			p.Backends = nil
			p.Expect.Reason += "; topology hints: the nodes the ingress delivers to decide which pods answer"
			changed++
			continue
		}
		if node == "" {
			continue
		}
		use, why := hintedFor(svc, node, zones[node])
		if use == nil {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(p.Backends), func(b string) bool { return !slices.Contains(use, b) })
		if len(kept) == len(p.Backends) || len(kept) == 0 {
			continue
		}
		narrow(p, kept)
		p.Expect.Reason += "; topology hints: " + node + " forwards to the endpoints hinted for " + why
		changed++
	}
	return changed
}

// clusterWide: the traffic policy t of svc forwards to endpoints on any
// node (Cluster), through a ClusterIP for internal traffic.
func clusterWide(svc *probe.Service, t probe.Traffic) bool {
	switch t {
	case probe.TrafficExternal:
		return svc.ExternalTrafficPolicy != probe.PolicyLocal
	case probe.TrafficInternal:
		return !internalLocal(svc) && len(svc.ClusterIPs) > 0
	}
	return false
}

// internalLocal: svc has a ClusterIP whose traffic each node forwards to its
// own endpoints only (internalTrafficPolicy=Local).
func internalLocal(svc *probe.Service) bool {
	return svc.InternalTrafficPolicy == probe.PolicyLocal && len(svc.ClusterIPs) > 0
}

// localExpectation is what an internalTrafficPolicy=Local ClusterIP (or the
// DNS name leading to it) must do from node, whose ready endpoints are
// kept: reach them, or nothing at all.
func localExpectation(node string, kept []string) probe.Expectation {
	if len(kept) == 0 {
		return probe.Expectation{Want: probe.NoReach, Reason: "internalTrafficPolicy=Local and node " + node + " has no ready endpoint: it must drop"}
	}
	return probe.Expectation{Want: probe.Reach, Reason: "internalTrafficPolicy=Local: only the endpoints on node " + node + " answer"}
}

// narrow makes p cover only kept of its backends, with the connection
// budget of those when it had the budget of all.
func narrow(p *probe.Probe, kept []string) {
	if p.Connections == Budget(len(p.Backends)) {
		p.Connections = Budget(len(kept))
	}
	p.Backends = kept
}

// localToAgent narrows a ClusterIP or DNS probe of an
// internalTrafficPolicy=Local Service from an agent pod to the endpoints on
// the agent's node (nodes: each pod's node), or expects no answer when there
// are none, as the planner does for a node agent; false when nothing changed
// (the node not known yet, or done already).
func localToAgent(pl *probe.Plan, p *probe.Probe, nodes map[string]string) bool {
	node := pl.NodeOf(p.From)
	if node == "" {
		return false
	}
	var kept []string
	for _, b := range p.Backends {
		if nodes[b] == node {
			kept = append(kept, b)
		}
	}
	if len(kept) == len(p.Backends) {
		return false
	}
	exp := localExpectation(node, kept)
	exp.Addresses, exp.Policies = p.Expect.Addresses, p.Expect.Policies
	p.Expect = exp
	if len(kept) == 0 {
		p.Backends, p.Connections = nil, 1
		return true
	}
	narrow(p, kept)
	return true
}

// hasHints: some ready endpoint of svc carries a topology hint.
func hasHints(svc *probe.Service) bool {
	return slices.ContainsFunc(svc.Endpoints, func(ep probe.Endpoint) bool {
		return ep.Ready && (len(ep.ForZones) > 0 || len(ep.ForNodes) > 0)
	})
}

// hintedFor returns the pods node (in zone) forwards svc's cluster-wide
// traffic to under its hints and what they are hinted for ("node X", "zone
// Z"), or nil when the hints do not apply there.
func hintedFor(svc *probe.Service, node, zone string) ([]string, string) {
	allNode, allZone := true, true
	var forNode, forZone []string
	for _, ep := range svc.Endpoints {
		if !ep.Ready {
			continue
		}
		if len(ep.ForNodes) == 0 {
			allNode = false
		} else if slices.Contains(ep.ForNodes, node) && ep.PodName != "" {
			forNode = append(forNode, ep.PodName)
		}
		if len(ep.ForZones) == 0 {
			allZone = false
		} else if zone != "" && slices.Contains(ep.ForZones, zone) && ep.PodName != "" {
			forZone = append(forZone, ep.PodName)
		}
	}
	switch {
	case allNode && len(forNode) > 0:
		return forNode, "node " + node
	case allZone && len(forZone) > 0:
		return forZone, "zone " + zone
	}
	return nil, ""
}
