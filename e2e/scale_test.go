//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/report"
)

// The scale lab (lab/lab.sh sim N): these tests run when a simulation is up,
// or start one of -sim nodes themselves (and take it down at the end).
var (
	simNodes = flag.Int("sim", 0, "start a simulation of this many nodes for the scale tests (0: use the one that is up, or skip)")
	scale    = flag.Bool("scale", false, "run the scale tests that need no simulation (TestFirewall30); implied by -sim")
)

// simStatus is lab/sim.sh status.
type simStatus struct {
	Nodes     int `json:"nodes"`
	Services  int `json:"services"`
	NodePorts int `json:"nodePorts"`
	Faults    struct {
		BadBackends []struct{ Node, Service, Pod string } `json:"badBackends"`
	} `json:"faults"`
}

// simStarted: simUp started the simulation (-sim); TestMain takes it down
// after every test ran.
var simStarted bool

func simUp(t testing.TB) simStatus {
	t.Helper()
	out, err := exec.Command(labSh, "sim-status").Output()
	if err != nil && *simNodes > 0 && !simStarted {
		simStarted = true
		lab(t, "sim", fmt.Sprint(*simNodes))
		out, err = exec.Command(labSh, "sim-status").Output()
	}
	if err != nil {
		t.Skip("no simulation up (lab/lab.sh sim N, or -sim N)")
	}
	var st simStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("sim status: %v\n%s", err, out)
	}
	return st
}

// simDown removes the simulation simUp started.
func simDown() error {
	if !simStarted {
		return nil
	}
	out, err := exec.Command(labSh, "sim-down").CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab.sh sim-down: %v\n%s", err, out)
	}
	return nil
}

// run is one kubectl-svccheck run as the operator: its stdout, exit code,
// wall time and peak RSS.
type run struct {
	out    []byte
	code   int
	wall   time.Duration
	maxRSS int64 // bytes
}

