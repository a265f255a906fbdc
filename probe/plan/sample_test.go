package plan

import (
	"fmt"
	"slices"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

// nodePortInv is one NodePort Service with 4 pods on 40 nodes.
func nodePortInv(policy string) probe.Inventory {
	inv := testinv.Synthetic(1, 40, 4)
	inv.Services[0].ExternalTrafficPolicy = policy
	return inv
}

func TestCoverageSampled(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       Options
		policy     string
		wantCover  int
		wantSingle int
	}{
		{"sample", Options{From: []probe.From{probe.FromLocal}, HTTP: true}, probe.PolicyCluster, CoverageSample, 40 - CoverageSample},
		{"exhaustive", Options{From: []probe.From{probe.FromLocal}, HTTP: true, Exhaustive: true}, probe.PolicyCluster, 40, 0},
		// Local: the 4 nodes with a pod must reach and are covered; the 36 others must drop.
		{"local policy", Options{From: []probe.From{probe.FromLocal}, HTTP: true}, probe.PolicyLocal, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := Build(nodePortInv(tc.policy), tc.opts)
			cover, single := 0, 0
			for _, p := range pl.Probes {
				if p.Via != probe.ViaNodePort || p.Expect.Want != probe.Reach {
					continue
				}
				switch {
				case p.Connections == Budget(len(p.Backends)) && len(p.Backends) > 1:
					cover++
				case p.Connections == 1 && p.Backends == nil:
					single++
				case tc.policy == probe.PolicyLocal && len(p.Backends) == 1:
					cover++ // one local pod: covering it costs one connection
				default:
					t.Errorf("%s: %d connections, backends %v", p.ID, p.Connections, p.Backends)
				}
			}
			if cover != tc.wantCover || single != tc.wantSingle {
				t.Errorf("covered %d, single %d; want %d, %d", cover, single, tc.wantCover, tc.wantSingle)
			}
		})
	}
}

func TestSampleNodesStable(t *testing.T) {
	var nodes []string
	for i := 0; i < 100; i++ {
		nodes = append(nodes, fmt.Sprintf("n%03d", i))
	}
	a := SampleNodes("ns", "web", "http", nodes, 3)
	if b := SampleNodes("ns", "web", "http", reversed(nodes), 3); !slices.Equal(a, b) {
		t.Errorf("order of nodes changed the sample: %v vs %v", a, b)
	}
	// A node leaving that was not sampled changes nothing.
	var fewer []string
	for _, n := range nodes {
		if !slices.Contains(a, n) && len(fewer) == 0 {
			continue // drop the first unsampled node
		}
		fewer = append(fewer, n)
	}
	if b := SampleNodes("ns", "web", "http", fewer, 3); !slices.Equal(a, b) {
		t.Errorf("an unsampled node leaving changed the sample: %v vs %v", a, b)
	}
	if b := SampleNodes("ns", "api", "http", nodes, 3); slices.Equal(a, b) {
		t.Errorf("two Services sampled the same nodes %v: the load is not spread", a)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
