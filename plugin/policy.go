package plugin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/policy"
)

// asClient is --as-client: the client whose identity the agent pod takes,
// so that NetworkPolicy treats the agent as that client.
type asClient struct {
	Namespace string
	// Kind and Name name the client's workload ("deployment", "frontend");
	// empty when the labels were given.
	Kind, Name string
	// Labels are the client's pod labels: given, or resolved from the
	// workload's pod template in Run.
	Labels map[string]string
}

func (c *asClient) String() string {
	if c.Kind != "" {
		return c.Namespace + "/" + c.Kind + "/" + c.Name
	}
	return c.Namespace + "/" + cluster.LabelString(c.Labels)
}

func addAsClientFlag(f *pflag.FlagSet, o *Options) {
	f.StringVar(&o.AsClient, "as-client", "", "run the agent pod as a client: in NAMESPACE with the pod labels of NAMESPACE/KIND/NAME ("+
		strings.Join(cluster.ClientKinds, ", ")+") or NAMESPACE/KEY=VALUE[,KEY=VALUE...], so NetworkPolicy treats it as that client and expectations follow; "+
		"every agent of the run then runs in NAMESPACE, and the pod never becomes ready (no Service sends it traffic)")
}

// parseAsClient checks --as-client's syntax: NAMESPACE/KIND/NAME or
// NAMESPACE/KEY=VALUE,...
func parseAsClient(s string) (*asClient, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid --as-client %q: %s; want NAMESPACE/KIND/NAME (KIND: %s) or NAMESPACE/KEY=VALUE[,KEY=VALUE...]",
			s, why, strings.Join(cluster.ClientKinds, ", "))
	}
	ns, rest, ok := strings.Cut(s, "/")
	if !ok || rest == "" {
		return nil, bad("no namespace")
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, bad("namespace: " + errs[0])
	}
	if strings.Contains(rest, "=") {
		set, err := labels.ConvertSelectorToLabelsMap(rest)
		if err != nil {
			return nil, bad(err.Error())
		}
		return &asClient{Namespace: ns, Labels: set}, nil
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return nil, bad("no KIND/NAME")
	}
	k := normalizeKind(kind)
	if k == "" {
		return nil, bad("unknown kind " + kind)
	}
	return &asClient{Namespace: ns, Kind: k, Name: name}, nil
}

// normalizeKind maps a kind as kubectl accepts it (plural, short name) to
// one of cluster.ClientKinds, or "".
func normalizeKind(k string) string {
	k = strings.ToLower(k)
	short := map[string]string{"deploy": "deployment", "sts": "statefulset", "ds": "daemonset", "rs": "replicaset", "po": "pod"}
	if full, ok := short[k]; ok {
		return full
	}
	for _, c := range cluster.ClientKinds {
		if k == c || k == c+"s" {
			return c
		}
	}
	return ""
}

// asClientNamespace is --as-client's namespace, where every agent of the
// run goes, or "".
func (o *Options) asClientNamespace() string {
	if o.asClient == nil {
		return ""
	}
	return o.asClient.Namespace
}

// validateAsClient checks --as-client against the other flags.
func (o *Options) validateAsClient() error {
	if o.AsClient == "" {
		return nil
	}
	c, err := parseAsClient(o.AsClient)
	if err != nil {
		return err
	}
	from, _ := o.vantagePoints()
	if !slices.Contains(from, probe.FromPod) {
		return fmt.Errorf("--as-client needs the agent pod: --from cluster, all or everywhere")
	}
	if o.AgentNamespace != "" && o.AgentNamespace != c.Namespace {
		return fmt.Errorf("--as-client runs the agents in namespace %q, --agent-namespace says %q: drop one", c.Namespace, o.AgentNamespace)
	}
	o.asClient = c
	return nil
}

// resolveAsClient reads the client workload's pod labels.
func (o *Options) resolveAsClient(ctx context.Context) error {
	c := o.asClient
	if c == nil || c.Kind == "" {
		return nil
	}
	l, err := cluster.ClientLabels(ctx, o.client, c.Namespace, c.Kind, c.Name)
	if err != nil {
		return err
	}
	c.Labels = l
	return nil
}

// asClientAgent makes the pod agent's config carry the client's labels.
func (o *Options) asClientAgent(cfg *cluster.AgentConfig, from probe.From) {
	if o.asClient != nil && from == probe.FromPod {
		cfg.PodLabels, cfg.NeverReady = o.asClient.Labels, true
	}
}

// agentHost is the pod agent as NetworkPolicy will see it: its namespace,
// and its labels (the client's, with svccheck's where svccheck keeps them).
func (o *Options) agentHost() policy.Host {
	l := map[string]string{}
	desc := "svccheck's agent"
	if c := o.asClient; c != nil {
		maps.Copy(l, c.Labels)
		desc += " as " + c.String()
	}
	l[cluster.LabelName], l[cluster.LabelComponent] = "svccheck", "agent"
	return policy.Host{Pod: true, Namespace: o.agentNamespace(), Labels: l, Desc: desc}
}

// asClientFacts is --as-client as diagnosis notes it, or nil.
func (o *Options) asClientFacts() *diagnose.AsClientFacts {
	c := o.asClient
	if c == nil {
		return nil
	}
	return &diagnose.AsClientFacts{Namespace: c.Namespace, Kind: c.Kind, Name: c.Name, Labels: c.Labels,
		AgentLabelKeys: cluster.AgentLabelKeys, ReadinessGate: cluster.NeverReadyCondition}
}
