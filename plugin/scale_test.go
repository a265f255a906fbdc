package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svccheck/svccheck/plugin/engine"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/prober"
	"github.com/svccheck/svccheck/report"
)

// fakeReacher answers the reachability pass: hosts in down never answer,
// nor does anyone on a port in dead.
type fakeReacher struct {
	down  map[string]bool
	dead  map[int32]bool
	mu    sync.Mutex
	calls [][]prober.ReachTarget
}

func (f *fakeReacher) Reach(_ context.Context, ts []prober.ReachTarget) []prober.Reach {
	f.mu.Lock()
	f.calls = append(f.calls, ts)
	f.mu.Unlock()
	out := make([]prober.Reach, len(ts))
	for i, t := range ts {
		for _, p := range t.Ports {
			o := probe.OK
			if f.down[t.Host] || f.dead[p] {
				o = probe.Timeout
				out[i].Detail = "i/o timeout"
			}
			out[i].Ports = append(out[i].Ports, o)
		}
	}
	return out
}

func runJSON(t *testing.T, r engine.Reacher, args ...string) (*report.Report, int) {
	t.Helper()
	out, errOut, err := runOpts(t, fakeProber{}, func(o *command) { o.reacher = r; addNodePort(t, o, "second", 30090) },
		append([]string{"-o", "json", "--http"}, args...)...)
	var rep report.Report
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("no JSON report (%v, stderr %q): %s", err, errOut, out)
	}
	return &rep, ExitCode(err)
}

