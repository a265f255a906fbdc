package plugin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/plugin/engine"
	"github.com/svccheck/svccheck/probe"
)

func addAsClientFlag(f *pflag.FlagSet, o *Options) {
	f.StringVar(&o.AsClient, "as-client", "", "run the agent pod as a client: in NAMESPACE with the pod labels of NAMESPACE/KIND/NAME ("+
		strings.Join(cluster.ClientKinds, ", ")+") or NAMESPACE/KEY=VALUE[,KEY=VALUE...], so NetworkPolicy treats it as that client and expectations follow; "+
		"every agent of the run then runs in NAMESPACE, and the pod never becomes ready (no Service sends it traffic)")
}

// parseAsClient checks --as-client's syntax: NAMESPACE/KIND/NAME or
// NAMESPACE/KEY=VALUE,...
func parseAsClient(s string) (*engine.AsClient, error) {
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
		return &engine.AsClient{Namespace: ns, Labels: set}, nil
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return nil, bad("no KIND/NAME")
	}
	k := normalizeKind(kind)
	if k == "" {
		return nil, bad("unknown kind " + kind)
	}
	return &engine.AsClient{Namespace: ns, Kind: k, Name: name}, nil
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

// validateAsClient checks --as-client against the other flags.
func (o *command) validateAsClient() error {
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
