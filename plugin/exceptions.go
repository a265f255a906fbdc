package plugin

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/svccheck/svccheck/probe/expect"
)

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
func (o *command) validateExpectations() error {
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
	o.expect = cfg
	return o.validateAsClient()
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

// expectOptions are the flags of declared exceptions and --as-client.
type expectOptions struct {
	ConfigFile         string
	ExpectRoutablePods bool
	ExpectInternal     []string
	AsClient           string
}
