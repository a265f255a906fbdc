package agentjob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// DefaultStallAfter is how long an exec stream may stay silent before the
// agent's pod and node are looked at: agents write a heartbeat every
// agent.Heartbeat, so silence means the stream or the agent is stuck.
const DefaultStallAfter = 5 * agent.Heartbeat

// inspectTimeout bounds one look at the agent's pod and node.
const inspectTimeout = 5 * time.Second

// streamCloseWait is how long a cancelled exec stream gets to close.
const streamCloseWait = 2 * time.Second

// health is what the API says of a running agent: why it cannot answer any
// more (cause), or that the API itself did not answer (apiErr).
type health struct {
	cause  string
	apiErr error
}

// Run sends probes to the agent over exec and reports each result as it
// arrives. Probes the agent never answered are reported NotRun with why, and
// Run returns that reason as an error (nil when every probe was answered or
// the run was interrupted). The stream is bounded: by the agent's deadline,
// and by its heartbeat, when the agent falls silent while the API server
// answers (its pod deleted, its node lost, the stream stuck).
//
// It is one function on purpose, though long: the pipe, the stream's
// goroutine, the watcher and the cancellation share one lifetime, and the
// order in which they are closed on each way out is the point of the code.
func (a *Agent) Run(parent context.Context, probes []probe.Probe, req agent.Request, onResult func(i int, r probe.Result)) error {
	answered := make([]bool, len(probes))
	fail := func(why string) error {
		for i := range probes {
			if !answered[i] {
				onResult(i, probe.Result{ID: probes[i].ID, Outcome: probe.NotRun, Detail: why, Interrupted: parent.Err() != nil})
			}
		}
		if parent.Err() != nil {
			return nil
		}
		return errors.New(why)
	}
	exec, payload, err := a.prepare(probes, req)
	if err != nil {
		return fail(err.Error())
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if !a.expires.IsZero() {
		var dcancel context.CancelFunc
		ctx, dcancel = context.WithDeadline(ctx, a.expires)
		defer dcancel()
	}
	pr, pw := io.Pipe()
	act := &activity{r: pr}
	act.touch()
	stop := &stopCause{}
	stopWith := func(cause string) {
		stop.set(cause)
		cancel()
		_ = pr.CloseWithError(errStopped)
	}
	stderr := &tailBuffer{max: 4096}
	streamErr := make(chan error, 1)
	streamDone := make(chan struct{})
	go func() {
		err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(payload), Stdout: pw, Stderr: stderr})
		_ = pw.CloseWithError(err)
		close(streamDone)
		streamErr <- err
	}()
	watchDone := make(chan struct{})
	defer close(watchDone)
	go a.watch(ctx, act, stopWith, watchDone)
	go func() { // an exec that ignores its context must not hold the reader
		select {
		case <-ctx.Done():
		case <-watchDone:
			return
		}
		select {
		case <-streamDone:
		case <-watchDone:
		case <-time.After(streamCloseWait):
			_ = pr.CloseWithError(errStopped)
		}
	}()
	rr := agent.NewResultReader(act, probes)
	var stopped bool // the agent was stopped in its pod: its unfinished probes did not run
	for err == nil {
		var i int
		var r probe.Result
		if i, r, err = rr.Next(); err == nil {
			if r.Interrupted && parent.Err() == nil {
				stopped = true
				r = probe.Result{ID: r.ID, Outcome: probe.NotRun, Detail: stoppedInPod}
			}
			answered[i] = true
			onResult(i, r)
		}
	}
	_ = pr.Close() // anything more the agent writes is refused
	if errors.Is(err, io.EOF) {
		// Every probe answered: let the agent exit and the stream end on its own.
		select {
		case <-streamErr:
		case <-time.After(5 * time.Second):
		}
		if stopped {
			return errors.New(stoppedInPod)
		}
		return nil
	}
	cancel()
	var sErr error
	select {
	case sErr = <-streamErr:
	case <-time.After(streamCloseWait): // an exec that ignores its context: give up on it
		sErr = errors.New("exec stream did not close")
	}
	switch {
	case parent.Err() != nil:
		return fail("interrupted")
	case stop.get() != "":
		return fail(stop.get())
	case ctx.Err() != nil && !a.expires.IsZero() && !time.Now().Before(a.expires):
		return fail(fmt.Sprintf("agent deadline passed (%s)", a.cfg.Deadline))
	}
	why := failureCause(err, sErr, stderr.String(), false)
	if !errors.Is(err, io.ErrUnexpectedEOF) && sErr == nil {
		return fail("agent: " + why) // the agent broke the protocol
	}
	if h := a.inspectNow(parent); h.cause != "" {
		return fail(h.cause)
	}
	return fail("exec stream broken: " + why)
}

