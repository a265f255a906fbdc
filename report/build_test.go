package report

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

// tally counts the results of in the way the summary must: not run, else
// passed, else failed.
func tally(in Input) (passed, failed, notRun int) {
	for _, r := range in.Results {
		switch {
		case r.Outcome == probe.NotRun:
			notRun++
		case r.Pass:
			passed++
		default:
			failed++
		}
	}
	return passed, failed, notRun
}

func TestBuildHealthy(t *testing.T) {
	in := healthyInput(t)
	r := Build(in)
	if r.APIVersion != APIVersion || r.Kind != Kind || r.Metadata != in.Metadata || !reflect.DeepEqual(r.Scope, in.Scope) {
		t.Errorf("header: %s %s %+v %+v", r.APIVersion, r.Kind, r.Metadata, r.Scope)
	}
	want := Summary{Probes: 12, Passed: 12, FailOn: "error", Result: "pass"}
	if r.Summary != want {
		t.Errorf("summary %+v, want %+v", r.Summary, want)
	}
	if inv := (Inventory{Services: 1, Endpoints: 2, ReadyEndpoints: 2, Nodes: 3}); r.Inventory != inv {
		t.Errorf("inventory %+v, want %+v", r.Inventory, inv)
	}
	if !r.Passed() || r.Interrupted || r.Baseline != nil || len(r.Findings) != 0 || r.Findings == nil {
		t.Errorf("passed %v, interrupted %v, baseline %v, findings %#v", r.Passed(), r.Interrupted, r.Baseline, r.Findings)
	}
	s := r.Services[0]
	if s.Namespace != "default" || s.Name != "web" || s.Type != probe.TypeNodePort || !s.Pass || s.Verdict != diagnose.VerdictHealthy ||
		s.ExternalTrafficPolicy != probe.PolicyCluster || !slices.Equal(s.ClusterIPs, []string{"10.96.0.100"}) {
		t.Errorf("service %+v", s)
	}
	for i, p := range s.Probes {
		if p.ID != in.Plan.Probes[i].ID {
			t.Fatalf("probe %d is %s, want plan order (%s)", i, p.ID, in.Plan.Probes[i].ID)
		}
	}
	m := s.Matrix
	if m == nil || !slices.Equal(m.Backends, []string{"web-a", "web-b"}) || len(m.Rows) != 8 {
		t.Fatalf("matrix %+v, want both pods on 8 VIP paths (3+3 NodePorts, ClusterIP, DNS)", m)
	}
	for _, row := range m.Rows {
		if row.Via == probe.ViaEndpoint || !slices.Equal(row.Seen, []bool{true, true}) {
			t.Errorf("matrix row %+v, want a VIP path that saw both pods", row)
		}
	}
}

