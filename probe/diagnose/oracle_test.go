package diagnose

import (
	"fmt"
	"math/rand/v2"
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
	fs := Diagnose(inv, pl, res, RunFacts{})
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

// TestOneFaultRandomBalancing repeats the slow faults with a balancer that
// chooses at random, so that a path may be given up after its first two
// connections both went to the bad backend (the prober confirms a dead path
// with two). The verdict is then the precise one, or, when no path saw a
// backend, the Service's; a node is named besides only when every one of at
// least five paths through it was given up so, whose odds (4^-5) the rule
// deems too low for chance (deadPathOdds).
func TestOneFaultRandomBalancing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cut := func() *sim { return &sim{cut: map[string]map[string]bool{"worker2": setOf("web-b")}, rng: rng} }
	noForward := func() *sim { return &sim{noForward: map[string]map[string]bool{"worker2": setOf("web-b")}, rng: rng} }
	for _, tc := range []struct {
		name    string
		sim     func() *sim
		allowed []verdict
	}{
		{"web-b hangs", func() *sim { return &sim{bad: map[string]probe.Outcome{"web-b": probe.NoAnswer}, rng: rng} },
			[]verdict{"backendHung@worker1/web-b", "pathFailed@/"}},
		{"web-b's address is dead", func() *sim { return &sim{bad: map[string]probe.Outcome{"web-b": probe.Timeout}, rng: rng} },
			[]verdict{"endpointUnreachable@worker1/web-b", "pathFailed@/"}},
		{"worker2 cannot reach web-b", cut, []verdict{"backendUnreachableFrom@worker2/web-b", "nodePathFailed@worker2/"}},
		{"worker2 does not forward to web-b", noForward, []verdict{"backendUnreachableFrom@worker2/web-b", "nodePathFailed@worker2/"}},
	} {
		seen := map[verdict]int{}
		for range 200 {
			for _, v := range vantages() {
				got, fs := oneVerdict(tc.sim(), v)
				if !slices.Contains(tc.allowed, got) && !deadEverywhere(fs, tc.allowed[0]) {
					t.Fatalf("%s from %s: verdict %q, want one of %v:\n%s", tc.name, v, got, tc.allowed, describe(fs))
				}
				seen[got]++
			}
		}
		t.Logf("%s: %v", tc.name, seen)
	}
}

// deadEverywhere: the findings are the precise verdict and node verdicts
// whose every cited path was given up after two connections, at least five.
func deadEverywhere(fs []Finding, precise verdict) bool {
	ok := false
	for _, f := range fs {
		switch {
		case f.Severity != SevError:
		case verdict(fmt.Sprintf("%s@%s/%s", f.Code, f.Node, f.Pod)) == precise:
			ok = true
		case Lookup(f.Code).Has(ClaimNodeForwards) && len(f.Probes) >= 5:
		default:
			return false
		}
	}
	return ok
}
