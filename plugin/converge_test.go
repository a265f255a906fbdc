package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/report"
)

// settlingProber is fakeProber on a healthy cluster, except that a NodePort
// through node settles only after `after` probes of it: before that it is
// refused, as on a node whose kube-proxy has not yet programmed the Service.
// after < 0 never settles.
type settlingProber struct {
	node  string
	after int

	mu    sync.Mutex
	calls map[string]int
}

func (s *settlingProber) Probe(ctx context.Context, p *probe.Probe) probe.Result {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[p.ID]++
	n := s.calls[p.ID]
	s.mu.Unlock()
	broken := ""
	if p.Node == s.node && (s.after < 0 || n <= s.after) {
		broken = s.node
	}
	return fakeProber{brokenNode: broken}.Probe(ctx, p)
}

func (s *settlingProber) count(pred func(id string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, c := range s.calls {
		if pred(id) {
			n += c
		}
	}
	return n
}

// changedAgo sets hostname-nodeport's creation time to ago before the run.
func changedAgo(ago time.Duration) func(*command) {
	return func(o *command) {
		svcs := o.client.CoreV1().Services("default")
		s, err := svcs.Get(context.Background(), "hostname-nodeport", metav1.GetOptions{})
		if err != nil {
			panic(err)
		}
		s.CreationTimestamp = metav1.NewTime(o.now().Add(-ago))
		if _, err := svcs.Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			panic(err)
		}
	}
}

func convergeRun(t *testing.T, pr probe.Prober, setup func(*command), args ...string) (*report.Report, *fakeAgents, time.Duration, int) {
	t.Helper()
	var agents *fakeAgents
	start := time.Now()
	out, errOut, err := runOpts(t, pr, func(o *command) {
		o.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
		agents = &fakeAgents{prober: pr, node: "worker2"}
		o.agents = agents
		if setup != nil {
			setup(o)
		}
	}, append([]string{"-o", "json"}, args...)...)
	took := time.Since(start)
	var rep report.Report
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("report: %v (err %v, stderr %q)", jerr, err, errOut)
	}
	return &rep, agents, took, ExitCode(err)
}

func serviceOf(t *testing.T, rep *report.Report, name string) *report.Service {
	t.Helper()
	for i := range rep.Services {
		if rep.Services[i].Name == name {
			return &rep.Services[i]
		}
	}
	t.Fatalf("no Service %s in the report", name)
	return nil
}

