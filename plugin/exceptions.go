package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/expect"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/policy"
)

// expectations is what a run expects beyond the Services' specs: the
// declared exceptions (--config, --expect-*), and the NetworkPolicies
// discovery read.
type expectations struct {
	config   *expect.Config
	policies cluster.Policies
}

// addExpectFlags adds the flags of declared exceptions and --as-client.
func (o *Options) addExpectFlags(f *pflag.FlagSet) {
	f.StringVar(&o.ConfigFile, "config", "", "declared exceptions: a YAML file of apiVersion "+expect.APIVersion+", kind "+expect.Kind+
		" (routablePods, internal, skip, overrides); the config schema subcommand prints its JSON Schema, config check FILE checks it")
	f.BoolVar(&o.ExpectRoutablePods, "expect-routable-pods", false, "declare that the pod network answers from outside by design: pod IPs probed from outside expect reach instead of being an exposure")
	f.StringArrayVar(&o.ExpectInternal, "expect-internal", nil, "declare a Service that must stay internal, as NAMESPACE/NAME (* and ? match within a part; repeatable): none of its paths from outside may answer")
	addAsClientFlag(f, o)
}

// validateExpectations reads --config and the --expect-* flags, and checks
// --as-client.
func (o *Options) validateExpectations() error {
	cfg := &expect.Config{}
	if o.ConfigFile != "" {
		data, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return fmt.Errorf("--config: %v", err)
		}
		if cfg, err = expect.Parse(o.ConfigFile, data); err != nil {
			return err
		}
	}
	if err := cfg.AddFlags(o.ExpectRoutablePods, o.ExpectInternal); err != nil {
		return err
	}
	o.expect = &expectations{config: cfg}
	return o.validateAsClient()
}

// readExpectations reads from the cluster what expectations depend on: the
// --as-client workload's labels, the NetworkPolicies of the scope's and the
// agent's namespaces, and namespace labels.
func (o *Options) readExpectations(ctx context.Context, sc cluster.Scope, from []probe.From) error {
	if o.expect == nil {
		o.expect = &expectations{config: &expect.Config{}}
	}
	if err := o.resolveAsClient(ctx); err != nil {
		return err
	}
	nss := []string{sc.Namespace}
	if ans := o.agentNamespace(); sc.Namespace != "" && ans != sc.Namespace && slices.Contains(from, probe.FromPod) {
		nss = append(nss, ans)
	}
	p, err := cluster.ReadPolicies(ctx, o.client, nss, 0)
	if err != nil {
		return err
	}
	o.expect.policies = p
	return nil
}

// withExpectations adds to opts what adjusts the plan's expectations, in
// order: what the cluster declares about itself, NetworkPolicy, then
// declared skips and overrides, which have the last word.
func (o *Options) withExpectations(inv probe.Inventory, opts plan.Options) plan.Options {
	e := o.expect
	if e == nil {
		return opts
	}
	opts.Adjust = append(opts.Adjust, e.config.Declared())
	if len(e.policies.Set.Policies) > 0 {
		a := policy.NewAdjuster(&inv, &e.policies.Set, policy.Clients{Agent: o.agentHost(), AgentNode: o.Node})
		opts.Adjust = append(opts.Adjust, a.Adjust)
	}
	opts.Adjust = append(opts.Adjust, e.config.Final())
	return opts
}

// expectationFacts are the expectations as diagnosis notes them: what could
// not be read, the declared exceptions, and --as-client.
func (o *Options) expectationFacts() diagnose.ExpectationFacts {
	e := o.expect
	if e == nil {
		return diagnose.ExpectationFacts{}
	}
	return diagnose.ExpectationFacts{PoliciesUnread: e.policies.Unread, NamespacesUnread: e.policies.NamespacesUnread,
		Exceptions: e.config.Exceptions(), AsClient: o.asClientFacts()}
}

// printExpectations is the dry run's account of expectations: the notes,
// and how many probes NetworkPolicy changed.
func (o *Options) printExpectations(w io.Writer, inv *probe.Inventory, pl *probe.Plan) {
	notes := diagnose.ExpectationNotes(*inv, *pl, o.expectationFacts())
	counts := map[probe.Want]int{}
	for i := range pl.Probes {
		if p := &pl.Probes[i]; len(p.Expect.Policies) > 0 {
			counts[p.Expect.Want]++
		}
	}
	if len(notes) == 0 && len(counts) == 0 && (o.expect == nil || len(o.expect.policies.Set.Policies) == 0) {
		return
	}
	fmt.Fprintln(w, "\nEXPECTATIONS")
	if o.expect != nil && o.expect.policies.Unread == "" {
		n := len(o.expect.policies.Set.Policies)
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

// newConfigCmd is `config`: the --config file's schema, and a check.
func newConfigCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "The --config file of declared exceptions: print its JSON Schema, or check a file",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the --config file (" + expect.APIVersion + " " + expect.Kind + ")",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := o.Out.Write(expect.Schema)
			return err
		},
	}, &cobra.Command{
		Use:   "check FILE",
		Short: "Check a --config file strictly (every problem at its line) and list the exceptions it declares",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			cfg, err := expect.Parse(args[0], data)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s: valid %s %s\n", args[0], expect.APIVersion, expect.Kind)
			for _, x := range cfg.Exceptions() {
				fmt.Fprintf(&sb, "  %s (%s): %s\n", x.Name, x.Source, x.What)
			}
			_, err = io.WriteString(o.Out, sb.String())
			return err
		},
	})
	return cmd
}

// expectOptions are the flags of declared exceptions and --as-client, and
// what Validate and Run make of them.
type expectOptions struct {
	ConfigFile         string
	ExpectRoutablePods bool
	ExpectInternal     []string
	AsClient           string

	expect   *expectations
	asClient *asClient
}
