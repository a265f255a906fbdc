package engine

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/report"
)

// Backoff between re-probes while waiting for convergence: the first after
// convergeFirst, doubling up to convergeMax.
const (
	convergeFirst = 500 * time.Millisecond
	convergeMax   = 8 * time.Second
)

// convergeWindow is how recent a Service's last change must be for its
// disagreeing probes to be waited on.
func (r *runner) convergeWindow() time.Duration {
	if r.cfg.ConvergeWindow > 0 {
		return r.cfg.ConvergeWindow
	}
	return r.cfg.WaitConverged
}

// convergeBudget is how much longer than a single pass a run may take with
// WaitConverged: the wait, then one last pass of work.
func (r *runner) convergeBudget(work time.Duration) time.Duration {
	if r.cfg.WaitConverged <= 0 {
		return 0
	}
	return r.cfg.WaitConverged + work
}

// refresh discovers the scope again and plans it like the first pass did.
func (r *runner) refresh(ctx context.Context) (probe.Inventory, probe.Plan, error) {
	inv, err := cluster.Discover(ctx, r.client, r.sc)
	if err != nil {
		return inv, probe.Plan{}, err
	}
	pl := plan.Build(inv, r.planOptions(inv))
	if r.wantsAgent() {
		r.clusterDNS(ctx, &inv, pl)
	}
	return inv, pl, nil
}

// converger tracks one run's wait for convergence.
type converger struct {
	r    *runner
	now  time.Time // the run's clock when the first pass ended
	conv map[string]*report.Convergence
}

// recent reports whether the cluster changed s within the window.
func (c *converger) recent(s *probe.Service) bool {
	return changedWithin(s, c.now, c.r.convergeWindow())
}

// changedWithin reports whether the cluster recorded a change of s at most
// window before now.
func changedWithin(s *probe.Service, now time.Time, window time.Duration) bool {
	return !s.LastChange.IsZero() && now.Sub(s.LastChange) <= window
}

// record returns s's convergence, made when first seen.
func (c *converger) record(s *probe.Service) *report.Convergence {
	rec := c.conv[s.Key()]
	if rec == nil {
		rec = &report.Convergence{State: report.ConvergeAgreed}
		c.conv[s.Key()] = rec
	}
	if !s.LastChange.IsZero() {
		lc := s.LastChange
		rec.LastChange = &lc
	}
	return rec
}

// unsettled returns the Services of inv that are still converging: changed
// within the window, and with a probe that disagrees or endpoints that are
// not ready yet (pods starting, or none yet for a selector). Other Services
// that disagree are marked not waited on.
func (c *converger) unsettled(inv *probe.Inventory, pl *probe.Plan, results []probe.Result) map[string]bool {
	disagree := map[string][]string{}
	for i := range pl.Probes {
		if disagrees(results[i]) {
			key := pl.Probes[i].ServiceKey()
			disagree[key] = append(disagree[key], pl.Probes[i].ID)
		}
	}
	out := map[string]bool{}
	for i := range inv.Services {
		s := &inv.Services[i]
		rec := c.record(s)
		ids := disagree[s.Key()]
		for _, id := range ids {
			if !slices.Contains(rec.Probes, id) {
				rec.Probes = append(rec.Probes, id)
			}
		}
		switch {
		case c.recent(s) && (len(ids) > 0 || endpointsSettling(s)):
			out[s.Key()] = true
			rec.State = report.ConvergeNotConverged
		case len(ids) > 0 && rec.State == report.ConvergeAgreed:
			rec.State = report.ConvergeNotWaited
		}
	}
	return out
}

// endpointsSettling reports whether a Service with a selector has no
// endpoints yet, or endpoints not ready that are not terminating.
func endpointsSettling(s *probe.Service) bool {
	if len(s.Selector) == 0 || s.Type == probe.TypeExternalName {
		return false
	}
	if len(s.Endpoints) == 0 {
		return true
	}
	for _, ep := range s.Endpoints {
		if !ep.Ready && !ep.Terminating {
			return true
		}
	}
	return false
}