// TestConvergeWaitsForARecentChange: a Service created 10s before the run
// whose NodePort on worker1 is refused twice, from here and from the agent,
// passes with --wait-converged; only the disagreeing probes ran again, the
// agent ran them in a second exec and was deleted after.
func TestConvergeWaitsForARecentChange(t *testing.T) {
	pr := &settlingProber{node: "worker1", after: 2}
	rep, agents, took, code := convergeRun(t, pr, changedAgo(10*time.Second),
		"--from", "all", "--wait-converged", "20s", "hostname", "hostname-nodeport")
	if code != ExitOK {
		t.Fatalf("exit %d, want 0: %s", code, report.SummaryLine(rep))
	}
	c := serviceOf(t, rep, "hostname-nodeport").Convergence
	if c == nil || c.State != report.ConvergeConverged || c.Reprobes != 2 || c.WaitedMs < 1400 || c.WaitedMs > 5000 {
		t.Fatalf("convergence %+v, want converged after 2 re-probes (0.5s + 1s of backoff)", c)
	}
	if c.LastChange == nil || !c.LastChange.Equal(time.Date(2026, 1, 2, 3, 3, 55, 0, time.UTC)) || c.SinceChangeMs == nil {
		t.Errorf("last change %v, since %v", c.LastChange, c.SinceChangeMs)
	}
	var local, remote int
	for _, id := range c.Probes {
		if !strings.Contains(id, "worker1") {
			t.Errorf("waited on %s, which agreed at once", id)
		}
		if strings.Contains(id, "/local/") {
			local++
		} else {
			remote++
		}
	}
	if local == 0 || remote == 0 {
		t.Errorf("waited on %v: want worker1's NodePort from here and from the agent", c.Probes)
	}
	for _, p := range serviceOf(t, rep, "hostname-nodeport").Probes {
		if !p.Pass {
			t.Errorf("%s still fails: %s", p.ID, p.Outcome)
		}
	}
	if got := pr.count(func(id string) bool { return !strings.Contains(id, "worker1") }); got != len(rep.Services[0].Probes)+len(rep.Services[1].Probes)-len(c.Probes) {
		t.Errorf("probes that agreed at once ran %d times in all, want once each", got)
	}
	if h := serviceOf(t, rep, "hostname").Convergence; h == nil || h.State != report.ConvergeAgreed || h.Reprobes != 0 {
		t.Errorf("hostname convergence %+v, want agreed", h)
	}
	agents.mu.Lock()
	defer agents.mu.Unlock()
	if len(agents.reqs) != 3 {
		t.Errorf("agent ran %d times (want the first pass and 2 re-probes)", len(agents.reqs))
	}
	if took > 10*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestConvergePersistentFailure: a path that never settles fails as it
// would without the mode, once the wait is over.
func TestConvergePersistentFailure(t *testing.T) {
	plain, _, _, code := convergeRun(t, &settlingProber{node: "worker1", after: -1}, changedAgo(10*time.Second), "hostname-nodeport")
	if code != ExitFailed {
		t.Fatalf("without the mode: exit %d", code)
	}
	pr := &settlingProber{node: "worker1", after: -1}
	rep, _, took, code := convergeRun(t, pr, changedAgo(time.Second), "--wait-converged", "2s", "hostname-nodeport")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1", code)
	}
	if took < 2*time.Second || took > 8*time.Second {
		t.Errorf("took %s, want the 2s wait and little more", took)
	}
	c := serviceOf(t, rep, "hostname-nodeport").Convergence
	if c == nil || c.State != report.ConvergeNotConverged || c.Reprobes != 3 || c.WaitedMs < 2000 {
		t.Errorf("convergence %+v, want notConverged after 3 re-probes (0.5s, 1s, then the last 0.5s)", c)
	}
	// Without the mode the failure is said to follow a change 10 s before
	// the run; with it, the wait is over and nothing is added.
	hint := " (the Service or its endpoints changed 10s before this run: the proxies may still be catching up; --wait-converged waits for them)"
	hinted := 0
	for i := range plain.Findings {
		if m, ok := strings.CutSuffix(plain.Findings[i].Message, hint); ok {
			plain.Findings[i].Message = m
			hinted++
		}
	}
	if hinted == 0 {
		t.Errorf("no finding of the run without the mode says the Service changed 10s before: %+v", plain.Findings)
	}
	want, _ := json.Marshal(plain.Findings)
	got, _ := json.Marshal(rep.Findings)
	if string(got) != string(want) {
		t.Errorf("findings differ from a run without the mode:\n%s\n%s", got, want)
	}
	if rep.Summary.Failed != plain.Summary.Failed || rep.Summary.Passed != plain.Summary.Passed {
		t.Errorf("summary %+v, without the mode %+v", rep.Summary, plain.Summary)
	}
}

// TestConvergeSkipsOldChanges: failures of a Service that has not changed
// within the window are final at once.
func TestConvergeSkipsOldChanges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*command)
		args  []string
		last  bool
	}{
		{"changed 2h ago", changedAgo(2 * time.Hour), nil, true},
		{"outside --converge-window", changedAgo(time.Minute), []string{"--converge-window", "30s"}, true},
		{"no change recorded", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := &settlingProber{node: "worker1", after: 1}
			rep, _, took, code := convergeRun(t, pr, tc.setup, append([]string{"--wait-converged", "2m", "hostname-nodeport"}, tc.args...)...)
			if code != ExitFailed || took > 3*time.Second {
				t.Errorf("exit %d after %s, want 1 at once", code, took)
			}
			c := serviceOf(t, rep, "hostname-nodeport").Convergence
			if c == nil || c.State != report.ConvergeNotWaited || c.Reprobes != 0 || len(c.Probes) != 1 || (c.LastChange != nil) != tc.last {
				t.Errorf("convergence %+v", c)
			}
			if n := pr.count(func(id string) bool { return strings.Contains(id, "worker1") }); n != 1 {
				t.Errorf("worker1's NodePort probed %d times, want once", n)
			}
		})
	}
}

