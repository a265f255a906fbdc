package plugin

import (
	"time"

	"github.com/svccheck/svccheck/probe/diagnose"
)

// runFacts is what diagnosis needs to know of the run beyond its plan and
// results: when it started (started at start), its flags, the reachability
// pass and the expectations.
func (o *Options) runFacts(start time.Time) diagnose.RunFacts {
	f := diagnose.RunFacts{Start: start, WaitedConverged: o.WaitConverged > 0, MaxTime: o.MaxTime, Expectations: o.expectationFacts()}
	if o.reach != nil {
		f.Reach = o.reach.facts()
	}
	return f
}
