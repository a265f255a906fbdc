package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svccheck/svccheck/plugin/agentjob"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/internal/fixture"
	"github.com/svccheck/svccheck/plugin/engine"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
	"github.com/svccheck/svccheck/report"
)

// labelledAgents are in-process agents that, like real ones, leave a Job and
// a pod labelled with the run in the (fake) cluster when they start.
type labelledAgents struct {
	cs     *fake.Clientset
	prober probe.Prober
	// startErr fails Start after the Job was made; dieAfter makes Run stop
	// after that many results with runErr; cancel is called once Run has
	// started (an interrupt mid-run).
	startErr error
	dieAfter int
	runErr   string
	cancel   context.CancelFunc

	mu  sync.Mutex
	ids []string
}

func (l *labelledAgents) Start(ctx context.Context, _ probe.From, cfg agentjob.AgentConfig) (engine.Agent, error) {
	labels := map[string]string{agentjob.LabelName: "svccheck", agentjob.LabelComponent: "agent", agentjob.LabelRun: cfg.Run.ID}
	cfg.Run.Creating(cfg.Deadline)
	job, err := l.cs.BatchV1().Jobs(cfg.Namespace).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "svccheck-agent-" + cfg.Run.ID, Namespace: cfg.Namespace, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := l.cs.CoreV1().Pods(cfg.Namespace).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-p", Namespace: cfg.Namespace, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.ids = append(l.ids, cfg.Run.ID)
	l.mu.Unlock()
	if l.startErr != nil {
		return nil, l.startErr
	}
	return &labelledAgent{l: l}, nil
}

type labelledAgent struct{ l *labelledAgents }

func (a *labelledAgent) Node() string { return "worker2" }

func (a *labelledAgent) Run(ctx context.Context, probes []probe.Probe, req agent.Request, onResult func(int, probe.Result)) error {
	if a.l.cancel != nil {
		a.l.cancel()
		<-ctx.Done()
	}
	if a.l.runErr == "" {
		probe.RunTries(ctx, probes, map[probe.From]probe.Prober{probes[0].From: a.l.prober}, req.Concurrency, req.Tries, onResult)
		return nil
	}
	for i := range probes {
		r := probe.Result{ID: probes[i].ID, Outcome: probe.NotRun, Detail: a.l.runErr}
		if i < a.l.dieAfter {
			r = a.l.prober.Probe(ctx, &probes[i])
		}
		onResult(i, r)
	}
	return errors.New(a.l.runErr)
}

func (l *labelledAgents) left(t *testing.T) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ids) == 0 {
		t.Fatal("no agent was started")
	}
	n := 0
	for _, id := range l.ids {
		sel := metav1.ListOptions{LabelSelector: agentjob.RunSelector(id)}
		jobs, _ := l.cs.BatchV1().Jobs("default").List(context.Background(), sel)
		pods, _ := l.cs.CoreV1().Pods("default").List(context.Background(), sel)
		n += len(jobs.Items) + len(pods.Items)
	}
	return n
}

// runLife runs args with labelledAgents on the fixture cluster.
func runLife(t *testing.T, la *labelledAgents, prober probe.Prober, args ...string) (*report.Report, int, error) {
	t.Helper()
	out, errOut, err := runOpts(t, prober, func(o *command) {
		la.cs, la.prober = o.client.(*fake.Clientset), prober
		o.agents = la
		o.cleanup = agentjob.CleanupPolicy{Budget: time.Second, Attempt: 200 * time.Millisecond, Backoff: 5 * time.Millisecond}
	}, append([]string{"-o", "json", "--from", "all", "hostname-nodeport"}, args...)...)
	var r *report.Report
	if out != "" {
		r = &report.Report{}
		if jerr := json.Unmarshal([]byte(out), r); jerr != nil {
			t.Fatalf("not a JSON report: %v\n%s", jerr, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
	return r, ExitCode(err), err
}

// TestRunRemovesItsAgentsOnEveryExit: success, an agent that never starts,
// an agent that dies mid-run, with and without findings, and an interrupt
// all end with no object of the run left, and the documented exit code.
func TestRunRemovesItsAgentsOnEveryExit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		la     *labelledAgents
		prober probe.Prober
		code   int
		report bool
		err    string
	}{
		{"success", &labelledAgents{}, fakeProber{}, ExitOK, true, ""},
		{"agent never starts", &labelledAgents{startErr: &exitcode.Error{Code: exitcode.Agent, Err: errors.New("agent pod x: ErrImageNeverPull")}}, fakeProber{}, ExitAgent, false, ""},
		{"agent dies mid-run", &labelledAgents{dieAfter: 1, runErr: "agent pod deleted"}, fakeProber{}, ExitAgent, true,
			"agent stopped before every probe ran (its probes are reported not run): pod: agent pod deleted"},
		{"agent dies, findings decide", &labelledAgents{dieAfter: 1, runErr: "exec stream broken: EOF"}, fakeProber{brokenNode: "worker1"}, ExitFailed, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, code, err := runLife(t, tc.la, tc.prober)
			if code != tc.code || (r != nil) != tc.report {
				t.Errorf("exit %d report %v, want %d %v (%v)", code, r != nil, tc.code, tc.report, err)
			}
			if n := tc.la.left(t); n != 0 {
				t.Errorf("%d objects of the run left", n)
			}
			if tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if r == nil || tc.la.runErr == "" {
				return
			}
			notRun := 0
			skipped := map[string]bool{}
			for _, s := range r.Services {
				for _, p := range s.Probes {
					if p.Outcome == "notRun" {
						skipped[p.ID] = true
					}
					if p.From == "pod" && p.Outcome == "notRun" {
						notRun++
						if p.Detail != tc.la.runErr {
							t.Errorf("%s not run because %q, want %q", p.ID, p.Detail, tc.la.runErr)
						}
					}
					if p.From == "pod" && p.Outcome == "ok" && p.Detail == tc.la.runErr {
						t.Errorf("%s claims ok", p.ID)
					}
				}
			}
			if notRun == 0 || r.Summary.NotRun < notRun || r.Interrupted {
				t.Errorf("%d pod probes not run, summary %+v, interrupted %v", notRun, r.Summary, r.Interrupted)
			}
			for _, f := range r.Findings {
				for _, id := range f.Probes {
					if skipped[id] {
						t.Errorf("finding %s cites %s, which did not run", f.Code, id)
					}
				}
			}
		})
	}
}

func TestRunRemovesItsAgentsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	la := &labelledAgents{cancel: cancel}
	_, stderr, err := runOptsCtx(t, ctx, fakeProber{}, func(o *command) {
		la.cs, la.prober = o.client.(*fake.Clientset), fakeProber{}
		o.agents = la
	}, "-o", "json", "--from", "cluster", "hostname-nodeport")
	if ExitCode(err) != ExitInterrupted {
		t.Errorf("exit %d (%v), want 130; stderr %q", ExitCode(err), err, stderr)
	}
	if n := la.left(t); n != 0 {
		t.Errorf("%d objects of the run left after the interrupt", n)
	}
}

// TestRunCleanupFailureIsOneLine: when the run cannot delete its agents it
// says so in one line naming the command, and keeps its exit code.
func TestRunCleanupFailureIsOneLine(t *testing.T) {
	la := &labelledAgents{}
	_, stderr, err := runOpts(t, fakeProber{}, func(o *command) {
		cs := o.client.(*fake.Clientset)
		la.cs, la.prober = cs, fakeProber{}
		o.agents = la
		o.cleanup = agentjob.CleanupPolicy{Budget: 300 * time.Millisecond, Attempt: 100 * time.Millisecond, Backoff: 5 * time.Millisecond}
		cs.PrependReactor("delete", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("etcd down")
		})
	}, "-o", "json", "--from", "cluster", "hostname-nodeport")
	if ExitCode(err) != ExitOK {
		t.Errorf("exit %d (%v), want the run's own 0", ExitCode(err), err)
	}
	id := la.ids[0]
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "kubectl svccheck cleanup --run "+id+" -n default") || !strings.Contains(lines[0], "deadline removes it by") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestRunKeepAgentKeepsThem(t *testing.T) {
	la := &labelledAgents{}
	_, stderr, err := runOpts(t, fakeProber{}, func(o *command) {
		la.cs, la.prober = o.client.(*fake.Clientset), fakeProber{}
		o.agents = la
	}, "-o", "json", "--from", "cluster", "--keep-agent", "hostname-nodeport")
	if ExitCode(err) != ExitOK || la.left(t) != 2 {
		t.Errorf("exit %d, %d objects left, want both kept", ExitCode(err), la.left(t))
	}
	if !strings.Contains(stderr, "kubectl svccheck cleanup --run "+la.ids[0]+" -n default") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestRunWithoutCreatesCleansNothing: a run that failed before creating
// anything sends no delete.
func TestRunWithoutCreatesCleansNothing(t *testing.T) {
	var cs *fake.Clientset
	_, _, err := runOpts(t, fakeProber{}, func(o *command) {
		cs = o.client.(*fake.Clientset)
		cs.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, "", errors.New("no"))
		})
	}, "--from", "cluster", "hostname-nodeport")
	if ExitCode(err) != ExitCluster {
		t.Errorf("exit %d: %v", ExitCode(err), err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "delete" || a.GetResource().Resource == "jobs" {
			t.Errorf("sent %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestCleanupRun(t *testing.T) {
	labels := func(run string) map[string]string {
		return map[string]string{agentjob.LabelName: "svccheck", agentjob.LabelComponent: "agent", agentjob.LabelRun: run}
	}
	cs := fake.NewClientset(
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "tools", Labels: labels("0123456789")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-p", Namespace: "tools", Labels: labels("0123456789")}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "tools", Labels: labels("abcdefabcd")}},
	)
	t.Setenv("SVCCHECK_AGENT_NAMESPACE", "elsewhere")
	var out bytes.Buffer
	o := newCommand(NewOptions(genericStreams(&out)))
	o.client, o.namespace = cs, "tools"
	cmd := newCmd(o)
	cmd.SetArgs([]string{"cleanup", "--run", "0123456789", "-n", "tools"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "deleted 1 svccheck agent(s) of run 0123456789 in namespace \"tools\"\n" {
		t.Errorf("output %q", out.String())
	}
	jobs, _ := cs.BatchV1().Jobs("tools").List(context.Background(), metav1.ListOptions{})
	pods, _ := cs.CoreV1().Pods("tools").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 1 || jobs.Items[0].Name != "b" || len(pods.Items) != 0 {
		t.Errorf("left jobs %v pods %v", jobs.Items, pods.Items)
	}
	cmd = newCmd(newCommand(NewOptions(genericStreams(&out))))
	cmd.SetArgs([]string{"cleanup", "--run", "nope"})
	if err := cmd.Execute(); ExitCode(err) != ExitUsage {
		t.Errorf("bad run id: %v", err)
	}
}

// runOptsCtx is runOpts with the command's context.
func runOptsCtx(t *testing.T, ctx context.Context, prober probe.Prober, setup func(*command), args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o := newCommand(NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}))
	o.client = fixture.Clientset(t, clusterFixture)
	o.namespace = "default"
	o.local = prober
	allowAll(o.client.(*fake.Clientset))
	setup(o)
	cmd := newCmd(o)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}
