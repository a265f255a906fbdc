package plugin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
	"github.com/svccheck/svccheck/report"
)

// Backoff between re-probes while waiting for convergence: the first after
// convergeFirst, doubling up to convergeMax.
const (
	convergeFirst = 500 * time.Millisecond
	convergeMax   = 8 * time.Second
)

// addConvergeFlags adds --wait-converged and --converge-window.
func (o *Options) addConvergeFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.WaitConverged, "wait-converged", 0, "after the first pass, probe again the paths that disagree with their expectation, "+
		"with backoff (0.5s doubling to 8s), for up to this long, for Services that changed recently (0: off); each Service's convergence is reported")
	f.DurationVar(&o.ConvergeWindow, "converge-window", 0, "with --wait-converged: only Services the cluster changed within this long before the run "+
		"(creation, EndpointSlice change, endpoint pod readiness) are waited on; others' failures are final at once (default: the --wait-converged bound)")
}

func (o *Options) validateConverge() error {
	switch {
	case o.WaitConverged < 0:
		return fmt.Errorf("--wait-converged must not be negative")
	case o.ConvergeWindow < 0:
		return fmt.Errorf("--converge-window must not be negative")
	case o.ConvergeWindow > 0 && o.WaitConverged == 0:
		return fmt.Errorf("--converge-window needs --wait-converged")
	}
	return nil
}

// convergeWindow is how recent a Service's last change must be for its
// disagreeing probes to be waited on.
func (o *Options) convergeWindow() time.Duration {
	if o.ConvergeWindow > 0 {
		return o.ConvergeWindow
	}
	return o.WaitConverged
}

// convergeBudget is how much longer than a single pass a run may take with
// --wait-converged: the wait, then one last pass of work.
func (o *Options) convergeBudget(work time.Duration) time.Duration {
	if o.WaitConverged <= 0 {
		return 0
	}
	return o.WaitConverged + work
}

// reprobeFunc runs the probes pl.Probes[i] for i in idx again and returns
// their evaluated results by plan index.
type reprobeFunc func(ctx context.Context, pl *probe.Plan, idx []int) map[int]probe.Result

// converge waits for the dataplane to converge (--wait-converged): after the
// first pass (results), it probes again, with backoff, only the probes that
// disagree with their expectation and belong to a Service the cluster changed
// within the window, until they all agree or the wait is over. A probe that
// agrees is final; results keeps each probe's last observation, so a
// persistent failure is reported as it was seen. It returns each Service's
// convergence by namespace/name, or nil when the mode is off.
func (o *Options) converge(ctx context.Context, inv probe.Inventory, pl *probe.Plan, results []probe.Result, reprobe reprobeFunc, prog *progress) map[string]*report.Convergence {
	if o.WaitConverged <= 0 {
		return nil
	}
	firstEnd := time.Now()
	now := o.now()
	conv := map[string]*report.Convergence{}
	changed := map[string]time.Time{}
	for i := range inv.Services {
		s := &inv.Services[i]
		c := &report.Convergence{State: report.ConvergeAgreed}
		if !s.LastChange.IsZero() {
			lc := s.LastChange
			c.LastChange = &lc
		}
		conv[s.Key()], changed[s.Key()] = c, s.LastChange
	}
	var pending []int
	for i, r := range results {
		if disagrees(r) {
			key := pl.Probes[i].Namespace + "/" + pl.Probes[i].Service
			c := conv[key]
			if c == nil {
				continue
			}
			c.Probes = append(c.Probes, pl.Probes[i].ID)
			if lc := changed[key]; lc.IsZero() || now.Sub(lc) > o.convergeWindow() {
				c.State = report.ConvergeNotWaited
				continue
			}
			c.State = report.ConvergeNotConverged
			pending = append(pending, i)
		}
	}
	deadline := firstEnd.Add(o.WaitConverged)
	for delay := convergeFirst; len(pending) > 0; delay = min(2*delay, convergeMax) {
		wait := min(delay, time.Until(deadline))
		if wait <= 0 || !sleepCtx(ctx, wait) {
			break
		}
		prog.say(fmt.Sprintf("waiting for convergence: %s of %s disagree", report.Count(len(pending), "probe"), report.Count(countServices(pl, pending), "Service")))
		got := reprobe(ctx, pl, pending)
		passEnd := time.Now()
		still := map[string]bool{}
		var next []int
		for _, i := range pending {
			r, ok := got[i]
			if ok && !r.Interrupted {
				results[i] = r
			}
			key := pl.Probes[i].Namespace + "/" + pl.Probes[i].Service
			if disagrees(results[i]) || !ok || r.Interrupted {
				next = append(next, i)
				still[key] = true
			}
		}
		counted := map[string]bool{}
		for _, i := range pending {
			key := pl.Probes[i].Namespace + "/" + pl.Probes[i].Service
			if counted[key] {
				continue
			}
			counted[key] = true
			c := conv[key]
			c.Reprobes++
			if !still[key] {
				c.State = report.ConvergeConverged
				c.WaitedMs = passEnd.Sub(firstEnd).Milliseconds()
				if c.LastChange != nil {
					since := passEnd.Sub(*c.LastChange).Milliseconds()
					c.SinceChangeMs = &since
				}
			}
		}
		pending = next
		if ctx.Err() != nil {
			break
		}
	}
	for _, i := range pending {
		c := conv[pl.Probes[i].Namespace+"/"+pl.Probes[i].Service]
		c.WaitedMs = time.Since(firstEnd).Milliseconds()
	}
	return conv
}

