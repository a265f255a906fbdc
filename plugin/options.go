package plugin

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

// Options are the command's flags and what Complete derives from them.
type Options struct {
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Names         []string
	AllNamespaces bool
	Selector      string
	From          string
	Output        string
	Timeout       time.Duration
	Concurrency   int
	AddressTypes  []string
	HTTP          bool
	FailOn        string
	OutputFile    string
	Baseline      string
	Tries         int
	DryRun        bool
	Quiet         bool

	baseline *report.Report

	AgentNamespace  string
	Image           string
	ImagePullPolicy string
	Node            string
	KeepAgent       bool
	AgentTimeout    time.Duration
	AgentDeadline   time.Duration

	namespace  string
	client     kubernetes.Interface
	restConfig *rest.Config
	now        func() time.Time
	// local probes from this machine (prober.Sockets when nil); agents start
	// the in-cluster vantage points (Jobs when nil).
	local  probe.Prober
	agents Agents
}

// NewOptions returns Options with defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		ConfigFlags:  genericclioptions.NewConfigFlags(true),
		IOStreams:    streams,
		From:         "local",
		Output:       "table",
		Timeout:      2 * time.Second,
		Concurrency:  64,
		FailOn:       "error",
		Tries:        1,
		AddressTypes: []string{"InternalIP"},
		AgentTimeout: 60 * time.Second,
		now:          time.Now,
	}
}

// Complete fills in what the flags imply: names, namespace, API client.
func (o *Options) Complete(args []string) error {
	o.Names = args
	if o.client != nil {
		return nil
	}
	loader := o.ConfigFlags.ToRawKubeConfigLoader()
	ns, _, err := loader.Namespace()
	if err != nil {
		return &ExitError{Code: ExitCluster, Err: fmt.Errorf("load kubeconfig: %w", err)}
	}
	o.namespace = ns
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return &ExitError{Code: ExitCluster, Err: fmt.Errorf("load kubeconfig: %w", err)}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second // an unreachable API fails fast, not after the OS's TCP timeout
	}
	o.restConfig = cfg
	o.client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return &ExitError{Code: ExitCluster, Err: fmt.Errorf("create client for %s: %w", cfg.Host, err)}
	}
	return nil
}

// Validate rejects flag combinations that cannot work, with exit code 2.
func (o *Options) Validate() error {
	for _, check := range []func() error{o.validateOutput, o.validateProbing, o.validateAgent} {
		if err := check(); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	return nil
}

// validateOutput checks the report flags: format, file, baseline, --fail-on.
func (o *Options) validateOutput() error {
	if !slices.Contains(report.Formats, o.Output) {
		return fmt.Errorf("unknown output format %q: want one of %s", o.Output, strings.Join(report.Formats, ", "))
	}
	if o.OutputFile != "" {
		if _, err := report.FormatForFile(o.OutputFile); err != nil {
			return fmt.Errorf("--output-file: %v", err)
		}
	}
	if _, err := diagnose.ParseFailOn(o.FailOn); err != nil {
		return err
	}
	if o.Baseline == "" {
		return nil
	}
	data, err := os.ReadFile(o.Baseline)
	if err != nil {
		return fmt.Errorf("--baseline: %v", err)
	}
	var base report.Report
	if err := json.Unmarshal(data, &base); err != nil {
		return fmt.Errorf("--baseline %s is not a JSON report: %v", o.Baseline, err)
	}
	if base.APIVersion != report.APIVersion || base.Kind != report.Kind {
		return fmt.Errorf("--baseline %s is %s %s, want %s %s", o.Baseline, base.APIVersion, base.Kind, report.APIVersion, report.Kind)
	}
	o.baseline = &base
	return nil
}

// validateProbing checks what and how to probe.
func (o *Options) validateProbing() error {
	if _, err := o.vantagePoints(); err != nil {
		return err
	}
	switch {
	case o.Tries < 1 || o.Tries > 10:
		return fmt.Errorf("--attempts must be between 1 and 10, got %d", o.Tries)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	case o.Concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1, got %d", o.Concurrency)
	case len(o.AddressTypes) == 0:
		return fmt.Errorf("--node-address-type needs at least one of %s", strings.Join(addressTypes, ", "))
	case o.AllNamespaces && len(o.Names) > 0:
		return fmt.Errorf("Service names need a single namespace: drop -A or the names")
	}
	for _, t := range o.AddressTypes {
		if !slices.Contains(addressTypes, t) {
			return fmt.Errorf("unknown node address type %q: want %s", t, strings.Join(addressTypes, ", "))
		}
	}
	return nil
}

// validateAgent checks the in-cluster agent's flags.
func (o *Options) validateAgent() error {
	switch corev1.PullPolicy(o.ImagePullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("unknown --image-pull-policy %q: want Always, IfNotPresent or Never", o.ImagePullPolicy)
	}
	if o.AgentTimeout <= 0 {
		return fmt.Errorf("--agent-timeout must be positive, got %s", o.AgentTimeout)
	}
	if o.Image == "" {
		return fmt.Errorf("--image must not be empty")
	}
	return nil
}

// vantagePoints maps --from to the planner's vantage points; "cluster" is the
// agent pod, probe.FromPod.
func (o *Options) vantagePoints() ([]probe.From, error) {
	switch o.From {
	case "local":
		return []probe.From{probe.FromLocal}, nil
	case "cluster":
		return []probe.From{probe.FromPod}, nil
	case "nodes":
		return []probe.From{probe.FromNodes}, nil
	case "all":
		return []probe.From{probe.FromLocal, probe.FromPod}, nil
	case "everywhere":
		return []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, nil
	}
	return nil, fmt.Errorf("unknown --from %q: want local, cluster, nodes, all or everywhere", o.From)
}
