// Package plugin is the kubectl-svccheck command: flags, discovery through the
// Kubernetes API, running the plan and writing the report.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/report"
)

// Exit codes; stable and documented in the README.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitCluster     = 3
	ExitAgent       = 4
	ExitInterrupted = 130
)

// ExitError carries the process exit code for an error. A nil Err means the
// report already said everything (checks failed) and nothing more is printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by the command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitUsage // cobra's own errors: unknown flags, bad arguments
}

// Version is the build's version, set with -ldflags -X at release time.
var Version = "dev"

var addressTypes = []string{"InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS"}

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
	Attempts      int
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
	// probers override the vantage points' probers (tests).
	probers map[probe.From]probe.Prober
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
		Attempts:     1,
		AddressTypes: []string{"InternalIP"},
		AgentTimeout: 60 * time.Second,
		now:          time.Now,
	}
}

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
		return &ExitError{Code: ExitUsage, Err: err}
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
	f.IntVar(&o.Attempts, "attempts", o.Attempts, "run a failed probe up to this many times in all, so one lost packet does not fail the run")
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

// Validate rejects flag combinations that cannot work.
func (o *Options) Validate() error {
	usage := func(format string, a ...any) error {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
	}
	if _, err := o.vantagePoints(); err != nil {
		return usage("%v", err)
	}
	if !slices.Contains(report.Formats, o.Output) {
		return usage("unknown output format %q: want one of %s", o.Output, strings.Join(report.Formats, ", "))
	}
	if o.Attempts < 1 || o.Attempts > 10 {
		return usage("--attempts must be between 1 and 10, got %d", o.Attempts)
	}
	if o.Baseline != "" {
		data, err := os.ReadFile(o.Baseline)
		if err != nil {
			return usage("--baseline: %v", err)
		}
		var base report.Report
		if err := json.Unmarshal(data, &base); err != nil {
			return usage("--baseline %s is not a JSON report: %v", o.Baseline, err)
		}
		if base.APIVersion != report.APIVersion || base.Kind != report.Kind {
			return usage("--baseline %s is %s %s, want %s %s", o.Baseline, base.APIVersion, base.Kind, report.APIVersion, report.Kind)
		}
		o.baseline = &base
	}
	if o.OutputFile != "" {
		if _, err := report.FormatForFile(o.OutputFile); err != nil {
			return usage("--output-file: %v", err)
		}
	}
	if !slices.Contains([]string{"error", "warning", "never"}, o.FailOn) {
		return usage("unknown --fail-on %q: want error, warning or never", o.FailOn)
	}
	if o.Timeout <= 0 {
		return usage("--timeout must be positive, got %s", o.Timeout)
	}
	if o.Concurrency < 1 {
		return usage("--concurrency must be at least 1, got %d", o.Concurrency)
	}
	if len(o.AddressTypes) == 0 {
		return usage("--node-address-type needs at least one of %s", strings.Join(addressTypes, ", "))
	}
	for _, t := range o.AddressTypes {
		if !slices.Contains(addressTypes, t) {
			return usage("unknown node address type %q: want %s", t, strings.Join(addressTypes, ", "))
		}
	}
	switch corev1.PullPolicy(o.ImagePullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return usage("unknown --image-pull-policy %q: want Always, IfNotPresent or Never", o.ImagePullPolicy)
	}
	if o.AgentTimeout <= 0 {
		return usage("--agent-timeout must be positive, got %s", o.AgentTimeout)
	}
	if o.Image == "" {
		return usage("--image must not be empty")
	}
	if o.AllNamespaces && len(o.Names) > 0 {
		return usage("Service names need a single namespace: drop -A or the names")
	}
	return nil
}

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

