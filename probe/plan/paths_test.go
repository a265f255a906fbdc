package plan

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// TestPlannersCoverPathKinds: every registered path kind has a planner, and
// every planner plans a registered kind.
func TestPlannersCoverPathKinds(t *testing.T) {
	planned := map[probe.Via]bool{}
	for _, pp := range planners {
		planned[pp.via] = true
		if pp.plan == nil {
			t.Errorf("planner of %s has no plan function", pp.via)
		}
	}
	registered := map[probe.Via]bool{}
	for _, k := range probe.PathKinds() {
		registered[k.Via] = true
		if !planned[k.Via] {
			t.Errorf("path kind %s has no planner", k.Via)
		}
	}
	for v := range planned {
		if !registered[v] {
			t.Errorf("planner of %s: no such path kind", v)
		}
	}
}
