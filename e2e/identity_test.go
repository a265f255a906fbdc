//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svccheck/svccheck/report"
)

// raw runs kubectl-svccheck as the operator host with exactly args (no -o
// json added) and returns stdout, stderr and the exit code.
func raw(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(labSh, append([]string{"exec", "--", "kubectl-svccheck"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// junitCases lists "suite: testcase" of a JUnit report, sorted, and the
// failed ones.
func junitCases(t *testing.T, x []byte) (all, failed []string) {
	t.Helper()
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(x, &doc); err != nil {
		t.Fatalf("JUnit is not XML: %v\n%s", err, x)
	}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			all = append(all, s.Name+": "+c.Name)
			if c.Failure != nil {
				failed = append(failed, s.Name+": "+c.Name)
			}
		}
	}
	sort.Strings(all)
	sort.Strings(failed)
	return all, failed
}

// hostnamePods maps the seed's pod names to their IPs; terminating pods
// count too, so "exactly the new pods" means the old ones are gone.
func hostnamePods(t *testing.T) map[string]string {
	out := lab(t, "kubectl", "get", "pods", "-n", "default", "-l", "app=hostname",
		"-o", `jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}`)
	pods := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			pods[f[0]] = f[1]
		} else if len(f) == 1 {
			pods[f[0]] = ""
		}
	}
	return pods
}