func TestBuildBroken(t *testing.T) {
	in := brokenInput(t, "")
	r := Build(in)
	passed, failed, notRun := tally(in)
	if failed != 3 || notRun != 8 {
		t.Fatalf("fixture changed: %d failed, %d not run", failed, notRun)
	}
	want := Summary{Probes: len(in.Plan.Probes), Passed: passed, Failed: failed, NotRun: notRun, Errors: 2, Warnings: 3, FailOn: "error", Result: "fail"}
	if r.Summary != want {
		t.Errorf("summary %+v, want %+v", r.Summary, want)
	}
	if inv := (Inventory{Services: 3, EndpointSlices: 2, Endpoints: 5, ReadyEndpoints: 3, Nodes: 3, Pods: 1}); r.Inventory != inv {
		t.Errorf("inventory %+v, want %+v", r.Inventory, inv)
	}
	var names []string
	for _, s := range r.Services {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	if !slices.Equal(names, []string{"default/api", "default/db", "default/web"}) {
		t.Fatalf("services %v, want inventory order", names)
	}
	api, db, web := &r.Services[0], &r.Services[1], &r.Services[2]
	if eps := (Endpoints{Total: 3, Ready: 1, NotReady: 1, Terminating: 1}); api.Endpoints != eps {
		t.Errorf("api endpoints %+v, want %+v", api.Endpoints, eps)
	}
	// A warning is the verdict but does not fail the Service under --fail-on error.
	if !api.Pass || api.Verdict != diagnose.VerdictEndpointNotReady {
		t.Errorf("api pass %v verdict %s, want pass with endpointNotReady", api.Pass, api.Verdict)
	}
	// An info note is never the verdict.
	if !db.Pass || db.Verdict != diagnose.VerdictHealthy || len(db.Probes) != 0 || db.Probes == nil || db.Matrix != nil {
		t.Errorf("db %+v, want healthy, no probes, no matrix", db)
	}
	// The first error is the verdict, ahead of earlier-listed warnings.
	if web.Pass || web.Verdict != diagnose.VerdictBlockedFromOperator {
		t.Errorf("web pass %v verdict %s, want fail with blockedFromOperator", web.Pass, web.Verdict)
	}

	if c := podClusterIP.row(t, web).Coverage; c == nil ||
		!reflect.DeepEqual(*c, Coverage{Seen: []string{"web-a"}, Missing: []string{"web-b"}, Total: 2, Budget: 21}) {
		t.Errorf("pod ClusterIP coverage %+v, want web-a seen, web-b missing, budget 21", c)
	}
	refused := localNodePortWorker1.row(t, web)
	if refused.Coverage != nil || refused.Pass || refused.Outcome != probe.Refused || refused.Connections != 2 || refused.Failures != 2 {
		t.Errorf("refused NodePort row %+v, want a failure without coverage", refused)
	}
	retried := podNodePortWorker2.row(t, web)
	if retried.Tries != 2 || retried.Failures != 1 || retried.Connections != 3 || retried.LatencyMs != 1.5 || retried.HTTPStatus != 200 {
		t.Errorf("retried NodePort row %+v", retried)
	}
	exposed := localPodIP.row(t, web)
	if exposed.Pass || exposed.Pod != "web-a" || exposed.Node != "master" || exposed.Target != "10.244.0.5:80" || exposed.LatencyMs != 0.8 ||
		exposed.Backend != "web-a" || exposed.Attribution != probe.AttrDirect || exposed.Expect != probe.NoReach || exposed.Coverage != nil {
		t.Errorf("exposed pod IP row %+v", exposed)
	}
	if dns := podDNS.row(t, web); !dns.Pass || dns.Outcome != probe.NotRun || dns.Detail == "" {
		t.Errorf("DNS row %+v, want not run with its reason", dns)
	}
	// A plain TCP VIP answer nothing attributed has unknown coverage.
	if c := apiPodClusterIP.row(t, api).Coverage; c != nil {
		t.Errorf("unattributed ClusterIP has coverage %+v", c)
	}
	if api.Matrix != nil {
		t.Errorf("api matrix %+v, want none: nothing attributed", api.Matrix)
	}
	if web.Matrix == nil || len(web.Matrix.Rows) != 6 {
		t.Fatalf("web matrix %+v, want 6 rows (refused and not-run paths left out)", web.Matrix)
	}
	for _, row := range web.Matrix.Rows {
		full := []bool{true, true}
		if row.From == probe.FromPod && row.Via == probe.ViaClusterIP {
			full = []bool{true, false}
		}
		if !slices.Equal(row.Seen, full) {
			t.Errorf("matrix row %+v, want seen %v", row, full)
		}
	}
}

func TestBuildFailOn(t *testing.T) {
	finding := func(sev diagnose.Severity, code diagnose.Code) diagnose.Finding {
		return diagnose.Finding{Namespace: "default", Service: "web", Severity: sev, Code: code, Message: string(code)}
	}
	cluster := diagnose.Finding{Severity: diagnose.SevWarning, Code: diagnose.NoteNodeNotReady, Node: "worker2", Message: "node worker2 is NotReady"}
	warning := finding(diagnose.SevWarning, diagnose.VerdictExposed)
	errorF := finding(diagnose.SevError, diagnose.VerdictPathFailed)
	info := finding(diagnose.SevInfo, diagnose.NoteProtocolNotProbed)
	tests := []struct {
		name     string
		findings []diagnose.Finding
		failOn   diagnose.Severity
		result   string
		svcPass  bool
		verdict  diagnose.Code
	}{
		{"default is error: a warning passes", []diagnose.Finding{warning}, "", "pass", true, diagnose.VerdictExposed},
		{"error: a warning passes", []diagnose.Finding{warning}, diagnose.SevError, "pass", true, diagnose.VerdictExposed},
		{"error: an error fails", []diagnose.Finding{warning, errorF}, diagnose.SevError, "fail", false, diagnose.VerdictPathFailed},
		{"warning: a warning fails", []diagnose.Finding{warning}, diagnose.SevWarning, "fail", false, diagnose.VerdictExposed},
		{"warning: an info passes", []diagnose.Finding{info}, diagnose.SevWarning, "pass", true, diagnose.VerdictHealthy},
		{"never: an error passes", []diagnose.Finding{errorF}, diagnose.Never, "pass", true, diagnose.VerdictPathFailed},
		// A cluster note fails the run but no Service.
		{"warning: a cluster warning fails the run only", []diagnose.Finding{cluster}, diagnose.SevWarning, "fail", true, diagnose.VerdictHealthy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := healthyInput(t)
			in.Findings, in.FailOn = tc.findings, tc.failOn
			r := Build(in)
			failOn := string(tc.failOn)
			if failOn == "" {
				failOn = "error"
			}
			if r.Summary.FailOn != failOn || r.Summary.Result != tc.result || r.Passed() != (tc.result == "pass") {
				t.Errorf("failOn %q result %q, want %q %q", r.Summary.FailOn, r.Summary.Result, failOn, tc.result)
			}
			if s := r.Services[0]; s.Pass != tc.svcPass || s.Verdict != tc.verdict {
				t.Errorf("service pass %v verdict %s, want %v %s", s.Pass, s.Verdict, tc.svcPass, tc.verdict)
			}
			errs, warns := 0, 0
			for _, f := range tc.findings {
				switch f.Severity {
				case diagnose.SevError:
					errs++
				case diagnose.SevWarning:
					warns++
				}
			}
			if r.Summary.Errors != errs || r.Summary.Warnings != warns {
				t.Errorf("%d errors %d warnings, want %d %d", r.Summary.Errors, r.Summary.Warnings, errs, warns)
			}
		})
	}
	// The real findings of the broken fixture under every --fail-on.
	for failOn, result := range map[diagnose.Severity]string{"": "fail", diagnose.SevError: "fail", diagnose.SevWarning: "fail", diagnose.Never: "pass"} {
		r := Build(brokenInput(t, failOn))
		if r.Summary.Result != result {
			t.Errorf("broken fixture, --fail-on %q: result %s, want %s", failOn, r.Summary.Result, result)
		}
		// The api Service has only a warning: it fails only under --fail-on warning.
		if api := r.Services[0]; api.Pass != (failOn != diagnose.SevWarning) {
			t.Errorf("broken fixture, --fail-on %q: api pass %v", failOn, api.Pass)
		}
	}
}

