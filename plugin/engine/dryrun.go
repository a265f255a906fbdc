package engine

import (
	"fmt"
	"io"
	"strings"
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

// PlanSummary is a dry run's result: what would run, from where, and how
// long it could take under the run's schedule if every connection timed out.
type PlanSummary struct {
	Inventory probe.Inventory
	Plan      probe.Plan
	text      string
}

// String is the plan as the dry run prints it.
func (s *PlanSummary) String() string { return s.text }

func (r *runner) summary(inv probe.Inventory, pl probe.Plan) *PlanSummary {
	var b strings.Builder
	r.printPlan(&b, inv, pl)
	return &PlanSummary{Inventory: inv, Plan: pl, text: b.String()}
}

func (r *runner) printPlan(w io.Writer, inv probe.Inventory, pl probe.Plan) {
	costs := r.planCosts(&pl)
	fmt.Fprintf(w, "PLAN for %s on %s: %s (dry run: nothing was probed)\n\n", report.Count(len(inv.Services), "Service"), report.Count(len(inv.Nodes), "node"), report.Count(len(pl.Probes), "probe"))
	fmt.Fprintf(w, "%-16s %8s %8s %9s %12s %12s\n", "FROM", "PROBES", "SKIPPED", "COVERAGE", "CONNECTIONS", "WORST CASE")
	var worst time.Duration
	agents := false
	for _, c := range costs {
		worst = max(worst, c.worst)
		agents = agents || c.from != probe.FromLocal
		fmt.Fprintf(w, "%-16s %8d %8d %9d %12d %12s\n", c.from, len(c.idx), c.skipped, c.covering, c.conns, c.worst)
	}
	fmt.Fprintln(w)
	r.printSchedule(w, &pl, costs)
	lim := r.cfg.Limits
	fmt.Fprintf(w, "Worst case %s: every connection timing out after %s, a dead path given up after its first round (two connections at once), %d sockets at a time, vantage points in parallel", worst, lim.Timeout, lim.InFlight)
	if agents {
		fmt.Fprintf(w, ", agent start included (%s)", r.cfg.AgentStart)
	}
	if r.cfg.MaxTime > 0 && worst > r.cfg.MaxTime {
		fmt.Fprintf(w, "; --max-time %s ends the run before that", r.cfg.MaxTime)
	}
	fmt.Fprintln(w, ".")
	r.expect.print(w, &inv, &pl) // expect.go
}

// planCosts splits the plan by vantage point, in order of appearance.
func (r *runner) planCosts(pl *probe.Plan) []*planCost {
	lim := r.cfg.Limits
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
		c.conns += max(p.Connections, 1) * max(lim.Tries, 1)
	}
	for _, c := range costs {
		c.worst = worstCase(lim, deadConnections(lim, pl, c.idx), max(lim.Tries, 1))
		if c.from == probe.FromLocal {
			c.worst += reachCost(lim, pl, c.idx)
		} else {
			c.worst += r.cfg.AgentStart
		}
	}
	return costs
}

// reachCost is the worst case of the reachability pass (reach.go): two
// connections per node address; when nobody answered, every other
// Service's NodePort on knockSample addresses; then one more connection on
// the addresses without evidence either way.
func reachCost(lim Limits, pl *probe.Plan, idx []int) time.Duration {
	ports := len(plan.ReachPorts(pl.Probes, idx, maxKnock))
	addrs := len(plan.NodeAddresses(pl.Probes, idx))
	if ports == 0 || addrs == 0 {
		return 0
	}
	d := worstCase(lim, addrs*min(ports, 2), 1)
	if ports > 2 {
		d += worstCase(lim, min(addrs, knockSample)*(ports-2), 1) + worstCase(lim, addrs, 1)
	}
	return d
}

// printSchedule says how the plan is spread: the reachability pass and the
// coverage sample.
func (r *runner) printSchedule(w io.Writer, pl *probe.Plan, costs []*planCost) {
	for _, c := range costs {
		if c.from != probe.FromLocal {
			continue
		}
		if ports := plan.ReachPorts(pl.Probes, c.idx, 2); len(ports) > 0 {
			rp := ReachPass{services: map[int32]string{}}
			var knock []int32
			for _, p := range ports {
				rp.services[p.Port] = p.Service
				knock = append(knock, p.Port)
			}
			fmt.Fprintf(w, "Reachability pass first: one connection per node address (%d) to NodePort %s; an address that answers on none where other nodes do has its NodePort probes not run.\n",
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
	if r.cfg.Exhaustive {
		how = "--exhaustive: every node"
	}
	fmt.Fprintf(w, "Coverage loop (until every backend answered) on %d of %d NodePort paths (%s); one connection on the others.\n", covering, nodePorts, how)
}
