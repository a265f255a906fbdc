// Package agentjob runs svccheck's in-cluster vantage points: an agent is a
// Job per vantage point (a pod on the pod network, or a hostNetwork pod on a
// node) labelled with the run's id, checked beforehand by the RBAC preflight,
// driven through an exec stream, and deleted with everything else of its run
// by the run's Ledger however the run ends.
package agentjob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/svccheck/svccheck/plugin/cluster"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// Labels on every object the agent lifecycle creates.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelRun       = "svccheck.dev/run"
	// LabelAgent tells the agents of one run apart (a Job and its pods).
	LabelAgent = "svccheck.dev/agent"
	// AgentSelector selects every svccheck agent object.
	AgentSelector  = LabelName + "=svccheck," + LabelComponent + "=agent"
	agentContainer = "agent"
	// agentUID is the unprivileged user the agent runs as.
	agentUID = 65532
)

// AgentConfig says where and how the in-cluster.cluster agent runs.
type AgentConfig struct {
	Namespace       string
	Image           string
	ImagePullPolicy corev1.PullPolicy
	Node            string
	// StartTimeout bounds the wait for the agent pod to run.
	StartTimeout time.Duration
	// Deadline is the agent's activeDeadlineSeconds: after it the cluster.cluster
	// stops and removes the agent even if svccheck was killed.
	Deadline time.Duration
	Keep     bool
	// HostNetwork runs the agent in the node's network namespace, as root
	// with only CAP_NET_ADMIN (for conntrack), tolerating every taint.
	HostNetwork bool
	// Executor opens the exec stream into the agent's pod; nil is NewExecutor.
	Executor ExecutorFactory
	// Run is the run the agent belongs to: its id labels the agent, and it
	// records the creates. Nil starts a run of the agent's own.
	Run *Ledger
	// StallAfter is how long the exec stream may stay silent before the
	// agent's pod and node are looked at (DefaultStallAfter when zero).
	StallAfter time.Duration
	// PodLabels are more labels for the agent's pod (--as-client: the
	// client's, so that NetworkPolicy meets the agent as that client); the
	// labels that find the agent keep svccheck's values.
	PodLabels map[string]string
	// NeverReady gives the pod a readiness gate nothing sets: a Service
	// whose selector its labels match lists it, never as ready.
	NeverReady bool
}

// Agent is one running in-cluster.cluster agent: a Job whose single pod svccheck execs
// into. The Job (ttlSecondsAfterFinished 0, activeDeadlineSeconds) guarantees
// the cluster.cluster removes it even when svccheck is SIGKILLed.
type Agent struct {
	client kubernetes.Interface
	config *rest.Config
	cfg    AgentConfig
	run    *Ledger
	id     string // LabelAgent
	job    string
	pod    string
	node   string
	// noEvents: listing events is forbidden, so why no pod appears is not
	// asked again.
	noEvents bool
	// expires is when the agent's deadline has removed it: the exec stream
	// ends by then.
	expires time.Time
	// inspect looks at the agent's pod and node (health when nil).
	inspect func(context.Context) health
}

// StartAgent creates the agent Job and waits until its pod runs. On error
// the agent's Jobs and pods are deleted: by the run's cleanup when the agent
// belongs to a run (cfg.Run), else before StartAgent returns.
func StartAgent(ctx context.Context, cs kubernetes.Interface, config *rest.Config, cfg AgentConfig) (*Agent, error) {
	id := make([]byte, 5)
	_, _ = rand.Read(id)
	run := cfg.Run
	if run == nil {
		run = NewLedger(cfg.Namespace)
	}
	a := &Agent{client: cs, config: config, cfg: cfg, run: run, id: hex.EncodeToString(id)}
	started := time.Now()
	job, err := a.createJob(ctx)
	if err == nil {
		a.job = job.Name
		if cfg.Deadline > 0 {
			a.expires = started.Add(cfg.Deadline)
		}
		err = a.waitRunning(ctx)
	}
	if err != nil {
		if cfg.Run == nil {
			a.Delete()
		}
		return nil, err
	}
	return a, nil
}

