package agentjob

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// silentAfterP0 answers p0, then says nothing (no heartbeat) until the
// stream is cancelled: a stuck stream or a lost node.
func silentAfterP0(ctx context.Context, _ agent.Request, out, _ io.Writer) error {
	io.WriteString(out, resultLine("p0"))
	<-ctx.Done()
	return ctx.Err()
}

func wantNotRun(t *testing.T, got map[string]probe.Result, prefix string) {
	t.Helper()
	if got["p0"].Outcome != probe.OK {
		t.Errorf("p0, answered before the failure, is %+v", got["p0"])
	}
	for _, id := range []string{"p1", "p2"} {
		if r := got[id]; r.Outcome != probe.NotRun || !strings.HasPrefix(r.Detail, prefix) || r.Interrupted || r.Pass {
			t.Errorf("%s = %+v, want not run with %q", id, r, prefix)
		}
	}
}

// TestAgentRunStreamEndsWithCause: the stream breaks, and what the API says
// of the pod and node names the cause.
func TestAgentRunStreamEndsWithCause(t *testing.T) {
	for _, cause := range []string{"agent pod deleted", "agent node lost: node n1 Ready=Unknown (NodeStatusUnknown)", "agent pod ended: DeadlineExceeded"} {
		t.Run(cause, func(t *testing.T) {
			f := &fakeExec{script: func(_ context.Context, _ agent.Request, out, _ io.Writer) error {
				io.WriteString(out, resultLine("p0"))
				return errors.New("command terminated with non-zero exit code: exit code 137")
			}}
			got, err := runAgentWith(t, context.Background(), AgentConfig{Namespace: "ns", Executor: f.factory},
				func(context.Context) health { return health{cause: cause} })
			wantNotRun(t, got, cause)
			if err == nil || err.Error() != cause {
				t.Errorf("Run returned %v, want %q", err, cause)
			}
		})
	}
}

// TestAgentRunStalls: an agent that falls silent is given up on once the
// API says why, or after twice the stall time while the pod looks fine;
// while the API does not answer it waits, up to the agent's deadline.
func TestAgentRunStalls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		health  health
		expires time.Duration
		want    string
		within  time.Duration
	}{
		{"node lost", health{cause: "agent node lost: node n1 deleted"}, 0, "agent node lost: node n1 deleted", 2 * time.Second},
		{"pod looks fine", health{}, 0, "exec stream stalled: no data from the agent for", 2 * time.Second},
		{"API down until the deadline", health{apiErr: errors.New("i/o timeout")}, 1500 * time.Millisecond, "agent deadline passed", 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeExec{script: silentAfterP0}
			var looks atomic.Int32
			cfg := AgentConfig{Namespace: "ns", Executor: f.factory, StallAfter: 200 * time.Millisecond, Deadline: tc.expires}
			a := &Agent{config: &rest.Config{}, cfg: cfg, pod: "p", node: "n1",
				inspect: func(context.Context) health { looks.Add(1); return tc.health }}
			if tc.expires > 0 {
				a.expires = time.Now().Add(tc.expires)
			}
			start := time.Now()
			got := runProbes(t, a, context.Background())
			if d := time.Since(start); d > tc.within {
				t.Errorf("took %s, want under %s", d, tc.within)
			}
			for _, id := range []string{"p1", "p2"} {
				if r := got[id]; r.Outcome != probe.NotRun || !strings.HasPrefix(r.Detail, tc.want) {
					t.Errorf("%s = %+v, want not run with %q", id, r, tc.want)
				}
			}
			if looks.Load() == 0 {
				t.Error("the agent's pod and node were never looked at")
			}
		})
	}
}

// runProbes runs p0..p2 through a; its clientset only builds the exec URL
// (inspect stands for the API).
func runProbes(t *testing.T, a *Agent, ctx context.Context) map[string]probe.Result {
	t.Helper()
	a.client = kubernetes.NewForConfigOrDie(&rest.Config{Host: "https://127.0.0.1:1"})
	probes := []probe.Probe{{ID: "p0", Connections: 1}, {ID: "p1", Connections: 1}, {ID: "p2", Connections: 1}}
	got := map[string]probe.Result{}
	_ = a.Run(ctx, probes, agent.Request{Timeout: time.Second, Concurrency: 2, Tries: 1}, func(i int, r probe.Result) {
		got[probes[i].ID] = r
	})
	return got
}

