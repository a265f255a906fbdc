package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/svccheck/svccheck/internal/fixture"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

const clusterFixture = "../testdata/cluster.yaml"

// fakeProber answers deterministically: a NodePort on a broken node is
// refused, a ClusterIP from outside times out, everything else answers and
// every backend is seen.
type fakeProber struct{ brokenNode string }

func (f fakeProber) Probe(_ context.Context, p *probe.Probe) probe.Result {
	r := probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1, Latency: 1500 * time.Microsecond}
	switch {
	case p.Skip != "":
		return probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: p.Skip}
	case p.Via == probe.ViaNodePort && p.Node == f.brokenNode,
		p.Via == probe.ViaNodePort && p.Expect.Want == probe.NoReach:
		r.Outcome, r.Failures, r.Latency, r.Detail = probe.Refused, 2, 0, "connect: connection refused"
		r.Connections = 2
	case p.From == probe.FromLocal && (p.Via == probe.ViaClusterIP || p.Via == probe.ViaEndpoint):
		r.Outcome, r.Failures, r.Latency, r.Detail = probe.Timeout, 1, 0, "i/o timeout"
	default:
		r.Seen = append([]string(nil), p.Backends...)
		r.Connections = max(len(p.Backends), 1)
		if p.HTTP {
			r.HTTPStatus = 200
			if len(r.Seen) > 0 {
				r.Attribution = probe.AttrHTTPBody
			}
		}
		if len(r.Seen) == 1 {
			r.Backend = r.Seen[0]
		}
	}
	return r
}

func runWith(t *testing.T, prober probe.Prober, args []string, flags ...string) (string, string, int) {
	t.Helper()
	out, errOut, err := runOpts(t, prober, nil, append(args, flags...)...)
	return out, errOut, ExitCode(err)
}

// runOpts runs the command on the fixture cluster with prober for local and
// in-cluster probes; setup, when set, adjusts the Options first.
func runOpts(t *testing.T, prober probe.Prober, setup func(*command), args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	o := newCommand(NewOptions(streams))
	o.client = fixture.Clientset(t, clusterFixture)
	o.namespace = "default"
	o.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	o.local = prober
	o.agents = &fakeAgents{prober: prober}
	allowAll(o.client.(*fake.Clientset))
	if setup != nil {
		setup(o)
	}
	cmd := newCmd(o)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
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

func TestRunGolden(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		flags  []string
		broken string
		code   int
	}{
		{"seed-healthy.txt", []string{"hostname", "hostname-nodeport"}, []string{"--http"}, "", ExitOK},
		{"seed-node-broken.txt", []string{"hostname", "hostname-nodeport"}, []string{"--http"}, "worker1", ExitFailed},
		{"all-wide.txt", nil, []string{"-o", "wide", "--from", "all"}, "", ExitFailed},
		{"all.txt", nil, []string{"--from", "all", "--node-address-type", "InternalIP,ExternalIP"}, "", ExitFailed},
		{"seed-node-broken.json", []string{"hostname-nodeport"}, []string{"-o", "json", "--http"}, "worker1", ExitFailed},
		{"seed-node-broken.xml", []string{"hostname", "hostname-nodeport"}, []string{"-o", "junit", "--http"}, "worker1", ExitFailed},
		{"seed-node-broken.yaml", []string{"hostname-nodeport"}, []string{"-o", "yaml", "--http"}, "worker1", ExitFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runWith(t, fakeProber{brokenNode: tc.broken}, tc.args, tc.flags...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if errOut != "" {
				t.Errorf("stderr not empty when it is not a terminal: %q", errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

func TestRunJSONReport(t *testing.T) {
	out, _, code := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "-o", "json", "--http")
	if code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.APIVersion != report.APIVersion || rep.Kind != "Report" || rep.Summary.Result != "fail" {
		t.Errorf("header %s %s %s", rep.APIVersion, rep.Kind, rep.Summary.Result)
	}
	var failed []string
	for _, p := range rep.Services[0].Probes {
		if !p.Pass {
			failed = append(failed, string(p.Via)+"/"+p.Node)
		}
	}
	if strings.Join(failed, ",") != "nodePort/worker1" {
		t.Errorf("failed probes = %v, want only worker1's NodePort", failed)
	}
	var named bool
	for _, f := range rep.Findings {
		named = named || f.Code == diagnose.VerdictNodePathFailed && f.Node == "worker1" && strings.Contains(f.Message, "NodePort 30080 fails on node worker1 only")
	}
	if !named {
		t.Errorf("no finding names worker1's NodePort: %+v", rep.Findings)
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--from", "space"}, `unknown --from "space"`},
		{[]string{"-o", "xml"}, `unknown output format "xml"`},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"--node-address-type", "PublicIP"}, `unknown node address type "PublicIP"`},
		{[]string{"-A", "web"}, "naming Services needs a single namespace"},
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--output-file", "report.txt"}, `cannot tell the report format of "report.txt"`},
		{[]string{"--fail-on", "info"}, `unknown --fail-on "info"`},
		{[]string{"nosuchsvc"}, `service "nosuchsvc" not found`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := newCommand(NewOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}))
			o.client = fixture.Clientset(t, clusterFixture)
			o.namespace = "default"
			cmd := newCmd(o)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v (code %d), want usage error containing %q", err, ExitCode(err), tc.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q", out.String())
			}
		})
	}
}

