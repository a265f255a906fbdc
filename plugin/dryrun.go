package plugin

import (
	"fmt"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/report"
)

// printPlan is --dry-run: what would run, from where, and how long it could
// take if every connection timed out.
func (o *Options) printPlan(inv probe.Inventory, plan probe.Plan) error {
	type row struct{ probes, skipped, conns int }
	rows := map[probe.From]*row{}
	var order []probe.From
	for _, p := range plan.Probes {
		r, ok := rows[p.From]
		if !ok {
			r = &row{}
			rows[p.From] = r
			order = append(order, p.From)
		}
		r.probes++
		if p.Skip != "" {
			r.skipped++
			continue
		}
		r.conns += max(p.Connections, 1) * o.Tries
	}
	fmt.Fprintf(o.Out, "PLAN for %s on %s: %s (dry run: nothing was probed)\n\n", report.Count(len(inv.Services), "Service"), report.Count(len(inv.Nodes), "node"), report.Count(len(plan.Probes), "probe"))
	fmt.Fprintf(o.Out, "%-16s %8s %8s %16s %12s\n", "FROM", "PROBES", "SKIPPED", "MAX CONNECTIONS", "WORST CASE")
	var worst time.Duration
	for _, f := range order {
		r := rows[f]
		d := time.Duration((r.conns+o.Concurrency-1)/o.Concurrency) * o.Timeout
		if f != probe.FromLocal {
			d += o.AgentTimeout
		}
		worst = max(worst, d)
		fmt.Fprintf(o.Out, "%-16s %8d %8d %16d %12s\n", f, r.probes, r.skipped, r.conns, d)
	}
	fmt.Fprintf(o.Out, "\nWorst case %s: every connection timing out after %s, %d at a time, vantage points in parallel", worst, o.Timeout, o.Concurrency)
	if len(order) > 1 || len(order) == 1 && order[0] != probe.FromLocal {
		fmt.Fprintf(o.Out, ", agent start included (%s)", o.AgentTimeout)
	}
	fmt.Fprintln(o.Out, ".")
	o.printExpectations(o.Out, &inv, &plan) // exceptions.go
	return nil
}
