package report

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, rewriting it first with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file (run with -update after checking):\n%s", name, got)
	}
}

// generatedAt is the fixed time of every test report.
var generatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// sel picks one probe of the Service default/<svc> by what it is, not by its
// ID (whose format belongs to the planner): vantage point, path, and when
// set the Service port, the node of a NodePort or the pod of an endpoint.
type sel struct {
	svc  string
	port string
	from probe.From
	via  probe.Via
	node string
	pod  string
}

func (s sel) matches(ns, svc, port string, from probe.From, via probe.Via, node, pod string) bool {
	return ns == "default" && svc == s.svc && from == s.from && via == s.via &&
		(s.port == "" || port == s.port) && (s.node == "" || node == s.node) && (s.pod == "" || pod == s.pod)
}

// id returns the ID of the one probe of pl that s picks.
func (s sel) id(t *testing.T, pl probe.Plan) string {
	t.Helper()
	var ids []string
	for i := range pl.Probes {
		p := &pl.Probes[i]
		if s.matches(p.Namespace, p.Service, p.Port, p.From, p.Via, p.Node, p.Pod) {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%+v picks %d probes (%v), want 1", s, len(ids), ids)
	}
	return ids[0]
}

// row returns the one probe row of svc that s picks.
func (s sel) row(t *testing.T, svc *Service) ProbeRow {
	t.Helper()
	var rows []ProbeRow
	for _, p := range svc.Probes {
		if s.matches(svc.Namespace, svc.Name, p.Port, p.From, p.Via, p.Node, p.Pod) {
			rows = append(rows, p)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("%+v picks %d rows of %s/%s, want 1", s, len(rows), svc.Namespace, svc.Name)
	}
	return rows[0]
}

// Probes of testinv.Seed's Service default/web planned from local and pod.
var (
	localNodePortWorker1 = sel{svc: "web", from: probe.FromLocal, via: probe.ViaNodePort, node: "worker1"}
	localClusterIP       = sel{svc: "web", from: probe.FromLocal, via: probe.ViaClusterIP}
	localPodIP           = sel{svc: "web", from: probe.FromLocal, via: probe.ViaEndpoint}
	podEndpointA         = sel{svc: "web", from: probe.FromPod, via: probe.ViaEndpoint, pod: "web-a"}
	podEndpointB         = sel{svc: "web", from: probe.FromPod, via: probe.ViaEndpoint, pod: "web-b"}
	podClusterIP         = sel{svc: "web", from: probe.FromPod, via: probe.ViaClusterIP}
	podNodePortMaster    = sel{svc: "web", from: probe.FromPod, via: probe.ViaNodePort, node: "master"}
	podNodePortWorker1   = sel{svc: "web", from: probe.FromPod, via: probe.ViaNodePort, node: "worker1"}
	podNodePortWorker2   = sel{svc: "web", from: probe.FromPod, via: probe.ViaNodePort, node: "worker2"}
	podDNS               = sel{svc: "web", from: probe.FromPod, via: probe.ViaDNS}
	apiPodClusterIP      = sel{svc: "api", port: "grpc", from: probe.FromPod, via: probe.ViaClusterIP}
)

// seedID is the ID of the probe s picks in the seed's plan from local and pod.
func seedID(t *testing.T, s sel) string {
	t.Helper()
	return s.id(t, plan.Build(testinv.Seed(), plan.Options{From: localAndPod}))
}

// script overrides the simulated result of the probe a selector picks.
type script map[sel]func(r *probe.Result)

// simulate is a healthy cluster: a path expected to answer answers, with
// every backend seen (by HTTP body when the probe speaks HTTP, else not
// attributed); a path expected to stay silent times out.
func simulate(p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID, Tries: 1, Connections: 1}
	switch {
	case p.Skip != "":
		return probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: p.Skip}
	case p.Expect.Want == probe.NoReach:
		r.Outcome, r.Failures, r.Detail = probe.Timeout, 1, "dial tcp "+p.Address()+": i/o timeout"
		return r
	}
	r.Outcome, r.Latency = probe.OK, 1500*time.Microsecond
	if p.HTTP {
		r.HTTPStatus = 200
	}
	switch {
	case p.Via == probe.ViaEndpoint:
		r.Backend, r.Attribution = p.Pod, probe.AttrDirect
		r.Seen = []string{p.Pod}
	case p.HTTP && len(p.Backends) > 0:
		r.Seen = append([]string(nil), p.Backends...)
		r.Connections, r.Attribution = len(p.Backends), probe.AttrHTTPBody
		if len(r.Seen) == 1 {
			r.Backend = r.Seen[0]
		}
	}
	return r
}