// converge waits for the dataplane to converge (--wait-converged). After the
// first pass, for as long as some Service the cluster changed within the
// window is unsettled (a probe disagrees with its expectation, or its
// endpoints are not ready yet), it waits with backoff, discovers again and
// probes again what is not final: the probes of those Services that
// disagreed, or that are new or changed since (another endpoint, another
// backend set). A probe that agreed is final, and so is every result of a
// Service not waited on. *inv, *pl and results are replaced by the last
// discovery, its plan and their results, so the report and diagnosis see
// one consistent state; a persistent failure is reported as last observed.
// It returns each Service's convergence by namespace/name, or nil when the
// mode is off.
func (r *runner) converge(ctx context.Context, inv *probe.Inventory, pl *probe.Plan, results []probe.Result,
	vs map[probe.From]Vantage, prog *progress) ([]probe.Result, map[string]*report.Convergence) {
	if r.cfg.WaitConverged <= 0 {
		return results, nil
	}
	firstEnd := time.Now()
	c := &converger{r: r, now: r.now(), conv: map[string]*report.Convergence{}}
	pending := c.unsettled(inv, pl, results)
	deadline := firstEnd.Add(r.cfg.WaitConverged)
	for delay := convergeFirst; len(pending) > 0; delay = min(2*delay, convergeMax) {
		wait := min(delay, time.Until(deadline))
		if wait <= 0 || !cluster.Sleep(ctx, wait) {
			break
		}
		prog.say(fmt.Sprintf("waiting for %s to converge", report.Count(len(pending), "Service")))
		inv2, pl2, err := r.refresh(ctx)
		if err != nil {
			inv2, pl2 = *inv, *pl // probe again what we know
		}
		pl2.AgentNodes = pl.AgentNodes
		plan.Topology(&pl2, &inv2)
		results2, run := c.carryOver(pl, results, &pl2, pending)
		var mu sync.Mutex
		r.pass(ctx, &pl2, run, vs, func(i int, res probe.Result) {
			mu.Lock()
			results2[i] = res
			mu.Unlock()
		})
		passEnd := time.Now()
		if ctx.Err() != nil {
			break // keep the last complete observation
		}
		*inv, *pl, results = inv2, pl2, results2
		for key := range pending {
			if rec := c.conv[key]; rec != nil {
				rec.Reprobes++
			}
		}
		next := c.unsettled(inv, pl, results)
		for key := range pending {
			if rec := c.conv[key]; rec != nil && !next[key] {
				rec.State = report.ConvergeConverged
				rec.WaitedMs = passEnd.Sub(firstEnd).Milliseconds()
				if rec.LastChange != nil {
					since := passEnd.Sub(*rec.LastChange).Milliseconds()
					rec.SinceChangeMs = &since
				}
			}
		}
		pending = next
	}
	for key := range pending {
		c.conv[key].WaitedMs = time.Since(firstEnd).Milliseconds()
	}
	return results, c.conv
}

// carryOver returns results for pl2 holding every final result of the
// previous pass (pl, results), and the probes of pl2 to run: those of
// pending Services that disagreed, and any that is new or not the same
// probe as before (another address, expectation or set of backends).
func (c *converger) carryOver(pl *probe.Plan, results []probe.Result, pl2 *probe.Plan, pending map[string]bool) ([]probe.Result, []int) {
	old := make(map[string]int, len(pl.Probes))
	for i := range pl.Probes {
		old[pl.Probes[i].ID] = i
	}
	out := make([]probe.Result, len(pl2.Probes))
	var run []int
	for j := range pl2.Probes {
		p := &pl2.Probes[j]
		i, ok := old[p.ID]
		if ok && sameProbe(&pl.Probes[i], p) && (!disagrees(results[i]) || !pending[p.ServiceKey()]) {
			out[j] = results[i]
			continue
		}
		run = append(run, j)
	}
	return out, run
}

// sameProbe reports whether two plans' probes of one ID check the same thing.
func sameProbe(a, b *probe.Probe) bool {
	return a.Address() == b.Address() && reflect.DeepEqual(a.Expect, b.Expect) && a.Skip == b.Skip && a.Connections == b.Connections &&
		a.HTTP == b.HTTP && slices.Equal(a.Backends, b.Backends)
}

// disagrees reports whether a probe ran and did not meet its expectation.
func disagrees(r probe.Result) bool { return r.Outcome != probe.NotRun && !r.Pass }

// applyConvergence puts each Service's convergence into the report.
func applyConvergence(rep *report.Report, conv map[string]*report.Convergence) {
	for i := range rep.Services {
		s := &rep.Services[i]
		s.Convergence = conv[s.Key()]
	}
}