func TestBuildInterrupted(t *testing.T) {
	in := interruptedInput(t)
	r := Build(in)
	want := Summary{Probes: 12, Passed: 5, NotRun: 7, FailOn: "error", Result: "pass"}
	if r.Summary != want || !r.Interrupted {
		t.Errorf("summary %+v interrupted %v, want %+v interrupted", r.Summary, r.Interrupted, want)
	}
	if m := r.Services[0].Matrix; m == nil || len(m.Rows) != 3 {
		t.Errorf("matrix %+v, want the 3 NodePorts probed from outside only", m)
	}
	// Not run for another reason is not an interruption.
	in = brokenInput(t, "")
	if r := Build(in); r.Interrupted {
		t.Error("a probe not run for lack of cluster DNS marked the report interrupted")
	}
}

func TestBuildLeavesOutProbesOfUnknownServices(t *testing.T) {
	in := healthyInput(t)
	stray := probe.Probe{ID: "default/gone/http/local/clusterIP/10.96.0.9", Namespace: "default", Service: "gone", Port: "http",
		ServicePort: 80, Protocol: "TCP", From: probe.FromLocal, Via: probe.ViaClusterIP, Host: "10.96.0.9", TargetPort: 80,
		Expect: probe.Expectation{Want: probe.Reach}}
	in.Plan.Probes = append(in.Plan.Probes, stray)
	in.Results = append(in.Results, probe.Result{ID: stray.ID, Outcome: probe.Refused, Connections: 1, Failures: 1})
	r := Build(in)
	if r.Summary.Probes != 12 || r.Summary.Failed != 0 || len(r.Services) != 1 || len(r.Services[0].Probes) != 12 {
		t.Errorf("a probe of a Service not in the inventory was counted: %+v", r.Summary)
	}
}

// TestBuildEmpty: a report of nothing still has lists, never nulls.
func TestBuildEmpty(t *testing.T) {
	r := Build(Input{})
	if r.Services == nil || r.Findings == nil || r.Scope.From == nil {
		t.Fatalf("nil lists in an empty report: services %v findings %v from %v", r.Services, r.Findings, r.Scope.From)
	}
	if r.Summary != (Summary{FailOn: "error", Result: "pass"}) {
		t.Errorf("summary %+v", r.Summary)
	}
	data, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, compileSchema(t), data); err != nil {
		t.Errorf("an empty report does not match the schema: %v\n%s", err, data)
	}
}

func TestCountEndpoints(t *testing.T) {
	eps := []probe.Endpoint{{Ready: true}, {Ready: true, Terminating: true}, {Terminating: true}, {}, {}, {Serving: true}}
	if got, want := countEndpoints(eps), (Endpoints{Total: 6, Ready: 2, Terminating: 1, NotReady: 3}); got != want {
		t.Errorf("countEndpoints = %+v, want %+v (ready first, then terminating)", got, want)
	}
}

