package plan

import (
	"sort"

	"github.com/svccheck/svccheck/probe"
)

// A node that does not answer from here at all would cost every one of its
// NodePort probes a timeout. A reachability pass first makes one connection
// per node address to a NodePort or two; the NodePort probes of a node that
// answered neither are then not run, and one finding says why.

// NodeAddress is a node address that local NodePort probes go to.
type NodeAddress struct {
	Node, AddressType, Host string
}

// ReachPort is a NodePort every node must answer on, and its Service
// ("namespace/name").
type ReachPort struct {
	Service string
	Port    int32
}

// NodeAddresses lists the distinct node addresses of the local NodePort and
// health-check probes among probes[i] for i in idx, in plan order.
func NodeAddresses(probes []probe.Probe, idx []int) []NodeAddress {
	seen := map[NodeAddress]bool{}
	var out []NodeAddress
	for _, i := range idx {
		p := &probes[i]
		if p.From != probe.FromLocal || p.Via.Kind().Through != probe.ThroughTarget || p.Node == "" {
			continue
		}
		a := NodeAddress{Node: p.Node, AddressType: p.AddressType, Host: p.Host}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// ReachPorts picks the NodePorts of up to n different Services to knock on
// every node with, from the local NodePort probes among probes[i] for i in
// idx: TCP ports that are probed, of Services whose every local NodePort
// probe expects an answer (externalTrafficPolicy=Cluster: a refusal or an
// answer from any node, never a drop), most ready backends first, then by
// name. The first two are knocked on first; the others only when no node
// answered either.
func ReachPorts(probes []probe.Probe, idx []int, n int) []ReachPort {
	type cand struct {
		ReachPort
		backends int
		ok       bool
	}
	byKey := map[ReachPort]*cand{}
	var order []*cand
	for _, i := range idx {
		p := &probes[i]
		if p.From != probe.FromLocal || p.Via != probe.ViaNodePort {
			continue
		}
		k := ReachPort{Service: p.ServiceKey(), Port: p.TargetPort}
		c, ok := byKey[k]
		if !ok {
			c = &cand{ReachPort: k, ok: true}
			byKey[k] = c
			order = append(order, c)
		}
		c.backends = max(c.backends, len(p.Backends))
		if p.Protocol != probe.ProtocolTCP || p.Skip != "" || p.Expect.Want != probe.Reach || p.Expect.Status != 0 {
			c.ok = false
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].backends != order[j].backends {
			return order[i].backends > order[j].backends
		}
		return order[i].Service < order[j].Service
	})
	var out []ReachPort
	used := map[string]bool{}
	for _, c := range order {
		if c.ok && !used[c.Service] && len(out) < n {
			used[c.Service] = true
			out = append(out, c.ReachPort)
		}
	}
	return out
}
