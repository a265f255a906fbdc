package diagnose

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// vantage is a choice of vantage points: outside only, with an agent pod on
// a node, with node agents, or all of them.
type vantage struct {
	pod, nodes bool
	agent      string // the pod agent's node
}

func (v vantage) String() string {
	s := "local"
	if v.pod {
		s += "+pod@" + v.agent
	}
	if v.nodes {
		s += "+nodes"
	}
	return s
}

// verdict is the one error finding a fault must give: code@node/pod.
type verdict string

// TestOneFaultOneVerdict breaks the seed cluster one way at a time and
// diagnoses it from every choice of vantage points: each must give exactly
// one error finding, the right one for what those vantage points can see,
// naming the right node and pod. More vantage points may refine a verdict,
// never turn it into a wrong one.
func TestOneFaultOneVerdict(t *testing.T) {
	same := func(v verdict) func(vantage) verdict { return func(vantage) verdict { return v } }
	for _, tc := range []struct {
		name string
		sim  *sim
		want func(v vantage) verdict
	}{
		{"web-b refuses", badPod("web-b", probe.Refused), same("backendNotListening@worker1/web-b")},
		{"web-b hangs", badPod("web-b", probe.NoAnswer), same("backendHung@worker1/web-b")},
		{"web-b's address is dead", badPod("web-b", probe.Timeout), same("endpointUnreachable@worker1/web-b")},
		{"web-b answers 500", badPod("web-b", probe.ServerError), same("applicationError@worker1/web-b")},
		{"worker2 cannot reach web-b", &sim{cut: map[string]map[string]bool{"worker2": setOf("web-b")}}, same("backendUnreachableFrom@worker2/web-b")},
		{"worker2 does not forward to web-b", &sim{noForward: map[string]map[string]bool{"worker2": setOf("web-b")}}, same("backendUnreachableFrom@worker2/web-b")},
		{"kube-proxy down on worker1", &sim{deadNodes: setOf("worker1")}, func(v vantage) verdict {
			if v.nodes || v.pod && v.agent == "worker1" {
				return "dataplaneBroken@worker1/"
			}
			return "nodePathFailed@worker1/"
		}},
		{"worker2 firewalled from the operator", &sim{walled: setOf("worker2")}, func(v vantage) verdict {
			if v.nodes || v.pod {
				return "blockedFromOperator@worker2/"
			}
			return "nodePathFailed@worker2/"
		}},
		{"worker2's NodePort firewalled", &sim{blocked: setOf("worker2")}, func(v vantage) verdict {
			if v.nodes || v.pod && v.agent == "worker2" {
				return "nodePortBlocked@worker2/"
			}
			return "nodePathFailed@worker2/"
		}},
		{"worker1 forwards to a stale address", &sim{stale: setOf("worker1")}, func(v vantage) verdict {
			if v.nodes || v.pod && v.agent == "worker1" {
				return "dataplaneBroken@worker1/"
			}
			return "nodePathFailed@worker1/"
		}},
		{"exposed", &sim{exposed: true}, same("")},
	} {
		for _, v := range vantages() {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				got, fs := oneVerdict(tc.sim, v)
				if want := tc.want(v); got != want {
					t.Errorf("verdict %q, want %q:\n%s", got, want, describe(fs))
				}
			})
		}
	}
}

func vantages() []vantage {
	out := []vantage{{}, {nodes: true}}
	for _, n := range []string{"master", "worker1", "worker2"} {
		out = append(out, vantage{pod: true, agent: n}, vantage{pod: true, nodes: true, agent: n})
	}
	return out
}

// oneVerdict diagnoses the seed broken by s from v and returns its error
// findings as code@node/pod, joined, after checking the invariants and
// that nothing contradicts the findings.
func oneVerdict(s *sim, v vantage) (verdict, []Finding) {
	inv := testinv.Seed()
	withPods(&inv)
	from := []probe.From{probe.FromLocal}
	if v.pod {
		from = append(from, probe.FromPod)
	}
	if v.nodes {
		from = append(from, probe.FromNodes)
	}
	pl := plan.Build(inv, plan.Options{From: from, HTTP: true, Protocols: probed})
	if v.pod {
		pl.AgentNodes = map[probe.From]string{probe.FromPod: v.agent}
	}
	res := s.results(&pl)
	fs := Diagnose(inv, pl, res)
	c := genCase{inv: inv, plan: pl, results: res}
	if err := checkInvariants(c, fs); err != nil {
		return verdict("invariant: " + err.Error()), fs
	}
	if bad := Contradictions(fs, observations(c)); len(bad) > 0 {
		return verdict("contradicted: " + strings.Join(bad, "; ")), fs
	}
	var got []string
	for _, f := range fs {
		if f.Severity == SevError {
			got = append(got, fmt.Sprintf("%s@%s/%s", f.Code, f.Node, f.Pod))
		}
	}
	slices.Sort(got)
	return verdict(strings.Join(got, ",")), fs
}

func describe(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s@%s/%s: %s\n", f.Severity, f.Code, f.Node, f.Pod, f.Message)
	}
	return b.String()
}
