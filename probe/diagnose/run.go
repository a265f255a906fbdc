package diagnose

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/expect"
)

// Findings about the run's view of the cluster rather than one Service.
const (
	// VerdictNodeUnreachable: a node address answered on no NodePort from
	// here (or none did), so its NodePort probes were not run.
	VerdictNodeUnreachable Code = "nodeUnreachable"
	// VerdictRunDeadline: --max-time passed before every probe ran.
	VerdictRunDeadline Code = "runDeadline"
)

// RunFacts is what a run knows beyond its inventory, plan and results, from
// which Diagnose draws the run's own findings, the recent-change hint and
// the notes on expectations. The zero value states nothing: no such
// finding, hint or note.
type RunFacts struct {
	// Start is when the run started. When set, an error finding of a
	// CatchingUp code about a Service that changed within recentWindow
	// before Start says when it changed.
	Start time.Time
	// WaitedConverged: the run waited for changed Services to converge
	// (--wait-converged), so no finding gets the recent-change hint.
	WaitedConverged bool
	// MaxTime is the run's deadline (--max-time), which the runDeadline
	// finding names.
	MaxTime time.Duration
	// Reach is what the reachability pass found; nil when none ran.
	Reach        *ReachFacts
	Expectations ExpectationFacts
}

// ReachFacts is what the reachability pass found: the node addresses that
// answered on no NodePort it knocked on where some node did answer, or
// every address when none did.
type ReachFacts struct {
	Addrs int // node addresses knocked on
	// All: no node address answered on any NodePort knocked on.
	All     bool
	Timeout time.Duration // per connection
	Down    []DownNode
	// Services maps each NodePort knocked on to its Service
	// ("namespace/name").
	Services map[int32]string
}

// DownNode is a node address that did not answer from here.
type DownNode struct {
	Node, AddressType, Host string
	Ports                   []int32       // the NodePorts it was silent on
	Outcome                 probe.Outcome // how the last of them failed
	Probes                  int           // its probes not run because of it
}

// NamePorts names NodePorts with their Services, four at most: "30080
// (default/web) or 31000 (shop/api)".
func (rf *ReachFacts) NamePorts(ports []int32) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports[:min(len(ports), 4)] {
		parts = append(parts, fmt.Sprintf("%d (%s)", p, rf.Services[p]))
	}
	if len(ports) > 4 {
		parts = append(parts, fmt.Sprintf("%d more", len(ports)-4))
	}
	return strings.Join(parts, " or ")
}

// ExpectationFacts is what set the plan's expectations beyond the
// Services' specs, as the notes on expectations state it.
type ExpectationFacts struct {
	// PoliciesUnread says why NetworkPolicies could not be read; empty
	// when they were.
	PoliciesUnread string
	// NamespacesUnread says why namespace labels could not be read; empty
	// when they were.
	NamespacesUnread string
	// Exceptions are the declared exceptions, in the order they apply;
	// the probes each changed carry its name in Probe.Exception.
	Exceptions []expect.Exception
	// AsClient is --as-client; nil without it.
	AsClient *AsClientFacts
}

// AsClientFacts is the client whose identity the agent pod took
// (--as-client).
type AsClientFacts struct {
	Namespace string
	// Kind and Name name the client's workload ("deployment",
	// "frontend"); empty when its labels were given.
	Kind, Name string
	Labels     map[string]string
	// AgentLabelKeys are the labels an agent pod keeps whatever the
	// client's, in the order to name them.
	AgentLabelKeys []string
	// ReadinessGate is the condition that keeps the agent pod from ever
	// becoming ready.
	ReadinessGate string
}

// runFindings are the run's own findings: unreachable node addresses (one
// finding per address, or one for all when none answered), then the
// deadline.
func runFindings(pl *probe.Plan, results []probe.Result, facts *RunFacts) []Finding {
	var out []Finding
	if rf := facts.Reach; rf != nil && len(rf.Down) > 0 {
		out = append(out, unreachableFindings(rf, pl, results)...)
	}
	cut := 0
	for i := range results {
		if probe.CauseOf(&pl.Probes[i], &results[i]) == probe.NotRunDeadline {
			cut++
		}
	}
	if cut > 0 {
		out = append(out, Finding{Severity: SevError, Code: VerdictRunDeadline,
			Message: fmt.Sprintf("run deadline (--max-time %s) reached: %d of %d probes not run; the report holds what ran", facts.MaxTime, cut, len(results))})
	}
	return out
}

func unreachableFindings(rf *ReachFacts, pl *probe.Plan, results []probe.Result) []Finding {
	if rf.All {
		skipped := 0
		var ports []int32
		for _, d := range rf.Down {
			skipped += d.Probes
			for _, p := range d.Ports {
				if !slices.Contains(ports, p) {
					ports = append(ports, p)
				}
			}
		}
		return []Finding{{Severity: SevError, Code: VerdictNodeUnreachable, Message: fmt.Sprintf(
			"no node answers from here: none of %d node addresses answered on NodePort %s within %s (%s); %d NodePort probes not run: check the route and firewalls between this machine and the nodes, or probe from inside with --from cluster",
			rf.Addrs, rf.NamePorts(ports), rf.Timeout, rf.Down[0].Outcome, skipped)}}
	}
	inside := insideAnswers(pl, results)
	out := make([]Finding, 0, len(rf.Down))
	for _, d := range rf.Down {
		msg := fmt.Sprintf("node %s unreachable from here: %s (%s) answered on no NodePort (%s within %s, %s) where other nodes answer; its %d NodePort probes were not run",
			d.Node, d.Host, d.AddressType, rf.NamePorts(d.Ports), rf.Timeout, d.Outcome, d.Probes)
		if inside[d.Node] {
			msg += "; it answers from inside the cluster: check firewalls and security groups between here and " + d.Node
		}
		out = append(out, Finding{Severity: SevError, Code: VerdictNodeUnreachable, Node: d.Node, Message: msg})
	}
	return out
}

