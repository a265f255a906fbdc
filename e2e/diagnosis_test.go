//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

// The diagnosis scenarios: faults outside the verdict scenarios of
// e2e_test.go, each diagnosed from outside (--from local), with the agent pod
// (--from all) and with node agents too (--from everywhere). Each must give
// exactly the verdict its vantage points can see, naming the right node, pod
// and port; every report any test parses is checked against its own probes
// (checkReport).

// reportsChecked and findingsChecked count what checkReport saw;
// diagnosisReports and diagnosisFindings count the reports the diagnosis
// scenarios got (diagnoseFrom) and their findings, each of which checkReport
// must have seen too (TestDiagReportsChecked).
var reportsChecked, findingsChecked, diagnosisReports, diagnosisFindings atomic.Int64

// checkReport fails the test when a probe of the report contradicts one of
// its findings, or a finding has nothing to support it
// (diagnose.Contradictions).
func checkReport(t *testing.T, r *report.Report) {
	t.Helper()
	var obs []diagnose.Observation
	for _, s := range r.Services {
		for _, p := range s.Probes {
			obs = append(obs, observe(s, p))
		}
	}
	for _, c := range diagnose.Contradictions(r.Findings, obs) {
		t.Errorf("a finding the report contradicts: %s", c)
	}
	reportsChecked.Add(1)
	findingsChecked.Add(int64(len(r.Findings)))
}

// observe states a report's probe row as a diagnose.Observation.
func observe(s report.Service, p report.ProbeRow) diagnose.Observation {
	o := diagnose.Observation{ID: p.ID, Namespace: s.Namespace, Service: s.Name, Port: p.Port, Protocol: p.Protocol,
		From: p.From, Via: p.Via, Node: p.Node, Want: p.Expect, Outcome: p.Outcome, Pass: p.Pass,
		Failures: p.Failures, Observed: p.Observed}
	host, port, err := net.SplitHostPort(p.Target)
	if err == nil {
		n, _ := strconv.Atoi(port)
		o.TargetPort = int32(n)
	}
	if p.Via == probe.ViaEndpoint {
		o.Pod = p.Pod
		if o.Pod == "" {
			o.Pod = host
		}
	}
	switch {
	case p.Coverage != nil:
		o.Seen = p.Coverage.Seen
	case p.Backend != "":
		o.Seen = []string{p.Backend}
	}
	return o
}

// diagnosisOnce applies lab/manifests/diagnosis.yaml once, with the lab's
// images imported into the nodes (the hostname server's fault flags).
var diagnosisOnce sync.Once

func diagnosisLab(t *testing.T) {
	t.Helper()
	diagnosisOnce.Do(func() {
		lab(t, "images")
		lab(t, "kubectl", "apply", "-f", "../lab/manifests/diagnosis.yaml")
		for _, w := range []string{"statefulset/hung", "statefulset/app5xx", "statefulset/loopback", "deployment/stale"} {
			lab(t, "kubectl", "-n", "default", "rollout", "status", w, "--timeout=120s")
		}
	})
	eventually(t, "diagnosis Services healthy from every node", 60*time.Second, func() error {
		for _, svc := range []string{"stale"} {
			if r, _, code := svccheck(t, "-n", "default", "--http", "--timeout", "1s", svc); code != 0 {
				return fmt.Errorf("%s: exit %d: %v", svc, code, findingsOf(r))
			}
		}
		return nil
	})
}

// vantage is how a scenario runs svccheck: --from and the agent pod's node.
type vantage struct {
	name string
	args []string
}

var (
	fromLocal      = vantage{"local", []string{"--from", "local"}}
	fromAll        = vantage{"all", []string{"--from", "all", "--node", "lab-cp"}}
	fromEverywhere = vantage{"everywhere", []string{"--from", "everywhere", "--node", "lab-cp"}}
)

// witness is a healthy NodePort Service run beside each faulty one: the
// run's reachability pass knocks on the NodePorts of two Services before it
// probes a node's, so that one broken Service cannot make a node look gone.
const witness = "tcp-silent"

