package plugin

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/prober"
	"github.com/svccheck/svccheck/report"
)

// Run discovers, plans, probes, diagnoses and writes the report. It returns an
// *ExitError whose code is the process's exit code.
func (o *Options) Run(ctx context.Context) error {
	ctx = cluster.WithRetryPolicy(ctx, o.retryPolicy())
	defer boundMemory()() // scale.go: a soft heap limit while the run works
	start := o.now()
	from, _ := o.vantagePoints()
	sc := cluster.Scope{Namespace: o.namespace, Selector: o.Selector, Names: o.Names}
	if o.AllNamespaces {
		sc.Namespace = ""
	}
	if o.wantsAgent() && !o.DryRun {
		defer o.beginRun()() // lifecycle.go: whatever the run creates goes, however it ends
		if err := cluster.Preflight(ctx, o.client, sc.Namespace, o.agentNamespace()); err != nil {
			return err
		}
	}
	inv, err := cluster.Discover(ctx, o.client, sc)
	if err != nil {
		if ctx.Err() != nil {
			return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("interrupted during discovery")}
		}
		return err
	}
	if err := o.pickAgentNodes(ctx, inv, from); err != nil { // scale.go
		return err
	}
	if err := o.readExpectations(ctx, sc, from); err != nil { // exceptions.go: --as-client, NetworkPolicy
		return err
	}
	pl := plan.Build(inv, o.withExpectations(inv, o.planOptions(from)))
	if o.DryRun {
		return o.printPlan(inv, pl)
	}
	if o.wantsAgent() {
		if err := o.validateNode(inv); err != nil {
			return err
		}
		o.clusterDNS(ctx, &inv, pl)
	}
	pctx, cancel := o.withMaxTime(ctx, start) // --max-time: scale.go
	defer cancel()
	results, conv, err := o.execute(pctx, &inv, &pl, o.refresher(sc, from))
	if err != nil {
		return err
	}
	stoppedByDeadline(pctx, &pl, results)
	rep := report.Build(report.Input{Inventory: inv, Plan: pl, Results: results,
		Findings: diagnose.Diagnose(inv, pl, results, o.runFacts(start)), Metadata: o.metadata(start), Scope: o.scope(sc, from),
		FailOn: diagnose.Severity(o.FailOn)})
	if o.baseline != nil {
		rep.ApplyBaseline(o.Baseline, o.baseline)
	}
	applyConvergence(&rep, conv)
	return o.agentExit(&rep, o.write(&rep))
}

func (o *Options) metadata(start time.Time) report.Metadata {
	md := report.Metadata{GeneratedAt: start.UTC(), DurationMs: o.now().Sub(start).Milliseconds()}
	if o.restConfig != nil {
		md.Server = o.restConfig.Host
	}
	if o.ConfigFlags != nil && o.ConfigFlags.Context != nil {
		md.Context = *o.ConfigFlags.Context
	}
	return md
}

func (o *Options) scope(sc cluster.Scope, from []probe.From) report.Scope {
	scope := report.Scope{Namespace: sc.Namespace, AllNamespaces: o.AllNamespaces, Selector: o.Selector, Services: o.Names}
	for _, f := range from {
		scope.From = append(scope.From, string(f))
	}
	return scope
}

