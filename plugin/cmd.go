// Package plugin is the kubectl-svccheck command: its flags, and the run that
// ties discovery (plugin/cluster), the plan (probe/plan), the probers
// (probe/prober, and agents in the cluster), the diagnosis (probe/diagnose) and
// the report (report) together.
package plugin

import (
	"context"
	goflag "flag"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	// Auth providers named in kubeconfigs (auth-provider: oidc), as kubectl
	// registers them; exec credential plugins are built into client-go.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/klog/v2"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/report"
)

// ExitError carries the process exit code for an error (see exitcode.Error).
type ExitError = exitcode.Error

// Exit codes; stable and documented in the README.
const (
	ExitOK          = exitcode.OK
	ExitFailed      = exitcode.Failed
	ExitUsage       = exitcode.Usage
	ExitCluster     = exitcode.Cluster
	ExitAgent       = exitcode.Agent
	ExitInterrupted = exitcode.Interrupted
)

// ExitCode maps an error returned by the command to the process exit code.
func ExitCode(err error) int { return exitcode.Of(err) }

// Version is the build's version, set with -ldflags -X at release time.
var Version = "dev"

// imageRepository is where releases publish the agent image.
const imageRepository = "ghcr.io/svccheck/svccheck"

var addressTypes = []string{"InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS"}

// DefaultImage is the agent image for this build: the same binary, published
// with the release's version.
func DefaultImage() string { return imageFor(Version) }

// imageFor is the agent image of a version. Release images are tagged
// without the git tag's "v" (goreleaser's {{ .Version }}), and "make build"
// stamps `git describe`, which keeps it: both name the same image.
func imageFor(version string) string {
	return imageRepository + ":" + strings.TrimPrefix(version, "v")
}

// NewCmd returns the kubectl-svccheck root command.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	return newCmd(newCommand(NewOptions(streams)))
}

func newCmd(o *command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-svccheck [SERVICE ...]",
		Short: "Prove that each Service reaches each of its pods, by every path a client can take",
		Long: `svccheck lists Services, EndpointSlices, Nodes and Pods, plans a probe for every path a
client can take to each Service (every node's NodePort, LoadBalancer ingress, the ClusterIP,
each endpoint, the DNS name), runs them concurrently and compares each outcome with what
should happen: a NodePort answers on every node, a ClusterIP does not answer from outside,
externalTrafficPolicy=Local nodes without a local endpoint drop.

Exit codes: 0 every expectation met, 1 an expectation failed or an error was found,
2 usage or input error, 3 cluster access error, 4 agent could not run, 130 interrupted.`,
		Example: `  # Check every Service in the current namespace from this machine
  kubectl svccheck

  # Check one Service over HTTP, attributing answers to pods
  kubectl svccheck web -n shop --http

  # Every Service in the cluster as JSON, for a CI gate
  kubectl svccheck -A -o json`,
		Version:           Version,
		Args:              cobra.ArbitraryArgs, // Service names; subcommand names win
		SilenceUsage:      true,
		SilenceErrors:     true,
		ValidArgsFunction: o.completeServices,
		RunE: interruptible(func(c *cobra.Command, args []string) error {
			// Every flag is checked before the kubeconfig is read: a bad
			// flag is a usage error (exit 2) whatever the cluster.
			o.Names = args
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run(c.Context())
		}),
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitcode.Error{Code: exitcode.Usage, Err: err}
	})
	o.addGlobalFlags(cmd.PersistentFlags())
	o.addRunFlags(cmd.Flags())
	o.addAgentFlags(cmd.Flags())
	o.addExpectFlags(cmd.Flags())
	o.addConvergeFlags(cmd.Flags())
	o.addScaleFlags(cmd.Flags())
	o.PrintFlags.TemplatePrinterFlags.AddFlags(cmd)
	cmd.AddCommand(newAgentCmd(), newCleanupCmd(o), newVersionCmd(o.Options), newSchemaCmd(o.Options))
	cmd.AddCommand(newConfigCmd(o.Options))
	o.registerCompletions(cmd)
	return cmd
}

// interruptible makes any error of a command whose context was cancelled
// (Ctrl-C, SIGTERM) exit 130 with one line, whatever was in flight: an API
// call failing with "context canceled" is the interrupt, not a cluster error.
func interruptible(run func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		err := run(c, args)
		ctx := c.Context()
		if err == nil || ctx == nil || ctx.Err() == nil || ExitCode(err) == ExitInterrupted {
			return err
		}
		return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("interrupted (%v)", context.Cause(ctx))}
	}
}

