package engine

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/svccheck/svccheck/plugin/agentjob"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/svccheck/svccheck/internal/fixture"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

const clusterFixture = "../../testdata/cluster.yaml"

// recordingVantage answers every probe as expected, except that it fails
// the probes of failService on the first call, and records the limits of
// every call.
type recordingVantage struct {
	node        string
	failService string

	mu     sync.Mutex
	calls  int
	limits []Limits
}

func (v *recordingVantage) Node() string { return v.node }

func (v *recordingVantage) Run(_ context.Context, pl *probe.Plan, idx []int, lim Limits, onResult func(int, probe.Result)) error {
	v.mu.Lock()
	v.calls++
	first := v.calls == 1
	v.limits = append(v.limits, lim)
	v.mu.Unlock()
	for _, i := range idx {
		p := &pl.Probes[i]
		r := probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1, Seen: p.Backends}
		if p.Expect.Want != probe.Reach || first && p.Service == v.failService {
			r = probe.Result{ID: p.ID, Outcome: probe.Timeout, Connections: 1, Failures: 1}
		}
		probe.Evaluate(p, &r)
		onResult(i, r)
	}
	return nil
}

// fakeProvider opens a recordingVantage per vantage point.
type fakeProvider struct {
	failService string
	mu          sync.Mutex
	opened      map[probe.From]*recordingVantage
	needs       map[probe.From]Need
}

func (f *fakeProvider) Prepare(context.Context, []probe.From, string, string) error { return nil }
func (f *fakeProvider) Close()                                                      {}
func (f *fakeProvider) Open(_ context.Context, from probe.From, need Need) (Vantage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opened == nil {
		f.opened, f.needs = map[probe.From]*recordingVantage{}, map[probe.From]Need{}
	}
	v := &recordingVantage{node: "worker1", failService: f.failService}
	f.opened[from], f.needs[from] = v, need
	return v, nil
}

// TestConvergenceProbesWithTheFirstPassLimits: the re-probes while waiting
// for convergence run through the same vantage points with the same limits
// as the first pass (they once ran with --concurrency sockets instead of
// --max-connections, and without the reachability pass).
func TestConvergenceProbesWithTheFirstPassLimits(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cs := fixture.Clientset(t, clusterFixture)
	svcs := cs.CoreV1().Services("default")
	s, err := svcs.Get(context.Background(), "hostname-nodeport", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.CreationTimestamp = metav1.NewTime(now.Add(-time.Second))
	if _, err := svcs.Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lim := Limits{Timeout: time.Second, InFlight: 1500, Work: 7, Tries: 2}
	cfg := &Config{Namespace: "default", From: []probe.From{probe.FromLocal, probe.FromPod}, Limits: lim, AddressTypes: []string{"InternalIP"},
		WaitConverged: 3 * time.Second, FailOn: diagnose.SevError, Now: func() time.Time { return now }}
	prov := &fakeProvider{failService: "hostname-nodeport"}
	res, err := Run(context.Background(), cs, cfg, prov)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []probe.From{probe.FromLocal, probe.FromPod} {
		v := prov.opened[f]
		if v == nil {
			t.Fatalf("no vantage point %s opened", f)
		}
		if len(v.limits) < 2 {
			t.Fatalf("%s ran %d passes, want the first and at least one re-probe", f, len(v.limits))
		}
		for k, l := range v.limits {
			if l != lim {
				t.Errorf("%s pass %d ran with %+v, want %+v", f, k, l, lim)
			}
		}
	}
	var conv *string
	for _, svc := range res.Report.Services {
		if svc.Name == "hostname-nodeport" && svc.Convergence != nil {
			st := string(svc.Convergence.State)
			conv = &st
		}
	}
	if conv == nil || *conv != "converged" {
		t.Errorf("hostname-nodeport convergence %v, want converged", conv)
	}
}

// TestAgentDeadlineCoversTheRun: an agent's deadline covers its start, every
// connection of its probes timing out, and a margin.
func TestAgentDeadlineCoversTheRun(t *testing.T) {
	pl := probe.Plan{Probes: make([]probe.Probe, 640)}
	idx := make([]int, 640)
	for i := range idx {
		idx[i] = i
		pl.Probes[i].Connections = 10
	}
	cfg := &Config{Limits: Limits{Timeout: 2 * time.Second, InFlight: 2048, Work: 64, Tries: 1}}
	v := &Vantages{Agent: agentjob.AgentConfig{StartTimeout: time.Minute}}
	got := v.AgentConfig(probe.FromPod, Need{Work: agentWork(cfg, &pl, idx)})
	// 6400 attempts / 2048 sockets in flight * 2 s + 60 s start + 30 s margin
	if got.Deadline != 98*time.Second || got.StartTimeout != time.Minute {
		t.Errorf("deadline %s start %s", got.Deadline, got.StartTimeout)
	}
	if node := v.AgentConfig(probe.FromNode("n1"), Need{}); node.Node != "n1" || !node.HostNetwork || node.Deadline != 90*time.Second {
		t.Errorf("node agent config %+v", node)
	}
}

// The cluster DNS Service is read with its ready endpoints (a diagnosis of a
// name that does not resolve says how many); without it, DNS probes do not
// run.
func TestClusterDNS(t *testing.T) {
	ready, notReady := true, false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-1", Namespace: "kube-system", Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.244.1.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			{Addresses: []string{"10.244.2.2"}},
		},
	}
	for _, tc := range []struct {
		name  string
		objs  []runtime.Object
		dns   *probe.ClusterDNS
		skips string
	}{
		{"Service and endpoints", []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}}, slice},
			&probe.ClusterDNS{Service: "kube-system/kube-dns", Ready: 2}, ""},
		{"Service without endpoints", []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}}},
			&probe.ClusterDNS{Service: "kube-system/kube-dns", Ready: 0}, ""},
		{"no cluster DNS", nil, nil, "no cluster DNS (no kube-system/kube-dns Service)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &runner{client: fake.NewClientset(tc.objs...)}
			var inv probe.Inventory
			pl := probe.Plan{Probes: []probe.Probe{{Via: probe.ViaDNS}, {Via: probe.ViaClusterIP}}}
			r.clusterDNS(context.Background(), &inv, pl)
			if !reflect.DeepEqual(inv.ClusterDNS, tc.dns) {
				t.Errorf("cluster DNS %+v, want %+v", inv.ClusterDNS, tc.dns)
			}
			if pl.Probes[0].Skip != tc.skips || pl.Probes[1].Skip != "" {
				t.Errorf("skips %q, %q; want %q on the DNS probe only", pl.Probes[0].Skip, pl.Probes[1].Skip, tc.skips)
			}
		})
	}
}
