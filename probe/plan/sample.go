package plan

import (
	"hash/fnv"
	"sort"

	"github.com/svccheck/svccheck/probe"
)

// CoverageSample is how many nodes per Service port run the full coverage
// loop (every backend seen, Budget connections at most) through their
// NodePort; every other node gets one connection, which is enough to show a
// fault of the node itself (kube-proxy programs the same rules on every
// node: what differs between nodes is the node).
const CoverageSample = 3

// SampleNodes returns the k of nodes whose NodePort of a Service port runs
// the coverage loop: those with the smallest FNV-1a hash of
// "namespace/service/port|node" (rendezvous hashing), in that order. The
// choice is deterministic, spreads the coverage loops evenly over the nodes,
// and keeps a node's place when other nodes come or go.
func SampleNodes(namespace, service, port string, nodes []string, k int) []string {
	type ranked struct {
		name string
		h    uint64
	}
	rs := make([]ranked, len(nodes))
	prefix := probe.ServiceKey(namespace, service) + "/" + port + "|"
	for i, n := range nodes {
		rs[i] = ranked{n, hash64(prefix + n)}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].h < rs[j].h || rs[i].h == rs[j].h && rs[i].name < rs[j].name })
	out := make([]string, 0, min(k, len(rs)))
	for _, r := range rs[:min(k, len(rs))] {
		out = append(out, r.name)
	}
	return out
}

// hash64 is FNV-1a of s through the 64-bit finalizer of MurmurHash3.
// FNV-1a alone barely moves the high bits for names that differ in their
// last characters (lab-sim-0100, lab-sim-0101, …): ranked by the whole
// value, the same runs of neighbouring nodes came first for most Services
// (one node of 1,003 in a fifth of the samples). The finalizer spreads
// every input bit over the whole word.
func hash64(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// sample remembers the sampled nodes of the Service port being planned.
type sample struct {
	key   string
	nodes map[string]bool
}

// covering returns the backends a NodePort probe of pc through node should
// cover: all of them (the coverage loop) on a sampled node, or none (one
// connection, proving the path answers, attributing nothing) elsewhere.
// Sampled are: every node with Options.Exhaustive; otherwise the
// CoverageSample nodes SampleNodes ranks first, the node the probing
// agent runs on (self), and under externalTrafficPolicy=Local every node
// with a ready local endpoint (the only ones that must answer). A path with
// at most one backend keeps it: covering one costs one connection.
func (b *planner) covering(pc *portCtx, node, self string, backends []string) []string {
	if b.opts.Exhaustive || len(backends) <= 1 || node == self {
		return backends
	}
	if pc.svc.ExternalTrafficPolicy == probe.PolicyLocal && len(pc.byNode[node]) > 0 {
		return backends
	}
	key := pc.svc.Key() + "/" + pc.port.Label()
	if b.sampled.key != key || b.sampled.nodes == nil {
		all := make([]string, len(b.nodes))
		for i, n := range b.nodes {
			all[i] = n.Name
		}
		b.sampled = sample{key: key, nodes: map[string]bool{}}
		for _, n := range SampleNodes(pc.svc.Namespace, pc.svc.Name, pc.port.Label(), all, CoverageSample) {
			b.sampled.nodes[n] = true
		}
	}
	if b.sampled.nodes[node] {
		return backends
	}
	return nil
}
