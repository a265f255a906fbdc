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
	results := make([]Result, len(probes))
	if limit <= 0 {
		limit = 1
	}
	var g errgroup.Group
	g.SetLimit(limit)
	finish := func(i int, r Result) {
		Evaluate(&probes[i], &r)
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
			finish(i, pr.Probe(ctx, p))
			return nil
		})
	}
	_ = g.Wait()
	return results
}
