//go:build e2e

// Package e2e runs kubectl-svccheck from the lab's operator host against the
// lab's real cluster and asserts on its JSON report and exit code. The lab must
// be up (make e2e starts it); every scenario restores what it breaks.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

var labSh = filepath.Join("..", "lab", "lab.sh")

// topo is the lab's topology, read by TestMain from lab/topology (where the
// lab's names and addresses are declared): tests name nodes, and take their
// addresses from here.
var topo topology

// topology is what the tests use of lab/topology: the IP (and IPv6 address,
// used by a dual-stack lab) of every node and host by name, and the lab's
// networks (lab, gateway, cluster, service, dns, and their IPv6 twins).
type topology struct{ ip, ip6, net map[string]string }

func readTopology(path string) (topology, error) {
	tp := topology{ip: map[string]string{}, ip6: map[string]string{}, net: map[string]string{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return tp, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		switch f := strings.Fields(line); {
		case len(f) == 0:
		case f[0] == "node" && (len(f) == 4 || len(f) == 6), f[0] == "host" && (len(f) == 3 || len(f) == 4):
			tp.ip[f[1]] = f[2]
			if len(f) == 6 {
				tp.ip6[f[1]] = f[4]
			} else if f[0] == "host" && len(f) == 4 {
				tp.ip6[f[1]] = f[3]
			}
		case f[0] == "net" && len(f) == 3:
			tp.net[f[1]] = f[2]
		default:
			return tp, fmt.Errorf("%s:%d: unknown record %q", path, i+1, strings.TrimSpace(line))
		}
	}
	for _, h := range []string{"operator", "lab-cp", "lab-w1", "lab-w2"} { // the hosts the tests name
		if tp.ip[h] == "" {
			return tp, fmt.Errorf("%s declares no node or host %s", path, h)
		}
	}
	if tp.net["cluster"] == "" {
		return tp, fmt.Errorf("%s declares no cluster network", path)
	}
	return tp, nil
}

func lab(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(labSh, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("lab.sh %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func TestMain(m *testing.M) {
	var err error
	if topo, err = readTopology(filepath.Join("..", "lab", "topology")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if err := exec.Command(labSh, "status").Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the lab is not up; run `make e2e` (or lab/lab.sh up first)")
		os.Exit(1)
	}
	for _, args := range [][]string{{"build"}, {"seed"}, {"kubectl", "apply", "-f", "../lab/manifests/scenarios.yaml"},
		{"kubectl", "apply", "-f", "../lab/manifests/dataplane.yaml"}} {
		if out, err := exec.Command(labSh, args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: lab.sh %v: %v\n%s", args, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	if err := simDown(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	os.Exit(code)
}

// svccheck runs kubectl-svccheck as the operator host with -o json and returns
// the report (nil when the run printed none), stderr and the exit code.
func svccheck(t *testing.T, args ...string) (*report.Report, string, int) {
	t.Helper()
	cmd := exec.Command(labSh, append([]string{"exec", "--", "kubectl-svccheck", "-o", "json"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if out.Len() == 0 {
		return nil, errOut.String(), code
	}
	var r report.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	t.Logf("svccheck %s: exit %d, %s", strings.Join(args, " "), code, report.SummaryLine(&r))
	checkReport(t, &r) // diagnosis_test.go: no finding contradicted by the report's own probes
	return &r, errOut.String(), code
}

// findingsOf lists a report's findings for a message (none when the run
// printed no report).
func findingsOf(r *report.Report) []diagnose.Finding {
	if r == nil {
		return nil
	}
	return r.Findings
}

// eventually retries check until it passes or the deadline, for state the
// cluster converges to (endpoints, proxy rules).
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("waiting for %s: %v", what, err)
		time.Sleep(time.Second)
	}
}

func service(t *testing.T, r *report.Report, name string) *report.Service {
	t.Helper()
	if r == nil {
		t.Fatalf("service %s: the run printed no report", name)
	}
	for i := range r.Services {
		if r.Services[i].Name == name {
			return &r.Services[i]
		}
	}
	t.Fatalf("service %s not in report", name)
	return nil
}

// failing lists "via/node" of every failed probe.
func failing(s *report.Service) []string {
	var out []string
	for _, p := range s.Probes {
		if !p.Pass {
			out = append(out, string(p.Via)+"/"+p.Node)
		}
	}
	sort.Strings(out)
	return out
}

// verdicts lists "code@node" of the error and warning findings about svc.
func verdicts(r *report.Report, svc string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Service == svc && f.Severity != "info" {
			out = append(out, string(f.Code)+"@"+f.Node)
		}
	}
	sort.Strings(out)
	return out
}

func findingCodes(r *report.Report, svc string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Service == svc {
			out = append(out, string(f.Code))
		}
	}
	sort.Strings(out)
	return out
}

// withManifest applies lab/manifests/NAME for the test and deletes it
// (without waiting) when the test ends.
func withManifest(t *testing.T, name string) {
	t.Helper()
	path := "../lab/manifests/" + name
	t.Cleanup(func() { lab(t, "kubectl", "delete", "--ignore-not-found", "--wait=false", "-f", path) })
	lab(t, "kubectl", "apply", "-f", path)
}

// passesClean runs svccheck with args until it exits 0 with no error or
// warning finding (the lab's proxies catch up with a change), and returns
// that report.
func passesClean(t *testing.T, what string, args ...string) *report.Report {
	t.Helper()
	var r *report.Report
	eventually(t, what, 60*time.Second, func() error {
		var code int
		r, _, code = svccheck(t, args...)
		if r == nil || code != 0 {
			return fmt.Errorf("exit %d, findings %v", code, findingsOf(r))
		}
		for _, f := range r.Findings {
			if f.Severity != "info" {
				return fmt.Errorf("finding %s@%s: %s", f.Code, f.Node, f.Message)
			}
		}
		return nil
	})
	return r
}

// healthySeed checks scenario 1's assertions and returns an error instead of
// failing, so restorations can wait for it.
func healthySeed(r *report.Report, code int) error {
	if code != 0 || r == nil || !r.Passed() {
		return fmt.Errorf("exit %d, report %v", code, r != nil && r.Passed())
	}
	nodePorts := 0
	for _, s := range r.Services {
		for _, p := range s.Probes {
			switch p.Via {
			case "nodePort":
				nodePorts++
				if p.Coverage == nil || len(p.Coverage.Seen) != 2 || len(p.Coverage.Missing) != 0 {
					return fmt.Errorf("%s: coverage %+v, want both pods seen", p.ID, p.Coverage)
				}
			case "clusterIP":
				if p.Expect != "noReach" || p.Outcome == "ok" {
					return fmt.Errorf("%s: ClusterIP answered from outside (%s)", p.ID, p.Outcome)
				}
			}
		}
	}
	if nodePorts != 3 {
		return fmt.Errorf("%d NodePort probes, want one per node (3)", nodePorts)
	}
	return nil
}

func TestSeedHealthy(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--from", "local", "--http", "hostname", "hostname-nodeport")
	if err := healthySeed(r, code); err != nil {
		t.Fatal(err)
	}
}

func TestKubeProxyStopped(t *testing.T) {
	lab(t, "proxy-stop", "lab-w1")
	restored := false
	defer func() {
		if !restored {
			lab(t, "proxy-start", "lab-w1")
		}
	}()
	r, _, code := svccheck(t, "-n", "default", "--http", "hostname-nodeport")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	s := service(t, r, "hostname-nodeport")
	if got := strings.Join(failing(s), ","); got != "nodePort/lab-w1" {
		t.Errorf("failing probes %q, want only lab-w1's NodePort", got)
	}
	if got := strings.Join(verdicts(r, "hostname-nodeport"), ","); got != "nodePathFailed@lab-w1" {
		t.Errorf("verdicts from outside only %q, want nodePathFailed@lab-w1", got)
	}
	// From every vantage point the broken hop is named: lab-w1's dataplane.
	r, _, code = svccheck(t, "-n", "default", "--http", "--from", "everywhere", "hostname-nodeport")
	if got := strings.Join(verdicts(r, "hostname-nodeport"), ","); code != 1 || got != "dataplaneBroken@lab-w1" {
		t.Errorf("exit %d verdicts %q, want dataplaneBroken@lab-w1: %+v", code, got, r.Findings)
	}
	lab(t, "proxy-start", "lab-w1")
	restored = true
	eventually(t, "seed healthy again after kube-proxy restart", 30*time.Second, func() error {
		r, _, code := svccheck(t, "-n", "default", "--http", "hostname", "hostname-nodeport")
		return healthySeed(r, code)
	})
}

// dropOn makes node drop TCP traffic from src to port before kube-proxy's
// rules see it; the returned func removes the rule.
func dropOn(t *testing.T, node, src, port string) func() {
	rule := []string{"raw", "PREROUTING", "-s", src, "-p", "tcp", "--dport", port, "-j", "DROP"}
	ipt := func(op string) {
		lab(t, append([]string{"node", node, "--", "iptables", "-t", rule[0], op}, rule[1:]...)...)
	}
	ipt("-I")
	return func() { ipt("-D") }
}

// dropped reads how many packets the DROP rule dropOn(node, src, port)
// inserted has dropped so far (-1 when the rule is not there).
func dropped(t *testing.T, node, src, port string) int {
	out := lab(t, "node", node, "--", "iptables", "-t", "raw", "-nvxL", "PREROUTING")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[2] != "DROP" || (f[7] != src && f[7] != src+"/32") || !strings.Contains(line, "dpt:"+port) {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return -1
}

// waitDropped waits until the rule dropOn(node, src, port) inserted has
// dropped a packet more than before: a probe behind it is in flight.
func waitDropped(t *testing.T, node, src, port string, before int, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for dropped(t, node, src, port) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no packet dropped by %s's DROP rule for %s port %s within %s", node, src, port, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firewall drops port on node for the operator host only.
func firewall(t *testing.T, node, port string) func() {
	return dropOn(t, node, topo.ip["operator"], port)
}

// TestBaselineAndJUnit: a baseline over an unchanged lab passes; after
// breaking one node the run fails listing exactly the regressed path, and the
// JUnit file names the Service and the node.
func TestBaselineAndJUnit(t *testing.T) {
	dir := t.TempDir()
	base, junit := filepath.Join(dir, "base.json"), filepath.Join(dir, "svccheck.xml")
	args := []string{"-n", "default", "--http", "hostname", "hostname-nodeport"}
	if _, _, code := svccheck(t, append(args, "--output-file", base)...); code != 0 {
		t.Fatalf("baseline run exit %d", code)
	}
	r, _, code := svccheck(t, append(args, "--baseline", base)...)
	if code != 0 || len(r.Baseline.Regressions) != 0 {
		t.Fatalf("unchanged lab: exit %d, regressions %v", code, r.Baseline.Regressions)
	}
	lab(t, "proxy-stop", "lab-w1")
	defer func() {
		lab(t, "proxy-start", "lab-w1")
		eventually(t, "seed healthy again after kube-proxy restart", 30*time.Second, func() error {
			r, _, code := svccheck(t, args...)
			return healthySeed(r, code)
		})
	}()
	r, _, code = svccheck(t, append(args, "--baseline", base, "--output-file", junit)...)
	if got := strings.Join(r.Baseline.Regressions, ","); code != 1 || got != "default/hostname-nodeport/http/local/nodePort/lab-w1/InternalIP" {
		t.Errorf("broken lab-w1: exit %d, regressions %q", code, got)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<testsuite name="default/hostname-nodeport"`, `failures="2"`,
		`<testcase name="port http nodePort lab-w1/InternalIP from local"`, `message="nodePathFailed: NodePort 30080 fails on node lab-w1 only`} {
		if !strings.Contains(string(x), want) {
			t.Errorf("JUnit lacks %s", want)
		}
	}
}

func TestFirewallFromOperatorOnly(t *testing.T) {
	undo := firewall(t, "lab-w2", "30080")
	defer undo()
	r, _, code := svccheck(t, "-n", "default", "--http", "--timeout", "1s", "hostname-nodeport")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	s := service(t, r, "hostname-nodeport")
	if got := strings.Join(failing(s), ","); got != "nodePort/lab-w2" {
		t.Errorf("failing probes %q, want only lab-w2's NodePort", got)
	}
	for _, p := range s.Probes {
		if p.Node == "lab-w2" && p.Outcome != "timeout" && p.Outcome != "noRoute" {
			t.Errorf("dropped NodePort outcome %s, want no answer (timeout or noRoute)", p.Outcome)
		}
	}
	r, _, code = svccheck(t, "-n", "default", "--http", "--timeout", "1s", "--from", "all", "hostname-nodeport")
	if got := strings.Join(verdicts(r, "hostname-nodeport"), ","); code != 1 || got != "blockedFromOperator@lab-w2" {
		t.Errorf("exit %d verdicts %q, want blockedFromOperator@lab-w2: %+v", code, got, r.Findings)
	}
}

func TestSelectorMatchesNoPod(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--http", "nomatch")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := strings.Join(verdicts(r, "nomatch"), ","); got != "noEndpoints@" {
		t.Fatalf("verdicts %v, want exactly noEndpoints", got)
	}
	for _, f := range r.Findings {
		if f.Code == "noEndpoints" && (!strings.Contains(f.Message, "selector app=hostnme matches no pod") ||
			!strings.Contains(f.Message, "closest: hostname-") || !strings.Contains(f.Message, "(app=hostname, not hostnme)")) {
			t.Errorf("message %q does not explain the selector and name the closest pods", f.Message)
		}
	}
	// kube-proxy rejects connections to a Service without endpoints.
	for _, p := range service(t, r, "nomatch").Probes {
		if p.Via == "nodePort" && p.Outcome == "ok" {
			t.Errorf("%s answered with no endpoints", p.ID)
		}
	}
}

func TestTargetPortNotListening(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--http", "wrongport")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	s := service(t, r, "wrongport")
	if got := strings.Join(failing(s), ","); got != "nodePort/lab-cp,nodePort/lab-w1,nodePort/lab-w2" {
		t.Errorf("failing probes %q, want every node's NodePort", got)
	}
	for _, p := range s.Probes {
		if p.Via == "nodePort" && p.Outcome != "refused" {
			t.Errorf("%s: outcome %s, want refused (the pod answers RST)", p.ID, p.Outcome)
		}
	}
	for _, from := range []string{"local", "all"} {
		r, _, _ := svccheck(t, "-n", "default", "--http", "--from", from, "wrongport")
		if got := strings.Join(verdicts(r, "wrongport"), ","); got != "portMismatch@" {
			t.Errorf("--from %s: verdicts %q, want exactly portMismatch: %+v", from, got, r.Findings)
		}
	}
}

func TestNamedTargetPortTypo(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--http", "namedtypo")
	if got := strings.Join(verdicts(r, "namedtypo"), ","); code != 1 || got != "portMismatch@" {
		t.Fatalf("exit %d verdicts %q, want portMismatch: %+v", code, got, r.Findings)
	}
	if f := r.Findings[len(r.Findings)-1]; !strings.Contains(f.Message, `targetPort "htp" of port http is not a port name of any selected pod (they declare http/80)`) {
		t.Errorf("message %q", f.Message)
	}
}

func TestConntrackAttributesSilentTCP(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--from", "nodes", "tcp-silent")
	if code != 0 {
		t.Fatalf("exit %d: %+v", code, r.Findings)
	}
	nodes := 0
	for _, p := range service(t, r, "tcp-silent").Probes {
		if p.Via != "clusterIP" {
			continue
		}
		nodes++
		if p.Attribution != "conntrack" || p.Coverage == nil || len(p.Coverage.Seen) != 2 {
			t.Errorf("%s: attribution %q coverage %+v, want both pods through conntrack", p.ID, p.Attribution, p.Coverage)
		}
	}
	if nodes != 3 {
		t.Errorf("%d ClusterIP probes, want one per node", nodes)
	}
}

func TestHealthyTwentyRunsNoFalseFindings(t *testing.T) {
	for i := 0; i < 20; i++ {
		r, stderr, code := svccheck(t, "-n", "default", "--http", "--from", "everywhere", "hostname", "hostname-nodeport", "etp-local", "tcp-silent")
		if r == nil {
			t.Fatalf("run %d: exit %d, no report: %s", i+1, code, stderr)
		}
		var extra []string
		for _, f := range r.Findings {
			if f.Severity != "info" {
				extra = append(extra, string(f.Code)+": "+f.Message)
			}
		}
		if code != 0 || len(extra) > 0 {
			t.Fatalf("run %d: exit %d, findings %v", i+1, code, extra)
		}
	}
}

func TestReadinessFailing(t *testing.T) {
	var r *report.Report
	eventually(t, "notready pod running", 60*time.Second, func() error {
		var code int
		r, _, code = svccheck(t, "-n", "default", "notready")
		s := service(t, r, "notready")
		if code != 1 || s.Endpoints.NotReady != 1 || s.Endpoints.Ready != 0 {
			return fmt.Errorf("exit %d endpoints %+v", code, s.Endpoints)
		}
		return nil
	})
	if got := strings.Join(verdicts(r, "notready"), ","); !strings.HasPrefix(got, "endpointNotReady@") || strings.Contains(got, ",") {
		t.Fatalf("verdicts %q, want exactly endpointNotReady", got)
	}
	for _, f := range r.Findings {
		if f.Code == "endpointNotReady" && (!strings.Contains(f.Message, "none ready") || !strings.Contains(f.Message, "container hostname not ready: Readiness probe failed")) {
			t.Errorf("message %q does not name the container and the probe failure", f.Message)
		}
	}
}

func TestExternalTrafficPolicyLocal(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--http", "etp-local")
	s := service(t, r, "etp-local")
	reach, drop := map[string]bool{}, map[string]bool{}
	for _, p := range s.Probes {
		if p.Via != "nodePort" {
			continue
		}
		if p.Expect == "reach" {
			reach[p.Node] = true
			if p.Outcome != "ok" || p.Coverage == nil || len(p.Coverage.Seen) != 1 {
				t.Errorf("%s: outcome %s coverage %+v, want its one local pod", p.ID, p.Outcome, p.Coverage)
			}
		} else {
			drop[p.Node] = true
			if p.Expect != "noReach" || p.Outcome == "ok" {
				t.Errorf("%s: expect %s outcome %s, want a drop", p.ID, p.Expect, p.Outcome)
			}
		}
	}
	if len(reach) != 2 || len(drop) != 1 {
		t.Errorf("reach on %v, drop on %v: want the two pod nodes and the other one", reach, drop)
	}
	if code != 0 || s.Verdict != "healthy" {
		t.Errorf("exit %d verdict %s, want 0 healthy: %v", code, s.Verdict, failing(s))
	}
}

func TestInterruptPrintsPartialReport(t *testing.T) {
	// lab-w2 drops the NodePort from the operator: that probe waits out its
	// 20 s timeout and SIGINT lands mid-run. The scenario needs that probe
	// still in flight at SIGINT; when the kernel ended it first (a failed
	// neighbour resolution gives "no route to host" at once), the run it
	// interrupted proves nothing and is tried again.
	undo := firewall(t, "lab-w2", "30080")
	defer undo()
	for attempt := 1; ; attempt++ {
		r, elapsed, err := interruptRun(t)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("exit %v, want 130", err)
		}
		if elapsed > 3*time.Second {
			t.Errorf("stopped %s after SIGINT", elapsed)
		}
		var w2 []report.ProbeRow
		for _, p := range service(t, r, "hostname-nodeport").Probes {
			// Only the NodePort behind the DROP rule is sure to be in flight;
			// a direct probe of a pod on lab-w2 may end with its expected
			// refusal or "no route" before SIGINT.
			if p.Node == "lab-w2" && p.Via == probe.ViaNodePort {
				w2 = append(w2, p)
			}
		}
		if len(w2) == 0 {
			t.Fatal("no NodePort probe through lab-w2")
		}
		if inFlight := w2[0].Outcome == probe.NotRun; !inFlight {
			if w2[0].Outcome == probe.OK || w2[0].Outcome == probe.Timeout {
				t.Fatalf("lab-w2 probe %s (%s) within 2 s of a 20 s timeout behind a DROP rule", w2[0].Outcome, w2[0].Detail)
			}
			if attempt < 3 {
				t.Logf("attempt %d: lab-w2's probe ended before SIGINT (%s: %s); again", attempt, w2[0].Outcome, w2[0].Detail)
				continue
			}
			t.Fatalf("lab-w2's probe ended before SIGINT %d times: %s: %s", attempt, w2[0].Outcome, w2[0].Detail)
		}
		if !r.Interrupted || r.Summary.NotRun == 0 || r.Summary.Failed != 0 {
			t.Errorf("interrupted=%v summary %+v", r.Interrupted, r.Summary)
		}
		for _, p := range w2 {
			if p.Outcome != probe.NotRun || p.Detail != "interrupted" {
				t.Errorf("lab-w2 probe %s (%s), want notRun (interrupted)", p.Outcome, p.Detail)
			}
		}
		return
	}
}

// interruptRun starts a JSON run of hostname-nodeport with a 20 s timeout,
// sends SIGINT once lab-w2's DROP rule for the operator has dropped one of
// its packets (the probe is in flight) and returns the partial report, how
// long the process took to end after the signal and how it ended.
func interruptRun(t *testing.T) (*report.Report, time.Duration, error) {
	before := dropped(t, "lab-w2", topo.ip["operator"], "30080")
	cmd := exec.Command(labSh, "exec", "--", "kubectl-svccheck", "-o", "json", "-n", "default", "--timeout", "20s", "hostname-nodeport")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, "lab-w2", topo.ip["operator"], "30080", before, 15*time.Second)
	time.Sleep(300 * time.Millisecond) // the other probes end
	start := time.Now()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	err := cmd.Wait()
	elapsed := time.Since(start)
	var r report.Report
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("no partial report (%v): %v\n%s", err, jerr, out.String())
	}
	return &r, elapsed, err
}

// agentsLeft counts svccheck agent Jobs and pods in the cluster.
func agentsLeft(t *testing.T) int { return len(agentsIn(t, "")) }

func noAgentsWithin(t *testing.T, d time.Duration) {
	t.Helper()
	eventually(t, "no svccheck agent left", d, func() error {
		if n := agentsLeft(t); n != 0 {
			return fmt.Errorf("%d agent objects remain", n)
		}
		return nil
	})
}

func TestFromAllSeed(t *testing.T) {
	r, _, code := svccheck(t, "-n", "default", "--from", "all", "--http", "hostname", "hostname-nodeport")
	if err := healthySeedFromAll(r, code); err != nil {
		t.Fatal(err)
	}
	if n := agentsLeft(t); n != 0 {
		t.Errorf("%d agent objects remain after a successful run", n)
	}
}

// healthySeedFromAll: from the pod, both endpoints direct, the ClusterIPs
// reached both pods, every node's NodePort reached both pods; from outside the
// NodePorts answered and the ClusterIPs did not; exit 0.
func healthySeedFromAll(r *report.Report, code int) error {
	if r == nil || code != 0 {
		return fmt.Errorf("exit %d", code)
	}
	count := map[string]int{}
	for _, s := range r.Services {
		for _, p := range s.Probes {
			key := string(p.From) + "/" + string(p.Via)
			if p.Outcome == "notRun" {
				if p.Via != "dns" {
					return fmt.Errorf("%s not run: %s", p.ID, p.Detail)
				}
				continue
			}
			if !p.Pass {
				return fmt.Errorf("%s failed: %s %s", p.ID, p.Outcome, p.Detail)
			}
			if p.Expect == "reach" && p.Via != "endpoint" && (p.Coverage == nil || len(p.Coverage.Seen) != 2) {
				return fmt.Errorf("%s: coverage %+v", p.ID, p.Coverage)
			}
			if p.Via == "endpoint" && p.From != "local" && p.Backend != p.Pod {
				return fmt.Errorf("%s: answered by %q, want %q", p.ID, p.Backend, p.Pod)
			}
			count[key]++
		}
	}
	want := map[string]int{"pod/endpoint": 4, "pod/clusterIP": 2, "pod/nodePort": 3, "local/nodePort": 3, "local/clusterIP": 2, "local/endpoint": 2}
	for k, n := range want {
		if count[k] != n {
			return fmt.Errorf("%d %s probes passed, want %d (all: %v)", count[k], k, n, count)
		}
	}
	return nil
}

func TestAgentInRestrictedNamespace(t *testing.T) {
	r, stderr, code := svccheck(t, "-n", "default", "--from", "cluster", "--http", "--agent-namespace", "svccheck-restricted", "hostname")
	if code != 0 || r == nil {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	noAgentsWithin(t, 10*time.Second)
}

func TestAgentImageCannotBePulled(t *testing.T) {
	r, stderr, code := svccheck(t, "-n", "default", "--from", "cluster", "--image", "svccheck.local/missing:1", "hostname")
	if code != 4 || r != nil {
		t.Errorf("exit %d, want 4 and no report", code)
	}
	if !strings.Contains(stderr, "ErrImageNeverPull") || !strings.Contains(stderr, "svccheck.local/missing:1") {
		t.Errorf("stderr %q does not say why", stderr)
	}
	noAgentsWithin(t, 10*time.Second)
}

// A namespace whose ResourceQuota admits no pod: the run ends at once (not
// after the start timeout) with exit 4 and the Job controller's reason.
func TestAgentPodRefusedByQuota(t *testing.T) {
	namespaceGone(t, "svccheck-quota")
	lab(t, "kubectl", "create", "namespace", "svccheck-quota")
	t.Cleanup(func() { lab(t, "kubectl", "delete", "namespace", "svccheck-quota", "--wait=false") })
	lab(t, "kubectl", "-n", "svccheck-quota", "create", "quota", "nopods", "--hard=pods=0")
	start := time.Now()
	r, stderr, code := svccheck(t, "-n", "default", "--from", "cluster", "--agent-namespace", "svccheck-quota", "hostname")
	if code != 4 || r != nil || !strings.Contains(stderr, "cannot create its pod") || !strings.Contains(stderr, "exceeded quota: nopods") {
		t.Errorf("exit %d: %s; want 4 naming the quota", code, stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s: the refusal was waited out", took)
	}
	if left := agentsIn(t, "svccheck-quota"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// startLongRun starts an agent run that cannot finish soon: lab-w2 drops
// NodePort traffic from pods (podFirewall), so the agent's probe of it waits
// out --timeout. It returns once that rule dropped the agent's packet.
func startLongRun(t *testing.T, extra ...string) *exec.Cmd {
	before := dropped(t, "lab-w2", topo.net["cluster"], "30080")
	args := append([]string{"exec", "--", "kubectl-svccheck", "-o", "json", "-n", "default", "--from", "cluster",
		"--timeout", "60s", "hostname-nodeport"}, extra...)
	cmd := exec.Command(labSh, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = &bytes.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, "lab-w2", topo.net["cluster"], "30080", before, 60*time.Second)
	return cmd
}

// podFirewall makes lab-w2 drop NodePort 30080 traffic from pods.
func podFirewall(t *testing.T) func() { return dropOn(t, "lab-w2", topo.net["cluster"], "30080") }

func TestAgentRemovedOnCtrlC(t *testing.T) {
	defer podFirewall(t)()
	cmd := startLongRun(t)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130", err)
	}
	var r report.Report
	if err := json.Unmarshal(cmd.Stdout.(*bytes.Buffer).Bytes(), &r); err != nil || !r.Interrupted {
		t.Errorf("partial report: %v interrupted=%v", err, r.Interrupted)
	}
	noAgentsWithin(t, 10*time.Second)
}

func TestAgentRemovedAfterSIGKILLByItsDeadline(t *testing.T) {
	defer podFirewall(t)()
	start := time.Now()
	cmd := startLongRun(t, "--agent-deadline", "15s")
	// Kill the plugin itself, not lab.sh: find it in the process group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	if n := agentsLeft(t); n == 0 {
		t.Fatal("the agent vanished before its deadline: the test proves nothing")
	}
	noAgentsWithin(t, 60*time.Second)
	t.Logf("agent gone %s after start (deadline 15s)", time.Since(start).Round(time.Second))
}

func TestAgentPreflightNamesMissingPermission(t *testing.T) {
	_, stderr, code := svccheck(t, "-n", "default", "--from", "cluster", "--kubeconfig", filepath.Join(labDir(), "viewer.kubeconfig"))
	if code != 3 || !strings.Contains(stderr, `cannot list endpointslices.discovery.k8s.io in namespace "default"`) ||
		!strings.Contains(stderr, `cannot create jobs.batch in namespace "default"`) {
		t.Errorf("exit %d stderr %q", code, stderr)
	}
	if n := agentsLeft(t); n != 0 {
		t.Errorf("preflight failure left %d agent objects", n)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown service", []string{"-n", "default", "hostnam"}, 2, `service "hostnam" not found in namespace "default" (did you mean "hostname"?)`},
		{"unknown namespace", []string{"-n", "nope"}, 2, `namespace "nope" not found`},
		{"forbidden", []string{"-n", "default", "--kubeconfig", filepath.Join(labDir(), "viewer.kubeconfig")}, 3,
			"forbidden: cannot list endpointslices.discovery.k8s.io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, stderr, code := svccheck(t, tc.args...)
			if code != tc.code || r != nil || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d stderr %q, want %d and %q", code, stderr, tc.code, tc.msg)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one", n+1)
			}
		})
	}
}

func labDir() string {
	if d := os.Getenv("SVCCHECK_LAB_DIR"); d != "" {
		return d
	}
	return "/var/lib/svccheck-lab"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// BenchmarkFromAllSeed is the wall time of `kubectl svccheck --from all --http`
// on the seed, from the operator host, agent pod start and removal included.
// Target: < 10 s.
func BenchmarkFromAllSeed(b *testing.B) {
	for b.Loop() {
		cmd := exec.Command(labSh, "exec", "--", "kubectl-svccheck", "-o", "json", "-n", "default", "--from", "all", "--http", "hostname", "hostname-nodeport")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}