// addNodePort adds a second NodePort Service in front of the hostname
// pods, so that the reachability pass has two Services to knock on.
func addNodePort(t *testing.T, o *command, name string, port int32) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.190", ClusterIPs: []string{"10.96.0.190"}, Selector: map[string]string{"app": "hostname"},
		Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(80), NodePort: port}}}}
	sl, err := o.client.DiscoveryV1().EndpointSlices("default").Get(ctx, "hostname-nodeport-y2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sl = sl.DeepCopy()
	sl.ObjectMeta = metav1.ObjectMeta{Name: name + "-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: name}}
	if _, err := o.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.client.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func findings(rep *report.Report, code diagnose.Code) []diagnose.Finding {
	var out []diagnose.Finding
	for _, f := range rep.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

// TestUnreachableNode: a node that answers on no NodePort gets one finding,
// and its NodePort probes are not run because of it.
func TestUnreachableNode(t *testing.T) {
	r := &fakeReacher{down: map[string]bool{"10.10.0.11": true}} // worker1
	rep, code := runJSON(t, r, "hostname-nodeport", "second")
	if code != ExitFailed {
		t.Errorf("exit %d, want %d", code, ExitFailed)
	}
	fs := findings(rep, diagnose.VerdictNodeUnreachable)
	if len(fs) != 1 || fs[0].Node != "worker1" || fs[0].Service != "" ||
		!strings.Contains(fs[0].Message, "node worker1 unreachable from here: 10.10.0.11 (InternalIP) answered on no NodePort (30080 (default/hostname-nodeport) or 30090 (default/second) within 2s, timeout) where other nodes answer; its 2 NodePort probes were not run") {
		t.Errorf("findings %+v", fs)
	}
	notRun := 0
	for _, p := range rep.Services[0].Probes {
		if p.Node == "worker1" && p.Via == probe.ViaNodePort {
			if p.Outcome != probe.NotRun || !strings.HasPrefix(p.Detail, "node worker1 unreachable from here: ") {
				t.Errorf("probe %s: %s %q", p.ID, p.Outcome, p.Detail)
			}
			notRun++
		}
	}
	if notRun != 1 || len(r.calls) != 1 || len(r.calls[0]) != 3 || len(r.calls[0][0].Ports) != 2 {
		t.Errorf("%d not run; reach calls %+v", notRun, r.calls)
	}
}

// TestNoNodeAnswers: when no node answers, one finding says so.
func TestNoNodeAnswers(t *testing.T) {
	r := &fakeReacher{down: map[string]bool{"10.10.0.10": true, "10.10.0.11": true, "10.10.0.12": true}}
	rep, code := runJSON(t, r)
	fs := findings(rep, diagnose.VerdictNodeUnreachable)
	if code != ExitFailed || len(fs) != 1 || fs[0].Node != "" || !strings.HasPrefix(fs[0].Message, "no node answers from here: none of 3 node addresses answered") {
		t.Errorf("exit %d, findings %+v", code, fs)
	}
	for _, s := range rep.Services {
		for _, p := range s.Probes {
			if p.Via == probe.ViaNodePort && p.Outcome != probe.NotRun {
				t.Errorf("%s ran: %s", p.ID, p.Outcome)
			}
		}
	}
}

// slowProber answers after a delay, or when the run ends.
type slowProber struct{ delay time.Duration }

func (s slowProber) Probe(ctx context.Context, p *probe.Probe) probe.Result {
	select {
	case <-time.After(s.delay):
		return fakeProber{}.Probe(ctx, p)
	case <-ctx.Done():
		return probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: "interrupted", Interrupted: true}
	}
}

// TestMaxTime: probes not done by --max-time are not run because of it, the
// report says so, and the run fails without being interrupted.
func TestMaxTime(t *testing.T) {
	start := time.Now()
	out, _, err := runOpts(t, slowProber{delay: 5 * time.Second}, nil, "-o", "json", "--max-time", "200ms", "--max-connections", "2")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	var rep report.Report
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("no report: %v (%v)", jerr, err)
	}
	fs := findings(&rep, diagnose.VerdictRunDeadline)
	if ExitCode(err) != ExitFailed || rep.Interrupted || len(fs) != 1 || !strings.HasPrefix(fs[0].Message, "run deadline (--max-time 200ms) reached: ") {
		t.Errorf("exit %d interrupted %v findings %+v", ExitCode(err), rep.Interrupted, fs)
	}
	if rep.Summary.NotRun == 0 {
		t.Errorf("nothing cut: %+v", rep.Summary)
	}
}

func TestScaleFlagsValidated(t *testing.T) {
	for _, tc := range []struct{ flags []string }{
		{[]string{"--max-connections", "0"}},
		{[]string{"--max-time", "-1s"}},
		{[]string{"--agent-nodes", "-1"}},
		{[]string{"--agent-node-selector", "=a"}},
	} {
		if _, _, code := runWith(t, fakeProber{}, nil, tc.flags...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", tc.flags, code, ExitUsage)
		}
	}
}

// TestAgentNodesBounded: --agent-nodes 1 runs one node agent.
func TestAgentNodesBounded(t *testing.T) {
	rep, _ := runJSON(t, nil, "--from", "nodes", "--agent-nodes", "1")
	from := map[probe.From]bool{}
	for _, s := range rep.Services {
		for _, p := range s.Probes {
			from[p.From] = true
		}
	}
	if len(from) != 1 {
		t.Errorf("vantage points %v, want one node agent", from)
	}
}

// TestDeadServiceIsNotADeadNode: a NodePort that answers on no node is a
// dead Service, not dead nodes: nothing is skipped.
func TestDeadServiceIsNotADeadNode(t *testing.T) {
	r := &fakeReacher{dead: map[int32]bool{30080: true}}
	rep, _ := runJSON(t, r, "hostname-nodeport", "second")
	if fs := findings(rep, diagnose.VerdictNodeUnreachable); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
}

// TestOneServiceBlockedIsNotADeadNode: a node silent on one Service only
// (a firewall rule for one port) runs its probes: they fail as that
// Service's, on that node.
func TestOneServiceBlockedIsNotADeadNode(t *testing.T) {
	r := &perNodePort{silent: map[string]int32{"10.10.0.11": 30080}}
	rep, _ := runJSON(t, r, "hostname-nodeport", "second")
	if fs := findings(rep, diagnose.VerdictNodeUnreachable); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
}

// perNodePort: silent[host] never answers on that port; all else answers.
type perNodePort struct{ silent map[string]int32 }

func (f *perNodePort) Reach(_ context.Context, ts []prober.ReachTarget) []prober.Reach {
	out := make([]prober.Reach, len(ts))
	for i, t := range ts {
		for _, p := range t.Ports {
			o := probe.OK
			if f.silent[t.Host] == p {
				o = probe.Timeout
			}
			out[i].Ports = append(out[i].Ports, o)
		}
	}
	return out
}