func TestRunBadKubeconfig(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := NewCmd(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{"--kubeconfig", filepath.Join(t.TempDir(), "missing")})
	err := cmd.Execute()
	if ExitCode(err) != ExitCluster || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("err = %v code %d", err, ExitCode(err))
	}
}

// TestBadFlagsBeforeKubeconfig: a bad flag is exit 2 even where no
// kubeconfig is found (exit 3 otherwise).
func TestBadFlagsBeforeKubeconfig(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	for _, args := range [][]string{{"--from", "nowhere"}, {"-o", "xml"}, {"--fail-on", "maybe"}, {"--attempts", "0"}} {
		var out, errOut bytes.Buffer
		cmd := NewCmd(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs(args)
		if err := cmd.Execute(); ExitCode(err) != ExitUsage || strings.Contains(fmt.Sprint(err), "kubeconfig") {
			t.Errorf("%v: exit %d, %v; want a usage error", args, ExitCode(err), err)
		}
	}
}

func TestRunUnreachableAPI(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	// 127.0.0.1:1 refuses at once: the error must name the server.
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]
current-context: c
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := NewCmd(genericiooptions.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	cmd.SetArgs([]string{"--kubeconfig", kc, "--request-timeout", "2s"})
	start := time.Now()
	err := cmd.Execute()
	if ExitCode(err) != ExitCluster || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "list services") {
		t.Errorf("err = %v code %d", err, ExitCode(err))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// blocking answers the NodePort probes and blocks every other probe until the
// run is cancelled.
type blocking struct{ started chan struct{} }

func (b blocking) Probe(ctx context.Context, p *probe.Probe) probe.Result {
	if p.Via == probe.ViaNodePort {
		return probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1}
	}
	b.started <- struct{}{}
	<-ctx.Done()
	return probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: "interrupted", Interrupted: true}
}

func TestRunInterruptedPrintsPartialReport(t *testing.T) {
	var out, errOut bytes.Buffer
	o := newCommand(NewOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}))
	o.client = fixture.Clientset(t, clusterFixture)
	o.namespace = "default"
	b := blocking{started: make(chan struct{}, 10)}
	o.local = b
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-b.started; cancel() }()
	cmd := newCmd(o)
	cmd.SetArgs([]string{"hostname-nodeport", "-o", "json", "--max-connections", "1"})
	err := cmd.ExecuteContext(ctx)
	if ExitCode(err) != ExitInterrupted {
		t.Fatalf("exit %d (%v), want %d", ExitCode(err), err, ExitInterrupted)
	}
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("no report on interrupt: %v\n%s", err, out.String())
	}
	if !rep.Interrupted || rep.Summary.NotRun == 0 || rep.Summary.Passed+rep.Summary.NotRun != 5 {
		t.Errorf("interrupted=%v summary %+v", rep.Interrupted, rep.Summary)
	}
	if got := report.SummaryLine(&rep); !strings.HasPrefix(got, "INTERRUPTED:") {
		t.Errorf("summary line %q", got)
	}
}

