package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/svccheck/svccheck/plugin/agentjob"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/expect"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/policy"
)

// expectations is what a run expects beyond the Services' specs: the
// declared exceptions, the NetworkPolicies discovery read, and the client
// the agent pod stands for.
type expectations struct {
	config   *expect.Config
	policies cluster.Policies
	// client is --as-client; clientLabels its pod labels as read.
	client       *AsClient
	clientLabels map[string]string
	// agentNamespace and node are where the agent pod runs.
	agentNamespace, node string
}

// readExpectations reads from the cluster what expectations depend on: the
// client workload's labels, the NetworkPolicies of the scope's and the
// agent's namespaces, and namespace labels.
func readExpectations(ctx context.Context, client kubernetes.Interface, cfg *Config, sc cluster.Scope) (expectations, error) {
	e := expectations{config: cfg.Expect, client: cfg.AsClient, agentNamespace: cfg.AgentNamespace, node: cfg.Node}
	if e.config == nil {
		e.config = &expect.Config{}
	}
	if c := cfg.AsClient; c != nil {
		e.clientLabels = c.Labels
		if c.Kind != "" {
			l, err := cluster.ClientLabels(ctx, client, c.Namespace, c.Kind, c.Name)
			if err != nil {
				return e, err
			}
			e.clientLabels = l
		}
	}
	nss := []string{sc.Namespace}
	if sc.Namespace != "" && cfg.AgentNamespace != sc.Namespace && slices.Contains(cfg.From, probe.FromPod) {
		nss = append(nss, cfg.AgentNamespace)
	}
	p, err := cluster.ReadPolicies(ctx, client, nss, 0)
	if err != nil {
		return e, err
	}
	e.policies = p
	return e, nil
}

// adjust adds to opts what adjusts the plan's expectations, in order: what
// the cluster declares about itself, NetworkPolicy, then declared skips and
// overrides, which have the last word.
func (e *expectations) adjust(inv probe.Inventory, opts plan.Options, cfg *Config) plan.Options {
	if e.config == nil {
		return opts
	}
	opts.Adjust = append(opts.Adjust, e.config.Declared())
	if len(e.policies.Set.Policies) > 0 {
		a := policy.NewAdjuster(&inv, &e.policies.Set, policy.Clients{Agent: e.agentHost(), AgentNode: e.node})
		opts.Adjust = append(opts.Adjust, a.Adjust)
	}
	opts.Adjust = append(opts.Adjust, e.config.Final())
	return opts
}

// agentHost is the pod agent as NetworkPolicy will see it: its namespace,
// and its labels (the client's, with svccheck's where svccheck keeps them).
func (e *expectations) agentHost() policy.Host {
	l := map[string]string{}
	desc := "svccheck's agent"
	if c := e.client; c != nil {
		maps.Copy(l, e.clientLabels)
		desc += " as " + e.clientName()
	}
	l[agentjob.LabelName], l[agentjob.LabelComponent] = "svccheck", "agent"
	return policy.Host{Pod: true, Namespace: e.agentNamespace, Labels: l, Desc: desc}
}

// clientName names the client: NAMESPACE/KIND/NAME or NAMESPACE/LABELS.
func (e *expectations) clientName() string {
	c := e.client
	if c.Kind != "" {
		return c.Namespace + "/" + c.Kind + "/" + c.Name
	}
	return c.Namespace + "/" + cluster.LabelString(e.clientLabels)
}