// disagrees reports whether a probe ran and did not meet its expectation.
func disagrees(r probe.Result) bool { return r.Outcome != probe.NotRun && !r.Pass }

func countServices(pl *probe.Plan, idx []int) int {
	seen := map[string]bool{}
	for _, i := range idx {
		seen[pl.Probes[i].Namespace+"/"+pl.Probes[i].Service] = true
	}
	return len(seen)
}

// sleepCtx sleeps d, or less when ctx ends first (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reprober re-runs probes where the first pass ran them: local ones here,
// each remote vantage point's in its agent, which is still running (each
// Run is one more exec into the agent's pod).
func (o *Options) reprober(agents []Agent, order []probe.From) reprobeFunc {
	return func(ctx context.Context, pl *probe.Plan, idx []int) map[int]probe.Result {
		byFrom := map[probe.From][]int{}
		for _, i := range idx {
			byFrom[pl.Probes[i].From] = append(byFrom[pl.Probes[i].From], i)
		}
		out := make(map[int]probe.Result, len(idx))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for f, ids := range byFrom {
			record := func(n int, r probe.Result) {
				probe.Evaluate(&pl.Probes[ids[n]], &r)
				mu.Lock()
				out[ids[n]] = r
				mu.Unlock()
			}
			if f == probe.FromLocal {
				wg.Add(1)
				go func() {
					defer wg.Done()
					probers := map[probe.From]probe.Prober{probe.FromLocal: o.localProber()}
					probe.RunTries(ctx, subset(pl, ids), probers, o.Concurrency, o.Tries, record)
				}()
				continue
			}
			for k := range order {
				if order[k] != f || agents[k] == nil {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := agent.Request{Timeout: o.Timeout, Concurrency: o.Concurrency, Tries: o.Tries}
					agents[k].Run(ctx, subset(pl, ids), req, record)
				}()
			}
		}
		wg.Wait()
		return out
	}
}

// applyConvergence puts each Service's convergence into the report.
func applyConvergence(rep *report.Report, conv map[string]*report.Convergence) {
	for i := range rep.Services {
		s := &rep.Services[i]
		s.Convergence = conv[s.Namespace+"/"+s.Name]
	}
}
