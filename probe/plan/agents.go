package plan

import "github.com/svccheck/svccheck/probe"

// DefaultAgentNodes is how many nodes run a node agent (--from nodes) unless
// told otherwise: starting an agent is a Job, a pod, an exec stream and a
// deletion, so a thousand of them cannot start in a minute; twenty can,
// and between them they still probe every node's NodePort from inside.
const DefaultAgentNodes = 20

// MeshLimit bounds the (agent, node) pairs of a full mesh: when every node
// agent would probe more NodePorts than this in all, each node's NodePort
// is probed from inside by one agent (and the node's own), not by all.
const MeshLimit = 1000

// PickAgentNodes chooses the nodes that run a node agent among candidates
// (the Ready nodes matching the selector, in any order): all of them when
// there are at most n (n <= 0: all), else the n with the smallest hash of
// their names. The choice is deterministic and changes only with the nodes.
func PickAgentNodes(candidates []string, n int) []string {
	if n <= 0 || len(candidates) <= n {
		return append([]string(nil), candidates...)
	}
	return SampleNodes("", "", "agents", candidates, n)
}

// agentSet is the node agents of a plan and, when they do not form a full
// mesh, which agent probes each node's NodePort from inside.
type agentSet struct {
	on    map[string]bool   // nodes running an agent; nil: every Ready node
	owner map[string]string // node -> the agent that probes its NodePort; nil: every agent
}

// newAgentSet places the agents of opts.AgentNodes on nodes.
func newAgentSet(nodes []probe.Node, agents []string) agentSet {
	if agents == nil {
		return agentSet{}
	}
	s := agentSet{on: map[string]bool{}}
	for _, a := range agents {
		s.on[a] = true
	}
	if len(agents)*len(nodes) <= MeshLimit || len(agents) == 0 {
		return s
	}
	s.owner = make(map[string]string, len(nodes))
	for _, n := range nodes {
		best, bestH := "", uint64(0)
		for _, a := range agents {
			if h := hash64(n.Name + "|" + a); best == "" || h < bestH {
				best, bestH = a, h
			}
		}
		s.owner[n.Name] = best
	}
	return s
}

// runs reports whether node runs a node agent.
func (s agentSet) runs(n probe.Node) bool {
	return n.Ready && (s.on == nil || s.on[n.Name])
}

// probes reports whether the agent on self ("" for the agent pod) probes
// node's NodePort: the agent pod every node's; a node agent its own, and
// every node's in a full mesh, else the nodes it owns.
func (s agentSet) probes(self, node string) bool {
	return self == "" || s.owner == nil || self == node || s.owner[node] == self
}
