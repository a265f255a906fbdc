package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// worstCase is how long conns connections take when every one times out,
// as many at once as sockets allow, and chain connections one after
// another at least.
func worstCase(lim Limits, conns, chain int) time.Duration {
	l := max(lim.InFlight, 1)
	return time.Duration(max((conns+l-1)/l, chain)) * lim.Timeout
}

// deadConnections is how many connections the probes idx make when every
// connection times out: a dead path is given up after one round of at most
// two, each try.
func deadConnections(lim Limits, pl *probe.Plan, idx []int) int {
	n := 0
	for _, i := range idx {
		if pl.Probes[i].Skip == "" {
			n += min(max(pl.Probes[i].Connections, 1), 2) * max(lim.Tries, 1)
		}
	}
	return n
}

// agentWork bounds how long an agent may probe idx: every connection of
// every probe timing out (not only the first round's), as many at once as
// it keeps in flight, or the run's deadline.
func agentWork(cfg *Config, pl *probe.Plan, idx []int) time.Duration {
	lim := cfg.Limits
	conns, chain := 0, 1
	for _, i := range idx {
		c := max(pl.Probes[i].Connections, 1)
		conns += c * max(lim.Tries, 1)
		chain = max(chain, 1+(max(c-2, 0)+7)/8) // rounds of 2, then 8 (prober/rounds.go)
	}
	work := worstCase(lim, conns, chain*max(lim.Tries, 1))
	if cfg.MaxTime > 0 {
		work = min(work, cfg.MaxTime)
	}
	return work
}

// pickAgentNodes chooses the nodes of the node agents (--from nodes): the
// Ready nodes matching --agent-node-selector, at most --agent-nodes of them
// (plan.PickAgentNodes). Without a selector or a bound it leaves the choice
// to the planner (every Ready node).
func pickAgentNodes(ctx context.Context, client kubernetes.Interface, cfg *Config, inv probe.Inventory) ([]string, error) {
	if !slices.Contains(cfg.From, probe.FromNodes) || cfg.AgentNodeSelector == "" && (cfg.AgentNodes == 0 || cfg.AgentNodes >= len(inv.Nodes)) {
		return nil, nil
	}
	var candidates []string
	match := map[string]bool{}
	if cfg.AgentNodeSelector != "" {
		var names []string
		err := cluster.RetryAPI(ctx, func(ctx context.Context) error {
			l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: cfg.AgentNodeSelector})
			names = names[:0]
			if err == nil {
				for _, n := range l.Items {
					names = append(names, n.Name)
				}
			}
			return err
		})
		if err != nil {
			return nil, cluster.AccessError("list nodes matching --agent-node-selector", err)
		}
		for _, n := range names {
			match[n] = true
		}
	}
	for _, n := range inv.Nodes {
		if n.Ready && (cfg.AgentNodeSelector == "" || match[n.Name]) {
			candidates = append(candidates, n.Name)
		}
	}
	if len(candidates) == 0 {
		return nil, &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("no Ready node matches --agent-node-selector %q", cfg.AgentNodeSelector)}
	}
	return plan.PickAgentNodes(candidates, cfg.AgentNodes), nil
}