// diagnoseFrom runs svccheck on one Service (and the witness) from v and
// returns the report and the Service's error and warning findings.
func diagnoseFrom(t *testing.T, v vantage, svc string) (*report.Report, []diagnose.Finding) {
	t.Helper()
	args := append([]string{"-n", "default", "--http", "--timeout", "1s"}, v.args...)
	r, stderr, code := svccheck(t, append(args, svc, witness)...)
	if r == nil {
		t.Fatalf("--from %s: exit %d, no report: %s", v.name, code, stderr)
	}
	diagnosisReports.Add(1)
	diagnosisFindings.Add(int64(len(r.Findings)))
	var fs []diagnose.Finding
	for _, f := range r.Findings {
		switch {
		case f.Service == svc && f.Severity != diagnose.SevInfo:
			fs = append(fs, f)
		case f.Service == "" && f.Severity == diagnose.SevError:
			t.Errorf("--from %s: a cluster finding: %s %s@%s: %s", v.name, f.Code, f.Node, f.Pod, f.Message)
		}
	}
	if code != 1 {
		t.Errorf("--from %s: exit %d, want 1", v.name, code)
	}
	for _, f := range fs {
		t.Logf("--from %s: %s %s@%s/%s: %s", v.name, f.Severity, f.Code, f.Node, f.Pod, f.Message)
	}
	return r, fs
}

// wantErr says how fs differs from exactly one error finding with code,
// node and pod whose message contains each of parts, or nil. When that
// finding is there beside others, the error is an extraFindings.
func wantErr(v vantage, fs []diagnose.Finding, code diagnose.Code, node, pod string, parts ...string) error {
	matches := func(f diagnose.Finding) bool {
		if f.Severity != diagnose.SevError || f.Code != code || f.Node != node || f.Pod != pod {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(f.Message, p) {
				return false
			}
		}
		return true
	}
	if len(fs) == 1 && matches(fs[0]) {
		return nil
	}
	var got []string
	for _, f := range fs {
		got = append(got, fmt.Sprintf("%s %s@%s/%s: %s", f.Severity, f.Code, f.Node, f.Pod, f.Message))
	}
	err := fmt.Errorf("--from %s: findings %q, want exactly error %s@%s/%s saying %q", v.name, got, code, node, pod, parts)
	if slices.ContainsFunc(fs, matches) {
		return extraFindings{err}
	}
	return err
}

// extraFindings: the wanted finding is in the report, beside others.
type extraFindings struct{ error }

// diagnoseUntil runs svc from v until check accepts the report and its
// findings. Only a run whose wanted finding came with another one beside it
// (an extraFindings) runs again, at most 3 runs in all: on a loaded 2-core
// machine a run now and then loses a connection to a 1 s timeout that the
// scenario did not cause (each such run is logged). A wrong or missing
// verdict fails at once.
func diagnoseUntil(t *testing.T, v vantage, svc string, check func(r *report.Report, fs []diagnose.Finding) error) (*report.Report, []diagnose.Finding) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r, fs := diagnoseFrom(t, v, svc)
		err := check(r, fs)
		if err == nil {
			return r, fs
		}
		var extra extraFindings
		if attempt == 3 || !errors.As(err, &extra) {
			t.Errorf("%v (run %d)", err, attempt)
			return r, fs
		}
		t.Logf("run %d: %v; again", attempt, err)
	}
}

// expect runs svc from v until its findings are exactly one error with
// code, node and pod saying each of parts (wantErr, diagnoseUntil).
func expect(t *testing.T, v vantage, svc string, code diagnose.Code, node, pod string, parts ...string) (*report.Report, []diagnose.Finding) {
	t.Helper()
	return diagnoseUntil(t, v, svc, func(_ *report.Report, fs []diagnose.Finding) error {
		return wantErr(v, fs, code, node, pod, parts...)
	})
}

// podsOf lists the pods of a label selector with their nodes and IPs.
func podsOf(t *testing.T, selector string) (names, nodes, ips []string) {
	out := lab(t, "kubectl", "-n", "default", "get", "pods", "-l", selector, "--field-selector=status.phase=Running",
		"-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP}{"\n"}{end}`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			names, nodes, ips = append(names, f[0]), append(nodes, f[1]), append(ips, f[2])
		}
	}
	return names, nodes, ips
}

