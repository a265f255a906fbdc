package report

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

// baselineReport is an earlier run: the seed's Service and a Service since
// deleted; the ClusterIP then answered from outside (since fixed) and the pod
// vantage point's NodePort on worker2 did not run.
func baselineReport(t *testing.T) Report {
	inv := testinv.Seed()
	old := probe.Service{Namespace: "default", Name: "old", Type: probe.TypeClusterIP, ClusterIPs: []string{"10.96.0.9"},
		Ports: []probe.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "80"}}}
	inv.Services = append(inv.Services, old)
	in := run(t, inv, localAndPod, script{
		localClusterIP: func(r *probe.Result) {
			r.Outcome, r.Failures, r.Detail, r.Latency = probe.OK, 0, "", time.Millisecond
		},
		podNodePortWorker2: func(r *probe.Result) {
			*r = probe.Result{ID: r.ID, Outcome: probe.NotRun, Detail: "interrupted", Interrupted: true}
		},
	}, "")
	r := Build(in)
	r.Metadata.GeneratedAt = generatedAt.Add(-24 * time.Hour)
	return r
}

// baselineInput is the broken run compared with baselineReport.
func baselineApplied(t *testing.T) Report {
	base := baselineReport(t)
	r := Build(brokenInput(t, ""))
	r.ApplyBaseline("svccheck-baseline.json", &base)
	return r
}

func TestApplyBaseline(t *testing.T) {
	base := baselineReport(t)
	if base.Passed() || base.Summary.Failed != 1 || base.Summary.NotRun != 1 {
		t.Fatalf("fixture changed: baseline summary %+v", base.Summary)
	}
	r := baselineApplied(t)
	d := r.Baseline
	if d == nil {
		t.Fatal("no baseline diff")
	}
	if d.File != "svccheck-baseline.json" || !d.GeneratedAt.Equal(base.Metadata.GeneratedAt) {
		t.Errorf("diff names %s at %v", d.File, d.GeneratedAt)
	}
	// worker2's NodePort from a pod fails now, but did not run in the
	// baseline; DNS did not run now: neither is a regression.
	if want := []string{seedID(t, localNodePortWorker1), seedID(t, localPodIP)}; !slices.Equal(d.Regressions, want) {
		t.Errorf("regressions %v, want %v", d.Regressions, want)
	}
	if want := []string{seedID(t, localClusterIP)}; !slices.Equal(d.Fixed, want) {
		t.Errorf("fixed %v, want %v", d.Fixed, want)
	}
	if want := []string{"default/api", "default/db"}; !slices.Equal(d.NewServices, want) {
		t.Errorf("new services %v, want %v", d.NewServices, want)
	}
	if want := []string{"default/old"}; !slices.Equal(d.GoneServices, want) {
		t.Errorf("gone services %v, want %v", d.GoneServices, want)
	}
	if r.Summary.Result != "fail" || r.Passed() {
		t.Errorf("result %s, want fail on regressions", r.Summary.Result)
	}
}

func TestApplyBaselinePassesWithoutRegressions(t *testing.T) {
	// The same broken run twice: errors remain, nothing regressed.
	base := Build(brokenInput(t, ""))
	r := Build(brokenInput(t, ""))
	if r.Passed() {
		t.Fatal("fixture changed: the broken run passes on its own")
	}
	r.ApplyBaseline("b.json", &base)
	d := r.Baseline
	if !r.Passed() || r.Summary.Errors != 2 {
		t.Errorf("result %s with %d errors, want pass: nothing regressed", r.Summary.Result, r.Summary.Errors)
	}
	// Empty lists, not null: the schema wants arrays.
	for name, l := range map[string][]string{"regressions": d.Regressions, "fixed": d.Fixed, "new": d.NewServices, "gone": d.GoneServices} {
		if l == nil || len(l) != 0 {
			t.Errorf("%s = %#v, want an empty list", name, l)
		}
	}
	// A passing run stays passing against a failing baseline; fixes are listed.
	healthy := Build(healthyInput(t))
	healthy.ApplyBaseline("b.json", &base)
	if !healthy.Passed() || len(healthy.Baseline.Regressions) != 0 || len(healthy.Baseline.Fixed) != 3 {
		t.Errorf("healthy against broken: result %s, diff %+v", healthy.Summary.Result, healthy.Baseline)
	}
	if !slices.Equal(healthy.Baseline.GoneServices, []string{"default/api", "default/db"}) {
		t.Errorf("gone %v", healthy.Baseline.GoneServices)
	}
}

// TestApplyBaselineIgnoresProbesNotRunNow: a probe that failed in the
// baseline and did not run now is not fixed.
func TestApplyBaselineIgnoresProbesNotRunNow(t *testing.T) {
	base := Build(brokenInput(t, ""))
	r := Build(interruptedInput(t))
	r.ApplyBaseline("b.json", &base)
	if want := []string{seedID(t, localNodePortWorker1), seedID(t, localPodIP)}; !slices.Equal(r.Baseline.Fixed, want) {
		t.Errorf("fixed %v, want %v (worker2's NodePort from a pod did not run now)", r.Baseline.Fixed, want)
	}
	if len(r.Baseline.Regressions) != 0 || !r.Passed() {
		t.Errorf("regressions %v, result %s", r.Baseline.Regressions, r.Summary.Result)
	}
}