func TestNewRow(t *testing.T) {
	vip := probe.Probe{ID: "ns/s/http/pod/clusterIP/10.96.0.1", Namespace: "ns", Service: "s", Port: "http", ServicePort: 80, Protocol: "TCP",
		From: probe.FromPod, Via: probe.ViaClusterIP, Host: "10.96.0.1", TargetPort: 80, HTTP: true, Connections: 53,
		Backends: []string{"p-a", "p-b", "p-c", "p-d"}, Expect: probe.Expectation{Want: probe.Reach, Reason: "r"}}
	tcp := vip
	tcp.HTTP = false
	direct := vip
	direct.Via, direct.Pod, direct.Host, direct.Backends = probe.ViaEndpoint, "p-a", "fd00::1", []string{"p-a"}
	none := vip
	none.Backends = nil
	ok := probe.Result{Outcome: probe.OK, Connections: 9, Seen: []string{"p-c", "p-a"}, Latency: 2345 * time.Microsecond}
	tests := []struct {
		name string
		p    probe.Probe
		r    probe.Result
		want *Coverage
	}{
		{"seen is sorted, missing in backend order", vip, ok, &Coverage{Seen: []string{"p-a", "p-c"}, Missing: []string{"p-b", "p-d"}, Total: 4, Budget: 53}},
		{"HTTP answers nobody attributed: every backend missing", vip, probe.Result{Outcome: probe.OK, Connections: 2},
			&Coverage{Seen: []string{}, Missing: []string{"p-a", "p-b", "p-c", "p-d"}, Total: 4, Budget: 53}},
		{"every backend seen: missing is empty, not null", vip, probe.Result{Outcome: probe.OK, Connections: 4, Seen: []string{"p-d", "p-c", "p-b", "p-a"}},
			&Coverage{Seen: []string{"p-a", "p-b", "p-c", "p-d"}, Missing: []string{}, Total: 4, Budget: 53}},
		{"TCP seen by conntrack", tcp, ok, &Coverage{Seen: []string{"p-a", "p-c"}, Missing: []string{"p-b", "p-d"}, Total: 4, Budget: 53}},
		{"TCP unattributed: unknown", tcp, probe.Result{Outcome: probe.OK, Connections: 2}, nil},
		{"every connection failed: unknown", vip, probe.Result{Outcome: probe.Refused, Connections: 2, Failures: 2}, nil},
		{"direct: no coverage", direct, ok, nil},
		{"no backends: no coverage", none, ok, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := newRow(&tc.p, tc.r)
			if !reflect.DeepEqual(row.Coverage, tc.want) {
				t.Errorf("coverage %+v, want %+v", row.Coverage, tc.want)
			}
		})
	}
	row := newRow(&direct, probe.Result{Outcome: probe.OK, Connections: 1, Latency: 2345 * time.Microsecond, Backend: "p-a", Tries: 3})
	if row.Target != "[fd00::1]:80" || row.LatencyMs != 2.345 || row.Pod != "p-a" || row.Tries != 3 || row.Expect != probe.Reach || row.ExpectReason != "r" {
		t.Errorf("row %+v", row)
	}
}

func TestBuildMatrixAcrossPorts(t *testing.T) {
	rows := []ProbeRow{
		{Port: "http", From: probe.FromPod, Via: probe.ViaClusterIP, Coverage: &Coverage{Seen: []string{"b"}, Missing: []string{"c"}}},
		{Port: "http", From: probe.FromPod, Via: probe.ViaEndpoint, Backend: "a"},
		{Port: "metrics", From: "node/n1", Via: probe.ViaNodePort, Node: "n1", Coverage: &Coverage{Seen: []string{"a", "c"}, Missing: []string{}}},
	}
	m := buildMatrix(rows)
	want := &Matrix{Backends: []string{"a", "b", "c"}, Rows: []MatrixRow{
		{From: probe.FromPod, Via: probe.ViaClusterIP, Port: "http", Seen: []bool{false, true, false}},
		{From: "node/n1", Via: probe.ViaNodePort, Node: "n1", Port: "metrics", Seen: []bool{true, false, true}},
	}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("matrix %+v, want %+v", m, want)
	}
	if m := buildMatrix(rows[1:2]); m != nil {
		t.Errorf("matrix without coverage %+v, want nil", m)
	}
}

// TestBuildOnSeedNodesVantage covers a node vantage point end to end: the
// matrix keeps node/<name> rows apart.
func TestBuildOnSeedNodesVantage(t *testing.T) {
	in := run(t, testinv.Seed(), []probe.From{probe.FromNodes}, nil, "")
	r := Build(in)
	if !r.Passed() || r.Summary.Probes != 18 || r.Summary.Passed != 18 {
		t.Fatalf("summary %+v", r.Summary)
	}
	froms := map[probe.From]int{}
	for _, row := range r.Services[0].Matrix.Rows {
		froms[row.From]++
	}
	for _, n := range []string{"master", "worker1", "worker2"} {
		if froms[probe.FromNode(n)] != 4 {
			t.Errorf("matrix rows from node/%s: %d, want 4 (ClusterIP and 3 NodePorts)", n, froms[probe.FromNode(n)])
		}
	}
}
