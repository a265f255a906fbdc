//go:build e2e

package e2e

import (
	"slices"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// TestSessionAffinity: a NodePort Service with sessionAffinity ClientIP over
// the walkthrough's two pods. kube-proxy keeps each client on one pod through
// the ClusterIP, the DNS name and every node's NodePort: from every vantage
// point the run passes with no finding, each forwarded path reaching exactly
// one pod, and both pods answering directly.
func TestSessionAffinity(t *testing.T) {
	withManifest(t, "affinity.yaml")
	r := passesClean(t, "hostname-affinity healthy from everywhere", "-n", "default", "--from", "everywhere", "--node", "lab-w1", "--http", "hostname-affinity")
	forwarded, direct := 0, map[string]bool{}
	for _, p := range service(t, r, "hostname-affinity").Probes {
		switch {
		case p.Via == probe.ViaEndpoint && p.Pass && p.Backend != "":
			direct[p.Backend] = true
		case p.Expect == probe.Reach && p.Coverage != nil:
			forwarded++
			if len(p.Coverage.Seen) != 1 || p.Connections < 2 {
				t.Errorf("%s: %d connections reached %v, want one pod", p.ID, p.Connections, p.Coverage.Seen)
			}
		}
	}
	// Three NodePorts from outside; the ClusterIP, the DNS name and three
	// NodePorts from the agent pod; the ClusterIP and three NodePorts from
	// each of the three node agents.
	if forwarded != 20 || len(direct) != 2 {
		t.Errorf("%d forwarded paths measured, pods answering directly %v; want 20 and both pods", forwarded, direct)
	}
}

// TestInternalTrafficPolicyLocal: from an agent pod, an
// internalTrafficPolicy=Local ClusterIP and DNS name reach only the pod on
// the agent's node, and are expected (and seen) to drop on a node without
// one: no finding either way.
func TestInternalTrafficPolicyLocal(t *testing.T) {
	withManifest(t, "affinity.yaml")
	names, nodes, _ := podsOf(t, "app=hostname")
	if len(names) != 2 {
		t.Fatalf("hostname pods %v", names)
	}
	for _, node := range []string{"lab-cp", "lab-w1", "lab-w2"} {
		want := ""
		if i := slices.Index(nodes, node); i >= 0 {
			want = names[i]
		}
		r := passesClean(t, "hostname-itp-local from a pod on "+node, "-n", "default", "--from", "cluster", "--node", node, "--http", "hostname-itp-local")
		checked := 0
		for _, p := range service(t, r, "hostname-itp-local").Probes {
			if p.Via != probe.ViaClusterIP && p.Via != probe.ViaDNS {
				continue
			}
			checked++
			switch {
			case want == "" && (p.Expect != probe.NoReach || p.Outcome == "ok"):
				t.Errorf("agent on %s (no pod): %s expects %s, got %s", node, p.ID, p.Expect, p.Outcome)
			case want != "" && (p.Expect != probe.Reach || p.Coverage == nil || !slices.Equal(p.Coverage.Seen, []string{want})):
				t.Errorf("agent on %s: %s expects %s, reached %+v, want %s only", node, p.ID, p.Expect, p.Coverage, want)
			}
		}
		if checked != 2 {
			t.Errorf("agent on %s: %d ClusterIP and DNS probes, want 2", node, checked)
		}
	}
}
