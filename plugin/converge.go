package plugin

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/prober"
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

// refreshFunc discovers the cluster again and plans as the run did.
type refreshFunc func(ctx context.Context) (probe.Inventory, probe.Plan, error)

// planOptions are the run's planning options. Run plans the first pass with
// them and refresher every later one: whatever shapes a plan belongs here
// (or in refresher too), or a pass while converging plans differently.
func (o *Options) planOptions(from []probe.From) plan.Options {
	return o.withScale(plan.Options{From: from, AddressTypes: o.AddressTypes, HTTP: o.HTTP, Protocols: prober.Protocols})
}

// refresher discovers sc again and plans it like the first pass did.
func (o *Options) refresher(sc cluster.Scope, from []probe.From) refreshFunc {
	return func(ctx context.Context) (probe.Inventory, probe.Plan, error) {
		inv, err := cluster.Discover(ctx, o.client, sc)
		if err != nil {
			return inv, probe.Plan{}, err
		}
		pl := plan.Build(inv, o.withExpectations(inv, o.planOptions(from)))
		if o.wantsAgent() {
			o.clusterDNS(ctx, &inv, pl)
		}
		return inv, pl, nil
	}
}

// converger tracks one run's wait for convergence.
type converger struct {
	o    *Options
	now  time.Time // the run's clock when the first pass ended
	conv map[string]*report.Convergence
}

// recent reports whether the cluster changed s within the window.
func (c *converger) recent(s *probe.Service) bool {
	return changedWithin(s, c.now, c.o.convergeWindow())
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
			key := pl.Probes[i].Namespace + "/" + pl.Probes[i].Service
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
func (o *Options) converge(ctx context.Context, inv *probe.Inventory, pl *probe.Plan, results []probe.Result,
	refresh refreshFunc, reprobe reprobeFunc, prog *progress) ([]probe.Result, map[string]*report.Convergence) {
	if o.WaitConverged <= 0 {
		return results, nil
	}
	firstEnd := time.Now()
	c := &converger{o: o, now: o.now(), conv: map[string]*report.Convergence{}}
	pending := c.unsettled(inv, pl, results)
	deadline := firstEnd.Add(o.WaitConverged)
	for delay := convergeFirst; len(pending) > 0; delay = min(2*delay, convergeMax) {
		wait := min(delay, time.Until(deadline))
		if wait <= 0 || !sleepCtx(ctx, wait) {
			break
		}
		prog.say(fmt.Sprintf("waiting for %s to converge", report.Count(len(pending), "Service")))
		inv2, pl2, err := *inv, *pl, error(nil)
		if refresh != nil {
			if inv2, pl2, err = refresh(ctx); err != nil {
				inv2, pl2 = *inv, *pl // probe again what we know
			}
		}
		pl2.AgentNodes = pl.AgentNodes
		plan.Topology(&pl2, &inv2)
		results2, run := c.carryOver(pl, results, &pl2, pending)
		got := reprobe(ctx, &pl2, run)
		for _, i := range run {
			r, ok := got[i]
			if !ok { // a vantage point that appeared since the first pass
				r = probe.Result{ID: pl2.Probes[i].ID, Outcome: probe.NotRun, Detail: "no agent for vantage point " + string(pl2.Probes[i].From)}
				probe.Evaluate(&pl2.Probes[i], &r)
			}
			results2[i] = r
		}
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
		if ok && sameProbe(&pl.Probes[i], p) && (!disagrees(results[i]) || !pending[p.Namespace+"/"+p.Service]) {
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
					o.agentFailed(f, agents[k].Run(ctx, subset(pl, ids), req, record))
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