// Run discovers, plans, probes, diagnoses and writes the report. It returns an
// *ExitError whose code is the process's exit code.
func (o *Options) Run(ctx context.Context) error {
	start := o.now()
	from, _ := o.vantagePoints()
	sc := Scope{Namespace: o.namespace, Selector: o.Selector, Names: o.Names}
	if o.AllNamespaces {
		sc.Namespace = ""
	}
	if o.wantsAgent() && !o.DryRun {
		if err := preflight(ctx, o.client, sc.Namespace, o.agentNamespace()); err != nil {
			return err
		}
	}
	inv, err := Discover(ctx, o.client, sc)
	if err != nil {
		if ctx.Err() != nil {
			return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("interrupted during discovery")}
		}
		return err
	}
	plan := probe.BuildPlan(inv, probe.PlanOptions{From: from, AddressTypes: o.AddressTypes, HTTP: o.HTTP})
	if o.DryRun {
		return o.printPlan(inv, plan)
	}
	if slices.Contains(from, probe.FromPod) || slices.Contains(from, probe.FromNodes) {
		if err := o.validateNode(inv); err != nil {
			return err
		}
		o.skipDNSWithoutClusterDNS(ctx, plan)
	}
	results, err := o.execute(ctx, &plan)
	if err != nil {
		return err
	}
	findings := probe.Diagnose(inv, plan, results)

	md := report.Metadata{GeneratedAt: start.UTC(), DurationMs: o.now().Sub(start).Milliseconds()}
	if o.restConfig != nil {
		md.Server = o.restConfig.Host
	}
	if o.ConfigFlags != nil && o.ConfigFlags.Context != nil {
		md.Context = *o.ConfigFlags.Context
	}
	scope := report.Scope{Namespace: sc.Namespace, AllNamespaces: o.AllNamespaces, Selector: o.Selector, Services: o.Names}
	for _, f := range from {
		scope.From = append(scope.From, string(f))
	}
	rep := report.Build(report.Input{Inventory: inv, Plan: plan, Results: results, Findings: findings, Metadata: md, Scope: scope,
		FailOn: probe.Severity(o.FailOn)})
	if o.baseline != nil {
		rep.ApplyBaseline(o.Baseline, o.baseline)
	}
	color := o.Output != "json" && isTerminalWriter(o.Out) && os.Getenv("NO_COLOR") == ""
	if err := report.RenderWith(o.Out, &rep, o.Output, report.Options{Quiet: o.Quiet, Color: color}); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("write report: %w", err)}
	}
	if o.OutputFile != "" {
		if err := writeReportFile(o.OutputFile, &rep); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	switch {
	case rep.Interrupted:
		return &ExitError{Code: ExitInterrupted}
	case !rep.Passed():
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

func (o *Options) wantsAgent() bool {
	from, _ := o.vantagePoints()
	return (slices.Contains(from, probe.FromPod) || slices.Contains(from, probe.FromNodes)) && o.probers == nil
}

func (o *Options) agentNamespace() string {
	if o.AgentNamespace != "" {
		return o.AgentNamespace
	}
	return o.namespace
}

func (o *Options) validateNode(inv probe.Inventory) error {
	if o.Node == "" {
		return nil
	}
	for _, n := range inv.Nodes {
		if n.Name == o.Node {
			return nil
		}
	}
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf("node %q not found (--node)", o.Node)}
}

// skipDNSWithoutClusterDNS marks DNS probes not run when the cluster has no
// kube-system/kube-dns Service: without cluster DNS they cannot pass, and
// saying so is more useful than a dnsError per Service.
func (o *Options) skipDNSWithoutClusterDNS(ctx context.Context, plan probe.Plan) {
	_, err := o.client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return
	}
	for i := range plan.Probes {
		if p := &plan.Probes[i]; p.Via == probe.ViaDNS && p.Skip == "" {
			p.Skip = "no cluster DNS (no kube-system/kube-dns Service)"
		}
	}
}

// execute runs the plan: local probes here, every other vantage point's
// probes in its own agent (a pod, or a hostNetwork pod per node), all at
// once; results[i] is for plan.Probes[i].
func (o *Options) execute(ctx context.Context, plan *probe.Plan) ([]probe.Result, error) {
	results := make([]probe.Result, len(plan.Probes))
	var local []int
	remote := map[probe.From][]int{}
	var order []probe.From
	for i := range plan.Probes {
		f := plan.Probes[i].From
		if f == probe.FromLocal || o.probers != nil {
			local = append(local, i)
			continue
		}
		if _, ok := remote[f]; !ok {
			order = append(order, f)
		}
		remote[f] = append(remote[f], i)
	}
	var errOut any = o.ErrOut
	if o.Quiet {
		errOut = nil
	}
	prog := newProgress(errOut, len(plan.Probes))
	defer prog.finish()
	agents := make([]*agent, len(order))
	if len(order) > 0 {
		prog.say(fmt.Sprintf("starting %d agent pod(s)", len(order)))
		g, gctx := errgroup.WithContext(ctx)
		for k, f := range order {
			g.Go(func() error {
				a, err := startAgent(gctx, o.client, o.restConfig, o.agentConfig(plan, remote[f], f))
				agents[k] = a
				return err
			})
		}
		err := g.Wait()
		for k, a := range agents {
			if a != nil {
				defer a.delete()
				if plan.AgentNodes == nil {
					plan.AgentNodes = map[probe.From]string{}
				}
				plan.AgentNodes[order[k]] = a.node
			}
		}
		if err != nil {
			return nil, err
		}
	}
	probers := o.probers
	if probers == nil {
		probers = map[probe.From]probe.Prober{probe.FromLocal: &probe.Local{Timeout: o.Timeout}}
	}
	var wg sync.WaitGroup
	for k, f := range order {
		idx := remote[f]
		sub := make([]probe.Probe, len(idx))
		for n, i := range idx {
			sub[n] = plan.Probes[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			agents[k].run(ctx, sub, probe.AgentRequest{Timeout: o.Timeout, Concurrency: o.Concurrency, Tries: o.Attempts}, func(n int, r probe.Result) {
				i := idx[n]
				probe.Evaluate(&plan.Probes[i], &r)
				results[i] = r
				prog.done(i, r)
			})
		}()
	}
	sub := make([]probe.Probe, len(local))
	for k, i := range local {
		sub[k] = plan.Probes[i]
	}
	for k, r := range probe.RunTries(ctx, sub, probers, o.Concurrency, o.Attempts, prog.done) {
		results[local[k]] = r
	}
	wg.Wait()
	return results, nil
}

func (o *Options) agentConfig(plan *probe.Plan, remote []int, from probe.From) AgentConfig {
	// Worst case: every attempt of every probe times out, concurrency at a time.
	attempts := 0
	for _, i := range remote {
		attempts += max(plan.Probes[i].Attempts, 1)
	}
	work := time.Duration((attempts+o.Concurrency-1)/o.Concurrency) * o.Timeout
	deadline := min(max(o.AgentTimeout+work+30*time.Second, 60*time.Second), 6*time.Hour)
	if o.AgentDeadline > 0 {
		deadline = o.AgentDeadline
	}
	cfg := AgentConfig{Namespace: o.agentNamespace(), Image: o.Image, ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy),
		Node: o.Node, StartTimeout: o.AgentTimeout, Deadline: deadline.Round(time.Second), Keep: o.KeepAgent}
	if n := from.Node(); n != "" {
		cfg.Node, cfg.HostNetwork = n, true
	}
	return cfg
}

