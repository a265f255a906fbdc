// Package engine is svccheck's run: one entry point, Run, that discovers the
// Services in scope, plans every path of every Service port, probes them
// through the run's vantage points, waits for convergence when asked,
// diagnoses the results and builds the report. It takes an API client, an
// immutable Config and a Provider of vantage points; it knows nothing of
// flags or of how a vantage point probes.
package engine

import (
	"context"
	"io"
	"time"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/expect"
	"github.com/svccheck/svccheck/report"
)

// Config is one run, as the command line asked for it. Run never changes it.
type Config struct {
	// Namespace is the namespace in scope, "" with AllNamespaces.
	Namespace     string
	AllNamespaces bool
	// Selector is a label selector on Services; Names, the Services named.
	Selector string
	Names    []string
	// From are the vantage points the planner plans for (probe.FromNodes
	// stands for a node agent per chosen node).
	From []probe.From

	// Limits are what every pass of the run may spend, the first and any
	// re-probe while waiting for convergence alike.
	Limits Limits
	// AddressTypes are the node address types whose NodePorts are probed
	// from outside.
	AddressTypes []string
	// HTTP probes every TCP port with HTTP.
	HTTP bool
	// Exhaustive runs the coverage loop through every node's NodePort.
	Exhaustive bool
	// MaxTime is the whole run's deadline, counted from its start; 0: none.
	MaxTime time.Duration
	// AgentNodes bounds the node agents (0: every Ready node);
	// AgentNodeSelector selects the nodes that may run one.
	AgentNodes        int
	AgentNodeSelector string
	// AgentNamespace is where agents run; Node, when set, the node the
	// agent pod runs on (it must exist).
	AgentNamespace string
	Node           string
	// AgentStart bounds the wait for an agent to run (the dry run's worst
	// case includes it).
	AgentStart time.Duration

	// WaitConverged bounds the wait for recently changed Services to
	// converge (0: off); ConvergeWindow is how recent a change must be
	// (the WaitConverged bound when 0).
	WaitConverged  time.Duration
	ConvergeWindow time.Duration

	// Expect are the declared exceptions (--config, --expect-*); never nil
	// once the command completed.
	Expect *expect.Config
	// AsClient, when set, is the client the agent pod takes the identity of.
	AsClient *AsClient

	// FailOn is the least severe finding that fails the report.
	FailOn diagnose.Severity
	// Baseline, when set, is the report to compare with; BaselineName names
	// it in the report.
	Baseline     *report.Report
	BaselineName string
	// DryRun plans and stops: Run returns the plan, probes nothing and
	// starts no agent.
	DryRun bool

	// Server and Context name the cluster in the report's metadata.
	Server, Context string
	// Progress, when set, is the terminal the run shows its progress on.
	Progress io.Writer
	// Now is the run's clock (time.Now when nil).
	Now func() time.Time
}

// AsClient is the client whose identity the agent pod takes (--as-client),
// so that NetworkPolicy treats the agent as that client.
type AsClient struct {
	Namespace string
	// Kind and Name name the client's workload; empty when Labels were
	// given.
	Kind, Name string
	// Labels are the client's pod labels: given, or read from the
	// workload's pod template by the run.
	Labels map[string]string
}

// String names the client: NAMESPACE/KIND/NAME, or NAMESPACE/LABELS when
// the labels were given.
func (c *AsClient) String() string {
	if c.Kind != "" {
		return c.Namespace + "/" + c.Kind + "/" + c.Name
	}
	return c.Namespace + "/" + cluster.LabelString(c.Labels)
}

// Limits are what a vantage point may spend on a pass. Run gives every
// vantage point the same limits on every pass.
type Limits struct {
	// Timeout bounds each connection.
	Timeout time.Duration
	// InFlight bounds the sockets open at once.
	InFlight int
	// Work bounds the finished probes processed at once.
	Work int
	// Tries runs a failed probe up to this many times in all.
	Tries int
}

// Schedule is how a runner in this process spends the limits.
func (l Limits) Schedule() probe.Schedule {
	return probe.Schedule{InFlight: l.InFlight, Work: l.Work, Tries: l.Tries}
}

// Vantage is one vantage point of a run: this machine, an agent pod on the
// pod network, or a node agent. Run drives every one the same way.
type Vantage interface {
	// Node is the node the vantage point probes from, "" for this machine
	// or when unknown.
	Node() string
	// Run runs the probes pl.Probes[i], i in idx, within lim, and calls
	// onResult(i, r) once for each as it finishes (from any goroutine),
	// with r evaluated against the probe's expectation (probe.Evaluate).
	// A probe it could not run is reported NotRun with why; Run's error
	// says why the vantage point stopped before answering every probe (nil
	// when every probe was answered or ctx ended).
	Run(ctx context.Context, pl *probe.Plan, idx []int, lim Limits, onResult func(i int, r probe.Result)) error
}

// Need is what a vantage point is opened for.
type Need struct {
	// Work bounds how long it may probe: every connection of every probe
	// of every pass timing out.
	Work time.Duration
	// PodLabels, when set, are the labels the agent pod takes (its
	// client's, --as-client); NeverReady keeps it out of every Service.
	PodLabels  map[string]string
	NeverReady bool
}

// Provider opens the vantage points of a run.
type Provider interface {
	// Prepare checks, before anything is discovered, that the vantage
	// points in from can be opened in agentNamespace for a scope of
	// namespace ("" for all).
	Prepare(ctx context.Context, from []probe.From, namespace, agentNamespace string) error
	// Open readies vantage point from (an agent: created and running). On
	// error nothing of it is left behind.
	Open(ctx context.Context, from probe.From, need Need) (Vantage, error)
	// Close removes whatever the provider left in the cluster; Run calls
	// it once, however the run ends.
	Close()
}

// ReachReporter is a vantage point that knocks on node addresses before
// probing through them (this machine's): what it found, for diagnosis.
type ReachReporter interface {
	Reach() *ReachPass
}