// A rollout replaces the pods (new names and IPs, same Deployment) and the
// nodes get new addresses; then worker1's NodePort breaks. Matched by
// identity, exactly that is the regression; nothing appears or vanishes.
func TestApplyBaselineAcrossRolloutAndNodeAddressChange(t *testing.T) {
	owned := func(inv *probe.Inventory, names ...string) {
		inv.Pods = nil
		for i, n := range names {
			inv.Pods = append(inv.Pods, probe.Pod{Namespace: "default", Name: n, Owner: "Deployment/web"})
			inv.Services[0].Endpoints[i].PodName = n
		}
	}
	before := testinv.Seed()
	owned(&before, "web-a", "web-b")
	base := Build(run(t, before, localAndPod, script{}, ""))
	after := testinv.Seed()
	owned(&after, "web-5d8f-k2", "web-5d8f-p9")
	after.Services[0].Endpoints[0].Address, after.Services[0].Endpoints[1].Address = "10.244.3.3", "10.244.4.4"
	for i := range after.Nodes {
		after.Nodes[i].Addresses["InternalIP"] = []string{"10.20.0." + string(rune('1'+i))}
	}
	r := Build(run(t, after, localAndPod, script{localNodePortWorker1: refuse}, ""))
	r.ApplyBaseline("b.json", &base)
	d := r.Baseline
	if want := []string{"default/web/http/local/nodePort/worker1/InternalIP"}; !slices.Equal(d.Regressions, want) {
		t.Errorf("regressions %v, want %v", d.Regressions, want)
	}
	if len(d.Appeared)+len(d.Vanished) != 0 || r.Passed() || r.Services[0].Pass {
		t.Errorf("appeared %v vanished %v result %s", d.Appeared, d.Vanished, r.Summary.Result)
	}
}

// A node added since the baseline whose NodePort fails is a regression: it
// appeared failing. A node removed is listed as vanished.
func TestApplyBaselineAppearedAndVanished(t *testing.T) {
	base := Build(run(t, testinv.Seed(), []probe.From{probe.FromLocal}, script{}, ""))
	inv := testinv.Seed()
	inv.Nodes[0].Name = "worker9" // "worker2" gone, "worker9" new
	r := Build(run(t, inv, []probe.From{probe.FromLocal}, script{sel{svc: "web", from: probe.FromLocal, via: probe.ViaNodePort, node: "worker9"}: refuse}, ""))
	r.ApplyBaseline("b.json", &base)
	d := r.Baseline
	id := "default/web/http/local/nodePort/"
	if !slices.Equal(d.Appeared, []string{id + "worker9/InternalIP"}) || !slices.Equal(d.Vanished, []string{id + "worker2/InternalIP"}) {
		t.Errorf("appeared %v vanished %v", d.Appeared, d.Vanished)
	}
	if !slices.Equal(d.Regressions, []string{id + "worker9/InternalIP"}) || r.Passed() {
		t.Errorf("regressions %v result %s", d.Regressions, r.Summary.Result)
	}
}

// A v1alpha1 baseline named probes by address: its identities are rebuilt
// from the rows' node, address type and VIP family, so a node address change
// still matches.
func TestApplyBaselineReadsV1Alpha1(t *testing.T) {
	base := Build(run(t, testinv.Seed(), []probe.From{probe.FromLocal}, script{}, ""))
	base.APIVersion = APIVersionV1Alpha1
	for i := range base.Services {
		for j := range base.Services[i].Probes {
			p := &base.Services[i].Probes[j]
			host := p.Target[:strings.LastIndex(p.Target, ":")]
			p.ID = p.ID[:len(p.ID)-len(p.Key)] + host // the old form: .../via/host
			p.Key = ""
		}
	}
	inv := testinv.Seed()
	inv.Nodes[2].Addresses["InternalIP"] = []string{"10.30.0.1"}
	r := Build(run(t, inv, []probe.From{probe.FromLocal}, script{sel{svc: "web", from: probe.FromLocal, via: probe.ViaNodePort, node: "worker2"}: refuse}, ""))
	r.ApplyBaseline("old.json", &base)
	d := r.Baseline
	if want := []string{"default/web/http/local/nodePort/worker2/InternalIP"}; !slices.Equal(d.Regressions, want) || d.APIVersion != APIVersionV1Alpha1 {
		t.Errorf("regressions %v (baseline %s), want %v", d.Regressions, d.APIVersion, want)
	}
	if len(d.Appeared)+len(d.Vanished) != 0 {
		t.Errorf("appeared %v vanished %v: old identities not rebuilt", d.Appeared, d.Vanished)
	}
}

// refuse scripts a probe as refused on both its connections.
func refuse(r *probe.Result) {
	*r = probe.Result{ID: r.ID, Outcome: probe.Refused, Connections: 2, Failures: 2, Detail: "connect: connection refused"}
}