func (a *Agent) labels() map[string]string {
	return map[string]string{LabelName: "svccheck", LabelComponent: "agent", LabelRun: a.run.ID, LabelAgent: a.id}
}

// selector selects this agent's Jobs and pods (a lost create may have made
// two Jobs).
func (a *Agent) selector() string { return RunSelector(a.run.ID) + "," + LabelAgent + "=" + a.id }

func (a *Agent) jobSpec() *batchv1.Job {
	deadline := ptr.To(int64(a.cfg.Deadline.Seconds()))
	sc := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(int64(agentUID)),
		RunAsGroup:     ptr.To(int64(agentUID)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	caps := &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	var tolerations []corev1.Toleration
	if a.cfg.HostNetwork {
		// conntrack over netlink needs CAP_NET_ADMIN, effective only for root.
		sc.RunAsNonRoot, sc.RunAsUser, sc.RunAsGroup = ptr.To(false), ptr.To(int64(0)), ptr.To(int64(0))
		caps.Add = []corev1.Capability{"NET_ADMIN"}
		tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	pod := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  ptr.To(false),
		EnableServiceLinks:            ptr.To(false),
		ActiveDeadlineSeconds:         deadline,
		TerminationGracePeriodSeconds: ptr.To(int64(1)),
		NodeName:                      a.cfg.Node,
		HostNetwork:                   a.cfg.HostNetwork,
		DNSPolicy:                     corev1.DNSClusterFirst,
		Tolerations:                   tolerations,
		SecurityContext:               sc,
		ReadinessGates:                a.readinessGates(),
		Containers: []corev1.Container{{
			Name:            agentContainer,
			Image:           a.cfg.Image,
			ImagePullPolicy: a.cfg.ImagePullPolicy,
			Args:            []string{"agent", "wait"},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             caps,
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
		}},
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "svccheck-agent-", Namespace: a.cfg.Namespace, Labels: a.labels()},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To(int32(0)),
			ActiveDeadlineSeconds:   deadline,
			TTLSecondsAfterFinished: ptr.To(int32(0)),
			Template:                corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: a.podLabels()}, Spec: pod},
		},
	}
}

// waitRunning waits until the agent's pod runs: one List, then a Watch from
// the List's resourceVersion (listing again only if the watch breaks),
// failing fast and clearly on image, scheduling and crash problems.
func (a *Agent) waitRunning(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, a.cfg.StartTimeout)
	defer cancel()
	last := "no pod created yet"
	for {
		running, err := a.watchPod(ctx, &last)
		if running || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			if parent.Err() == nil {
				if running, err := a.lastLook(parent, &last); running || err != nil {
					return err
				}
				return &exitcode.Error{Code: exitcode.Agent, Err: fmt.Errorf("agent pod not running after %s (image %s): %s", a.cfg.StartTimeout, a.cfg.Image, last)}
			}
			return &exitcode.Error{Code: exitcode.Interrupted, Err: errors.New("interrupted while starting the agent")}
		case <-time.After(time.Second): // the watch broke: list and watch again
		}
	}
}

// lastLook reads the agent's pods once more when the start timeout is up,
// riding out an API server that does not answer (cluster.RetryAPI): the timeout
// judges the pod, and a pause of the API server while it started says
// nothing about it.
func (a *Agent) lastLook(ctx context.Context, last *string) (bool, error) {
	var list *corev1.PodList
	err := cluster.RetryAPI(ctx, func(ctx context.Context) (err error) {
		list, err = a.client.CoreV1().Pods(a.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: a.selector()})
		return err
	})
	if err != nil {
		*last += " (and the API server did not answer: " + err.Error() + ")"
		return false, nil
	}
	for i := range list.Items {
		if running, err := a.observe(&list.Items[i], last); running || err != nil {
			return running, err
		}
	}
	return false, nil
}

