package engine

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/prober"
	"github.com/svccheck/svccheck/report"
)

// Result is what a run produced.
type Result struct {
	// Report is the run's report; nil for a dry run.
	Report *report.Report
	// Plan is the dry run's plan; nil otherwise.
	Plan *PlanSummary
	// AgentError, when set, names the agents that stopped before every
	// probe of theirs ran, while the report (which passed) holds those
	// probes as not run: the run's exit code is 4 once the report is out.
	AgentError error
}

// Run discovers, plans, probes through the vantage points vantages opens,
// diagnoses and builds the report. Its errors carry the process's exit code
// (exitcode.Error); a run that probed returns its Result and no error, even
// when the report failed.
func Run(ctx context.Context, client kubernetes.Interface, cfg *Config, vantages Provider) (*Result, error) {
	r := &runner{cfg: cfg, client: client, vantages: vantages, now: cfg.Now}
	if r.now == nil {
		r.now = time.Now
	}
	defer boundMemory()()
	return r.run(ctx)
}

// runner is one run's state; each step returns what the next needs.
type runner struct {
	cfg      *Config
	client   kubernetes.Interface
	vantages Provider
	now      func() time.Time
	start    time.Time
	sc       cluster.Scope

	// agentNodes are the nodes picked for node agents (nil: every Ready
	// node).
	agentNodes []string
	expect     expectations

	mu     sync.Mutex
	failed []agentFailure
}

// agentFailure is a vantage point that stopped before answering every
// probe of a pass: why, and the probes it reported not run.
type agentFailure struct {
	from   probe.From
	why    string
	notRun map[string]bool
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	cfg := r.cfg
	r.start = r.now()
	sc := cluster.Scope{Namespace: cfg.Namespace, Selector: cfg.Selector, Names: cfg.Names}
	if cfg.AllNamespaces {
		sc.Namespace = ""
	}
	r.sc = sc
	if !cfg.DryRun {
		defer r.vantages.Close() // whatever the run creates goes, however it ends
		if err := r.vantages.Prepare(ctx, cfg.From, sc.Namespace, cfg.AgentNamespace); err != nil {
			return nil, err
		}
	}
	inv, err := cluster.Discover(ctx, r.client, sc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &exitcode.Error{Code: exitcode.Interrupted, Err: fmt.Errorf("interrupted during discovery")}
		}
		return nil, err
	}
	if r.agentNodes, err = pickAgentNodes(ctx, r.client, cfg, inv); err != nil {
		return nil, err
	}
	if r.expect, err = readExpectations(ctx, r.client, cfg, sc); err != nil {
		return nil, err
	}
	pl := plan.Build(inv, r.planOptions(inv))
	if cfg.DryRun {
		return &Result{Plan: r.summary(inv, pl)}, nil
	}
	if r.wantsAgent() {
		if err := validateNode(cfg.Node, inv); err != nil {
			return nil, err
		}
		r.clusterDNS(ctx, &inv, pl)
	}
	pctx, cancel := withMaxTime(ctx, r.start, cfg.MaxTime)
	defer cancel()
	results, conv, reach, err := r.execute(pctx, &inv, &pl)
	if err != nil {
		return nil, err
	}
	stoppedByDeadline(pctx, &pl, results)
	facts := diagnose.RunFacts{Start: r.start, WaitedConverged: cfg.WaitConverged > 0, MaxTime: cfg.MaxTime, Expectations: r.expect.facts()}
	if reach != nil && len(reach.down) > 0 {
		facts.Reach = reach.facts(&pl, results)
	}
	rep := report.Build(report.Input{Inventory: inv, Plan: pl, Results: results, Findings: diagnose.Diagnose(inv, pl, results, facts),
		Metadata: r.metadata(), Scope: r.scope(sc), FailOn: cfg.FailOn})
	if cfg.Baseline != nil {
		rep.ApplyBaseline(cfg.BaselineName, cfg.Baseline)
	}
	applyConvergence(&rep, conv)
	return &Result{Report: &rep, AgentError: r.agentError(&rep)}, nil
}

func (r *runner) metadata() report.Metadata {
	return report.Metadata{GeneratedAt: r.start.UTC(), DurationMs: r.now().Sub(r.start).Milliseconds(), Server: r.cfg.Server, Context: r.cfg.Context}
}

func (r *runner) scope(sc cluster.Scope) report.Scope {
	scope := report.Scope{Namespace: sc.Namespace, AllNamespaces: r.cfg.AllNamespaces, Selector: r.cfg.Selector, Services: r.cfg.Names}
	for _, f := range r.cfg.From {
		scope.From = append(scope.From, string(f))
	}
	return scope
}

// wantsAgent reports whether a vantage point runs in the cluster.
func (r *runner) wantsAgent() bool { return WantsAgent(r.cfg.From) }

