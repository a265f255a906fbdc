package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/svccheck/svccheck/plugin/agentjob"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// Agent is an in-cluster agent that runs (cluster.Agent).
type Agent interface {
	// Node is the node the agent runs on, "" when unknown.
	Node() string
	// Run sends the probes and reports each result as it arrives; probes the
	// agent never answered are reported NotRun with why, which Run returns
	// (nil when every probe was answered, or the run was interrupted).
	Run(ctx context.Context, probes []probe.Probe, req agent.Request, onResult func(i int, r probe.Result)) error
}

// Starter starts in-cluster agents. On error nothing of the agent is left
// in the cluster.
type Starter interface {
	Start(ctx context.Context, from probe.From, cfg agentjob.AgentConfig) (Agent, error)
}

// Vantages is the Provider of a run: this machine (Local), and for every
// other vantage point an agent in the cluster, a Job labelled with the run's
// id (agentjob.StartAgent), which Close deletes by that label however the
// run ended.
type Vantages struct {
	// Local is this machine (real sockets when nil).
	Local *Local
	// Client and RESTConfig reach the cluster.
	Client     kubernetes.Interface
	RESTConfig *rest.Config
	// Starter starts agents (Jobs when nil).
	Starter Starter
	// Agent is every agent's configuration but for its node, deadline and
	// labels, which Open sets per vantage point.
	Agent agentjob.AgentConfig
	// Deadline, when set, is every agent's activeDeadlineSeconds instead
	// of one derived from its work.
	Deadline time.Duration
	// Cleanup bounds the removal of the run's objects
	// (agentjob.DefaultCleanup when zero).
	Cleanup agentjob.CleanupPolicy
	// ErrOut is where Close says what it kept or could not remove.
	ErrOut io.Writer

	ledger *agentjob.Ledger
}

// Prepare starts the run's ledger and checks the agents' RBAC when a vantage
// point of from runs in the cluster.
func (v *Vantages) Prepare(ctx context.Context, from []probe.From, namespace, agentNamespace string) error {
	if !WantsAgent(from) {
		return nil
	}
	v.ledger = agentjob.NewLedger(agentNamespace)
	klog.V(1).InfoS("svccheck run", "run", v.ledger.ID, "agentNamespace", v.ledger.Namespace)
	return agentjob.Preflight(ctx, v.Client, namespace, agentNamespace)
}

// Open returns Local for this machine, and starts an agent for any other
// vantage point: a pod on the pod network, or a hostNetwork pod on a node.
func (v *Vantages) Open(ctx context.Context, from probe.From, need Need) (Vantage, error) {
	if from == probe.FromLocal {
		if v.Local == nil {
			v.Local = &Local{}
		}
		return v.Local, nil
	}
	a, err := v.starter().Start(ctx, from, v.AgentConfig(from, need))
	if err != nil {
		return nil, err
	}
	return agentVantage{a}, nil
}

func (v *Vantages) starter() Starter {
	if v.Starter != nil {
		return v.Starter
	}
	return jobStarter{client: v.Client, config: v.RESTConfig}
}

// AgentConfig is the configuration of vantage point from's agent: the
// common one, on its node for a node agent, with the client's labels when
// need says so, and a deadline after which the cluster removes it even if
// svccheck was killed: the start, the work and half a minute (at least a
// minute, at most six hours).
func (v *Vantages) AgentConfig(from probe.From, need Need) agentjob.AgentConfig {
	cfg := v.Agent
	deadline := min(max(cfg.StartTimeout+need.Work+30*time.Second, 60*time.Second), 6*time.Hour)
	if v.Deadline > 0 {
		deadline = v.Deadline
	}
	cfg.Deadline = deadline.Round(time.Second)
	cfg.Run = v.ledger
	if n := from.Node(); n != "" {
		cfg.Node, cfg.HostNetwork = n, true
	}
	if need.PodLabels != nil || need.NeverReady {
		cfg.PodLabels, cfg.NeverReady = need.PodLabels, need.NeverReady
	}
	return cfg
}

// Close deletes every object of the run by its label and checks that none
// is left. When it cannot, it says so in one line on ErrOut, naming the
// command that finishes the job. With Keep it says how to remove what it
// kept.
func (v *Vantages) Close() {
	l := v.ledger
	if l == nil || !l.Created() {
		return
	}
	if v.Agent.Keep {
		v.say("svccheck: kept the agent(s) of run %s: `kubectl svccheck cleanup --run %s -n %s` removes them; their deadline does by %s\n",
			l.ID, l.ID, l.Namespace, l.Expires().Format(time.RFC3339))
		return
	}
	p := v.Cleanup
	if p.Budget <= 0 {
		p = agentjob.DefaultCleanup()
	}
	if err := l.Cleanup(v.Client, p); err != nil {
		v.say("%s\n", err.Error())
	}
}

func (v *Vantages) say(format string, args ...any) {
	if v.ErrOut != nil {
		fmt.Fprintf(v.ErrOut, format, args...)
	}
}

// jobStarter starts agents as Jobs in the cluster.
type jobStarter struct {
	client kubernetes.Interface
	config *rest.Config
}

func (j jobStarter) Start(ctx context.Context, _ probe.From, cfg agentjob.AgentConfig) (Agent, error) {
	a, err := agentjob.StartAgent(ctx, j.client, j.config, cfg)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// agentVantage drives an agent as a Vantage: the probes go to it as one
// request, within the run's limits.
type agentVantage struct{ a Agent }

func (v agentVantage) Node() string { return v.a.Node() }

func (v agentVantage) Run(ctx context.Context, pl *probe.Plan, idx []int, lim Limits, onResult func(i int, r probe.Result)) error {
	sub := make([]probe.Probe, len(idx))
	for n, i := range idx {
		sub[n] = pl.Probes[i]
	}
	req := agent.Request{Timeout: lim.Timeout, Concurrency: lim.InFlight, Tries: lim.Tries}
	return v.a.Run(ctx, sub, req, func(n int, r probe.Result) {
		probe.Evaluate(&pl.Probes[idx[n]], &r)
		onResult(idx[n], r)
	})
}
