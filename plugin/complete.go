package plugin

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/svccheck/svccheck/report"
)

// completionTimeout bounds the API calls made to complete a word: a slow or
// unreachable cluster costs a pause, never a hung shell.
const completionTimeout = 5 * time.Second

func (o *command) completionBound() time.Duration {
	if o.completionTimeout > 0 {
		return o.completionTimeout
	}
	return completionTimeout
}

// registerCompletions completes flag values: fixed choices from the flags'
// own vocabularies, names from the kubeconfig (--context, --cluster, --user)
// and from the API (namespaces, nodes).
func (o *command) registerCompletions(cmd *cobra.Command) {
	fixed := map[string][]string{
		"fail-on":           {"error", "warning", "never"},
		"image-pull-policy": {string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)},
		"color":             colorModes,
	}
	var from []string
	for _, v := range fromValues {
		from = append(from, v.name+"\t"+v.help)
	}
	fixed["from"] = from
	for name, values := range fixed {
		_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	_ = cmd.RegisterFlagCompletionFunc("output", completeOutput)
	_ = cmd.RegisterFlagCompletionFunc("node-address-type", completeAddressTypes)
	_ = cmd.RegisterFlagCompletionFunc("namespace", o.completeFromAPI(listNamespaces))
	_ = cmd.RegisterFlagCompletionFunc("agent-namespace", o.completeFromAPI(listNamespaces))
	_ = cmd.RegisterFlagCompletionFunc("node", o.completeFromAPI(listNodes))
	_ = cmd.RegisterFlagCompletionFunc("context", o.completeFromKubeconfig(func(c *clientcmdapi.Config) []string { return keys(c.Contexts) }))
	_ = cmd.RegisterFlagCompletionFunc("cluster", o.completeFromKubeconfig(func(c *clientcmdapi.Config) []string { return keys(c.Clusters) }))
	_ = cmd.RegisterFlagCompletionFunc("user", o.completeFromKubeconfig(func(c *clientcmdapi.Config) []string { return keys(c.AuthInfos) }))
	for _, sub := range cmd.Commands() {
		if sub.Flags().Lookup("agent-namespace") != nil {
			_ = sub.RegisterFlagCompletionFunc("agent-namespace", o.completeFromAPI(listNamespaces))
		}
	}
}

func completeOutput(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []string
	for _, f := range append(slices.Clone(report.Formats), kubectlFormats...) {
		if strings.HasPrefix(f, toComplete) {
			out = append(out, f)
		}
	}
	if len(out) == 1 && strings.HasSuffix(out[0], "=") {
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeAddressTypes completes the last item of a comma-separated list.
func completeAddressTypes(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	done, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	var out []string
	for _, t := range addressTypes {
		if strings.HasPrefix(t, last) && !slices.Contains(strings.Split(done, ","), t) {
			out = append(out, done+t)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeServices completes Service names in the namespace in scope,
// leaving out those already named.
func (o *command) completeServices(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if o.AllNamespaces {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, dir := o.completeFromAPI(listServices)(c, args, toComplete)
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) }), dir
}

// completeFromAPI completes with names listed from the API server, within
// completionTimeout; any failure completes nothing.
func (o *command) completeFromAPI(list func(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error)) cobra.CompletionFunc {
	return func(c *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cs, ns, err := o.completionClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		parent := c.Context()
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, o.completionBound())
		defer cancel()
		names, err := list(ctx, cs, ns)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completionClient is the API client and namespace for completion: the
// kubeconfig and flags as for a run, with a short request timeout.
func (o *command) completionClient() (kubernetes.Interface, string, error) {
	if o.client != nil {
		ns := o.namespace
		if f := o.ConfigFlags.Namespace; f != nil && *f != "" {
			ns = *f
		}
		return o.client, ns, nil
	}
	loader := o.ConfigFlags.ToRawKubeConfigLoader()
	if err := o.checkKubeconfig(loader); err != nil {
		return nil, "", err
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, "", err
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	cfg.Timeout = o.completionBound()
	cs, err := kubernetes.NewForConfig(cfg)
	return cs, ns, err
}

// completeFromKubeconfig completes with names from the kubeconfig.
func (o *command) completeFromKubeconfig(names func(*clientcmdapi.Config) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		raw, err := o.ConfigFlags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names(&raw), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func listNamespaces(ctx context.Context, cs kubernetes.Interface, _ string) ([]string, error) {
	return objectNames(cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}))
}

func listNodes(ctx context.Context, cs kubernetes.Interface, _ string) ([]string, error) {
	return objectNames(cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}))
}

func listServices(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error) {
	return objectNames(cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}))
}

// objectNames returns the names of a List's items, or the List's error.
func objectNames(list runtime.Object, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		if m, err := meta.Accessor(it); err == nil {
			names = append(names, m.GetName())
		}
	}
	return names, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// withPrefix keeps the names that start with prefix, sorted.
func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
