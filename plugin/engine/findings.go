package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
)

// Cluster findings the run makes itself, beside diagnosis: they are about
// the run's view of the cluster, not about one Service.
const (
	// CodeNodeUnreachable: a node address answered on no NodePort from here
	// (or none did), so its NodePort probes were not run.
	CodeNodeUnreachable diagnose.Code = "nodeUnreachable"
	// CodeRunDeadline: --max-time passed before every probe ran.
	CodeRunDeadline diagnose.Code = "runDeadline"
)

// runFindings are the run's own findings: unreachable nodes (one finding
// per node address, or one for all when none answered) and the deadline.
func (r *runner) runFindings(rp *ReachPass, pl *probe.Plan, results []probe.Result) []diagnose.Finding {
	var out []diagnose.Finding
	if rp != nil && len(rp.down) > 0 {
		out = append(out, unreachableFindings(rp, pl, results)...)
	}
	cut := 0
	for _, res := range results {
		if res.Outcome == probe.NotRun && res.Detail == probe.ErrDeadline.Error() {
			cut++
		}
	}
	if cut > 0 {
		out = append(out, diagnose.Finding{Severity: diagnose.SevError, Code: CodeRunDeadline,
			Message: fmt.Sprintf("run deadline (--max-time %s) reached: %d of %d probes not run; the report holds what ran", r.cfg.MaxTime, cut, len(results))})
	}
	return out
}

func unreachableFindings(rp *ReachPass, pl *probe.Plan, results []probe.Result) []diagnose.Finding {
	skippedAt := notRunAt(rp, pl, results)
	if rp.all {
		skipped := 0
		var ports []int32
		for _, d := range rp.down {
			skipped += skippedAt[d.NodeAddress]
			for _, p := range d.ports {
				if !slices.Contains(ports, p) {
					ports = append(ports, p)
				}
			}
		}
		return []diagnose.Finding{{Severity: diagnose.SevError, Code: CodeNodeUnreachable, Message: fmt.Sprintf(
			"no node answers from here: none of %d node addresses answered on NodePort %s within %s (%s); %d NodePort probes not run: check the route and firewalls between this machine and the nodes, or probe from inside with --from cluster",
			rp.addrs, rp.portsText(ports), rp.timeout, rp.down[0].outcome, skipped)}}
	}
	inside := insideAnswers(pl, results)
	out := make([]diagnose.Finding, 0, len(rp.down))
	for _, d := range rp.down {
		msg := fmt.Sprintf("node %s unreachable from here: %s (%s) answered on no NodePort (%s within %s, %s) where other nodes answer; its %d NodePort probes were not run",
			d.Node, d.Host, d.AddressType, rp.portsText(d.ports), rp.timeout, d.outcome, skippedAt[d.NodeAddress])
		if inside[d.Node] {
			msg += "; it answers from inside the cluster: check firewalls and security groups between here and " + d.Node
		}
		out = append(out, diagnose.Finding{Severity: diagnose.SevError, Code: CodeNodeUnreachable, Node: d.Node, Message: msg})
	}
	return out
}

// notRunAt counts, per unreachable node address, the node paths through it
// reported not run: the pass skipped them, and no later pass ran them.
func notRunAt(rp *ReachPass, pl *probe.Plan, results []probe.Result) map[plan.NodeAddress]int {
	down := map[plan.NodeAddress]bool{}
	for _, d := range rp.down {
		down[d.NodeAddress] = true
	}
	out := map[plan.NodeAddress]int{}
	for i := range pl.Probes {
		p := &pl.Probes[i]
		a := plan.NodeAddress{Node: p.Node, AddressType: p.AddressType, Host: p.Host}
		if nodePath(p) && down[a] && results[i].Outcome == probe.NotRun && results[i].Detail == rp.detailOf(a) {
			out[a]++
		}
	}
	return out
}

// insideAnswers are the nodes whose NodePort answered an in-cluster
// vantage point.
func insideAnswers(pl *probe.Plan, results []probe.Result) map[string]bool {
	out := map[string]bool{}
	for i := range pl.Probes {
		p := &pl.Probes[i]
		if p.Via == probe.ViaNodePort && p.From != probe.FromLocal && results[i].Outcome == probe.OK && results[i].Pass {
			out[p.Node] = true
		}
	}
	return out
}

// recentWindow is how long after a change to a Service or its endpoints its
// paths may still fail while the proxies program it: kube-proxy's
// programming latency is seconds, more on large clusters.
const recentWindow = time.Minute

// catchingUp are the verdicts a proxy that has not programmed a change yet
// produces too: paths failing through a node, or answering from endpoints
// that are gone.
var catchingUp = []diagnose.Code{diagnose.VerdictDataplaneBroken, diagnose.VerdictNodePathFailed,
	diagnose.VerdictPathFailed, diagnose.VerdictStaleForwarding}

// recentChanges says, in each such error finding about a Service that
// changed within recentWindow before the run (started at start), when it
// changed: the failure may be the proxies catching up rather than a fault.
// A run with --wait-converged waited for them already.
func (r *runner) recentChanges(fs []diagnose.Finding, inv *probe.Inventory) {
	start := r.start
	if r.cfg.WaitConverged > 0 {
		return
	}
	changed := map[string]time.Duration{}
	for _, s := range inv.Services {
		if changedWithin(&s, start, recentWindow) {
			changed[s.Key()] = max(start.Sub(s.LastChange), 0).Round(time.Second)
		}
	}
	for i := range fs {
		f := &fs[i]
		if ago, ok := changed[f.Namespace+"/"+f.Service]; ok && f.Severity == diagnose.SevError && slices.Contains(catchingUp, f.Code) {
			f.Message += fmt.Sprintf(" (the Service or its endpoints changed %s before this run: the proxies may still be catching up; --wait-converged waits for them)", ago)
		}
	}
}