// podOn returns a pod of selector on a worker node, its node and IP, and the
// other worker: the node that will be cut from it.
func podOnWorker(t *testing.T, selector string) (pod, podNode, ip, other string) {
	names, nodes, ips := podsOf(t, selector)
	for i := range names {
		if nodes[i] == "lab-w1" || nodes[i] == "lab-w2" {
			other = map[string]string{"lab-w1": "lab-w2", "lab-w2": "lab-w1"}[nodes[i]]
			return names[i], nodes[i], ips[i], other
		}
	}
	t.Fatalf("no pod of %s on a worker: %v on %v", selector, names, nodes)
	return
}

// iptables runs one iptables command in a node's network namespace and
// returns the command that undoes it ("-I" becomes "-D").
func iptables(t *testing.T, node string, rule ...string) func() {
	t.Helper()
	lab(t, append([]string{"node", node, "--", "iptables"}, rule...)...)
	undo := slices.Clone(rule)
	for i, a := range undo {
		if a == "-I" || a == "-A" {
			undo[i] = "-D"
		}
	}
	return func() { lab(t, append([]string{"node", node, "--", "iptables"}, undo...)...) }
}

// reachedThrough reports whether a probe through node's NodePort, or a
// ClusterIP probed from node, reached some backend: the path was not given
// up before it could tell one backend from another.
func reachedThrough(r *report.Report, svc, node string) bool {
	for _, s := range r.Services {
		for _, p := range s.Probes {
			through := p.Via == "nodePort" && p.Node == node || p.Via == "clusterIP" && p.From == probe.FromNode(node)
			if s.Name == svc && through && p.Coverage != nil && len(p.Coverage.Seen) > 0 {
				return true
			}
		}
	}
	return false
}

// cutOrNodePath checks the verdict on a pod a node cannot reach (or does not
// forward to) from vantage points that only see it through the node's paths:
// the pod, when a path through the node reached another backend; the node,
// when every path through it was given up before it reached any.
func cutOrNodePath(v vantage, r *report.Report, fs []diagnose.Finding, node, pod string) error {
	if reachedThrough(r, "hostname-nodeport", node) {
		return wantErr(v, fs, diagnose.VerdictBackendUnreachableFrom, node, pod, "through "+node, "never answered there")
	}
	// Every path through the node was given up before it reached a backend.
	return wantErr(v, fs, diagnose.VerdictNodePathFailed, node, "")
}

// One node cannot reach one pod: the pod's node drops what comes from the
// other worker (its host and its pods), so every path through that worker
// misses the pod, and the worker's own host cannot reach it directly.
func TestDiagPodCutFromNode(t *testing.T) {
	pod, podNode, ip, cut := podOnWorker(t, "app=hostname")
	undoHost := iptables(t, podNode, "-t", "raw", "-I", "PREROUTING", "-s", topo.ip[cut], "-d", ip, "-j", "DROP")
	defer undoHost()
	undoPods := iptables(t, podNode, "-t", "raw", "-I", "PREROUTING", "-s", podSubnet(t, cut), "-d", ip, "-j", "DROP")
	defer undoPods()
	for _, v := range []vantage{fromLocal, fromAll} {
		diagnoseUntil(t, v, "hostname-nodeport", func(r *report.Report, fs []diagnose.Finding) error {
			return cutOrNodePath(v, r, fs, cut, pod)
		})
	}
	r, _ := expect(t, fromEverywhere, "hostname-nodeport", diagnose.VerdictBackendUnreachableFrom, cut, pod,
		"does not answer directly from node/"+cut+" (timeout)", "through "+cut, "check the network between "+cut+" and "+podNode)
	// The node agent on the cut node learned from its conntrack table where
	// its failed connections went.
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if s.Name == "hostname-nodeport" && p.Via == "clusterIP" && p.From == probe.FromNode(cut) && p.FailedBackends[pod] == 0 {
				t.Errorf("%s: failed connections %v, want some known to have gone to %s", p.ID, p.FailedBackends, pod)
			}
		}
	}
}

// One node does not forward to one pod, although its host reaches the pod:
// the node drops forwarded traffic to the pod and its own connections that
// a Service rule translated to it.
func TestDiagNodeDoesNotForwardToPod(t *testing.T) {
	pod, _, ip, node := podOnWorker(t, "app=hostname")
	undoFwd := iptables(t, node, "-I", "FORWARD", "-d", ip, "-j", "DROP")
	defer undoFwd()
	undoOut := iptables(t, node, "-I", "OUTPUT", "-d", ip, "-m", "conntrack", "--ctstate", "DNAT", "-j", "DROP")
	defer undoOut()
	for _, v := range []vantage{fromLocal, fromAll} {
		diagnoseUntil(t, v, "hostname-nodeport", func(r *report.Report, fs []diagnose.Finding) error {
			return cutOrNodePath(v, r, fs, node, pod)
		})
	}
	expect(t, fromEverywhere, "hostname-nodeport", diagnose.VerdictBackendUnreachableFrom, node, pod,
		"through "+node, "it answers directly from ", "node/"+node, node+" reaches it directly but does not forward to it")
}