// watchPod lists the agent's pod and watches it until it runs (true), cannot
// run (an error), or the watch or ctx ends (false, nil). last is what the
// pod was doing, for the timeout message.
func (a *Agent) watchPod(ctx context.Context, last *string) (bool, error) {
	pods := a.client.CoreV1().Pods(a.cfg.Namespace)
	opts := metav1.ListOptions{LabelSelector: a.selector()}
	list, err := pods.List(ctx, opts)
	if err != nil {
		if apierrors.IsForbidden(err) {
			return false, cluster.AccessError("list pods in namespace "+a.cfg.Namespace, err)
		}
		if ctx.Err() == nil {
			*last = err.Error()
		}
		return false, nil
	}
	for i := range list.Items {
		if running, err := a.observe(&list.Items[i], last); running || err != nil {
			return running, err
		}
	}
	opts.ResourceVersion = list.ResourceVersion
	if d, ok := ctx.Deadline(); ok {
		opts.TimeoutSeconds = ptr.To(int64(time.Until(d)/time.Second) + 1)
	}
	w, err := pods.Watch(ctx, opts)
	if err != nil {
		if apierrors.IsForbidden(err) {
			return false, cluster.AccessError("watch pods in namespace "+a.cfg.Namespace, err)
		}
		if ctx.Err() == nil {
			*last = err.Error()
		}
		return false, nil
	}
	defer w.Stop()
	tick := time.NewTicker(createCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-tick.C:
			if a.pod == "" && !a.noEvents {
				if err := a.cannotCreate(ctx); err != nil {
					return false, err
				}
			}
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Error {
				*last = apierrors.FromObject(ev.Object).Error()
				return false, nil
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case !isPod:
			case ev.Type == watch.Deleted && p.Labels[LabelAgent] == a.id:
				// The Job (backoffLimit 0) counts it failed and makes no other.
				return false, &exitcode.Error{Code: exitcode.Agent, Err: fmt.Errorf("agent pod %s/%s deleted before it ran", p.Namespace, p.Name)}
			case ev.Type != watch.Deleted:
				if running, err := a.observe(p, last); running || err != nil {
					return running, err
				}
			}
		}
	}
}

// createCheckEvery is how often a wait with no agent pod yet asks why.
var createCheckEvery = 2 * time.Second

// cannotCreate returns why the agent's Job cannot create its pod, from the
// Job controller's FailedCreate events that say the API server refused it (a
// ResourceQuota, a LimitRange, an admission policy of the namespace): no
// retry of the controller will get past it within the run. It returns nil
// while there is no such event, or when events cannot be read (the wait
// goes on to its timeout).
func (a *Agent) cannotCreate(ctx context.Context) error {
	if a.job == "" {
		return nil
	}
	evs, err := a.client.CoreV1().Events(a.cfg.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Job,involvedObject.name=" + a.job + ",reason=FailedCreate"})
	if err != nil {
		a.noEvents = apierrors.IsForbidden(err) // asking again will not help
		return nil
	}
	var last *corev1.Event
	for i := range evs.Items {
		// The field selector already chose them; its test double does not.
		if e := &evs.Items[i]; e.InvolvedObject.Name == a.job && e.Reason == "FailedCreate" && refusedCreate(e.Message) &&
			(last == nil || cluster.EventTime(e).After(cluster.EventTime(last))) {
			last = e
		}
	}
	if last == nil {
		return nil
	}
	return &exitcode.Error{Code: exitcode.Agent, Err: fmt.Errorf("agent Job %s/%s cannot create its pod: %s (a ResourceQuota, LimitRange or admission policy of namespace %s; --agent-namespace runs the agent elsewhere)",
		a.cfg.Namespace, a.job, last.Message, a.cfg.Namespace)}
}

// refusedCreate: a FailedCreate message that says the API server refused the
// pod (forbidden: a quota, a PodSecurity level; denied by an admission
// webhook; invalid), which retrying does not change, unlike an API server
// that did not answer.
func refusedCreate(msg string) bool {
	return strings.Contains(msg, " is forbidden: ") || strings.Contains(msg, " is invalid: ") ||
		strings.Contains(msg, "admission webhook") && strings.Contains(msg, "denied")
}

// observe records one state of the agent's pod: whether it runs, or why it
// never will.
func (a *Agent) observe(p *corev1.Pod, last *string) (bool, error) {
	if p.Labels[LabelAgent] != a.id || p.DeletionTimestamp != nil {
		return false, nil
	}
	a.pod, a.node = p.Name, p.Spec.NodeName
	if p.Status.Phase == corev1.PodRunning {
		return true, nil
	}
	if perr := podProblem(p); perr != nil {
		return false, &exitcode.Error{Code: exitcode.Agent, Err: fmt.Errorf("agent pod %s/%s: %w", p.Namespace, p.Name, withImageHelp(perr, a.cfg, p.Spec.NodeName))}
	}
	*last = podState(p)
	return false, nil
}

// podProblem returns why a pod will not run, or nil while it may still start.
func podProblem(p *corev1.Pod) error {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fmt.Errorf("unschedulable: %s", c.Message)
		}
	}
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName":
				return &pullError{Reason: w.Reason, Message: w.Message}
			case "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff", "RunContainerError":
				return fmt.Errorf("%s: %s", w.Reason, w.Message)
			}
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Errorf("agent exited (%s, code %d): %s", t.Reason, t.ExitCode, t.Message)
		}
	}
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return fmt.Errorf("pod %s: %s %s", strings.ToLower(string(p.Status.Phase)), p.Status.Reason, p.Status.Message)
	}
	return nil
}

