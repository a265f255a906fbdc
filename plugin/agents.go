package plugin

import (
	"context"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// Agents starts the in-cluster vantage points. In a real run each is a Job in
// the cluster (cluster.StartAgent), labelled with the run's id; the run
// deletes them all by that label when it ends. Tests start agents in-process.
type Agents interface {
	// Start runs an agent for vantage point from. On error nothing of it is
	// left in the cluster.
	Start(ctx context.Context, from probe.From, cfg cluster.AgentConfig) (Agent, error)
}

// Agent runs one vantage point's probes.
type Agent interface {
	// Node is the node the agent runs on, "" when unknown.
	Node() string
	// Run sends the probes and reports each result as it arrives; probes the
	// agent never answered are reported NotRun with why, which Run returns
	// (nil when every probe was answered, or the run was interrupted).
	Run(ctx context.Context, probes []probe.Probe, req agent.Request, onResult func(i int, r probe.Result)) error
}

// jobAgents starts agents as Jobs in the cluster.
type jobAgents struct {
	client kubernetes.Interface
	config *rest.Config
}

func (j jobAgents) Start(ctx context.Context, _ probe.From, cfg cluster.AgentConfig) (Agent, error) {
	a, err := cluster.StartAgent(ctx, j.client, j.config, cfg)
	if err != nil {
		return nil, err
	}
	return a, nil
}