// run plans inv from the given vantage points, simulates every probe (with
// the script's overrides), evaluates and diagnoses the results: the Input
// the plugin would give Build.
func run(t *testing.T, inv probe.Inventory, from []probe.From, s script, failOn diagnose.Severity) Input {
	t.Helper()
	pl := plan.Build(inv, plan.Options{From: from})
	results := make([]probe.Result, len(pl.Probes))
	for i := range pl.Probes {
		results[i] = simulate(&pl.Probes[i])
	}
	for sl, f := range s {
		id := sl.id(t, pl)
		for i := range pl.Probes {
			if pl.Probes[i].ID == id {
				f(&results[i])
			}
		}
	}
	for i := range pl.Probes {
		probe.Evaluate(&pl.Probes[i], &results[i])
	}
	scope := Scope{Namespace: "default", From: []string{}}
	for _, f := range from {
		scope.From = append(scope.From, string(f))
	}
	return Input{Inventory: inv, Plan: pl, Results: results, Findings: diagnose.Diagnose(inv, pl, results, diagnose.RunFacts{}),
		Metadata: Metadata{GeneratedAt: generatedAt, DurationMs: 2150, Server: "https://10.10.0.10:6443", Context: "lab"},
		Scope:    scope, FailOn: failOn}
}

var localAndPod = []probe.From{probe.FromLocal, probe.FromPod}

// healthyInput is the seed, healthy, probed from outside and from a pod.
func healthyInput(t *testing.T) Input {
	return run(t, testinv.Seed(), localAndPod, nil, "")
}

// brokenInventory is the seed with master cordoned, plus a ClusterIP
// Service with a UDP port and endpoints in every condition, and an
// ExternalName Service.
func brokenInventory() probe.Inventory {
	inv := testinv.Seed()
	ports := map[string]int32{"grpc": 9090, "dns": 5353}
	api := probe.Service{Namespace: "default", Name: "api", Type: probe.TypeClusterIP, ClusterIPs: []string{"10.96.0.101"},
		Selector: map[string]string{"app": "api"},
		Ports: []probe.ServicePort{{Name: "grpc", Protocol: "TCP", Port: 9090, TargetPort: "9090"},
			{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: "5353"}},
		Endpoints: []probe.Endpoint{
			{Address: "10.244.2.3", PodName: "api-0", NodeName: "worker2", Ready: true, Serving: true, Ports: ports},
			{Address: "10.244.2.4", PodName: "api-1", NodeName: "worker2", Ports: ports},
			{Address: "10.244.1.8", PodName: "api-2", NodeName: "worker1", Serving: true, Terminating: true, Ports: ports},
		}}
	db := probe.Service{Namespace: "default", Name: "db", Type: probe.TypeExternalName, ExternalName: "db.example.com"}
	inv.Services = append([]probe.Service{api, db}, inv.Services...)
	for i := range inv.Nodes {
		inv.Nodes[i].Unschedulable = inv.Nodes[i].Name == "master"
	}
	inv.Pods = []probe.Pod{{Namespace: "default", Name: "api-1", Labels: map[string]string{"app": "api"}, NodeName: "worker2",
		PodIP: "10.244.2.4", Phase: "Running", NotReady: []string{"api"}, ProbeMessage: "Readiness probe failed: HTTP probe failed with statuscode: 503"}}
	inv.EndpointSlices = 2
	return inv
}

// brokenScript breaks the seed's Service in several ways at once: worker1's
// NodePort refuses from outside, the pod IP answers from outside, the
// ClusterIP from a pod reaches only one of two pods, worker2's NodePort from
// a pod loses one connection in three, and there is no cluster DNS.
var brokenScript = script{
	localNodePortWorker1: func(r *probe.Result) {
		*r = probe.Result{ID: r.ID, Outcome: probe.Refused, Connections: 2, Failures: 2, Tries: 1,
			Detail: "dial tcp 10.10.0.11:30080: connect: connection refused"}
	},
	localPodIP: func(r *probe.Result) {
		*r = probe.Result{ID: r.ID, Outcome: probe.OK, Connections: 1, Tries: 1, Latency: 800 * time.Microsecond,
			HTTPStatus: 200, Backend: "web-a", Attribution: probe.AttrDirect, Seen: []string{"web-a"}}
	},
	podClusterIP: func(r *probe.Result) {
		r.Seen, r.Backend, r.Connections = []string{"web-a"}, "web-a", 21
	},
	podNodePortWorker2: func(r *probe.Result) {
		r.Outcome, r.Connections, r.Failures, r.Tries = probe.Timeout, 3, 1, 2
		r.Detail = "dial tcp 10.10.0.12:30080: i/o timeout"
	},
	podDNS: func(r *probe.Result) {
		*r = probe.Result{ID: r.ID, Outcome: probe.NotRun, Detail: "no cluster DNS (no kube-system/kube-dns Service)"}
	},
}

// brokenInput is brokenInventory probed from outside and from a pod with
// brokenScript.
func brokenInput(t *testing.T, failOn diagnose.Severity) Input {
	return run(t, brokenInventory(), localAndPod, brokenScript, failOn)
}

// interruptedInput is the seed probed from outside, stopped before the
// pod's probes ran.
func interruptedInput(t *testing.T) Input {
	s := script{}
	for _, sl := range []sel{podEndpointA, podEndpointB, podClusterIP, podNodePortMaster, podNodePortWorker1, podNodePortWorker2, podDNS} {
		s[sl] = func(r *probe.Result) {
			*r = probe.Result{ID: r.ID, Outcome: probe.NotRun, Detail: "interrupted", Interrupted: true}
		}
	}
	return run(t, testinv.Seed(), localAndPod, s, "")
}
