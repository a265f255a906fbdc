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
	var hinted, local map[string]*probe.Service
	names := map[string]bool{} // the names of those Services: most probes are ruled out without building a key
	for i := range inv.Services {
		s := &inv.Services[i]
		if hasHints(s) || s.InternalTrafficPolicy == probe.PolicyLocal && len(s.ClusterIPs) > 0 {
			names[s.Name] = true
		}
		if hasHints(s) {
			if hinted == nil {
				hinted = map[string]*probe.Service{}
			}
			hinted[s.Key()] = s
		}
		if s.InternalTrafficPolicy == probe.PolicyLocal && len(s.ClusterIPs) > 0 {
			if local == nil {
				local = map[string]*probe.Service{}
			}
			local[s.Key()] = s
		}
	}
	if hinted == nil && local == nil {
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
		key := p.Namespace + "/" + p.Service
		if svc := local[key]; svc != nil {
			if localToAgent(pl, p, svc) {
				changed++
			}
			continue
		}
		svc := hinted[key]
		if svc == nil {
			continue
		}
		node := ""
		switch p.Via {
		case probe.ViaNodePort:
			if svc.ExternalTrafficPolicy != probe.PolicyLocal {
				node = p.Node
			}
		case probe.ViaClusterIP, probe.ViaDNS:
			if svc.InternalTrafficPolicy != probe.PolicyLocal && len(svc.ClusterIPs) > 0 {
				node = pl.NodeOf(p.From)
			}
		case probe.ViaLoadBalancer:
			if svc.ExternalTrafficPolicy != probe.PolicyLocal {
				p.Backends = nil
				p.Expect.Reason += "; topology hints: the nodes the ingress delivers to decide which pods answer"
				changed++
			}
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
		if p.Connections == Budget(len(p.Backends)) { // the coverage budget was for every backend
			p.Connections = Budget(len(kept))
		}
		p.Backends = kept
		p.Expect.Reason += "; topology hints: " + node + " forwards to the endpoints hinted for " + why
		changed++
	}
	return changed
}

// localToAgent narrows a ClusterIP or DNS probe of an
// internalTrafficPolicy=Local Service from an agent pod to the endpoints on
// the agent's node, or expects no answer when there are none; false when
// nothing changed (another path, the node not known yet, or done already).
func localToAgent(pl *probe.Plan, p *probe.Probe, svc *probe.Service) bool {
	if p.From != probe.FromPod || p.Via != probe.ViaClusterIP && p.Via != probe.ViaDNS {
		return false
	}
	node := pl.NodeOf(p.From)
	if node == "" {
		return false
	}
	var kept []string
	for _, b := range p.Backends {
		if slices.ContainsFunc(svc.Endpoints, func(ep probe.Endpoint) bool { return ep.PodName == b && ep.NodeName == node }) {
			kept = append(kept, b)
		}
	}
	switch {
	case len(kept) == len(p.Backends):
		return false
	case len(kept) == 0:
		p.Backends, p.Connections = nil, 1
		p.Expect = probe.Expectation{Want: probe.NoReach, Reason: "internalTrafficPolicy=Local and the agent's node " + node + " has no ready endpoint: it must drop",
			Addresses: p.Expect.Addresses, Policies: p.Expect.Policies}
		return true
	}
	if p.Connections == Budget(len(p.Backends)) {
		p.Connections = Budget(len(kept))
	}
	p.Backends = kept
	p.Expect.Reason = "internalTrafficPolicy=Local: only the endpoints on the agent's node " + node + " answer"
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