// A backend that accepts connections and never answers.
func TestDiagHungBackend(t *testing.T) {
	diagnosisLab(t)
	node := nodeOf(t, "hung-1")
	for _, v := range []vantage{fromLocal, fromAll, fromEverywhere} {
		diagnoseUntil(t, v, "hung", func(r *report.Report, fs []diagnose.Finding) error {
			if v.name == fromLocal.name && !reachedAny(r, "hung") {
				// Every NodePort was given up before it reached a backend.
				return wantErr(v, fs, diagnose.VerdictPathFailed, "", "")
			}
			return wantErr(v, fs, diagnose.VerdictBackendHung, node, "hung-1", "hung-1 accepts connections on ", ":80 but never answers")
		})
	}
}

// A backend whose application fails with HTTP 500, named by its own page.
func TestDiagApplicationError(t *testing.T) {
	diagnosisLab(t)
	node := nodeOf(t, "app5xx-1")
	for _, v := range []vantage{fromLocal, fromAll, fromEverywhere} {
		expect(t, v, "app5xx", diagnose.VerdictApplicationError, node, "app5xx-1", "app5xx-1 answers HTTP 5", "went to it")
	}
}

// A backend listening on 127.0.0.1 only: its pod IP refuses.
func TestDiagListeningOnLoopbackOnly(t *testing.T) {
	diagnosisLab(t)
	node := nodeOf(t, "loopback-1")
	expect(t, fromLocal, "loopback", diagnose.VerdictBackendNotListening, node, "loopback-1", "never answered there", "inferred")
	for _, v := range []vantage{fromAll, fromEverywhere} {
		expect(t, v, "loopback", diagnose.VerdictBackendNotListening, node, "loopback-1", "directly from pod", "(refused)", "not listening on that port")
	}
}

// An endpoint address with no host behind it: from outside, every NodePort
// times out (the Service, not a node); from inside, the address itself.
func TestDiagDeadEndpointAddress(t *testing.T) {
	diagnosisLab(t)
	expect(t, fromLocal, "deadaddr", diagnose.VerdictPathFailed, "", "", "the Service, not one node")
	for _, v := range []vantage{fromAll, fromEverywhere} {
		expect(t, v, "deadaddr", diagnose.VerdictEndpointUnreachable, "", "10.251.3.250", "nothing answers at 10.251.3.250:80", "directly from pod")
	}
}

// Stale proxy rules: lab-w1's kube-proxy is frozen while the Deployment is
// rolled, so lab-w1 keeps forwarding to the addresses of pods that are gone.
func TestDiagStaleProxyRules(t *testing.T) {
	diagnosisLab(t)
	thaw := freezeProxy(t, "lab-w1")
	defer thaw()
	before, _, _ := podsOf(t, "app=stale")
	lab(t, "kubectl", "-n", "default", "rollout", "restart", "deployment/stale")
	lab(t, "kubectl", "-n", "default", "rollout", "status", "deployment/stale", "--timeout=120s")
	eventually(t, "the old stale pods gone", 60*time.Second, func() error {
		if now, _, _ := podsOf(t, "app=stale"); len(now) != 2 || slices.ContainsFunc(now, func(n string) bool { return slices.Contains(before, n) }) {
			return fmt.Errorf("pods %v (before %v)", now, before)
		}
		return nil
	})
	expect(t, fromLocal, "stale", diagnose.VerdictNodePathFailed, "lab-w1", "", "NodePort 30095 fails on node lab-w1 only (timeout from outside")
	expect(t, fromAll, "stale", diagnose.VerdictNodePathFailed, "lab-w1", "", "fails on node lab-w1 from local, pod (timeout")
	expect(t, fromEverywhere, "stale", diagnose.VerdictDataplaneBroken, "lab-w1", "", "ClusterIP", "through lab-w1 fail", "pods answer directly from lab-w1")
	thaw()
	eventually(t, "stale healthy again after kube-proxy resumed", 60*time.Second, func() error {
		r, _, code := svccheck(t, "-n", "default", "--http", "--timeout", "1s", "stale")
		if code != 0 {
			return fmt.Errorf("exit %d: %v", code, findingsOf(r))
		}
		return nil
	})
}

