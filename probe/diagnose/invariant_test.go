package diagnose

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// invariantCases is how many generated cases TestInvariants checks.
const invariantCases = 5000

// TestInvariants checks, over generated inventories, vantage points and
// outcomes, that every failed probe is cited by some finding, and that no
// Service has two findings of one code about the same node or pod.
func TestInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range invariantCases {
		c := generate(rng)
		fs := Diagnose(c.inv, c.plan, c.results)
		if err := checkInvariants(c, fs); err != nil {
			t.Fatalf("case %d: %v\nfindings: %+v", n, err, fs)
		}
	}
}

// hopCodes are the codes whose findings are about one kind of hop (a Service
// port, a vantage point, a path) and name a node only when every failing
// member of the hop is on it: their subject is the hop.
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
			if cited[string(f.Code)+"|"+id] {
				return fmt.Errorf("probe %s cited twice by %s findings", id, f.Code)
			}
			cited[string(f.Code)+"|"+id], cited[id] = true, true
		}
		if hopCodes[f.Code] {
			hop := func(id string) string { p := byID[id]; return p.Port + "|" + string(p.From) + "|" + string(p.Via) }
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
