package plugin

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/prober"
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
// fail rather than with Services × nodes (scale.go), and what the run
// learns doing so.
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

	limiter    *prober.Limiter
	agentNodes []string // nil: every Ready node
	reach      *reachPass
	// reacher knocks on node addresses (the local Sockets when nil and the
	// local prober is the real one; tests set their own).
	reacher reacher
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

// sockets is the run's limit on open sockets, shared by the reachability
// pass and the local prober.
func (o *Options) sockets() *prober.Limiter {
	if o.limiter == nil {
		o.limiter = prober.NewLimiter(o.maxConnections())
	}
	return o.limiter
}

// schedule is how local probes run: as many in flight as sockets allow,
// --concurrency finished probes processed at once, --attempts tries.
func (o *Options) schedule() probe.Schedule {
	return probe.Schedule{InFlight: o.maxConnections(), Work: o.Concurrency, Tries: o.Tries}
}

// withScale adds the scale options to the planner's.
func (o *Options) withScale(opts plan.Options) plan.Options {
	opts.Exhaustive = o.Exhaustive
	opts.AgentNodes = o.agentNodes
	return opts
}

// withMaxTime bounds ctx by --max-time counted from start; its cause is
// probe.ErrDeadline when it passes.
func (o *Options) withMaxTime(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	if o.MaxTime <= 0 {
		return ctx, func() {}
	}
	return context.WithDeadlineCause(ctx, start.Add(o.MaxTime), probe.ErrDeadline)
}

// stoppedByDeadline rewrites the results that were cut short when ctx's
// deadline (--max-time) passed (agents report them interrupted) as NotRun
// because of the deadline.
func stoppedByDeadline(ctx context.Context, pl *probe.Plan, results []probe.Result) {
	if context.Cause(ctx) != probe.ErrDeadline {
		return
	}
	for i := range results {
		if r := &results[i]; r.Interrupted || r.ID == "" {
			*r = probe.Stopped(ctx, pl.Probes[i].ID)
			probe.Evaluate(&pl.Probes[i], r)
		}
	}
}

// worstCase is how long conns connections take when every one times out,
// as many at once as sockets allow, and chain connections one after
// another at least.
func (o *Options) worstCase(conns, chain int) time.Duration {
	l := o.maxConnections()
	return time.Duration(max((conns+l-1)/l, chain)) * o.Timeout
}

// runLocal runs the local probes idx, results[i] for pl.Probes[i], without
// copying the plan: the reachability pass (reach.go) while the probes that
// do not go through a node address run, then the node paths it did not
// rule out, all as schedule says.
func (o *Options) runLocal(ctx context.Context, pl *probe.Plan, idx []int, results []probe.Result, prog *progress) {
	var nodeIdx, other []int
	for _, i := range idx {
		if nodePath(&pl.Probes[i]) {
			nodeIdx = append(nodeIdx, i)
		} else {
			other = append(other, i)
		}
	}
	probers := map[probe.From]probe.Prober{probe.FromLocal: o.localProber()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe.RunSubset(ctx, pl.Probes, other, probers, o.schedule(), results, prog.done)
	}()
	skipped := o.reachNodes(ctx, pl, nodeIdx, results)
	todo := nodeIdx[:0:0]
	for _, i := range nodeIdx {
		if skipped[i] {
			prog.done(i, results[i])
			continue
		}
		todo = append(todo, i)
	}
	probe.RunSubset(ctx, pl.Probes, todo, probers, o.schedule(), results, prog.done)
	<-done
}

// deadConnections is how many connections the probes idx make when every
// connection times out: a dead path is given up after one round of at most
// two, each try.
func (o *Options) deadConnections(pl *probe.Plan, idx []int) int {
	n := 0
	for _, i := range idx {
		if pl.Probes[i].Skip == "" {
			n += min(max(pl.Probes[i].Connections, 1), 2) * max(o.Tries, 1)
		}
	}
	return n
}

// agentWork bounds how long an agent may probe idx: every connection of
// every probe timing out (not only the first round's), as many at once as
// it keeps in flight, or --max-time.
func (o *Options) agentWork(pl *probe.Plan, idx []int) time.Duration {
	conns, chain := 0, 1
	for _, i := range idx {
		c := max(pl.Probes[i].Connections, 1)
		conns += c * max(o.Tries, 1)
		chain = max(chain, 1+(max(c-2, 0)+7)/8) // rounds of 2, then 8 (prober/rounds.go)
	}
	work := o.worstCase(conns, chain*max(o.Tries, 1))
	if o.MaxTime > 0 {
		work = min(work, o.MaxTime)
	}
	return work
}

// pickAgentNodes chooses the nodes of the node agents (--from nodes): the
// Ready nodes matching --agent-node-selector, at most --agent-nodes of them
// (plan.PickAgentNodes). Without a selector or a bound it leaves the choice
// to the planner (every Ready node).
func (o *Options) pickAgentNodes(ctx context.Context, inv probe.Inventory, from []probe.From) error {
	if !slices.Contains(from, probe.FromNodes) || o.AgentNodeSelector == "" && (o.AgentNodes == 0 || o.AgentNodes >= len(inv.Nodes)) {
		return nil
	}
	var candidates []string
	match := map[string]bool{}
	if o.AgentNodeSelector != "" {
		var names []string
		err := cluster.RetryAPI(ctx, func(ctx context.Context) error {
			l, err := o.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: o.AgentNodeSelector})
			names = names[:0]
			if err == nil {
				for _, n := range l.Items {
					names = append(names, n.Name)
				}
			}
			return err
		})
		if err != nil {
			return cluster.AccessError("list nodes matching --agent-node-selector", err)
		}
		for _, n := range names {
			match[n] = true
		}
	}
	for _, n := range inv.Nodes {
		if n.Ready && (o.AgentNodeSelector == "" || match[n.Name]) {
			candidates = append(candidates, n.Name)
		}
	}
	if len(candidates) == 0 {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("no Ready node matches --agent-node-selector %q", o.AgentNodeSelector)}
	}
	o.agentNodes = plan.PickAgentNodes(candidates, o.AgentNodes)
	return nil
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