// WantsAgent reports whether one of the vantage points runs in the cluster.
func WantsAgent(from []probe.From) bool {
	return slices.ContainsFunc(from, func(f probe.From) bool { return f != probe.FromLocal })
}

// planOptions are the run's planning options: the first pass and every
// rediscovery while converging plan with them.
func (r *runner) planOptions(inv probe.Inventory) plan.Options {
	opts := plan.Options{From: r.cfg.From, AddressTypes: r.cfg.AddressTypes, HTTP: r.cfg.HTTP, Protocols: prober.Protocols,
		Exhaustive: r.cfg.Exhaustive, AgentNodes: r.agentNodes}
	return r.expect.adjust(inv, opts, r.cfg)
}

func validateNode(node string, inv probe.Inventory) error {
	if node == "" {
		return nil
	}
	for _, n := range inv.Nodes {
		if n.Name == node {
			return nil
		}
	}
	return &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("node %q not found (--node)", node)}
}

// clusterDNS reads the cluster DNS Service into inv.ClusterDNS, with how
// many ready endpoints it has (diagnosis says so when a name does not
// resolve), and marks DNS probes not run when the cluster has no
// kube-system/kube-dns Service: without cluster DNS they cannot pass, and
// saying so is more useful than a dnsError per Service. Either read may be
// forbidden; the run goes on without it.
func (r *runner) clusterDNS(ctx context.Context, inv *probe.Inventory, pl probe.Plan) {
	dns, err := cluster.ReadClusterDNS(ctx, r.client)
	inv.ClusterDNS = dns
	if !apierrors.IsNotFound(err) {
		return
	}
	for i := range pl.Probes {
		if p := &pl.Probes[i]; p.Via == probe.ViaDNS && p.Skip == "" {
			p.Skip = "no cluster DNS (no kube-system/kube-dns Service)"
		}
	}
}

// execute runs the plan: every vantage point opened at once, then every
// probe through its vantage point, all at once; results[i] is for
// pl.Probes[i]. With WaitConverged it then waits for recently changed
// Services to converge, vantage points still open, and may replace *inv and
// *pl with a later discovery (converge.go).
func (r *runner) execute(ctx context.Context, inv *probe.Inventory, pl *probe.Plan) ([]probe.Result, map[string]*report.Convergence, *ReachPass, error) {
	results := make([]probe.Result, len(pl.Probes))
	prog := newProgress(r.cfg.Progress, len(pl.Probes))
	defer prog.finish()
	vs, err := r.open(ctx, pl, prog)
	if err != nil {
		return nil, nil, nil, err
	}
	plan.Topology(pl, inv) // the agent pods' nodes are known now
	r.pass(ctx, pl, allIndexes(len(pl.Probes)), vs, func(i int, res probe.Result) {
		results[i] = res
		prog.done(i, res)
	})
	results, conv := r.converge(ctx, inv, pl, results, vs, prog)
	var reach *ReachPass
	for _, v := range vs {
		if rr, ok := v.(ReachReporter); ok {
			reach = rr.Reach()
		}
	}
	return results, conv, reach, nil
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// group sorts the probes idx by vantage point, in order of first
// appearance.
func group(pl *probe.Plan, idx []int) (order []probe.From, by map[probe.From][]int) {
	by = map[probe.From][]int{}
	for _, i := range idx {
		f := pl.Probes[i].From
		if _, ok := by[f]; !ok {
			order = append(order, f)
		}
		by[f] = append(by[f], i)
	}
	return order, by
}

// open opens every vantage point of the plan at once and records the node
// each in-cluster one runs on. Whatever they created, the provider's Close
// removes.
func (r *runner) open(ctx context.Context, pl *probe.Plan, prog *progress) (map[probe.From]Vantage, error) {
	order, by := group(pl, allIndexes(len(pl.Probes)))
	agents := 0
	for _, f := range order {
		if f != probe.FromLocal {
			agents++
		}
	}
	if agents > 0 {
		prog.say(fmt.Sprintf("starting %d agent pod(s)", agents))
	}
	vs := make([]Vantage, len(order))
	g, gctx := errgroup.WithContext(ctx)
	for k, f := range order {
		g.Go(func() error {
			v, err := r.vantages.Open(gctx, f, r.need(pl, by[f], f))
			vs[k] = v
			return err
		})
	}
	err := g.Wait()
	out := map[probe.From]Vantage{}
	for k, v := range vs {
		if v == nil {
			continue
		}
		out[order[k]] = v
		if f := order[k]; f != probe.FromLocal {
			if pl.AgentNodes == nil {
				pl.AgentNodes = map[probe.From]string{}
			}
			pl.AgentNodes[f] = v.Node()
		}
	}
	return out, err
}

// need is what vantage point from is opened for: the worst case of its
// probes, and of the convergence wait after them.
func (r *runner) need(pl *probe.Plan, idx []int, from probe.From) Need {
	work := agentWork(r.cfg, pl, idx)
	n := Need{Work: work + r.convergeBudget(work)}
	if c := r.cfg.AsClient; c != nil && from == probe.FromPod {
		n.PodLabels, n.NeverReady = r.expect.clientLabels, true
	}
	return n
}

// pass runs the probes idx of pl, each through its vantage point, every
// vantage point at once and each within the run's limits, and calls
// onResult with each result, evaluated by the vantage point. The first pass and every re-probe
// while converging run here.
func (r *runner) pass(ctx context.Context, pl *probe.Plan, idx []int, vs map[probe.From]Vantage, onResult func(i int, res probe.Result)) {
	order, by := group(pl, idx)
	var wg sync.WaitGroup
	for _, f := range order {
		v := vs[f]
		if v == nil { // a vantage point that appeared after the first pass
			for _, i := range by[f] {
				res := probe.Result{ID: pl.Probes[i].ID, Outcome: probe.NotRun, Detail: "no agent for vantage point " + string(f)}
				probe.Evaluate(&pl.Probes[i], &res)
				onResult(i, res)
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			notRun := map[string]bool{}
			err := v.Run(ctx, pl, by[f], r.cfg.Limits, func(i int, res probe.Result) {
				if res.Outcome == probe.NotRun && pl.Probes[i].Skip == "" && !res.Interrupted && res.Cause == "" { // lost, not skipped
					mu.Lock()
					notRun[res.ID] = true
					mu.Unlock()
				}
				onResult(i, res)
			})
			r.agentFailed(f, err, notRun)
		}()
	}
	wg.Wait()
}

// agentFailed records that vantage point from stopped before answering
// every probe of a pass, why, and the probes it reported not run.
func (r *runner) agentFailed(from probe.From, err error, notRun map[string]bool) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, agentFailure{from: from, why: err.Error(), notRun: notRun})
}