// TestConvergeOff: without the mode nothing is probed twice and the report
// has no convergence.
func TestConvergeOff(t *testing.T) {
	pr := &settlingProber{node: "worker1", after: 1}
	rep, _, _, code := convergeRun(t, pr, changedAgo(time.Second), "hostname-nodeport")
	if code != ExitFailed {
		t.Errorf("exit %d", code)
	}
	if c := serviceOf(t, rep, "hostname-nodeport").Convergence; c != nil {
		t.Errorf("convergence %+v without the mode", c)
	}
	if n := pr.count(func(string) bool { return true }); n != len(rep.Services[0].Probes) {
		t.Errorf("%d probes ran, want %d", n, len(rep.Services[0].Probes))
	}
}

func TestConvergeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--wait-converged", "-1s"}, "--wait-converged must not be negative"},
		{[]string{"--wait-converged", "1m", "--converge-window", "-1s"}, "--converge-window must not be negative"},
		{[]string{"--converge-window", "1m"}, "--converge-window needs --wait-converged"},
	} {
		_, _, err := runOpts(t, fakeProber{}, nil, tc.args...)
		if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: err = %v, want usage error %q", tc.args, err, tc.msg)
		}
	}
}

// TestConvergeRediscovers: run at once after a Deployment and its Service
// were applied, the pods are not ready yet (no ready endpoints: an error
// without the mode). With --wait-converged svccheck discovers again until
// the endpoints are ready, probes what the new plan holds, and diagnoses
// the state it last saw.
func TestConvergeRediscovers(t *testing.T) {
	notReadyUntilList := func(n int) func(*command) {
		return func(o *command) {
			changedAgo(2 * time.Second)(o)
			cs := o.client.(*fake.Clientset)
			gvr := discoveryv1.SchemeGroupVersion.WithResource("endpointslices")
			set := func(ready bool) {
				obj, err := cs.Tracker().Get(gvr, "default", "hostname-nodeport-y2")
				if err != nil {
					panic(err)
				}
				sl := obj.(*discoveryv1.EndpointSlice).DeepCopy()
				for i := range sl.Endpoints {
					sl.Endpoints[i].Conditions.Ready = &ready
				}
				if err := cs.Tracker().Update(gvr, sl, "default"); err != nil {
					panic(err)
				}
			}
			set(false)
			lists := 0
			cs.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
				if lists++; lists == n {
					set(true)
				}
				return false, nil, nil
			})
		}
	}
	plain, _, _, code := convergeRun(t, fakeProber{}, notReadyUntilList(2), "hostname-nodeport")
	if code != ExitFailed || plain.Inventory.ReadyEndpoints != 0 {
		t.Fatalf("without the mode: exit %d, %d ready endpoints", code, plain.Inventory.ReadyEndpoints)
	}
	rep, _, _, code := convergeRun(t, fakeProber{}, notReadyUntilList(3), "--wait-converged", "20s", "hostname-nodeport")
	if code != ExitOK {
		t.Fatalf("exit %d, want 0: %s %+v", code, report.SummaryLine(rep), rep.Findings)
	}
	if rep.Inventory.ReadyEndpoints != 2 {
		t.Errorf("report of %d ready endpoints: want the last discovery's 2", rep.Inventory.ReadyEndpoints)
	}
	for _, f := range rep.Findings {
		if f.Service != "" {
			t.Errorf("finding about the first discovery: %+v", f)
		}
	}
	c := serviceOf(t, rep, "hostname-nodeport").Convergence
	if c == nil || c.State != report.ConvergeConverged || c.Reprobes != 2 {
		t.Errorf("convergence %+v, want converged after 2 passes (the second discovery still saw no ready pod)", c)
	}
}
