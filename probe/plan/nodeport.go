package plan

import (
	"net/netip"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// nodePortFromLocal plans the NodePort on every node address of the chosen
// address types.
func (b *planner) nodePortFromLocal(pc *portCtx, _ probe.From) {
	if pc.port.NodePort == 0 {
		return
	}
	for _, n := range b.nodes {
		for _, at := range b.addrTypes {
			for _, host := range nodePortAddrs(pc.svc, n.Addresses[at]) {
				exp, backends := b.nodePortExpectation(pc, n.Name)
				backends = b.covering(pc, n.Name, "", backends)
				b.add(pc, probe.FromLocal, probe.ViaNodePort, n.Name, at, "", host, pc.port.NodePort, backends, exp)
			}
		}
	}
}

func (b *planner) nodePortExpectation(pc *portCtx, node string) (probe.Expectation, []string) {
	if pc.svc.ExternalTrafficPolicy == probe.PolicyLocal {
		if local := pc.byNode[node]; len(local) > 0 {
			return probe.Expectation{Want: probe.Reach, Reason: "externalTrafficPolicy=Local and the node has a ready endpoint"}, local
		}
		return probe.Expectation{Want: probe.NoReach, Reason: "externalTrafficPolicy=Local and the node has no ready endpoint: it must drop"}, nil
	}
	return probe.Expectation{Want: probe.Reach, Reason: "a NodePort answers on every node"}, pc.backends
}

// nodePortFromInside plans the NodePort on the InternalIP of each node the
// vantage point probes (agents.go).
func (b *planner) nodePortFromInside(pc *portCtx, from probe.From) {
	if pc.port.NodePort == 0 {
		return
	}
	svc := pc.svc
	self := from.Node() // "" for an agent pod
	for _, n := range b.nodes {
		if !b.agents.probes(self, n.Name) {
			continue
		}
		for _, host := range nodePortAddrs(svc, n.Addresses["InternalIP"]) {
			exp, backends := probe.Expectation{Want: probe.Reach, Reason: "a NodePort answers on every node"}, pc.backends
			switch {
			case svc.ExternalTrafficPolicy != probe.PolicyLocal:
			case self == n.Name:
				exp.Reason = "externalTrafficPolicy=Local: a node's own traffic to its NodePort goes to any endpoint"
			case self != "":
				exp, backends = b.nodePortExpectation(pc, n.Name)
			default:
				exp = probe.Expectation{Want: probe.Unknown, Reason: "externalTrafficPolicy=Local: pod traffic to a NodePort depends on the proxy"}
			}
			backends = b.covering(pc, n.Name, self, backends)
			b.add(pc, from, probe.ViaNodePort, n.Name, "InternalIP", "", host, pc.port.NodePort, backends, exp)
		}
	}
}

// nodePortAddrs lists the addresses of a node that a Service's NodePort
// answers on: each once, and of a dual-stack node only those of the
// Service's families (kube-proxy serves a single-stack IPv4 Service's
// NodePort on the node's IPv4 addresses alone). Names are kept.
func nodePortAddrs(svc *probe.Service, addrs []string) []string {
	addrs = uniqueAddrs(addrs)
	var has4, has6 bool
	for _, ip := range svc.ClusterIPs {
		if strings.Contains(ip, ":") {
			has6 = true
		} else {
			has4 = true
		}
	}
	if has4 == has6 { // dual-stack, or no ClusterIP to tell
		return addrs
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err != nil || ip.Unmap().Is4() == has4 {
			out = append(out, a)
		}
	}
	return out
}

func uniqueAddrs(addrs []string) []string {
	if len(addrs) < 2 {
		return addrs
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		dup := false
		for _, o := range out {
			dup = dup || o == a
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}