// printPlan is --dry-run: what would run, from where, and how long it could
// take if every connection timed out.
func (o *Options) printPlan(inv probe.Inventory, plan probe.Plan) error {
	type row struct{ probes, skipped, conns int }
	rows := map[probe.From]*row{}
	var order []probe.From
	for _, p := range plan.Probes {
		r, ok := rows[p.From]
		if !ok {
			r = &row{}
			rows[p.From] = r
			order = append(order, p.From)
		}
		r.probes++
		if p.Skip != "" {
			r.skipped++
			continue
		}
		r.conns += max(p.Attempts, 1) * o.Attempts
	}
	fmt.Fprintf(o.Out, "PLAN for %s on %s: %s (dry run: nothing was probed)\n\n", report.Count(len(inv.Services), "Service"), report.Count(len(inv.Nodes), "node"), report.Count(len(plan.Probes), "probe"))
	fmt.Fprintf(o.Out, "%-16s %8s %8s %16s %12s\n", "FROM", "PROBES", "SKIPPED", "MAX CONNECTIONS", "WORST CASE")
	var worst time.Duration
	for _, f := range order {
		r := rows[f]
		d := time.Duration((r.conns+o.Concurrency-1)/o.Concurrency) * o.Timeout
		if f != probe.FromLocal {
			d += o.AgentTimeout
		}
		worst = max(worst, d)
		fmt.Fprintf(o.Out, "%-16s %8d %8d %16d %12s\n", f, r.probes, r.skipped, r.conns, d)
	}
	fmt.Fprintf(o.Out, "\nWorst case %s: every connection timing out after %s, %d at a time, vantage points in parallel", worst, o.Timeout, o.Concurrency)
	if len(order) > 1 || len(order) == 1 && order[0] != probe.FromLocal {
		fmt.Fprintf(o.Out, ", agent start included (%s)", o.AgentTimeout)
	}
	fmt.Fprintln(o.Out, ".")
	return nil
}

// writeReportFile writes the report atomically: a CI step never reads half a file.
func writeReportFile(name string, rep *report.Report) error {
	format, _ := report.FormatForFile(name)
	tmp, err := os.CreateTemp(filepath.Dir(name), ".svccheck-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := report.Render(tmp, rep, format); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// progress shows done/total on stderr while probes run, only on a terminal.
type progress struct {
	mu     sync.Mutex
	w      *os.File
	total  int
	n      atomic.Int64
	failed atomic.Int64
	last   time.Time
}

func newProgress(w any, total int) *progress {
	if w == nil {
		return &progress{total: total}
	}
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) || total == 0 {
		return &progress{total: total}
	}
	return &progress{w: f, total: total}
}

func isTerminalWriter(w any) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) done(_ int, r probe.Result) {
	n := p.n.Add(1)
	if !r.Pass {
		p.failed.Add(1)
	}
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && int(n) != p.total {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\rprobing %d/%d, %d failed ", n, p.total, p.failed.Load())
}

func (p *progress) say(msg string) {
	if p.w != nil {
		fmt.Fprintf(p.w, "\r\033[K%s ", msg)
	}
}

func (p *progress) finish() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