// write renders the report to stdout and --output-file, and turns its
// result into the exit code.
func (o *Options) write(rep *report.Report) error {
	if err := o.render(o.Out, rep); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("write report: %w", err)}
	}
	if o.OutputFile != "" {
		if err := writeReportFile(o.OutputFile, rep); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	switch {
	case rep.Interrupted:
		return &ExitError{Code: ExitInterrupted}
	case !rep.Passed():
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

// wantsAgent reports whether a vantage point runs in the cluster.
func (o *Options) wantsAgent() bool {
	from, _ := o.vantagePoints()
	return slices.Contains(from, probe.FromPod) || slices.Contains(from, probe.FromNodes)
}

func (o *Options) agentNamespace() string {
	if ns := o.asClientNamespace(); ns != "" { // --as-client: policy.go
		return ns
	}
	if o.AgentNamespace != "" {
		return o.AgentNamespace
	}
	return o.namespace
}

func (o *Options) validateNode(inv probe.Inventory) error {
	if o.Node == "" {
		return nil
	}
	for _, n := range inv.Nodes {
		if n.Name == o.Node {
			return nil
		}
	}
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf("node %q not found (--node)", o.Node)}
}

// clusterDNS reads the cluster DNS Service into inv.ClusterDNS, with how
// many ready endpoints it has (diagnosis says so when a name does not
// resolve), and marks DNS probes not run when the cluster has no
// kube-system/kube-dns Service: without cluster DNS they cannot pass, and
// saying so is more useful than a dnsError per Service. Either read may be
// forbidden; the run goes on without it.
func (o *Options) clusterDNS(ctx context.Context, inv *probe.Inventory, pl probe.Plan) {
	dns, err := cluster.ReadClusterDNS(ctx, o.client)
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

// execute runs the plan: local probes here, every other vantage point's
// probes in its own agent (a pod, or a hostNetwork pod per node), all at
// once; results[i] is for pl.Probes[i]. With --wait-converged it then waits
// for recently changed Services to converge, agents still running, and may
// replace *inv and *pl with a later discovery (converge.go).
func (o *Options) execute(ctx context.Context, inv *probe.Inventory, pl *probe.Plan, refresh refreshFunc) ([]probe.Result, map[string]*report.Convergence, error) {
	results := make([]probe.Result, len(pl.Probes))
	local, remote, order := split(pl)
	var errOut any = o.ErrOut
	if o.Quiet {
		errOut = nil
	}
	prog := newProgress(errOut, len(pl.Probes))
	defer prog.finish()
	agents, err := o.startAgents(ctx, pl, remote, order, prog)
	if err != nil {
		return nil, nil, err
	}
	plan.Topology(pl, inv) // the agent pods' nodes are known now
	var wg sync.WaitGroup
	for k, f := range order {
		idx := remote[f]
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := agent.Request{Timeout: o.Timeout, Concurrency: o.maxConnections(), Tries: o.Tries}
			err := agents[k].Run(ctx, subset(pl, idx), req, func(n int, r probe.Result) {
				i := idx[n]
				probe.Evaluate(&pl.Probes[i], &r)
				results[i] = r
				prog.done(i, r)
			})
			o.agentFailed(f, err)
		}()
	}
	o.runLocal(ctx, pl, local, results, prog) // scale.go: reachability pass, then the schedule
	wg.Wait()
	results, conv := o.converge(ctx, inv, pl, results, refresh, o.reprober(agents, order), prog)
	return results, conv, nil
}

// split sorts probe indexes into those run here and those run by each
// remote vantage point, in order of first appearance.
func split(pl *probe.Plan) (local []int, remote map[probe.From][]int, order []probe.From) {
	remote = map[probe.From][]int{}
	for i := range pl.Probes {
		f := pl.Probes[i].From
		if f == probe.FromLocal {
			local = append(local, i)
			continue
		}
		if _, ok := remote[f]; !ok {
			order = append(order, f)
		}
		remote[f] = append(remote[f], i)
	}
	return local, remote, order
}

func subset(pl *probe.Plan, idx []int) []probe.Probe {
	sub := make([]probe.Probe, len(idx))
	for n, i := range idx {
		sub[n] = pl.Probes[i]
	}
	return sub
}

// startAgents starts every remote vantage point's agent at once and records
// the node each runs on. Whatever they created, the run's cleanup deletes
// (lifecycle.go).
func (o *Options) startAgents(ctx context.Context, pl *probe.Plan, remote map[probe.From][]int, order []probe.From, prog *progress) ([]Agent, error) {
	agents := make([]Agent, len(order))
	if len(order) == 0 {
		return agents, nil
	}
	prog.say(fmt.Sprintf("starting %d agent pod(s)", len(order)))
	g, gctx := errgroup.WithContext(ctx)
	for k, f := range order {
		g.Go(func() error {
			a, err := o.agentStarter().Start(gctx, f, o.agentConfig(pl, remote[f], f))
			agents[k] = a
			return err
		})
	}
	err := g.Wait()
	for k, a := range agents {
		if a != nil {
			if pl.AgentNodes == nil {
				pl.AgentNodes = map[probe.From]string{}
			}
			pl.AgentNodes[order[k]] = a.Node()
		}
	}
	return agents, err
}

func (o *Options) agentStarter() Agents {
	if o.agents != nil {
		return o.agents
	}
	return jobAgents{client: o.client, config: o.restConfig}
}

func (o *Options) localProber() probe.Prober {
	if o.local != nil {
		return o.local
	}
	return &prober.Sockets{Timeout: o.Timeout, Limit: o.sockets()}
}

func (o *Options) agentConfig(pl *probe.Plan, remote []int, from probe.From) cluster.AgentConfig {
	work := o.agentWork(pl, remote) // worst case: every connection times out (scale.go)
	deadline := min(max(o.AgentTimeout+work+o.convergeBudget(work)+30*time.Second, 60*time.Second), 6*time.Hour)
	if o.AgentDeadline > 0 {
		deadline = o.AgentDeadline
	}
	cfg := cluster.AgentConfig{Namespace: o.agentNamespace(), Image: o.Image, ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy),
		Node: o.Node, StartTimeout: o.AgentTimeout, Deadline: deadline.Round(time.Second), Keep: o.KeepAgent, Run: o.life.ledger}
	if n := from.Node(); n != "" {
		cfg.Node, cfg.HostNetwork = n, true
	}
	o.asClientAgent(&cfg, from) // policy.go
	return cfg
}