// notes are the report's notes on expectations: NetworkPolicy or namespace
// labels that could not be read, each declared exception and the probes it
// changed, and the client the agent stood for.
func (e *expectations) notes(inv *probe.Inventory, pl *probe.Plan) []diagnose.Finding {
	if e.config == nil {
		return nil
	}
	var out []diagnose.Finding
	note := func(code diagnose.Code, probes []string, format string, args ...any) {
		out = append(out, diagnose.Finding{Severity: diagnose.SevInfo, Code: code, Probes: probes, Message: fmt.Sprintf(format, args...)})
	}
	if u := e.policies.Unread; u != "" {
		note(diagnose.NotePoliciesNotRead, nil, "NetworkPolicies not read: %s; every path is expected as if no policy applied (deploy/rbac.yaml grants list networkpolicies)", u)
	}
	if u := e.policies.NamespacesUnread; u != "" {
		note(diagnose.NotePoliciesNotRead, nil, "namespace labels not read: %s; paths a namespaceSelector decides on them are expected unknown", u)
	}
	byException := map[string][]string{}
	for i := range pl.Probes {
		if x := pl.Probes[i].Exception; x != "" {
			byException[x] = append(byException[x], pl.Probes[i].ID)
		}
	}
	for _, x := range e.config.Exceptions() {
		ids := byException[x.Name]
		note(diagnose.NoteException, ids, "declared exception %s (%s): %s; %s", x.Name, x.Source, x.What, applied(len(ids)))
	}
	return append(out, e.clientNote(inv)...)
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

// clientNote says that the agent probed as a client: with which labels,
// which it could not carry, and which Services list it (never as ready).
func (e *expectations) clientNote(inv *probe.Inventory) []diagnose.Finding {
	c := e.client
	if c == nil {
		return nil
	}
	msg := fmt.Sprintf("the agent pod ran in namespace %s as %s with its pod labels %s", c.Namespace, e.clientName(), cluster.LabelString(e.clientLabels))
	var kept []string
	for _, k := range agentjob.AgentLabelKeys {
		if v, ok := e.clientLabels[k]; ok {
			kept = append(kept, k+"="+v)
		}
	}
	if len(kept) > 0 {
		msg += fmt.Sprintf(", except %s (svccheck finds its pods by that label; expectations use the agent's value)", strings.Join(kept, ", "))
	}
	var selecting, publishing []string
	for _, s := range inv.Services {
		if s.Namespace == c.Namespace && len(s.Selector) > 0 && labels.SelectorFromSet(s.Selector).Matches(labels.Set(e.clientLabels)) {
			selecting = append(selecting, s.Key())
			if s.PublishNotReady {
				publishing = append(publishing, s.Key())
			}
		}
	}
	msg += fmt.Sprintf("; it never became ready (readiness gate %s)", agentjob.NeverReadyCondition)
	if len(selecting) > 0 {
		msg += ", so " + strings.Join(selecting, ", ") + " listed it only as a not-ready endpoint while it ran"
	}
	if len(publishing) > 0 {
		msg += "; " + strings.Join(publishing, ", ") + " publish not-ready addresses: their DNS names included the agent's while it ran"
	}
	return []diagnose.Finding{{Severity: diagnose.SevInfo, Code: diagnose.NoteAsClient, Message: msg}}
}

// print is the dry run's account of expectations: the notes, and how many
// probes NetworkPolicy changed.
func (e *expectations) print(w io.Writer, inv *probe.Inventory, pl *probe.Plan) {
	notes := e.notes(inv, pl)
	counts := map[probe.Want]int{}
	for i := range pl.Probes {
		if p := &pl.Probes[i]; len(p.Expect.Policies) > 0 {
			counts[p.Expect.Want]++
		}
	}
	if len(notes) == 0 && len(counts) == 0 && len(e.policies.Set.Policies) == 0 {
		return
	}
	fmt.Fprintln(w, "\nEXPECTATIONS")
	if e.policies.Unread == "" {
		n := len(e.policies.Set.Policies)
		what := fmt.Sprintf("%d NetworkPolicies apply", n)
		if n == 1 {
			what = "1 NetworkPolicy applies"
		}
		fmt.Fprintf(w, "  %s: %d probes expect noReach, %d unknown, %d reach through a policy that admits them\n",
			what, counts[probe.NoReach], counts[probe.Unknown], counts[probe.Reach])
	}
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", n.Message)
	}
}
