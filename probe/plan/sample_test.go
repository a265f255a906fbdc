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

// TestSampleNodesSpread: over many Services, the coverage loops land on
// nodes about evenly, whatever the nodes' names look like (numbered names
// that differ in their last characters, a few nodes named otherwise): 1,000
// Services of one port, 3 nodes each, on 1,003 nodes is 3 loops per node on
// average; rendezvous hashing makes that a Poisson count of mean 3, which
// stays under 12 on every node and leaves at most a tenth of them unsampled.
func TestSampleNodesSpread(t *testing.T) {
	nodes := []string{"lab-cp", "lab-w1", "lab-w2"}
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, fmt.Sprintf("lab-sim-%04d", i))
	}
	count := map[string]int{}
	for s := 0; s < 1000; s++ {
		for _, n := range SampleNodes("sim", fmt.Sprintf("sim-%05d", s), "http", nodes, CoverageSample) {
			count[n]++
		}
	}
	busiest := ""
	for n, c := range count {
		if busiest == "" || c > count[busiest] {
			busiest = n
		}
	}
	if count[busiest] >= 12 || len(count) < 900 {
		t.Errorf("coverage loops on %d of %d nodes, %d on %s: not spread", len(count), len(nodes), count[busiest], busiest)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
