package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/svccheck/svccheck/plugin/agentjob"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svccheck/svccheck/plugin/engine"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/expect"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/report"
)

// defaultRequestTimeout bounds each API request unless --request-timeout
// says otherwise ("0": no timeout), so an unreachable API server fails fast
// instead of after the operating system's TCP timeout.
const defaultRequestTimeout = "15s"

// Options are the command's flags, nothing else: what Complete and Validate
// make of them lives in a command.
type Options struct {
	ConfigFlags *genericclioptions.ConfigFlags
	// PrintFlags are kubectl's printers: name, jsonpath, go-template, and
	// their --template and --allow-missing-template-keys flags.
	PrintFlags *genericclioptions.PrintFlags
	genericiooptions.IOStreams

	Names         []string
	AllNamespaces bool
	Selector      string
	From          string
	Output        string
	NoHeaders     bool
	Color         string
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
	// WaitConverged bounds the wait for recently changed Services' paths to
	// agree with their expectations; 0 is off.
	WaitConverged  time.Duration
	ConvergeWindow time.Duration
	// scaleOptions: --max-connections, --exhaustive, --max-time,
	// --agent-nodes, --agent-node-selector (scale.go).
	scaleOptions

	AgentNamespace  string
	Image           string
	ImagePullPolicy string
	Node            string
	KeepAgent       bool
	AgentTimeout    time.Duration
	AgentDeadline   time.Duration
	// expectOptions: --config, --expect-routable-pods, --expect-internal,
	// --as-client (exceptions.go, policy.go).
	expectOptions
}

// command is one invocation: its flags, the cluster they lead to
// (Complete), and what Validate makes of them. Tests set the cluster and
// the vantage points' probers themselves.
type command struct {
	*Options

	namespace  string
	client     kubernetes.Interface
	restConfig *rest.Config
	now        func() time.Time
	// local probes from this machine (real sockets when nil); reacher knocks
	// on node addresses (the sockets when nil and local is nil); agents
	// start the in-cluster vantage points (Jobs when nil).
	local   probe.Prober
	reacher engine.Reacher
	agents  engine.Starter
	// cleanup bounds the removal of the run's objects
	// (agentjob.DefaultCleanup when zero).
	cleanup agentjob.CleanupPolicy
	// terminal tells whether a stream is a terminal (isTerminal when nil).
	terminal func(any) bool
	// completionTimeout bounds completion's API calls (completionTimeout
	// when zero).
	completionTimeout time.Duration

	// What Validate made of the flags.
	baseline *report.Report
	// printer renders the report in a kubectl format; nil for the report's
	// own formats (report.Formats).
	printer  reportPrinter
	expect   *expect.Config
	asClient *engine.AsClient
}

func newCommand(o *Options) *command { return &command{Options: o, now: time.Now} }

// NewOptions returns Options with defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	cf := genericclioptions.NewConfigFlags(true)
	timeout := defaultRequestTimeout
	cf.Timeout = &timeout
	pf := genericclioptions.NewPrintFlags("")
	pf.JSONYamlPrintFlags = nil // json and yaml are the report's own
	return &Options{
		ConfigFlags:  cf,
		PrintFlags:   pf,
		IOStreams:    streams,
		From:         "local",
		Output:       "table",
		Color:        "auto",
		Timeout:      2 * time.Second,
		Concurrency:  64,
		FailOn:       "error",
		Tries:        1,
		AddressTypes: []string{"InternalIP"},
		AgentTimeout: 60 * time.Second,
		scaleOptions: scaleOptions{MaxConnections: defaultMaxConnections, AgentNodes: plan.DefaultAgentNodes},
	}
}

// Complete fills in what the flags imply: names, namespace, API client.
func (o *command) Complete(args []string) error {
	o.Names = args
	if err := o.validateRequestTimeout(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if o.client != nil {
		return nil
	}
	loader := o.ConfigFlags.ToRawKubeConfigLoader()
	if err := o.checkKubeconfig(loader); err != nil {
		return &ExitError{Code: ExitCluster, Err: err}
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return &ExitError{Code: ExitCluster, Err: fmt.Errorf("load kubeconfig: %w", err)}
	}
	o.namespace = ns
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return &ExitError{Code: ExitCluster, Err: fmt.Errorf("load kubeconfig: %w", err)}
	}
	if cfg.QPS == 0 { // client-go's default, 5/s, makes a large discovery and many agents wait on the client
		cfg.QPS, cfg.Burst = 50, 100
	}
	o.restConfig = cfg
	o.client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return &ExitError{Code: ExitCluster, Err: fmt.Errorf("create client for %s: %w", cfg.Host, err)}
	}
	return nil
}

// validateRequestTimeout rejects a --request-timeout client-go cannot parse,
// or a negative one, before anything else reads the kubeconfig.
func (o *Options) validateRequestTimeout() error {
	if o.ConfigFlags.Timeout == nil {
		return nil
	}
	t := *o.ConfigFlags.Timeout
	if d, err := clientcmd.ParseTimeout(t); err != nil || d < 0 {
		return fmt.Errorf("invalid --request-timeout %q: want 0 (no timeout), seconds, or a number with a unit (1s, 2m, 3h)", t)
	}
	return nil
}