// agentError is exit code 4 for a run whose report passes but in which an
// agent stopped before answering every probe: the report marks those
// probes not run with the reason, and this names the agents. A failed or
// interrupted report keeps its code (1, 130): what did run decided it. An
// agent that failed only in a re-probe whose probes kept an earlier
// observation changes nothing.
func (r *runner) agentError(rep *report.Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failed) == 0 || rep.Interrupted || !rep.Passed() {
		return nil
	}
	notRun := map[string]bool{}
	for _, s := range rep.Services {
		for _, p := range s.Probes {
			if p.Outcome == probe.NotRun {
				notRun[p.ID] = true
			}
		}
	}
	var parts []string
	named := map[probe.From]bool{}
	for _, a := range r.failed {
		if named[a.from] {
			continue
		}
		for id := range a.notRun {
			if notRun[id] {
				parts = append(parts, fmt.Sprintf("%s: %s", a.from, a.why))
				named[a.from] = true
				break
			}
		}
	}
	if len(parts) == 0 {
		return nil
	}
	sort.Strings(parts)
	return &exitcode.Error{Code: exitcode.Agent, Err: fmt.Errorf("agent stopped before every probe ran (its probes are reported not run): %s", strings.Join(parts, "; "))}
}

// withMaxTime bounds ctx by max counted from start; its cause is
// probe.ErrDeadline when it passes.
func withMaxTime(ctx context.Context, start time.Time, max time.Duration) (context.Context, context.CancelFunc) {
	if max <= 0 {
		return ctx, func() {}
	}
	return context.WithDeadlineCause(ctx, start.Add(max), probe.ErrDeadline)
}

// stoppedByDeadline rewrites the results that were cut short when ctx's
// deadline (MaxTime) passed (agents report them interrupted) as NotRun
// because of the deadline.
func stoppedByDeadline(ctx context.Context, pl *probe.Plan, results []probe.Result) {
	if context.Cause(ctx) != probe.ErrDeadline {
		return
	}
	for i := range results {
		if res := &results[i]; res.Interrupted || res.ID == "" {
			*res = probe.Stopped(ctx, pl.Probes[i].ID)
			probe.Evaluate(&pl.Probes[i], res)
		}
	}
}

// memoryLimit is the Go heap's soft limit while a run works, unless
// GOMEMLIMIT says otherwise: a plan of 200,000 probes, their results and the
// report's rows are about 250 MiB live at the peak, and the collector's
// default pace would let the heap grow to twice that; with the limit it
// collects more often only near it.
const memoryLimit = 400 << 20

// boundMemory sets memoryLimit for the run and returns what restores the
// previous limit.
func boundMemory() func() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(memoryLimit)
	return func() { debug.SetMemoryLimit(prev) }
}
