package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/svccheck/svccheck/plugin/agentjob"

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
		desc += " as " + (&AsClient{Namespace: c.Namespace, Kind: c.Kind, Name: c.Name, Labels: e.clientLabels}).String()
	}
	l[agentjob.LabelName], l[agentjob.LabelComponent] = "svccheck", "agent"
	return policy.Host{Pod: true, Namespace: e.agentNamespace, Labels: l, Desc: desc}
}

// facts are the expectations as diagnosis notes them: what could not be
// read, the declared exceptions, and the client the agent stood for.
func (e *expectations) facts() diagnose.ExpectationFacts {
	f := diagnose.ExpectationFacts{PoliciesUnread: e.policies.Unread, NamespacesUnread: e.policies.NamespacesUnread}
	if e.config != nil {
		f.Exceptions = e.config.Exceptions()
	}
	if c := e.client; c != nil {
		f.AsClient = &diagnose.AsClientFacts{Namespace: c.Namespace, Kind: c.Kind, Name: c.Name, Labels: e.clientLabels,
			AgentLabelKeys: agentjob.AgentLabelKeys, ReadinessGate: agentjob.NeverReadyCondition}
	}
	return f
}

// print is the dry run's account of expectations: the notes, and how many
// probes NetworkPolicy changed.
func (e *expectations) print(w io.Writer, inv *probe.Inventory, pl *probe.Plan) {
	notes := diagnose.ExpectationNotes(*inv, *pl, e.facts())
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
