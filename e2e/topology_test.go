//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
)

var zones = map[string]string{"lab-cp": "a", "lab-w1": "b", "lab-w2": "c"}

// TestTopologyAwareRouting: with the nodes in zones and a Service with
// trafficDistribution PreferClose, each node forwards to its own zone's pod
// only. svccheck expects exactly that: from every vantage point the run
// passes with no coverage warning, a path through lab-w1 or lab-w2 must
// reach (and reaches) only that node's pod, a path through lab-cp (zone a,
// no pod) both.
func TestTopologyAwareRouting(t *testing.T) {
	for n, z := range zones {
		lab(t, "kubectl", "label", "node", n, "--overwrite", "topology.kubernetes.io/zone="+z)
	}
	t.Cleanup(func() {
		for n := range zones {
			lab(t, "kubectl", "label", "node", n, "topology.kubernetes.io/zone-")
		}
	})
	withManifest(t, "topology.yaml")
	lab(t, "kubectl", "-n", "default", "rollout", "status", "deployment/zoned", "--timeout=120s")
	eventually(t, "both endpoints hinted for their zones", 60*time.Second, func() error {
		out := lab(t, "kubectl", "-n", "default", "get", "endpointslices", "-l", "kubernetes.io/service-name=zoned",
			"-o", `jsonpath={range .items[*].endpoints[*]}{.nodeName}={.hints.forZones[*].name} {end}`)
		got := strings.Fields(out)
		slices.Sort(got)
		if want := []string{"lab-w1=b", "lab-w2=c"}; !slices.Equal(got, want) {
			return fmt.Errorf("endpoints %v, want %v", got, want)
		}
		return nil
	})
	pods := map[string]string{} // node -> pod
	names, nodes, _ := podsOf(t, "app=zoned")
	for i := range names {
		pods[nodes[i]] = names[i]
	}
	r := passesClean(t, "every node forwarding by zone", "-n", "default", "--from", "everywhere", "--node", "lab-w1", "--http", "--exhaustive", "zoned")
	checked := 0
	for _, p := range service(t, r, "zoned").Probes {
		via := ""
		switch {
		case p.Via == probe.ViaNodePort:
			via = p.Node
		case p.Via == probe.ViaClusterIP && p.From != probe.FromLocal, p.Via == probe.ViaDNS:
			via = p.From.Node()
			if p.From == probe.FromPod {
				via = "lab-w1" // --node
			}
		default:
			continue
		}
		want := []string{pods["lab-w1"], pods["lab-w2"]}
		if pod, ok := pods[via]; ok {
			want = []string{pod}
			if !strings.Contains(p.ExpectReason, "topology hints: "+via+" forwards to the endpoints hinted for zone "+zones[via]) {
				t.Errorf("%s: reason %q does not name the hints", p.ID, p.ExpectReason)
			}
		}
		slices.Sort(want)
		if p.Coverage == nil {
			t.Errorf("%s: no coverage", p.ID)
			continue
		}
		if got := p.Coverage.Seen; p.Coverage.Total != len(want) || len(p.Coverage.Missing) != 0 || !slices.Equal(got, want) {
			t.Errorf("%s through %s: must cover %d, saw %v, missed %v; want %v", p.ID, via, p.Coverage.Total, got, p.Coverage.Missing, want)
		}
		checked++
	}
	// NodePorts: 3 from local, 3 from the agent pod, 9 from the node agents;
	// ClusterIPs from the pod and the 3 node agents; the pod's DNS name.
	if checked != 20 {
		t.Errorf("%d forwarded paths checked, want 20", checked)
	}
}
