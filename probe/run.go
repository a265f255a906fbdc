package probe

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Prober executes one probe. Implementations never return errors: every
// failure is an Outcome in the Result.
type Prober interface {
	Probe(ctx context.Context, p *Probe) Result
}

// Run executes probes with at most limit in flight and returns one Result per
// probe, results[i] for probes[i]. A probe whose vantage point has no prober
// is reported NotRun with the reason. When ctx is cancelled, probes not yet
// started are reported NotRun "interrupted" and Run returns promptly.
// onResult, when not nil, is called once per finished probe (from several
// goroutines).
func Run(ctx context.Context, probes []Probe, probers map[From]Prober, limit int, onResult func(i int, r Result)) []Result {
	return RunTries(ctx, probes, probers, limit, 1, onResult)
}

// RunTries is Run with each failed probe tried again, up to tries times in
// all, so one lost SYN does not fail a run; Result.Tries says how many it took.
func RunTries(ctx context.Context, probes []Probe, probers map[From]Prober, limit, tries int, onResult func(i int, r Result)) []Result {
	results := make([]Result, len(probes))
	if limit <= 0 {
		limit = 1
	}
	var g errgroup.Group
	g.SetLimit(limit)
	finish := func(i int, r Result) {
		Evaluate(&probes[i], &r)
		if r.Tries == 0 && r.Outcome != NotRun {
			r.Tries = 1
		}
		results[i] = r
		if onResult != nil {
			onResult(i, r)
		}
	}
	for i := range probes {
		p := &probes[i]
		pr, ok := probers[p.From]
		if !ok {
			finish(i, Result{ID: p.ID, Outcome: NotRun, Detail: "no prober for vantage point " + string(p.From)})
			continue
		}
		if ctx.Err() != nil {
			finish(i, Result{ID: p.ID, Outcome: NotRun, Detail: "interrupted", Interrupted: true})
			continue
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				finish(i, Result{ID: p.ID, Outcome: NotRun, Detail: "interrupted", Interrupted: true})
				return nil
			}
			r := pr.Probe(ctx, p)
			for try := 2; try <= tries && ctx.Err() == nil; try++ {
				Evaluate(p, &r)
				if r.Pass || r.Outcome == NotRun {
					break
				}
				r = pr.Probe(ctx, p)
				r.Tries = try
			}
			finish(i, r)
			return nil
		})
	}
	_ = g.Wait()
	return results
}