func nodeInternalIP(t *testing.T, node string) string {
	return strings.TrimSpace(lab(t, "kubectl", "get", "node", node, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`))
}

// networkOf is what node-readdress changes for node: its eth0's IPv4
// addresses, its routes, and every other node's route to its pod subnet.
func networkOf(t *testing.T, node string) string {
	out := lab(t, "node", node, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0") + lab(t, "node", node, "--", "ip", "-4", "route")
	for _, other := range []string{"lab-cp", "lab-w1", "lab-w2"} {
		if other != node {
			out += other + ": " + lab(t, "node", other, "--", "ip", "route", "show", podSubnet(t, node))
		}
	}
	return out
}

func probeIDs(r *report.Report) []string {
	var ids []string
	for _, s := range r.Services {
		for _, p := range s.Probes {
			ids = append(ids, p.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// matchedBaseline: exit 0 and every probe of the run matched one of the
// baseline by identity: no regression, nothing fixed, appeared, vanished, new
// or gone, and the same identities.
func matchedBaseline(r *report.Report, code int, base []string) error {
	if r == nil || r.Baseline == nil {
		return fmt.Errorf("exit %d, no baseline comparison in the report", code)
	}
	b := r.Baseline
	if code != 0 || len(b.Regressions)+len(b.Fixed)+len(b.Appeared)+len(b.Vanished)+len(b.NewServices)+len(b.GoneServices) != 0 {
		return fmt.Errorf("exit %d: regressions %v fixed %v appeared %v vanished %v new %v gone %v",
			code, b.Regressions, b.Fixed, b.Appeared, b.Vanished, b.NewServices, b.GoneServices)
	}
	if ids := probeIDs(r); !slices.Equal(ids, base) {
		return fmt.Errorf("probe identities differ from the baseline's:\n now  %v\n then %v", ids, base)
	}
	return nil
}

var ipv4Re = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)

// TestBaselineSurvivesRolloutAndNodeAddressChange is the CI gate across the
// changes a cluster goes through without breaking: a baseline (JSON, and the
// JUnit of that run) of the seed from outside and from an agent pod; a
// rollout replacing every pod (new names, new IPs); a node's InternalIP
// moved to a new address. Compared with the baseline, the run exits 0 with
// every probe matched and the same JUnit test names. Then a real break
// (lab-w1's kube-proxy stopped, at its new address) exits 1 naming the
// regression by node name, never by address.
func TestBaselineSurvivesRolloutAndNodeAddressChange(t *testing.T) {
	dir := t.TempDir()
	base, baseXML, afterXML, brokenXML := filepath.Join(dir, "base.json"), filepath.Join(dir, "base.xml"),
		filepath.Join(dir, "after.xml"), filepath.Join(dir, "broken.xml")
	// The agent pod runs on lab-cp in every run: its placement is not what
	// is compared.
	args := []string{"-n", "default", "--from", "all", "--node", "lab-cp", "--http", "hostname", "hostname-nodeport"}

	// 1. Baseline: JUnit on stdout, the JSON report to base.json.
	eventually(t, "seed healthy before the baseline", 60*time.Second, func() error {
		r, _, code := svccheck(t, args...)
		return healthySeedFromAll(r, code)
	})
	stdout, stderr, code := raw(t, append(args, "-o", "junit", "--output-file", base)...)
	if code != 0 {
		t.Fatalf("baseline run: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile(baseXML, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	baseCases, baseFailed := junitCases(t, []byte(stdout))
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	var baseReport report.Report
	if err := json.Unmarshal(b, &baseReport); err != nil {
		t.Fatalf("base.json: %v", err)
	}
	if err := healthySeedFromAll(&baseReport, 0); err != nil || len(baseFailed) != 0 {
		t.Fatalf("baseline not healthy: %v, failed cases %v", err, baseFailed)
	}
	baseIDs := probeIDs(&baseReport)
	for _, id := range baseIDs {
		if ipv4Re.MatchString(id) {
			t.Errorf("probe identity %q carries an address", id)
		}
	}
	for _, c := range baseCases {
		if ipv4Re.MatchString(c) {
			t.Errorf("JUnit test name %q carries an address", c)
		}
	}
	t.Logf("baseline: %d probes, %d JUnit test cases", len(baseIDs), len(baseCases))

	// 2. A rollout: every pod replaced, with new names and addresses.
	before := hostnamePods(t)
	lab(t, "kubectl", "rollout", "restart", "deployment/hostname", "-n", "default")
	lab(t, "kubectl", "rollout", "status", "deployment/hostname", "-n", "default", "--timeout=120s")
	eventually(t, "only the rollout's new pods left", 60*time.Second, func() error {
		after := hostnamePods(t)
		if len(after) != len(before) {
			return fmt.Errorf("%d pods (%v), want %d new ones", len(after), after, len(before))
		}
		for name, ip := range after {
			if _, old := before[name]; old || ip == "" {
				return fmt.Errorf("pod %s (IP %q) is not a new running pod", name, ip)
			}
			for _, oldIP := range before {
				if ip == oldIP {
					return fmt.Errorf("pod %s has an old pod's IP %s", name, ip)
				}
			}
		}
		return nil
	})
	t.Logf("rollout: pods %v, now %v", before, hostnamePods(t))
	eventually(t, "seed healthy after the rollout", 60*time.Second, func() error {
		r, _, code := svccheck(t, args...)
		return healthySeedFromAll(r, code)
	})
	r, _, code := svccheck(t, append(args, "--baseline", base)...)
	if err := matchedBaseline(r, code, baseIDs); err != nil {
		t.Fatalf("after the rollout: %v", err)
	}
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if p.Pod != "" && before[p.Pod] != "" {
				t.Errorf("%s still probes the old pod %s", p.ID, p.Pod)
			}
		}
	}

	// 3. lab-w1's InternalIP moves to a new address (kubelet and kube-proxy
	// restart on it); restored at the end, or on failure.
	oldIP := nodeInternalIP(t, "lab-w1")
	if oldIP != topo.ip["lab-w1"] {
		t.Fatalf("lab-w1 is at %s, not its topology address %s: a previous run left it readdressed", oldIP, topo.ip["lab-w1"])
	}
	network := networkOf(t, "lab-w1")
	newIP := strings.TrimSpace(lab(t, "node-readdress", "lab-w1"))
	readdressed, proxyStopped := true, false
	defer func() {
		if proxyStopped {
			lab(t, "proxy-start", "lab-w1")
		}
		if readdressed {
			lab(t, "node-readdress", "lab-w1", "--restore")
		}
		if proxyStopped || readdressed {
			eventually(t, "seed healthy again after restoring lab-w1", 60*time.Second, func() error {
				r, _, code := svccheck(t, "-n", "default", "--http", "hostname", "hostname-nodeport")
				return healthySeed(r, code)
			})
		}
	}()
	if got := nodeInternalIP(t, "lab-w1"); got != newIP || newIP == oldIP {
		t.Fatalf("lab-w1's InternalIP is %s after node-readdress to %s (was %s)", got, newIP, oldIP)
	}
	now := networkOf(t, "lab-w1")
	if strings.Contains(now, " "+oldIP+"/") || !strings.Contains(now, " "+newIP+"/") || strings.Count(now, "via "+newIP) != 2 {
		t.Fatalf("lab-w1 did not move from %s to %s:\n%s", oldIP, newIP, now)
	}
	t.Logf("lab-w1's InternalIP moved from %s to %s", oldIP, newIP)
	eventually(t, "seed healthy at lab-w1's new address", 60*time.Second, func() error {
		r, _, code := svccheck(t, args...)
		return healthySeedFromAll(r, code)
	})
	r, _, code = svccheck(t, append(args, "--baseline", base, "--output-file", afterXML)...)
	if err := matchedBaseline(r, code, baseIDs); err != nil {
		t.Fatalf("after the rollout and the address change: %v", err)
	}
	w1 := 0
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if strings.HasPrefix(p.Target, oldIP+":") {
				t.Errorf("%s still probes lab-w1's old address %s", p.ID, p.Target)
			}
			if p.Via == "nodePort" && p.Node == "lab-w1" {
				w1++
				if p.Target != newIP+":30080" || !p.Pass {
					t.Errorf("%s: target %s pass %v, want %s:30080 passing", p.ID, p.Target, p.Pass, newIP)
				}
			}
		}
	}
	if w1 != 2 { // from outside and from the agent pod
		t.Errorf("%d NodePort probes of lab-w1, want 2", w1)
	}
	x, err := os.ReadFile(afterXML)
	if err != nil {
		t.Fatal(err)
	}
	afterCases, afterFailed := junitCases(t, x)
	if !slices.Equal(afterCases, baseCases) || len(afterFailed) != 0 {
		t.Errorf("JUnit test names changed across the rollout and the address change (failed: %v):\n now  %v\n then %v",
			afterFailed, afterCases, baseCases)
	}

	// 4. A real break: lab-w1's kube-proxy stops (its rules removed), at the
	// new address. The regressions are lab-w1's NodePort, from outside and
	// from the agent pod, named by node.
	lab(t, "proxy-stop", "lab-w1")
	proxyStopped = true
	r, _, code = svccheck(t, append(args, "--baseline", base, "--output-file", brokenXML)...)
	want := []string{"default/hostname-nodeport/http/local/nodePort/lab-w1/InternalIP", "default/hostname-nodeport/http/pod/nodePort/lab-w1/InternalIP"}
	if r == nil || r.Baseline == nil {
		t.Fatalf("broken lab-w1: exit %d, no baseline comparison", code)
	}
	got := append([]string(nil), r.Baseline.Regressions...)
	sort.Strings(got)
	if code != 1 || !slices.Equal(got, want) {
		t.Errorf("broken lab-w1: exit %d, regressions %v, want 1 and %v", code, got, want)
	}
	if b := r.Baseline; len(b.Appeared)+len(b.Vanished) != 0 {
		t.Errorf("broken lab-w1: appeared %v vanished %v", b.Appeared, b.Vanished)
	}
	if x, err = os.ReadFile(brokenXML); err != nil {
		t.Fatal(err)
	}
	brokenCases, brokenFailed := junitCases(t, x)
	// A finding about no Service (the "cluster" suite) may name the broken
	// node; the Services' test names are what must not change.
	brokenCases = slices.DeleteFunc(brokenCases, func(c string) bool { return strings.HasPrefix(c, "cluster: ") })
	wantFailed := []string{"default/hostname-nodeport: port http nodePort lab-w1/InternalIP from local",
		"default/hostname-nodeport: port http nodePort lab-w1/InternalIP from pod", "default/hostname-nodeport: verdict"}
	if !slices.Equal(brokenFailed, wantFailed) || !slices.Equal(brokenCases, baseCases) {
		t.Errorf("broken lab-w1: JUnit failures %v, want %v; names equal to the baseline's: %v", brokenFailed, wantFailed, slices.Equal(brokenCases, baseCases))
	}
	for _, s := range append(got, brokenFailed...) {
		if strings.Contains(s, newIP) || strings.Contains(s, oldIP) || ipv4Re.MatchString(s) {
			t.Errorf("regression %q is named by an address", s)
		}
	}
	t.Logf("broken lab-w1: exit %d, regressions %v", code, got)

	lab(t, "proxy-start", "lab-w1")
	proxyStopped = false
	lab(t, "node-readdress", "lab-w1", "--restore")
	readdressed = false
	if got := nodeInternalIP(t, "lab-w1"); got != oldIP {
		t.Errorf("lab-w1 restored to %s, want %s", got, oldIP)
	}
	if got := networkOf(t, "lab-w1"); got != network {
		t.Errorf("lab-w1's network not restored exactly:\nnow\n%s\nbefore\n%s", got, network)
	}
	eventually(t, "seed healthy again at lab-w1's topology address", 60*time.Second, func() error {
		r, _, code := svccheck(t, args...)
		return healthySeedFromAll(r, code)
	})
	r, _, code = svccheck(t, append(args, "--baseline", base)...)
	if err := matchedBaseline(r, code, baseIDs); err != nil {
		t.Errorf("restored: %v", err)
	}
}

// agentsIn lists the svccheck agent Jobs and pods in namespace ns ("" for
// every namespace), by the agents' labels.
func agentsIn(t *testing.T, ns string) []string {
	scope := []string{"-A"}
	if ns != "" {
		scope = []string{"-n", ns}
	}
	out := lab(t, append([]string{"kubectl", "get", "jobs,pods", "-l", "app.kubernetes.io/name=svccheck,app.kubernetes.io/component=agent",
		"-o", "name"}, scope...)...)
	return strings.Fields(out)
}

// TestCleanupRemovesLeftAgents leaves agents behind in two namespaces (one
// kept with --keep-agent in svccheck-restricted, one of a run killed with
// SIGKILL in default, both with a deadline far away), then removes them with
// cleanup -n for one namespace and cleanup -A for the rest.
func TestCleanupRemovesLeftAgents(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"cleanup", "extra"}, `unknown command "extra"`},
		{[]string{"cleanup", "--run", "nothex"}, `invalid --run "nothex"`},
		{[]string{"cleanup", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"cleanup", "-A", "--request-timeout", "bogus"}, `invalid --request-timeout "bogus"`},
	} {
		out, stderr, code := raw(t, tc.args...)
		if code != 2 || out != "" || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d stdout %q stderr %q, want 2 and %q", tc.args, code, out, stderr, tc.msg)
		}
	}
	noAgentsWithin(t, 90*time.Second) // other scenarios' agents are gone by their deadlines

	// Kept: the run ends (exit 0) and leaves its agent running.
	if r, stderr, code := svccheck(t, "-n", "default", "--from", "cluster", "--http", "--agent-namespace", "svccheck-restricted",
		"--keep-agent", "--agent-deadline", "600s", "hostname"); code != 0 || r == nil {
		t.Fatalf("--keep-agent run: exit %d: %s", code, stderr)
	}
	// Killed: the plugin dies with SIGKILL while its agent probes.
	defer podFirewall(t)()
	cmd := startLongRun(t, "--agent-deadline", "600s")
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	restricted, def := agentsIn(t, "svccheck-restricted"), agentsIn(t, "default")
	if len(restricted) == 0 || len(def) == 0 {
		t.Fatalf("agents left: %v in svccheck-restricted, %v in default: want both", restricted, def)
	}
	t.Logf("left behind: %v, %v", restricted, def)

	out, stderr, code := raw(t, "cleanup", "-n", "svccheck-restricted")
	if code != 0 || !strings.HasPrefix(out, "deleted 1 svccheck agent(s) in namespace \"svccheck-restricted\"") {
		t.Errorf("cleanup -n svccheck-restricted: exit %d stdout %q stderr %q", code, out, stderr)
	}
	eventually(t, "svccheck-restricted's agent gone", 30*time.Second, func() error {
		if left := agentsIn(t, "svccheck-restricted"); len(left) != 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})
	if left := agentsIn(t, "default"); len(left) == 0 {
		t.Errorf("cleanup -n svccheck-restricted removed default's agent too")
	}

	out, stderr, code = raw(t, "cleanup", "-A")
	if code != 0 || !strings.HasPrefix(out, "deleted 1 svccheck agent(s) in all namespaces") {
		t.Errorf("cleanup -A: exit %d stdout %q stderr %q", code, out, stderr)
	}
	start := time.Now()
	noAgentsWithin(t, 30*time.Second)
	t.Logf("cleanup -A: every agent object gone %s after it returned", time.Since(start).Round(100*time.Millisecond))
	if out, stderr, code = raw(t, "cleanup", "-A"); code != 0 || !strings.HasPrefix(out, "deleted 0 svccheck agent(s) in all namespaces") {
		t.Errorf("cleanup -A with nothing left: exit %d stdout %q stderr %q", code, out, stderr)
	}
}