// A firewall on one node for one port: lab-w2 drops what comes to its own
// address on port 30080, from other hosts and from its pods, before
// kube-proxy sees it; its host's own connections are not filtered.
func TestDiagNodePortFirewalled(t *testing.T) {
	undo := iptables(t, "lab-w2", "-t", "raw", "-I", "PREROUTING", "-d", topo.ip["lab-w2"], "-p", "tcp", "--dport", "30080", "-j", "DROP")
	defer undo()
	expect(t, fromLocal, "hostname-nodeport", diagnose.VerdictNodePathFailed, "lab-w2", "", "NodePort 30080 fails on node lab-w2 only (timeout from outside")
	expect(t, fromAll, "hostname-nodeport", diagnose.VerdictNodePathFailed, "lab-w2", "", "fails on node lab-w2 from local, pod (timeout")
	onW2 := vantage{"all, agent on lab-w2", []string{"--from", "all", "--node", "lab-w2"}}
	expect(t, onW2, "hostname-nodeport", diagnose.VerdictNodePortBlocked, "lab-w2", "", "NodePort 30080 of node lab-w2 is blocked: it fails from local, pod (timeout) while lab-w2 forwards its own paths")
	expect(t, fromEverywhere, "hostname-nodeport", diagnose.VerdictNodePortBlocked, "lab-w2", "", "NodePort 30080 of node lab-w2 is blocked", "lab-w2 forwards its own paths")
}

// TestDiagReportsChecked runs after the diagnosis scenarios of this file and
// fails unless checkReport saw at least every report and finding they got:
// one that bypassed the check against its own probes would go unchecked. It
// skips when no scenario got a report (a -run selection without them, or
// every one skipped): there is nothing to compare then. A rerun of it alone
// would skip, so e2e/run.sh never reruns it.
func TestDiagReportsChecked(t *testing.T) {
	reports, findings := reportsChecked.Load(), findingsChecked.Load()
	diagReports, diagFindings := diagnosisReports.Load(), diagnosisFindings.Load()
	t.Logf("%d reports and %d findings checked against their own probes; the diagnosis scenarios got %d reports with %d findings",
		reports, findings, diagReports, diagFindings)
	if diagReports == 0 {
		t.Skip("no diagnosis scenario got a report in this run (-run selected none, or they skipped): nothing to count")
	}
	if reports < diagReports || findings < diagFindings {
		t.Errorf("checkReport saw %d reports and %d findings, fewer than the diagnosis scenarios' %d and %d: some reports were not checked against their own probes",
			reports, findings, diagReports, diagFindings)
	}
	if diagFindings == 0 {
		t.Errorf("the diagnosis scenarios' %d reports had no finding at all: each scenario wants an error finding", diagReports)
	}
}

// nodeOf is the node a pod runs on.
func nodeOf(t *testing.T, pod string) string {
	return strings.TrimSpace(lab(t, "kubectl", "-n", "default", "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"))
}

// reachedAny reports whether any forwarded path of svc reached a backend.
func reachedAny(r *report.Report, svc string) bool {
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if s.Name == svc && p.Via != "endpoint" && p.Coverage != nil && len(p.Coverage.Seen) > 0 {
				return true
			}
		}
	}
	return false
}

// podSubnet is a node's pod subnet, from lab/topology.
func podSubnet(t *testing.T, node string) string {
	b, err := os.ReadFile(filepath.Join("..", "lab", "topology"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "node" && f[1] == node {
			return f[3]
		}
	}
	t.Fatalf("lab/topology declares no pod subnet for %s", node)
	return ""
}

// freezeProxy stops a node's kube-proxy without removing its rules
// (SIGSTOP), so they go stale; the returned func resumes it (SIGCONT, which
// may be sent more than once).
func freezeProxy(t *testing.T, node string) func() {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(labDir(), "pids", "kube-proxy-"+node+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("resume kube-proxy on %s: %v", node, err)
		}
	}
}
