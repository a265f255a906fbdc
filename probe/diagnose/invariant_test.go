package diagnose

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// invariantCases is how many generated cases TestInvariants checks.
const invariantCases = 5000

// TestInvariants checks, over generated inventories, vantage points and
// outcomes, that every failed probe is cited by some finding, that no
// Service has two findings of one code about the same node or pod, and that
// no probe of the same report contradicts a finding (Contradictions).
func TestInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[Code]int{}
	lists := 0
	for n := range invariantCases {
		c := generate(rng)
		fs := Diagnose(c.inv, c.plan, c.results, RunFacts{})
		if err := checkInvariants(c, fs); err != nil {
			t.Fatalf("case %d: %v\nfindings: %+v", n, err, fs)
		}
		if bad := Contradictions(fs, observations(c)); len(bad) > 0 {
			t.Fatalf("case %d: findings contradicted by the report:\n%s", n, strings.Join(bad, "\n"))
		}
		for _, f := range fs {
			counts[f.Code]++
			if f.List != nil {
				lists++
				if f.List.Text() != f.Message {
					t.Fatalf("case %d: %s's list says %q, its message %q", n, f.Code, f.List.Text(), f.Message)
				}
			}
		}
	}
	t.Logf("%d cases, findings by code: %v", invariantCases, counts)
	if lists == 0 {
		t.Errorf("no finding came with its list of members")
	}
	for _, code := range []Code{VerdictBackendUnreachableFrom, VerdictBackendHung, VerdictEndpointUnreachable, VerdictApplicationError,
		VerdictBackendNotListening, VerdictNodePortBlocked, VerdictDataplaneBroken, VerdictBlockedFromOperator, VerdictStaleForwarding} {
		if counts[code] == 0 {
			t.Errorf("no generated case gave %s: the generator does not exercise it", code)
		}
	}
}

// observations states a generated case's probes as a report would.
func observations(c genCase) []Observation {
	obs := make([]Observation, len(c.plan.Probes))
	for i := range c.plan.Probes {
		obs[i] = Observe(&c.plan.Probes[i], &c.results[i])
	}
	return obs
}

// backendCodes are the codes whose findings are about one backend: findings
// about different backends may cite one path that failed some connections
// and reached neither.
var backendCodes = append([]Code{VerdictBackendUnreachableFrom, VerdictApplicationError}, codesClaiming(ClaimPodSilent)...)

// hopCodes are the codes whose findings are about one kind of hop (a Service
// port, a vantage point, a path) and name a node only when every failing
// member of the hop is on it: their subject is the hop. A notSticky
// finding's subject is its Service port (every path that shows it).
var hopCodes = map[Code]bool{VerdictPathFailed: true, VerdictNotSticky: true, VerdictPartialCoverage: true}

// checkInvariants checks fs against c: every failed probe is cited; a probe
// is cited by at most one finding of each code; and no two findings of one
// code have the same subject (the node and pod they name; for hopCodes, the
// hop, which every probe they cite shares).
func checkInvariants(c genCase, fs []Finding) error {
	byID := map[string]*probe.Probe{}
	for i := range c.plan.Probes {
		byID[c.plan.Probes[i].ID] = &c.plan.Probes[i]
	}
	cited := map[string]bool{}
	subjects := map[string]Finding{}
	for _, f := range fs {
		subject := f.Node + "|" + f.Pod
		for _, id := range f.Probes {
			k := string(f.Code) + "|" + id
			if slices.Contains(backendCodes, f.Code) {
				k += "|" + f.Pod
			}
			if cited[k] {
				return fmt.Errorf("probe %s cited twice by %s findings", id, f.Code)
			}
			cited[k], cited[id] = true, true
		}
		if hopCodes[f.Code] {
			hop := func(id string) string { p := byID[id]; return p.Port + "|" + string(p.From) + "|" + string(p.Via) }
			if f.Code == VerdictNotSticky {
				hop = func(id string) string { return byID[id].Port }
			}
			subject = hop(f.Probes[0])
			for _, id := range f.Probes {
				if hop(id) != subject {
					return fmt.Errorf("%s finding %q cites probes of several hops", f.Code, f.Message)
				}
			}
		} else if f.Node == "" && f.Pod == "" {
			continue // about the Service as a whole
		}
		k := f.Namespace + "/" + f.Service + "|" + string(f.Code) + "|" + subject
		if g, ok := subjects[k]; ok {
			return fmt.Errorf("two %s findings about %s: %q and %q", f.Code, subject, g.Message, f.Message)
		}
		subjects[k] = f
	}
	for i, r := range c.results {
		if r.Outcome != probe.NotRun && !r.Pass && !cited[c.plan.Probes[i].ID] {
			return fmt.Errorf("failed probe %s is cited by no finding", c.plan.Probes[i].ID)
		}
	}
	return nil
}
