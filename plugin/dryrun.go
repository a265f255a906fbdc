package plugin

import (
	"fmt"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/report"
)

// planCost is one vantage point's share of a plan and what it can cost.
type planCost struct {
	from                     probe.From
	idx                      []int
	skipped, covering, conns int
	worst                    time.Duration
}

// printPlan is --dry-run: what would run, from where, and how long it could
// take under the run's schedule if every connection timed out.
func (o *Options) printPlan(inv probe.Inventory, pl probe.Plan) error {
	costs := o.planCosts(&pl)
	fmt.Fprintf(o.Out, "PLAN for %s on %s: %s (dry run: nothing was probed)\n\n", report.Count(len(inv.Services), "Service"), report.Count(len(inv.Nodes), "node"), report.Count(len(pl.Probes), "probe"))
	fmt.Fprintf(o.Out, "%-16s %8s %8s %9s %12s %12s\n", "FROM", "PROBES", "SKIPPED", "COVERAGE", "CONNECTIONS", "WORST CASE")
	var worst time.Duration
	agents := false
	for _, c := range costs {
		worst = max(worst, c.worst)
		agents = agents || c.from != probe.FromLocal
		fmt.Fprintf(o.Out, "%-16s %8d %8d %9d %12d %12s\n", c.from, len(c.idx), c.skipped, c.covering, c.conns, c.worst)
	}
	fmt.Fprintln(o.Out)
	o.printSchedule(&pl, costs)
	fmt.Fprintf(o.Out, "Worst case %s: every connection timing out after %s, a dead path given up after its first round (two connections at once), %d sockets at a time, vantage points in parallel", worst, o.Timeout, o.maxConnections())
	if agents {
		fmt.Fprintf(o.Out, ", agent start included (%s)", o.AgentTimeout)
	}
	if o.MaxTime > 0 && worst > o.MaxTime {
		fmt.Fprintf(o.Out, "; --max-time %s ends the run before that", o.MaxTime)
	}
	fmt.Fprintln(o.Out, ".")
	o.printExpectations(o.Out, &inv, &pl) // exceptions.go
	return nil
}

// planCosts splits the plan by vantage point, in order of appearance.
func (o *Options) planCosts(pl *probe.Plan) []*planCost {
	byFrom := map[probe.From]*planCost{}
	var costs []*planCost
	for i := range pl.Probes {
		p := &pl.Probes[i]
		c, ok := byFrom[p.From]
		if !ok {
			c = &planCost{from: p.From}
			byFrom[p.From] = c
			costs = append(costs, c)
		}
		c.idx = append(c.idx, i)
		switch {
		case p.Skip != "":
			c.skipped++
			continue
		case p.Connections > 1:
			c.covering++
		}
		c.conns += max(p.Connections, 1) * max(o.Tries, 1)
	}
	for _, c := range costs {
		c.worst = o.worstCase(o.deadConnections(pl, c.idx), max(o.Tries, 1))
		if c.from == probe.FromLocal {
			c.worst += o.reachCost(pl, c.idx)
		} else {
			c.worst += o.AgentTimeout
		}
	}
	return costs
}

// reachCost is the worst case of the reachability pass (reach.go): two
// connections per node address; when nobody answered, every other
// Service's NodePort on knockSample addresses; then one more connection on
// the addresses without evidence either way.
func (o *Options) reachCost(pl *probe.Plan, idx []int) time.Duration {
	ports := len(plan.ReachPorts(pl.Probes, idx, maxKnock))
	addrs := len(plan.NodeAddresses(pl.Probes, idx))
	if ports == 0 || addrs == 0 {
		return 0
	}
	d := o.worstCase(addrs*min(ports, 2), 1)
	if ports > 2 {
		d += o.worstCase(min(addrs, knockSample)*(ports-2), 1) + o.worstCase(addrs, 1)
	}
	return d
}

// printSchedule says how the plan is spread: the reachability pass and the
// coverage sample.
func (o *Options) printSchedule(pl *probe.Plan, costs []*planCost) {
	for _, c := range costs {
		if c.from != probe.FromLocal {
			continue
		}
		if ports := plan.ReachPorts(pl.Probes, c.idx, 2); len(ports) > 0 {
			rp := reachPass{services: map[int32]string{}}
			var knock []int32
			for _, p := range ports {
				rp.services[p.Port] = p.Service
				knock = append(knock, p.Port)
			}
			fmt.Fprintf(o.Out, "Reachability pass first: one connection per node address (%d) to NodePort %s; an address that answers on none where other nodes do has its NodePort probes not run.\n",
				len(plan.NodeAddresses(pl.Probes, c.idx)), rp.portsText(knock))
		}
	}
	nodePorts, covering := 0, 0
	for i := range pl.Probes {
		if p := &pl.Probes[i]; p.Via == probe.ViaNodePort && p.Skip == "" && p.Expect.Want == probe.Reach {
			nodePorts++
			if p.Connections > 1 {
				covering++
			}
		}
	}
	how := fmt.Sprintf("%d nodes per Service port by hash, plus nodes with a local endpoint under externalTrafficPolicy=Local; --exhaustive: all", plan.CoverageSample)
	if o.Exhaustive {
		how = "--exhaustive: every node"
	}
	fmt.Fprintf(o.Out, "Coverage loop (until every backend answered) on %d of %d NodePort paths (%s); one connection on the others.\n", covering, nodePorts, how)
}