// TestAgentRunHeartbeatsKeepItAlive: an agent that only heartbeats for a
// while (its probes wait out long timeouts) is never taken for stuck.
func TestAgentRunHeartbeatsKeepItAlive(t *testing.T) {
	f := &fakeExec{script: func(ctx context.Context, req agent.Request, out, _ io.Writer) error {
		end := time.Now().Add(800 * time.Millisecond)
		for time.Now().Before(end) {
			io.WriteString(out, "\n")
			time.Sleep(40 * time.Millisecond)
		}
		for _, p := range req.Probes {
			io.WriteString(out, resultLine(p.ID))
		}
		return nil
	}}
	var looks atomic.Int32
	a := &Agent{config: &rest.Config{}, cfg: AgentConfig{Namespace: "ns", Executor: f.factory, StallAfter: 200 * time.Millisecond}, pod: "p",
		inspect: func(context.Context) health { looks.Add(1); return health{} }}
	got := runProbes(t, a, context.Background())
	for id, r := range got {
		if r.Outcome != probe.OK {
			t.Errorf("%s = %+v", id, r)
		}
	}
	if looks.Load() != 0 {
		t.Errorf("looked at the pod %d times while it heartbeat", looks.Load())
	}
}

// TestAgentRunStoppedInPod: SIGTERM in the pod makes the agent report its
// unfinished probes interrupted; that is not the user's interrupt, and the
// probes did not run.
func TestAgentRunStoppedInPod(t *testing.T) {
	f := &fakeExec{script: func(_ context.Context, _ agent.Request, out, _ io.Writer) error {
		io.WriteString(out, resultLine("p0"))
		for _, id := range []string{"p1", "p2"} {
			b, _ := json.Marshal(probe.Result{ID: id, Outcome: probe.NotRun, Detail: "interrupted", Interrupted: true})
			io.WriteString(out, string(b)+"\n")
		}
		return nil
	}}
	got, err := runAgentWith(t, context.Background(), AgentConfig{Namespace: "ns", Executor: f.factory}, nil)
	wantNotRun(t, got, "agent process stopped in its pod")
	// The run's exit code (4) finds the probes an agent left not run by
	// this error's text: it must be their detail, word for word.
	if err == nil || err.Error() != got["p1"].Detail {
		t.Errorf("Run returned %v, want the not-run probes' detail %q", err, got["p1"].Detail)
	}
}

// hangingExec never returns and ignores its context: Run must still end.
type hangingExec struct{}

func (hangingExec) Stream(remotecommand.StreamOptions) error { select {} }
func (hangingExec) StreamWithContext(context.Context, remotecommand.StreamOptions) error {
	time.Sleep(time.Hour)
	return nil
}

func TestAgentRunExecIgnoringContextIsBounded(t *testing.T) {
	a := &Agent{config: &rest.Config{}, pod: "p", cfg: AgentConfig{Namespace: "ns", StallAfter: 100 * time.Millisecond,
		Executor: func(*rest.Config, *url.URL) (remotecommand.Executor, error) { return hangingExec{}, nil }},
		inspect: func(context.Context) health { return health{cause: "agent pod deleted"} }}
	start := time.Now()
	got := runProbes(t, a, context.Background())
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("took %s", d)
	}
	if r := got["p0"]; r.Outcome != probe.NotRun || r.Detail != "agent pod deleted" {
		t.Errorf("p0 = %+v", r)
	}
}

// TestHealth: what the API says of the agent's pod and node.
func TestHealth(t *testing.T) {
	ready := func(s corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: s, Reason: "NodeStatusUnknown"}}}}
	}
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-p", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	now := metav1.Now()
	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		listErr error
		cause   string
		apiDown bool
	}{
		{"healthy", []runtime.Object{pod(nil), ready(corev1.ConditionTrue)}, nil, "", false},
		{"pod gone", []runtime.Object{ready(corev1.ConditionTrue)}, nil, "agent pod deleted", false},
		{"pod terminating", []runtime.Object{pod(func(p *corev1.Pod) { p.DeletionTimestamp = &now; p.Finalizers = []string{"x"} }), ready(corev1.ConditionTrue)}, nil, "agent pod deleted", false},
		{"pod failed", []runtime.Object{pod(func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "DeadlineExceeded" }), ready(corev1.ConditionTrue)}, nil, "agent pod ended: DeadlineExceeded", false},
		{"node not ready", []runtime.Object{pod(nil), ready(corev1.ConditionUnknown)}, nil, "agent node lost: node n1 Ready=Unknown (NodeStatusUnknown)", false},
		{"node deleted", []runtime.Object{pod(nil)}, nil, "agent node lost: node n1 deleted", false},
		{"API down", []runtime.Object{pod(nil)}, errors.New("connect: connection refused"), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.objs...)
			if tc.listErr != nil {
				cs.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.listErr })
			}
			a := &Agent{client: cs, cfg: AgentConfig{Namespace: "ns"}, pod: "agent-p"}
			h := a.health(context.Background())
			if h.cause != tc.cause || (h.apiErr != nil) != tc.apiDown {
				t.Errorf("health = %+v, want cause %q, API down %v", h, tc.cause, tc.apiDown)
			}
		})
	}
}
