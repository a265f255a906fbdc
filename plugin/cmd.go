// Package plugin is the kubectl-svccheck command: its flags, and the run that
// ties discovery (plugin/cluster), the plan (probe/plan), the probers
// (probe/prober, and agents in the cluster), the diagnosis (probe/diagnose) and
// the report (report) together.
package plugin

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

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

var addressTypes = []string{"InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS"}

// DefaultImage is the agent image for this build: the same binary, published
// with the release's version.
func DefaultImage() string { return "ghcr.io/svccheck/svccheck:" + Version }

// NewCmd returns the kubectl-svccheck root command.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	return newCmd(NewOptions(streams))
}

func newCmd(o *Options) *cobra.Command {
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
		Version:       Version,
		Args:          cobra.ArbitraryArgs, // Service names; subcommand names win
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitcode.Error{Code: exitcode.Usage, Err: err}
	})
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "check Services in all namespaces")
	f.StringVarP(&o.Selector, "selector", "l", "", "label selector on Services (e.g. app=web)")
	f.StringVar(&o.From, "from", o.From, "vantage points: local (this machine), cluster (an agent pod), nodes (a hostNetwork agent per Ready node), all (local+cluster) or everywhere (all three)")
	f.StringVarP(&o.Output, "output", "o", o.Output, "output format: "+strings.Join(report.Formats, "|"))
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of each connection attempt")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "probes in flight at once")
	f.StringSliceVar(&o.AddressTypes, "node-address-type", o.AddressTypes, "node address types whose NodePorts are probed from outside: "+strings.Join(addressTypes, ","))
	f.StringVar(&o.OutputFile, "output-file", "", "also write the report to this file, in the format its extension names: .json, .yaml/.yml, .xml (JUnit)")
	f.StringVar(&o.Baseline, "baseline", "", "compare with a saved JSON report and fail only on regressions (paths that passed then and fail now)")
	f.IntVar(&o.Tries, "attempts", o.Tries, "run a failed probe up to this many times in all, so one lost packet does not fail the run")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan (probes per vantage point, worst-case time) and exit; only discovery touches the cluster")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only the findings and the summary line (table output), no progress")
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "least severe finding that makes the exit code 1: error, warning or never")
	f.BoolVar(&o.HTTP, "http", false, "probe every TCP port with HTTP GET and attribute answers to pods (default: only ports named or appProtocol http)")
	f.StringVar(&o.AgentNamespace, "agent-namespace", "", "namespace of the in-cluster agent (default: the current namespace)")
	f.StringVar(&o.Image, "image", envOr("SVCCHECK_IMAGE", DefaultImage()), "agent image (env SVCCHECK_IMAGE)")
	f.StringVar(&o.ImagePullPolicy, "image-pull-policy", envOr("SVCCHECK_IMAGE_PULL_POLICY", string(corev1.PullIfNotPresent)), "agent image pull policy: Always, IfNotPresent or Never (env SVCCHECK_IMAGE_PULL_POLICY)")
	f.StringVar(&o.Node, "node", "", "run the agent on this node")
	f.BoolVar(&o.KeepAgent, "keep-agent", false, "keep the agent after the run, for debugging (remove it with the cleanup command)")
	f.DurationVar(&o.AgentTimeout, "agent-timeout", o.AgentTimeout, "how long to wait for the agent pod to run")
	f.DurationVar(&o.AgentDeadline, "agent-deadline", 0, "the agent's activeDeadlineSeconds (default: derived from the plan's worst case)")
	_ = f.MarkHidden("agent-deadline")
	o.ConfigFlags.AddFlags(f)
	cmd.AddCommand(newAgentCmd(), newCleanupCmd(o), &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version and the agent image it uses",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			fmt.Fprintf(o.Out, "kubectl-svccheck %s\nagent image %s\nreport %s\n", Version, o.Image, report.APIVersion)
		},
	}, &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the -o json report",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := o.Out.Write(report.Schema)
			return err
		},
	})
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