// checkKubeconfig says where a kubeconfig was looked for when none was found,
// instead of letting client-go fall back to http://localhost:8080.
func (o *command) checkKubeconfig(loader clientcmd.ClientConfig) error {
	cf := o.ConfigFlags
	if cf.APIServer != nil && *cf.APIServer != "" || os.Getenv("KUBERNETES_MASTER") != "" {
		return nil
	}
	raw, err := loader.RawConfig()
	if err != nil || len(raw.Clusters) > 0 {
		return nil // a kubeconfig was found, or the error says what is wrong with it
	}
	_, err = rest.InClusterConfig()
	if err == nil {
		return nil
	}
	inCluster := err.Error()
	if errors.Is(err, rest.ErrNotInCluster) {
		inCluster = "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset"
	}
	where := strings.Join(loader.ConfigAccess().GetLoadingPrecedence(), ", ") + " ($KUBECONFIG unset)"
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		where = clientcmd.RecommendedConfigPathEnvVar + "=" + env
	}
	return fmt.Errorf("no kubeconfig found: looked in %s, and no in-cluster config (%s); use --kubeconfig or set KUBECONFIG", where, inCluster)
}

// Validate rejects flag combinations that cannot work, with exit code 2.
func (o *command) Validate() error {
	for _, check := range []func() error{o.validateOutput, o.validateProbing, o.validateAgent, o.validateConverge, o.validateScale} {
		if err := check(); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if err := o.validateExpectations(); err != nil { // exceptions.go
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return nil
}

// validateOutput checks the report flags: format, colour, file, baseline,
// --fail-on.
func (o *command) validateOutput() error {
	if err := o.validateFormat(); err != nil {
		return err
	}
	if !slices.Contains(colorModes, o.Color) {
		return fmt.Errorf("unknown --color %q: want %s", o.Color, strings.Join(colorModes, ", "))
	}
	if o.OutputFile != "" {
		if _, err := report.FormatForFile(o.OutputFile); err != nil {
			return fmt.Errorf("--output-file: %v", err)
		}
		if err := checkWritable(o.OutputFile); err != nil {
			return err
		}
	}
	if _, err := diagnose.ParseFailOn(o.FailOn); err != nil {
		return err
	}
	if o.Baseline == "" {
		return nil
	}
	return o.loadBaseline()
}

// checkWritable proves the report file can be written where it goes, by
// creating and removing a file beside it, before anything is probed.
func checkWritable(name string) error {
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("--output-file %s is a directory", name)
	}
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".svccheck-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("--output-file %s: cannot write in %s: %v", name, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func (o *command) loadBaseline() error {
	data, err := os.ReadFile(o.Baseline)
	if err != nil {
		return fmt.Errorf("--baseline: %v", err)
	}
	var base report.Report
	if err := json.Unmarshal(data, &base); err != nil {
		return fmt.Errorf("--baseline %s is not a JSON report: %v", o.Baseline, err)
	}
	if base.Kind != report.Kind || base.APIVersion != report.APIVersion && base.APIVersion != report.APIVersionV1Alpha1 {
		return fmt.Errorf("--baseline %s is %s %s, want %s %s (or %s)", o.Baseline, base.APIVersion, base.Kind, report.APIVersion, report.Kind, report.APIVersionV1Alpha1)
	}
	o.baseline = &base
	return nil
}

// validateProbing checks what and how to probe.
func (o *command) validateProbing() error {
	if _, err := o.vantagePoints(); err != nil {
		return err
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		return fmt.Errorf("invalid --selector %q: %v", o.Selector, err)
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
		return fmt.Errorf("naming Services needs a single namespace: drop -A or the names")
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

// fromValue is one --from value: its name, what completion says of it, and
// the planner's vantage points it stands for.
type fromValue struct {
	name, help string
	from       []probe.From
}

// fromValues are the --from values, in the order help, completion and errors
// list them; "cluster" is the agent pod, probe.FromPod.
var fromValues = []fromValue{
	{"local", "this machine", []probe.From{probe.FromLocal}},
	{"cluster", "an agent pod", []probe.From{probe.FromPod}},
	{"nodes", "a hostNetwork agent on every Ready node", []probe.From{probe.FromNodes}},
	{"all", "local and cluster", []probe.From{probe.FromLocal, probe.FromPod}},
	{"everywhere", "local, cluster and nodes", []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}},
}

// fromNames lists the --from values: "local, cluster, nodes, all or everywhere".
func fromNames() string {
	names := make([]string, len(fromValues))
	for i, v := range fromValues {
		names[i] = v.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// vantagePoints maps --from to the planner's vantage points.
func (o *Options) vantagePoints() ([]probe.From, error) {
	for _, v := range fromValues {
		if v.name == o.From {
			return slices.Clone(v.from), nil
		}
	}
	return nil, fmt.Errorf("unknown --from %q: want %s", o.From, fromNames())
}