// insideAnswers are the nodes whose NodePort answered an in-cluster
// vantage point.
func insideAnswers(pl *probe.Plan, results []probe.Result) map[string]bool {
	out := map[string]bool{}
	for i := range pl.Probes {
		p := &pl.Probes[i]
		if targetForwarded(p.Via) && p.From != probe.FromLocal && results[i].Outcome == probe.OK && results[i].Pass {
			out[p.Node] = true
		}
	}
	return out
}

// recentWindow is how long after a change to a Service or its endpoints its
// paths may still fail while the proxies program it: kube-proxy's
// programming latency is seconds, more on large clusters.
const recentWindow = time.Minute

// hintRecent says, in each error finding of fs of a CatchingUp code, when
// svc changed, if that was within recentWindow before the run: the failure
// may be the proxies catching up rather than a fault.
func (facts *RunFacts) hintRecent(svc *probe.Service, fs []Finding) {
	if facts.WaitedConverged || facts.Start.IsZero() || svc.LastChange.IsZero() || facts.Start.Sub(svc.LastChange) > recentWindow {
		return
	}
	ago := max(facts.Start.Sub(svc.LastChange), 0).Round(time.Second)
	for i := range fs {
		if f := &fs[i]; f.Severity == SevError && Lookup(f.Code).CatchingUp {
			f.Message += fmt.Sprintf(" (the Service or its endpoints changed %s before this run: the proxies may still be catching up; --wait-converged waits for them)", ago)
		}
	}
}

// ExpectationNotes are the notes on expectations, as Diagnose ends with
// them: NetworkPolicies or namespace labels that could not be read, each
// declared exception citing the probes of pl it changed, and --as-client
// with the Services of inv that selected the agent pod.
func ExpectationNotes(inv probe.Inventory, pl probe.Plan, e ExpectationFacts) []Finding {
	var out []Finding
	note := func(code Code, probes []string, format string, args ...any) {
		out = append(out, Finding{Severity: SevInfo, Code: code, Probes: probes, Message: fmt.Sprintf(format, args...)})
	}
	if u := e.PoliciesUnread; u != "" {
		note(NotePoliciesNotRead, nil, "NetworkPolicies not read: %s; every path is expected as if no policy applied (deploy/rbac.yaml grants list networkpolicies)", u)
	}
	if u := e.NamespacesUnread; u != "" {
		note(NotePoliciesNotRead, nil, "namespace labels not read: %s; paths a namespaceSelector decides on them are expected unknown", u)
	}
	byException := map[string][]string{}
	for i := range pl.Probes {
		if x := pl.Probes[i].Exception; x != "" {
			byException[x] = append(byException[x], pl.Probes[i].ID)
		}
	}
	for _, x := range e.Exceptions {
		ids := byException[x.Name]
		note(NoteException, ids, "declared exception %s (%s): %s; %s", x.Name, x.Source, x.What, applied(len(ids)))
	}
	if c := e.AsClient; c != nil {
		note(NoteAsClient, nil, "%s", c.message(inv.Services))
	}
	return out
}

func applied(n int) string {
	switch n {
	case 0:
		return "it matched no probe of this run"
	case 1:
		return "it applied to 1 probe"
	}
	return fmt.Sprintf("it applied to %d probes", n)
}

// message says that the agent probed as the client: with which labels,
// which it could not carry, and which of svcs list it (never as ready).
func (c *AsClientFacts) message(svcs []probe.Service) string {
	who := c.Namespace + "/" + selectorString(c.Labels)
	if c.Kind != "" {
		who = c.Namespace + "/" + c.Kind + "/" + c.Name
	}
	msg := fmt.Sprintf("the agent pod ran in namespace %s as %s with its pod labels %s", c.Namespace, who, selectorString(c.Labels))
	var kept []string
	for _, k := range c.AgentLabelKeys {
		if v, ok := c.Labels[k]; ok {
			kept = append(kept, k+"="+v)
		}
	}
	if len(kept) > 0 {
		msg += fmt.Sprintf(", except %s (svccheck finds its pods by that label; expectations use the agent's value)", strings.Join(kept, ", "))
	}
	var selecting, publishing []string
	for _, s := range svcs {
		if s.Namespace == c.Namespace && len(s.Selector) > 0 && selects(s.Selector, c.Labels) {
			selecting = append(selecting, s.Key())
			if s.PublishNotReady {
				publishing = append(publishing, s.Key())
			}
		}
	}
	msg += fmt.Sprintf("; it never became ready (readiness gate %s)", c.ReadinessGate)
	if len(selecting) > 0 {
		msg += ", so " + strings.Join(selecting, ", ") + " listed it only as a not-ready endpoint while it ran"
	}
	if len(publishing) > 0 {
		msg += "; " + strings.Join(publishing, ", ") + " publish not-ready addresses: their DNS names included the agent's while it ran"
	}
	return msg
}

// selects reports whether selector sel matches labels as Kubernetes does:
// every key present with its value.
func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