// svccheckRun runs kubectl-svccheck under GNU time, whose fork()ed child
// reports the plugin's own peak RSS. (The rusage of a command started from
// this process is no measure: Go starts it with vfork semantics, so the
// child's high-water mark starts at this test process's, which holds the
// previous runs' reports.)
func svccheckRun(t testing.TB, args ...string) run {
	t.Helper()
	rss := filepath.Join(os.TempDir(), fmt.Sprintf("svccheck-maxrss-%d", time.Now().UnixNano()))
	defer os.Remove(rss)
	cmd := exec.Command(labSh, append([]string{"exec", "--", "/usr/bin/time", "-f", "%M", "-o", rss, "kubectl-svccheck"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := run{out: out.Bytes(), wall: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(rss)
	if err != nil {
		t.Fatalf("peak RSS (GNU time, /usr/bin/time): %v", err)
	}
	// The last line: a failing command's is preceded by "Command exited
	// with non-zero status N".
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		t.Fatalf("peak RSS: empty %s", rss)
	}
	kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		t.Fatalf("peak RSS: %q: %v", b, err)
	}
	r.maxRSS = kib << 10
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return r
}

func readReport(t testing.TB, path string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return &r
}

// problems are the report's error and warning findings as
// "code service@node" ("-" for none).
func problems(r *report.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity != diagnose.SevError && f.Severity != diagnose.SevWarning {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s@%s", f.Code, or(f.Service, "-"), or(f.Node, "-")))
	}
	slices.Sort(out)
	return out
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// TestScaleHealthy: the whole simulated cluster from the operator, no fault:
// exit 0, nothing flagged.
func TestScaleHealthy(t *testing.T) {
	st := simUp(t)
	lab(t, "sim-fault", "--clear")
	file := filepath.Join(t.TempDir(), "r.json")
	r := svccheckRun(t, "-n", "sim", "-q", "--output-file", file)
	rep := readReport(t, file)
	t.Logf("%d nodes x %d NodePorts: %s in %s, peak RSS %d MiB", st.Nodes, st.NodePorts, report.SummaryLine(rep), r.wall.Round(time.Millisecond), r.maxRSS>>20)
	if r.code != 0 || len(problems(rep)) > 0 {
		t.Errorf("exit %d, findings %v", r.code, problems(rep))
	}
}

func nodeNames(t testing.TB) []string {
	t.Helper()
	return strings.Fields(lab(t, "kubectl", "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"))
}

// TestScaleFaults: every injected fault is found, on the right node or
// Service, and nothing else is flagged; the table stays one line per
// Service and path, with bounded lines.
func TestScaleFaults(t *testing.T) {
	st := simUp(t)
	nodes := nodeNames(t)
	const refuse, drop, fw, broken, badSvc = "lab-sim-0001", "lab-sim-0002", "lab-sim-0003", "sim-00007", "sim-00011"
	// A backend unreachable through one node shows on a node that runs the
	// coverage loop for the Service (elsewhere: one connection, found with
	// probability 1/5): the first sampled simulated node.
	var bad string
	for _, n := range plan.SampleNodes("sim", badSvc, "http", nodes, plan.CoverageSample) {
		if strings.HasPrefix(n, "lab-sim-") && !slices.Contains([]string{refuse, drop, fw}, n) && bad == "" {
			bad = n
		}
	}
	if bad == "" {
		t.Skipf("no simulated node among the sampled nodes of %s", badSvc)
	}
	lab(t, "sim-fault", "--refuse-node", refuse, "--drop-node", drop, "--firewall-node", fw, "--broken-service", broken, "--bad-backend", bad+"/"+badSvc)
	t.Cleanup(func() { lab(t, "sim-fault", "--clear") })
	file := filepath.Join(t.TempDir(), "r.json")
	r := svccheckRun(t, "-n", "sim", "--output-file", file)
	rep := readReport(t, file)
	t.Logf("%d nodes x %d NodePorts, faults: refuse %s, drop %s, firewall %s, broken %s, bad backend of %s through %s: %s in %s",
		st.Nodes, st.NodePorts, refuse, drop, fw, broken, badSvc, bad, report.SummaryLine(rep), r.wall.Round(time.Millisecond))
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	checkFaultFindings(t, rep, refuse, broken, badSvc, bad, []string{drop, fw})
	checkTable(t, string(r.out), len(rep.Services))
}

// checkFaultFindings: the unreachable nodes (one cluster finding each),
// every Service's NodePort failing on the refusing node only, the broken
// Service failing as a Service (on no node), the bad backend's node, and
// nothing else.
func checkFaultFindings(t *testing.T, rep *report.Report, refuse, broken, badSvc, bad string, unreachable []string) {
	t.Helper()
	var unexpected []string
	seenUnreachable := map[string]bool{}
	perService := map[string][]string{} // Service -> nodes of its error findings
	for _, f := range rep.Findings {
		switch {
		case f.Severity != diagnose.SevError && f.Severity != diagnose.SevWarning:
		case f.Service == "" && f.Code == "nodeUnreachable" && slices.Contains(unreachable, f.Node):
			seenUnreachable[f.Node] = true
		case f.Service != "" && f.Severity == diagnose.SevError:
			perService[f.Service] = append(perService[f.Service], or(f.Node, "-"))
		default:
			unexpected = append(unexpected, fmt.Sprintf("%s %s %s@%s: %.200s", f.Severity, f.Code, f.Service, f.Node, f.Message))
		}
	}
	for _, n := range unreachable {
		if !seenUnreachable[n] {
			t.Errorf("no nodeUnreachable finding for %s", n)
		}
	}
	for _, s := range rep.Services {
		want := []string{refuse}
		switch s.Name {
		case broken:
			want = []string{"-"}
		case badSvc:
			want = []string{bad, refuse}
		}
		got := slices.Clone(perService[s.Name])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			unexpected = append(unexpected, fmt.Sprintf("%s: error findings on %v, want %v", s.Name, got, want))
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("%d unexpected findings:\n%s", len(unexpected), strings.Join(unexpected[:min(len(unexpected), 20)], "\n"))
	}
}

// checkTable: a header, at most three rows per Service (NodePort, ClusterIP,
// pod IP), a bounded FINDINGS section and no line over 1,000 characters.
func checkTable(t *testing.T, table string, services int) {
	t.Helper()
	lines := strings.Split(table, "\n")
	longest := 0
	for _, l := range lines {
		longest = max(longest, len(l))
	}
	t.Logf("table: %d lines, %d bytes, longest line %d characters", len(lines), len(table), longest)
	if longest > 1000 || len(lines) > 3*services+60 {
		t.Errorf("table of %d lines, longest %d characters:\n%.3000s", len(lines), longest, table)
	}
}

// fault30 is the firewall case on the 3-node lab: 30 NodePort Services
// (32000-32029) whose NodePorts the nodes drop from the operator, and one
// (32030) they do not, all in namespace fw30 in front of two hostname pods.
func fault30(t testing.TB) func() {
	t.Helper()
	var m strings.Builder
	m.WriteString("apiVersion: v1\nkind: Namespace\nmetadata: {name: fw30}\n---\n")
	m.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hostname, namespace: fw30}\nspec:\n  replicas: 2\n" +
		"  selector: {matchLabels: {app: hostname}}\n  template:\n    metadata: {labels: {app: hostname}}\n    spec:\n      containers:\n" +
		"      - {name: hostname, image: svccheck.local/hostname:1, imagePullPolicy: Never, ports: [{name: http, containerPort: 80}]}\n")
	for i := 0; i <= 30; i++ {
		name := fmt.Sprintf("fw-%02d", i)
		if i == 30 {
			name = "fw-open"
		}
		fmt.Fprintf(&m, "---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: fw30}\nspec:\n  type: NodePort\n  selector: {app: hostname}\n"+
			"  ports: [{name: http, port: 80, targetPort: http, nodePort: %d}]\n", name, 32000+i)
	}
	f := filepath.Join(os.TempDir(), "svccheck-fw30.yaml")
	if err := os.WriteFile(f, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lab(t, "kubectl", "apply", "-f", f)
	lab(t, "kubectl", "rollout", "status", "-n", "fw30", "deployment/hostname", "--timeout=120s")
	var undo []func()
	for _, n := range []string{"lab-cp", "lab-w1", "lab-w2"} {
		rule := []string{"PREROUTING", "-s", topo.ip["operator"], "-p", "tcp", "--dport", "32000:32029", "-j", "DROP"}
		lab(t, append([]string{"node", n, "--", "iptables", "-t", "raw", "-I"}, rule...)...)
		undo = append(undo, func() { lab(t, append([]string{"node", n, "--", "iptables", "-t", "raw", "-D"}, rule...)...) })
	}
	return func() {
		for _, u := range undo {
			u()
		}
		lab(t, "kubectl", "delete", "namespace", "fw30", "--wait=false")
	}
}

// TestFirewall30: F failing probes cost one timeout per C at most:
// wall <= 1.15 * ceil(F/C) * T + 1 s with C = 64, T = 2 s.
func TestFirewall30(t *testing.T) {
	if !*scale && *simNodes == 0 {
		t.Skip("a timing test: run with -scale (make e2e-scale)")
	}
	if exec.Command(labSh, "sim-status").Run() == nil {
		t.Skip("a simulation is up: the firewall case is that of the 3 real nodes (lab/lab.sh sim-down)")
	}
	defer fault30(t)()
	var r run
	var rep *report.Report
	file := filepath.Join(t.TempDir(), "r.json")
	eventually(t, "the 31 Services to answer where not firewalled", 60*time.Second, func() error {
		r = svccheckRun(t, "-n", "fw30", "--concurrency", "64", "--timeout", "2s", "-q", "--output-file", file)
		rep = readReport(t, file)
		if rep.Summary.Failed != 90 {
			return fmt.Errorf("%d failing probes, want 90 (%s)", rep.Summary.Failed, report.SummaryLine(rep))
		}
		return nil
	})
	bound := time.Duration(1.15*math.Ceil(float64(rep.Summary.Failed)/64)*float64(2*time.Second)) + time.Second
	t.Logf("F=%d failing probes: %s (bound %s)", rep.Summary.Failed, r.wall.Round(time.Millisecond), bound)
	if r.wall > bound {
		t.Errorf("took %s, bound %s", r.wall, bound)
	}
}

// measure runs svccheck b.N times and reports the median wall time and the
// largest peak RSS; check, when set, vets each run.
func measure(b *testing.B, check func(r run), args ...string) {
	var walls []float64
	var rss int64
	for b.Loop() {
		r := svccheckRun(b, args...)
		if check != nil {
			check(r)
		}
		walls = append(walls, r.wall.Seconds())
		rss = max(rss, r.maxRSS)
	}
	slices.Sort(walls)
	b.ReportMetric(walls[len(walls)/2], "median-wall-s")
	b.ReportMetric(float64(rss)/(1<<20), "peakRSS-MiB")
}

// BenchmarkScaleHealthy: the whole simulated cluster from the operator.
// Targets (1,000 nodes x 200 NodePort Services): <= 60 s, <= 500 MiB.
func BenchmarkScaleHealthy(b *testing.B) {
	simUp(b)
	lab(b, "sim-fault", "--clear")
	measure(b, func(r run) {
		if r.code != 0 {
			b.Errorf("exit %d", r.code)
		}
	}, "-n", "sim", "-o", "json")
}

// BenchmarkScaleUnreachable: the same with every NodePort dropped on the
// operator's way out, so that no node answers. Target: <= 30 s, one finding.
func BenchmarkScaleUnreachable(b *testing.B) {
	simUp(b)
	rule := []string{"OUTPUT", "-p", "tcp", "--dport", "30000:32767", "-j", "DROP"}
	lab(b, append([]string{"exec", "--", "iptables", "-I"}, rule...)...)
	defer lab(b, append([]string{"exec", "--", "iptables", "-D"}, rule...)...)
	measure(b, func(r run) {
		var rep report.Report
		if err := json.Unmarshal(r.out, &rep); err != nil {
			b.Fatal(err)
		}
		if p := problems(&rep); r.code != 1 || len(p) != 1 || p[0] != "nodeUnreachable -@-" {
			b.Errorf("exit %d, findings %v", r.code, p)
		}
	}, "-n", "sim", "-o", "json")
}

// BenchmarkDiscoveryPlan: discovery and plan of every namespace (--dry-run
// -A). Target (1,000 nodes, 10,000 Services): <= 5 s, <= 300 MiB.
func BenchmarkDiscoveryPlan(b *testing.B) {
	simUp(b)
	measure(b, func(r run) {
		if r.code != 0 {
			b.Errorf("exit %d: %s", r.code, r.out)
		}
	}, "-A", "--dry-run")
}

// BenchmarkFirewall30: the 3-node lab's firewall case (90 failing probes).
// Target: <= 1.15 * ceil(F/64) * 2 s + 1 s = 5.6 s.
func BenchmarkFirewall30(b *testing.B) {
	defer fault30(b)()
	time.Sleep(5 * time.Second) // endpoints and proxy rules of 31 new Services
	measure(b, nil, "-n", "fw30", "--concurrency", "64", "--timeout", "2s", "-o", "json")
}

// BenchmarkNodeAgents: --from nodes on the seed's NodePort with 1, 2 and 3
// node agents (on the real nodes when a simulation is up), agent start and
// removal included.
func BenchmarkNodeAgents(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			measure(b, func(r run) {
				if r.code != 0 {
					b.Errorf("exit %d: %.2000s", r.code, r.out)
				}
			}, "-n", "default", "hostname-nodeport", "--from", "nodes", "--agent-nodes", fmt.Sprint(n),
				"--agent-node-selector", "!svccheck.dev/sim", "-o", "json")
		})
	}
}
