package plugin

import (
	"context"
	"fmt"
	"os"

	"github.com/svccheck/svccheck/plugin/agentjob"

	corev1 "k8s.io/api/core/v1"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/plugin/engine"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

// Run hands the run to the engine and writes what it returns. It returns an
// *ExitError whose code is the process's exit code.
func (o *command) Run(ctx context.Context) error {
	ctx = cluster.WithRetryPolicy(ctx, o.retryPolicy())
	cfg := o.config()
	res, err := engine.Run(ctx, o.client, cfg, o.vantages(cfg))
	if err != nil {
		return err
	}
	if res.Plan != nil {
		_, err := fmt.Fprint(o.Out, res.Plan.String())
		return err
	}
	if err := o.write(res.Report); err != nil {
		return err
	}
	return res.AgentError
}

// config is the run the flags ask for, as the engine takes it.
func (o *command) config() *engine.Config {
	from, _ := o.vantagePoints()
	cfg := &engine.Config{
		Namespace: o.namespace, AllNamespaces: o.AllNamespaces, Selector: o.Selector, Names: o.Names, From: from,
		Limits:       engine.Limits{Timeout: o.Timeout, InFlight: o.maxConnections(), Work: o.Concurrency, Tries: o.Tries},
		AddressTypes: o.AddressTypes, HTTP: o.HTTP, Exhaustive: o.Exhaustive, MaxTime: o.MaxTime,
		AgentNodes: o.AgentNodes, AgentNodeSelector: o.AgentNodeSelector,
		AgentNamespace: o.agentNamespace(), Node: o.Node, AgentStart: o.AgentTimeout,
		WaitConverged: o.WaitConverged, ConvergeWindow: o.ConvergeWindow,
		Expect: o.expect, AsClient: o.asClient,
		FailOn: diagnose.Severity(o.FailOn), Baseline: o.baseline, BaselineName: o.Baseline, DryRun: o.DryRun,
		Now: o.now,
	}
	if o.restConfig != nil {
		cfg.Server = o.restConfig.Host
	}
	if o.ConfigFlags != nil && o.ConfigFlags.Context != nil {
		cfg.Context = *o.ConfigFlags.Context
	}
	if f, ok := o.ErrOut.(*os.File); ok && !o.Quiet && isTerminal(f) {
		cfg.Progress = f
	}
	return cfg
}

// vantages are the run's vantage points: this machine, and agents in the
// cluster for the others.
func (o *command) vantages(cfg *engine.Config) *engine.Vantages {
	return &engine.Vantages{
		Local:  &engine.Local{Prober: o.local, Reacher: o.reacher},
		Client: o.client, RESTConfig: o.restConfig, Starter: o.agents,
		Agent: agentjob.AgentConfig{Namespace: cfg.AgentNamespace, Image: o.Image, ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy),
			Node: o.Node, StartTimeout: o.AgentTimeout, Keep: o.KeepAgent},
		Deadline: o.AgentDeadline, Cleanup: o.cleanup, ErrOut: o.ErrOut,
	}
}

// write renders the report to stdout and --output-file, and turns its
// result into the exit code.
func (o *command) write(rep *report.Report) error {
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

// agentNamespace is where the run's agents go: --as-client's namespace,
// --agent-namespace, or the current namespace.
func (o *command) agentNamespace() string {
	if o.asClient != nil {
		return o.asClient.Namespace
	}
	if o.AgentNamespace != "" {
		return o.AgentNamespace
	}
	return o.namespace
}
