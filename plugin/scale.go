package plugin

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svccheck/svccheck/probe/plan"
)

// defaultMaxConnections is how many sockets a run keeps open at once by
// default. A socket waiting for its answer costs no CPU; it costs a file
// descriptor (Go raises the soft limit to the hard one, commonly 2^20; the
// limit is lowered to what the open-file limit allows), an ephemeral port
// towards its destination (28,000 by default, per destination address and
// port, and no destination gets more than a few hundred) and a conntrack
// entry on the node it goes through (kube-proxy sizes the table at 32,768
// per core, at least 131,072). Two thousand in flight prove two thousand
// dead paths per timeout (the reachability pass of a thousand nodes, two
// connections each, in one) and stay far below all three.
const defaultMaxConnections = 2048

// scaleOptions are the flags that keep a run's cost growing with what can
// fail rather than with Services × nodes.
type scaleOptions struct {
	// MaxConnections bounds the sockets open at once (--max-connections).
	MaxConnections int
	// Exhaustive runs the coverage loop through every node's NodePort.
	Exhaustive bool
	// MaxTime is the whole run's deadline (--max-time); 0 is none.
	MaxTime time.Duration
	// AgentNodes bounds the node agents of --from nodes (0: every node).
	AgentNodes int
	// AgentNodeSelector selects the nodes that may run a node agent.
	AgentNodeSelector string
}

// addScaleFlags adds the flags of scaleOptions.
func (o *Options) addScaleFlags(f *pflag.FlagSet) {
	f.IntVar(&o.MaxConnections, "max-connections", defaultMaxConnections,
		"sockets open at once, over all probes (each waits for its answer or --timeout without using a CPU; lowered to what the open-file limit allows)")
	f.BoolVar(&o.Exhaustive, "exhaustive", false,
		"run the coverage loop (until every backend answered) through every node's NodePort; by default it runs through 3 nodes per Service port and every other node gets one connection")
	f.DurationVar(&o.MaxTime, "max-time", 0,
		"deadline of the whole run (e.g. 2m): probes not done by then are not run, with \"run deadline (--max-time) reached\", the report says so and the run fails (exit 1); 0: no deadline")
	f.IntVar(&o.AgentNodes, "agent-nodes", plan.DefaultAgentNodes,
		"--from nodes: run at most this many node agents, on nodes chosen by a hash of their names (0: every Ready node); between them they still probe every node's NodePort from inside")
	f.StringVar(&o.AgentNodeSelector, "agent-node-selector", "",
		"--from nodes: run node agents only on Ready nodes matching this label selector (e.g. node-role.kubernetes.io/worker)")
}

// validateScale checks the flags of scaleOptions.
func (o *Options) validateScale() error {
	switch {
	case o.MaxConnections < 1:
		return fmt.Errorf("--max-connections must be at least 1, got %d", o.MaxConnections)
	case o.MaxTime < 0:
		return fmt.Errorf("--max-time must not be negative, got %s", o.MaxTime)
	case o.AgentNodes < 0:
		return fmt.Errorf("--agent-nodes must not be negative, got %d", o.AgentNodes)
	}
	if _, err := labels.Parse(o.AgentNodeSelector); err != nil {
		return fmt.Errorf("invalid --agent-node-selector %q: %v", o.AgentNodeSelector, err)
	}
	return nil
}

// maxConnections is the run's socket limit: the flag (its default when
// unset), lowered to what the open-file limit allows.
func (o *Options) maxConnections() int {
	n := o.MaxConnections
	if n <= 0 {
		n = defaultMaxConnections
	}
	if fds := fdBudget(); fds > 0 {
		n = min(n, fds)
	}
	return max(n, 1)
}
