package agentjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// fakeExec plays the agent's side of the exec stream: it reads the request on
// stdin, then runs script, which writes the agent's stdout and stderr.
type fakeExec struct {
	script func(ctx context.Context, req agent.Request, stdout, stderr io.Writer) error
	mu     sync.Mutex
	req    agent.Request
	url    *url.URL
}

func (f *fakeExec) Stream(o remotecommand.StreamOptions) error {
	return f.StreamWithContext(context.Background(), o)
}

func (f *fakeExec) StreamWithContext(ctx context.Context, o remotecommand.StreamOptions) error {
	req, err := agent.ReadRequest(o.Stdin)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.req = req
	f.mu.Unlock()
	return f.script(ctx, req, o.Stdout, o.Stderr)
}

func (f *fakeExec) factory(_ *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	f.url = u
	return f, nil
}

func resultLine(id string) string {
	b, _ := json.Marshal(probe.Result{ID: id, Outcome: probe.OK, Connections: 1})
	return string(b) + "\n"
}

func runAgent(t *testing.T, ctx context.Context, cfg AgentConfig) map[string]probe.Result {
	t.Helper()
	got, _ := runAgentWith(t, ctx, cfg, nil)
	return got
}

// runAgentWith runs three probes through an agent whose pod and node look
// as inspect says (healthy when nil), and returns the results and Run's error.
func runAgentWith(t *testing.T, ctx context.Context, cfg AgentConfig, inspect func(context.Context) health) (map[string]probe.Result, error) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: "https://127.0.0.1:1"})
	if inspect == nil {
		inspect = func(context.Context) health { return health{} }
	}
	a := &Agent{client: cs, config: &rest.Config{}, cfg: cfg, pod: "svccheck-agent-x1-p", node: "n1", inspect: inspect}
	probes := []probe.Probe{{ID: "p0", Connections: 1}, {ID: "p1", Connections: 1}, {ID: "p2", Connections: 1}}
	var mu sync.Mutex
	got := map[string]probe.Result{}
	err := a.Run(ctx, probes, agent.Request{Timeout: 1e9, Concurrency: 2, Tries: 1}, func(i int, r probe.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[probes[i].ID]; dup || r.ID != probes[i].ID {
			t.Errorf("result %d reported twice or for the wrong probe: %+v", i, r)
		}
		got[probes[i].ID] = r
	})
	if len(got) != len(probes) {
		t.Errorf("%d results for %d probes", len(got), len(probes))
	}
	return got, err
}

func TestAgentRunStreamsResults(t *testing.T) {
	f := &fakeExec{script: func(_ context.Context, req agent.Request, out, _ io.Writer) error {
		for i := len(req.Probes) - 1; i >= 0; i-- { // completion order, not plan order
			io.WriteString(out, resultLine(req.Probes[i].ID))
		}
		return nil
	}}
	got := runAgent(t, context.Background(), AgentConfig{Namespace: "ns", HostNetwork: true, Executor: f.factory})
	for id, r := range got {
		if r.Outcome != probe.OK {
			t.Errorf("%s: %+v", id, r)
		}
	}
	if !f.req.Conntrack || len(f.req.Probes) != 3 || f.req.Concurrency != 2 {
		t.Errorf("request %+v", f.req)
	}
	q := f.url.Query()
	if f.url.Path != "/api/v1/namespaces/ns/pods/svccheck-agent-x1-p/exec" || strings.Join(q["command"], " ") != "/proc/1/exe agent run" || q.Get("container") != "agent" {
		t.Errorf("exec URL %s", f.url)
	}
}

func TestAgentRunFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(ctx context.Context, req agent.Request, out, errOut io.Writer) error
		cancel bool
		want   string
	}{
		{"garbage", func(_ context.Context, req agent.Request, out, errOut io.Writer) error {
			io.WriteString(out, resultLine("p0"))
			io.WriteString(errOut, "panic: boom\n")
			io.WriteString(out, "}{ not json\n")
			return nil
		}, false, "agent: agent sent an invalid result: invalid character '}' looking for beginning of value (agent stderr: panic: boom)"},
		{"early EOF", func(_ context.Context, req agent.Request, out, _ io.Writer) error {
			io.WriteString(out, resultLine("p0"))
			return nil
		}, false, "exec stream broken: unexpected EOF"},
		{"stream broke", func(_ context.Context, req agent.Request, out, _ io.Writer) error {
			io.WriteString(out, resultLine("p0"))
			return errors.New("connection reset by peer")
		}, false, "exec stream broken: connection reset by peer"},
		{"unknown probe", func(_ context.Context, req agent.Request, out, _ io.Writer) error {
			io.WriteString(out, resultLine("p0"))
			io.WriteString(out, resultLine("nope"))
			return nil
		}, false, `agent: agent answered for unknown probe "nope"`},
		{"interrupted", func(ctx context.Context, req agent.Request, out, _ io.Writer) error {
			io.WriteString(out, resultLine("p0"))
			<-ctx.Done()
			return ctx.Err()
		}, true, "interrupted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			script := tc.script
			if tc.cancel {
				script = func(sctx context.Context, req agent.Request, out, errOut io.Writer) error {
					go cancel()
					return tc.script(sctx, req, out, errOut)
				}
			}
			f := &fakeExec{script: script}
			got := runAgent(t, ctx, AgentConfig{Namespace: "ns", Executor: f.factory})
			if got["p0"].Outcome != probe.OK {
				t.Errorf("p0, answered before the failure, is %+v", got["p0"])
			}
			for _, id := range []string{"p1", "p2"} {
				if r := got[id]; r.Outcome != probe.NotRun || r.Detail != tc.want || r.Interrupted != tc.cancel {
					t.Errorf("%s = %+v, want not run with %q", id, r, tc.want)
				}
			}
		})
	}
}

func TestAgentRunExecutorError(t *testing.T) {
	got := runAgent(t, context.Background(), AgentConfig{Namespace: "ns", Executor: func(*rest.Config, *url.URL) (remotecommand.Executor, error) {
		return nil, fmt.Errorf("no route to the API server")
	}})
	if r := got["p1"]; r.Outcome != probe.NotRun || r.Detail != "agent exec: no route to the API server" {
		t.Errorf("p1 = %+v", r)
	}
}

func TestNewExecutor(t *testing.T) {
	u, _ := url.Parse("https://127.0.0.1:1/api/v1/namespaces/ns/pods/p/exec")
	if _, err := NewExecutor(&rest.Config{Host: "https://127.0.0.1:1"}, u); err != nil {
		t.Fatal(err)
	}
}