var errStopped = errors.New("exec stream stopped")

// stoppedInPod is why the probes of an agent stopped by SIGTERM in its pod
// did not run, and the error Run returns then: the run's exit code finds
// those probes by this very text.
const stoppedInPod = "agent process stopped in its pod (SIGTERM) before the probe finished"

// watch stops the stream when the agent has sent nothing for stallAfter and
// the API says why (its pod deleted or ended, its node lost), or, while the
// API answers and finds the pod running, it stays silent twice as long. While
// the API does not answer (it relays the stream), it keeps waiting: the
// agent's deadline bounds that.
func (a *Agent) watch(ctx context.Context, act *activity, stopWith func(string), done <-chan struct{}) {
	stallAfter := a.cfg.StallAfter
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	tick := time.NewTicker(max(stallAfter/5, 10*time.Millisecond))
	defer tick.Stop()
	stalls := 0
	var checked time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
		}
		idle := act.idle()
		if idle < stallAfter {
			stalls = 0
			continue
		}
		if time.Since(checked) < stallAfter {
			continue
		}
		checked = time.Now()
		h := a.inspectNow(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case h.cause != "":
			stopWith(h.cause)
			return
		case h.apiErr != nil:
			continue
		}
		if stalls++; stalls >= 2 {
			stopWith(fmt.Sprintf("exec stream stalled: no data from the agent for %s while the API server says pod %s runs on node %s",
				idle.Round(time.Second), a.pod, a.node))
			return
		}
	}
}

func (a *Agent) inspectNow(ctx context.Context) health {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inspectTimeout)
	defer cancel()
	if a.inspect != nil {
		return a.inspect(ctx)
	}
	return a.health(ctx)
}

// health asks the API server about the agent's pod and its node, with Lists
// (the agent role may list pods, the reader role nodes; neither needs get).
func (a *Agent) health(ctx context.Context) health {
	pods, err := a.client.CoreV1().Pods(a.cfg.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + a.pod})
	if err != nil {
		return health{apiErr: err}
	}
	var pod *corev1.Pod
	for i := range pods.Items {
		if pods.Items[i].Name == a.pod {
			pod = &pods.Items[i]
		}
	}
	switch {
	case pod == nil, pod.DeletionTimestamp != nil:
		return health{cause: "agent pod deleted"}
	case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
		why := strings.TrimSpace(pod.Status.Reason + " " + pod.Status.Message)
		if why == "" {
			why = strings.ToLower(string(pod.Status.Phase))
		}
		return health{cause: "agent pod ended: " + why}
	}
	node := pod.Spec.NodeName
	nodes, err := a.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + node})
	if err != nil {
		return health{apiErr: err}
	}
	for _, n := range nodes.Items {
		if n.Name != node {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
				return health{cause: fmt.Sprintf("agent node lost: node %s Ready=%s (%s)", node, c.Status, c.Reason)}
			}
		}
		return health{}
	}
	return health{cause: fmt.Sprintf("agent node lost: node %s deleted", node)}
}

// activity is the agent's stdout, remembering when it last sent anything
// (a result or a heartbeat).
type activity struct {
	r    io.Reader
	last atomic.Int64
}

func (a *activity) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.touch()
	}
	return n, err
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activity) idle() time.Duration { return time.Since(time.Unix(0, a.last.Load())) }

// stopCause is why the watch stopped a stream, set once.
type stopCause struct {
	mu    sync.Mutex
	cause string
}

func (s *stopCause) set(c string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cause == "" {
		s.cause = c
	}
}

func (s *stopCause) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}