func podState(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			s += ", " + w.Reason
		}
	}
	return s
}

// failureCause says why an agent's results stopped short: the stream's error
// when the stream broke, with the tail of the agent's stderr.
func failureCause(readErr, streamErr error, stderr string, interrupted bool) string {
	if interrupted {
		return "interrupted"
	}
	why := readErr.Error()
	if errors.Is(readErr, io.ErrUnexpectedEOF) && streamErr != nil {
		why = streamErr.Error() // the stream broke: that is the cause
	}
	if msg := strings.TrimSpace(stderr); msg != "" {
		why += " (agent stderr: " + msg + ")"
	}
	return why
}

// prepare encodes the request and opens the exec stream's executor.
func (a *Agent) prepare(probes []probe.Probe, req agent.Request) (remotecommand.Executor, []byte, error) {
	req.Probes, req.Conntrack = probes, a.cfg.HostNetwork
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, nil, fmt.Errorf("encode plan for the agent: %w", err)
	}
	newExecutor := a.cfg.Executor
	if newExecutor == nil {
		newExecutor = NewExecutor
	}
	exec, err := newExecutor(a.config, a.execURL())
	if err != nil {
		return nil, nil, fmt.Errorf("agent exec: %w", err)
	}
	return exec, payload, nil
}

// execURL is the exec subresource of the agent's pod, running "agent run".
func (a *Agent) execURL() *url.URL {
	return a.client.CoreV1().RESTClient().Post().Resource("pods").Name(a.pod).Namespace(a.cfg.Namespace).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: agentContainer,
		// PID 1 is the agent binary whatever path the image put it at.
		Command: []string{"/proc/1/exe", "agent", "run"},
		Stdin:   true, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec).URL()
}

// ExecutorFactory opens an exec stream to url, authenticated by config.
type ExecutorFactory func(config *rest.Config, url *url.URL) (remotecommand.Executor, error)

// NewExecutor is the ExecutorFactory kubectl exec uses: WebSocket, falling
// back to SPDY when the API server or a proxy cannot upgrade to WebSocket.
// The stream has no client timeout: it lives as long as the run.
func NewExecutor(config *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	cfg := rest.CopyConfig(config)
	cfg.Timeout = 0
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		return nil, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// Delete removes the agent's Jobs and pods, with a context of its own: it
// runs after Ctrl-C too. It tries once; the run's cleanup (Ledger.Cleanup)
// retries and verifies.
func (a *Agent) Delete() {
	if a.cfg.Keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = DeleteAgents(ctx, a.client, a.cfg.Namespace, a.selector())
}

// DeleteAgents deletes agent Jobs and their pods matching selector, now.
func DeleteAgents(ctx context.Context, cs kubernetes.Interface, ns, selector string) (int, error) {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0)), PropagationPolicy: &bg}
	n := 0
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	for _, j := range jobs.Items {
		if err := cs.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			return n, err
		}
		n++
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return n, err
	}
	for _, p := range pods.Items {
		if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			return n, err
		}
	}
	return n, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Node is the node the agent's pod runs on.
func (a *Agent) Node() string { return a.node }