// addGlobalFlags adds the flags every subcommand takes: kubectl's
// (ConfigFlags), -A and klog's verbosity.
func (o *Options) addGlobalFlags(f *pflag.FlagSet) {
	o.ConfigFlags.AddFlags(f)
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "check Services in all namespaces (cleanup: agents in all namespaces)")
	klogFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(klogFlags)
	v := pflag.PFlagFromGoFlag(klogFlags.Lookup("v"))
	v.Shorthand = "v"
	v.Usage = "log verbosity, as kubectl's -v: 6 logs every API request, 7 their headers, 8 response bodies"
	f.AddFlag(v)
	f.AddFlag(pflag.PFlagFromGoFlag(klogFlags.Lookup("vmodule")))
}

// addRunFlags adds what to check and how to report it.
func (o *Options) addRunFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Selector, "selector", "l", "", "label selector on Services (e.g. app=web)")
	f.StringVar(&o.From, "from", o.From, "vantage points: local (this machine), cluster (an agent pod), nodes (a hostNetwork agent per Ready node), all (local+cluster) or everywhere (all three)")
	f.StringVarP(&o.Output, "output", "o", o.Output, "output format: "+strings.Join(report.Formats, "|")+
		", or kubectl's name|jsonpath=...|jsonpath-as-json=...|jsonpath-file=...|go-template=...|go-template-file=...|template=...|templatefile=...|custom-columns=... (jsonpath and templates see the JSON report; name and custom-columns print one line per Service)")
	f.BoolVar(&o.NoHeaders, "no-headers", false, "table, wide and custom-columns output: leave out the header line")
	f.StringVar(&o.Color, "color", o.Color, "colour PASS/FAIL and severities in table output: auto (when stdout is a terminal and NO_COLOR is unset), always or never")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of each connection attempt")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "finished probes processed at once (evaluation, progress, the report: CPU-bound work); probes waiting on their sockets do not count (see --max-connections)")
	f.StringSliceVar(&o.AddressTypes, "node-address-type", o.AddressTypes, "node address types whose NodePorts are probed from outside: "+strings.Join(addressTypes, ","))
	f.StringVar(&o.OutputFile, "output-file", "", "also write the report to this file, in the format its extension names: .json, .yaml/.yml, .xml (JUnit)")
	f.StringVar(&o.Baseline, "baseline", "", "compare with a saved JSON report and fail only on regressions (paths that passed then and fail now)")
	f.IntVar(&o.Tries, "attempts", o.Tries, "run a failed probe up to this many times in all, so one lost packet does not fail the run")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan (probes per vantage point, worst-case time) and exit; only discovery touches the cluster")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only the findings and the summary line (table output), no progress")
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "least severe finding that makes the exit code 1: error, warning or never")
	f.BoolVar(&o.HTTP, "http", false, "probe every TCP port with HTTP GET and attribute answers to pods (default: only ports named or appProtocol http)")
}

// addAgentFlags adds how the in-cluster agent runs.
func (o *Options) addAgentFlags(f *pflag.FlagSet) {
	addAgentNamespaceFlag(f, o)
	f.StringVar(&o.Image, "image", envOr("SVCCHECK_IMAGE", DefaultImage()), "agent image (env SVCCHECK_IMAGE)")
	f.StringVar(&o.ImagePullPolicy, "image-pull-policy", envOr("SVCCHECK_IMAGE_PULL_POLICY", string(corev1.PullIfNotPresent)), "agent image pull policy: Always, IfNotPresent or Never (env SVCCHECK_IMAGE_PULL_POLICY)")
	f.StringVar(&o.Node, "node", "", "run the agent on this node")
	f.BoolVar(&o.KeepAgent, "keep-agent", false, "keep the agent after the run, for debugging (remove it with the cleanup command)")
	f.DurationVar(&o.AgentTimeout, "agent-timeout", o.AgentTimeout, "how long to wait for the agent pod to run")
	f.DurationVar(&o.AgentDeadline, "agent-deadline", 0, "the agent's activeDeadlineSeconds (default: derived from the plan's worst case)")
	_ = f.MarkHidden("agent-deadline")
}

func addAgentNamespaceFlag(f *pflag.FlagSet, o *Options) {
	f.StringVar(&o.AgentNamespace, "agent-namespace", envOr("SVCCHECK_AGENT_NAMESPACE", ""),
		"namespace of the in-cluster agent (env SVCCHECK_AGENT_NAMESPACE; default: the current namespace); deploy/rbac.yaml sets up a dedicated \"svccheck\" namespace")
}

func newVersionCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version and the agent image it uses",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			fmt.Fprintf(o.Out, "kubectl-svccheck %s\nagent image %s\nreport %s\n", Version, o.Image, report.APIVersion)
		},
	}
}

func newSchemaCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the -o json report",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := o.Out.Write(report.Schema)
			return err
		},
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