func genericStreams(out io.Writer) genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: io.Discard}
}

func TestOutputFileKeepsTheTable(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"r.json", "r.yaml", "r.xml"} {
		path := filepath.Join(dir, name)
		out, _, code := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "--http", "--output-file", path)
		if code != ExitFailed || !strings.HasPrefix(out, "SERVICE ") {
			t.Errorf("%s: exit %d, stdout is not the table: %.40q", name, code, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"r.json": "{\n  \"apiVersion\"", "r.yaml": "apiVersion: " + report.APIVersion, "r.xml": "<?xml"}[name]
		if !strings.HasPrefix(string(data), want) {
			t.Errorf("%s starts %.40q, want %q", name, data, want)
		}
	}
}

func TestJUnitNamesTheFailingServiceAndNode(t *testing.T) {
	out, _, _ := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname", "hostname-nodeport"}, "--http", "-o", "junit")
	for _, want := range []string{
		`<testsuite name="default/hostname-nodeport" tests="6" failures="2" skipped="0"`,
		`<testcase name="port http nodePort worker1/InternalIP from local" classname="default/hostname-nodeport"`,
		`<failure message="nodePathFailed: NodePort 30080 fails on node worker1 only`,
		`<testsuite name="default/hostname" tests="3" failures="0"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("JUnit lacks %s\n%s", want, out)
		}
	}
}

func TestBaselineFailsOnlyOnRegressions(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.json")
	// The baseline: worker1's NodePort already broken, lb absent.
	_, _, code := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname", "hostname-nodeport"}, "--http", "--output-file", base)
	if code != ExitFailed {
		t.Fatalf("baseline run exit %d", code)
	}
	// Same breakage, one more Service: no regression, exit 0.
	out, _, code := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname", "hostname-nodeport", "lb"}, "--http", "--baseline", base, "-o", "json")
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != ExitOK || len(rep.Baseline.Regressions) != 0 || strings.Join(rep.Baseline.NewServices, ",") != "default/lb" {
		t.Errorf("unchanged run: exit %d diff %+v", code, rep.Baseline)
	}
	// Now master breaks too: exactly its NodePort is a regression.
	out, _, code = runWith(t, fakeProber{brokenNode: "master"}, []string{"hostname", "hostname-nodeport"}, "--http", "--baseline", base, "-o", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != ExitFailed || strings.Join(rep.Baseline.Regressions, ",") != "default/hostname-nodeport/http/local/nodePort/master/InternalIP" ||
		strings.Join(rep.Baseline.Fixed, ",") != "default/hostname-nodeport/http/local/nodePort/worker1/InternalIP" {
		t.Errorf("regressed run: exit %d diff %+v", code, rep.Baseline)
	}
	_, _, code = runWith(t, fakeProber{}, nil, "--baseline", filepath.Join(dir, "missing.json"))
	if code != ExitUsage {
		t.Errorf("missing baseline: exit %d", code)
	}
}

func TestDryRunPrintsThePlan(t *testing.T) {
	out, errOut, code := runWith(t, fakeProber{}, []string{"hostname-nodeport"}, "--dry-run", "--from", "everywhere", "--http")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	golden(t, "dry-run.txt", out)
}

func TestQuietPrintsFindingsAndSummary(t *testing.T) {
	out, _, code := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "--http", "-q")
	if code != ExitFailed || strings.Contains(out, "SERVICE") || !strings.Contains(out, "FINDINGS") || !strings.HasPrefix(strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n"):]), "FAIL:") {
		t.Errorf("quiet output:\n%s", out)
	}
}
