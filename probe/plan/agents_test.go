package plan

import (
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

func TestPickAgentNodes(t *testing.T) {
	all := []string{"a", "b", "c"}
	if got := PickAgentNodes(all, 5); len(got) != 3 {
		t.Errorf("fewer candidates than agents: %v", got)
	}
	if got := PickAgentNodes(all, 0); len(got) != 3 {
		t.Errorf("no bound: %v", got)
	}
	got := PickAgentNodes(all, 2)
	if len(got) != 2 || got[0] == got[1] {
		t.Errorf("two of three: %v", got)
	}
}

// TestAgentNodesSpreadNodePorts: 20 agents on 100 nodes do not form a full
// mesh (2000 > MeshLimit): each node's NodePort is probed from inside by
// exactly one agent, and by itself when it runs one.
func TestAgentNodesSpreadNodePorts(t *testing.T) {
	inv := testinv.Synthetic(1, 100, 4)
	var names []string
	for _, n := range inv.Nodes {
		names = append(names, n.Name)
	}
	agents := PickAgentNodes(names, 20)
	pl := Build(inv, Options{From: []probe.From{probe.FromNodes}, HTTP: true, AgentNodes: agents})
	from := map[probe.From]bool{}
	probedFrom := map[string][]string{} // node -> agents probing its NodePort
	for _, p := range pl.Probes {
		from[p.From] = true
		if p.Via == probe.ViaNodePort {
			probedFrom[p.Node] = append(probedFrom[p.Node], p.From.Node())
		}
	}
	if len(from) != 20 {
		t.Errorf("%d vantage points, want 20", len(from))
	}
	isAgent := map[string]bool{}
	for _, a := range agents {
		isAgent[a] = true
	}
	for _, n := range names {
		want := 1
		if isAgent[n] {
			want = 1 // its own agent, which may also own it
			if len(probedFrom[n]) == 2 {
				want = 2
			}
		}
		if len(probedFrom[n]) != want {
			t.Errorf("node %s NodePort probed from %v", n, probedFrom[n])
		}
	}
	// Three agents on three nodes: the full mesh, as before.
	small := testinv.Synthetic(1, 3, 2)
	pl = Build(small, Options{From: []probe.From{probe.FromNodes}, AgentNodes: []string{"node-0000", "node-0001", "node-0002"}})
	n := 0
	for _, p := range pl.Probes {
		if p.Via == probe.ViaNodePort {
			n++
		}
	}
	if n != 9 {
		t.Errorf("3 agents x 3 nodes: %d NodePort probes, want 9", n)
	}
}
