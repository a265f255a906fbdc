//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/report"
)

// These scenarios turn the lab's optional add-ons on (kube-network-policies,
// MetalLB) and off again when they end, whatever happens, so the lab they
// leave is the default one.

// withPolicyEngine turns NetworkPolicy enforcement on for the test, with
// pol-shop's web and policies applied and ready.
func withPolicyEngine(t *testing.T) {
	t.Helper()
	namespaceGone(t, "pol-shop") // an earlier scenario's, deleted without waiting
	lab(t, "policy-on")
	t.Cleanup(func() {
		lab(t, "kubectl", "delete", "namespace", "pol-shop", "--ignore-not-found", "--wait=false")
		lab(t, "policy-off")
	})
	lab(t, "kubectl", "apply", "-f", "../lab/manifests/policy.yaml")
	lab(t, "kubectl", "-n", "pol-shop", "rollout", "status", "deployment/web", "--timeout=120s")
	eventually(t, "3 ready endpoints of pol-shop/web", 60*time.Second, func() error {
		out := lab(t, "kubectl", "-n", "pol-shop", "get", "endpointslices", "-l", "kubernetes.io/service-name=web",
			"-o", "jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}x{end}")
		if len(out) < 3 {
			return fmt.Errorf("%d ready", len(out))
		}
		return nil
	})
}

// namespaceGone waits until namespace ns no longer exists: a namespace still
// terminating refuses new objects.
func namespaceGone(t *testing.T, ns string) {
	t.Helper()
	eventually(t, "namespace "+ns+" gone", 120*time.Second, func() error {
		if out := strings.TrimSpace(lab(t, "kubectl", "get", "namespace", ns, "--ignore-not-found", "-o", "name")); out != "" {
			return fmt.Errorf("%s still there", out)
		}
		return nil
	})
}

// probesWhere lists "from via node" of the probes of svc that f matches.
func probesWhere(s *report.Service, f func(p report.ProbeRow) bool) []report.ProbeRow {
	var out []report.ProbeRow
	for _, p := range s.Probes {
		if f(p) {
			out = append(out, p)
		}
	}
	return out
}

func codesOf(r *report.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, string(f.Severity)+":"+string(f.Code)+"@"+f.Node)
	}
	slices.Sort(out)
	return out
}

// nodePodSubnet is node's pod subnet as lab/topology declares it.
func nodePodSubnet(t *testing.T, node string) string {
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

// TestPolicyDefaultDeny: a namespace whose policies admit nothing but its
// frontend is reported blocked by policy, as expected (exit 0), not broken;
// from the agent pod, from every node and from outside.
func TestPolicyDefaultDeny(t *testing.T) {
	withPolicyEngine(t)
	blockedOf := func(s *report.Service) []report.ProbeRow {
		return probesWhere(s, func(p report.ProbeRow) bool { return p.Expect == probe.NoReach && len(p.Policies) > 0 })
	}
	// The engine enforces a pod's policies once it has seen the pod: a pod
	// just started (or back to ready) may answer for a moment.
	var r *report.Report
	eventually(t, "every path policy blocks blocked, exit 0", 60*time.Second, func() error {
		var errOut string
		var code int
		r, errOut, code = svccheck(t, "-n", "pol-shop", "--agent-namespace", "default", "--from", "everywhere", "--http", "--timeout", "1s", "web", "web-np")
		if code != 0 || r == nil {
			return fmt.Errorf("exit %d: %s %v", code, errOut, findingsOf(r))
		}
		for _, name := range []string{"web", "web-np"} {
			for _, p := range blockedOf(service(t, r, name)) {
				if !p.Pass || p.Outcome == probe.OK {
					return fmt.Errorf("%s: expected blocked by %v, got %s", p.ID, p.Policies, p.Outcome)
				}
			}
		}
		return nil
	})
	for _, name := range []string{"web", "web-np"} {
		s := service(t, r, name)
		blocked := blockedOf(s)
		fromPod := probesWhere(s, func(p report.ProbeRow) bool { return p.From == probe.FromPod && p.Via == probe.ViaEndpoint })
		if len(fromPod) != 3 || len(blocked) < 3 {
			t.Errorf("%s: %d endpoint probes from the pod, %d blocked", name, len(fromPod), len(blocked))
		}
		for _, p := range fromPod {
			if p.Expect != probe.NoReach || p.ExpectReason != "NetworkPolicies pol-shop/allow-frontend, pol-shop/default-deny admit no ingress from svccheck's agent on port 80/TCP" {
				t.Errorf("%s: %s (%s)", p.ID, p.Expect, p.ExpectReason)
			}
		}
		if s.Verdict != "healthy" {
			t.Errorf("%s: verdict %s", name, s.Verdict)
		}
	}
	t.Logf("findings: %s", strings.Join(codesOf(r), ", "))
	for _, f := range r.Findings {
		t.Logf("  %s %s %s/%s: %s", f.Severity, f.Code, f.Namespace, f.Service, f.Message)
	}
}

// TestPolicyAsClient: the policy admits pol-shop's frontend: probing as it
// reaches web; as svccheck's own agent, web is blocked, as expected.
func TestPolicyAsClient(t *testing.T) {
	withPolicyEngine(t)
	args := []string{"-n", "pol-shop", "--from", "cluster", "--http", "--timeout", "1s", "web"}
	r, errOut, code := svccheck(t, append(args, "--as-client", "pol-shop/deployment/frontend")...)
	if code != 0 || r == nil {
		t.Fatalf("as the client: exit %d: %s", code, errOut)
	}
	s := service(t, r, "web")
	for _, p := range s.Probes {
		if p.Expect != probe.Reach || !p.Pass || !strings.Contains(p.ExpectReason, "admitted by NetworkPolicies pol-shop/allow-frontend, pol-shop/default-deny") &&
			p.Via != probe.ViaDNS {
			t.Errorf("as the client, %s: %s %s (%s)", p.ID, p.Expect, p.Outcome, p.ExpectReason)
		}
	}
	for _, f := range r.Findings {
		t.Logf("  %s %s: %s", f.Severity, f.Code, f.Message)
	}
	r, errOut, code = svccheck(t, append(args, "--agent-namespace", "default")...)
	if code != 0 || r == nil {
		t.Fatalf("as the agent: exit %d: %s", code, errOut)
	}
	for _, p := range service(t, r, "web").Probes {
		if p.Via != probe.ViaDNS && (p.Expect != probe.NoReach || p.Outcome == probe.OK) {
			t.Errorf("as the agent, %s: %s %s (%s)", p.ID, p.Expect, p.Outcome, p.ExpectReason)
		}
	}
}

// TestPolicyNotEnforced: with the engine stopped on lab-w1, the policy is
// still there but not enforced for web's pod on lab-w1: a policyNotEnforced
// warning placed on lab-w1 (exit 1 with --fail-on warning); once the engine
// is back, no finding is left.
func TestPolicyNotEnforced(t *testing.T) {
	withPolicyEngine(t)
	lab(t, "policy-stop", "lab-w1")
	args := []string{"-n", "pol-shop", "--agent-namespace", "default", "--from", "all", "--http", "--timeout", "1s", "web"}
	r, errOut, code := svccheck(t, append(args, "--fail-on", "warning")...)
	if r == nil {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []string
	for _, f := range r.Findings {
		t.Logf("  %s %s@%s: %s", f.Severity, f.Code, f.Node, f.Message)
		if f.Code == "policyNotEnforced" {
			got = append(got, f.Node)
		}
	}
	if code != 1 || strings.Join(got, ",") != "lab-w1" {
		t.Errorf("exit %d, policyNotEnforced on %v; want exit 1 and one finding on lab-w1", code, got)
	}
	lab(t, "policy-start", "lab-w1")
	eventually(t, "policy enforced again on lab-w1", 90*time.Second, func() error {
		r, _, code := svccheck(t, append(args, "--fail-on", "warning")...)
		if code != 0 || r == nil {
			return fmt.Errorf("exit %d", code)
		}
		return nil
	})
}

// TestRoutablePodsDeclared: with the pod network routed to the operator,
// pod IPs answer from outside: an exposure, until the cluster declares it
// (--expect-routable-pods), which passes --fail-on warning; a ClusterIP
// answering from outside is still an exposure.
func TestRoutablePodsDeclared(t *testing.T) {
	var routes [][]string
	for _, n := range []string{"lab-cp", "lab-w1", "lab-w2"} {
		routes = append(routes, []string{nodePodSubnet(t, n), "via", topo.ip[n]})
	}
	route := func(op string, r []string) { lab(t, append([]string{"exec", "--", "ip", "route", op}, r...)...) }
	for _, r := range routes {
		route("add", r)
		t.Cleanup(func() { route("del", r) })
	}
	args := []string{"-n", "default", "--http", "--timeout", "1s", "--fail-on", "warning", "hostname"}
	r, _, code := svccheck(t, args...)
	if code != 1 || !slices.Contains(verdicts(r, "hostname"), "exposed@") {
		t.Fatalf("undeclared routable pods: exit %d, verdicts %v", code, verdicts(r, "hostname"))
	}
	r, _, code = svccheck(t, append(args, "--expect-routable-pods")...)
	if code != 0 {
		t.Fatalf("declared routable pods: exit %d, findings %v", code, codesOf(r))
	}
	for _, p := range service(t, r, "hostname").Probes {
		if p.From == probe.FromLocal && p.Via == probe.ViaEndpoint && (p.Exception != "routablePods" || p.Expect != probe.Reach || !p.Pass) {
			t.Errorf("%s: exception %q, %s %s", p.ID, p.Exception, p.Expect, p.Outcome)
		}
	}
	for _, f := range r.Findings {
		t.Logf("  %s %s: %s", f.Severity, f.Code, f.Message)
	}
	svc := []string{topo.net["service"], "via", topo.ip["lab-cp"]}
	route("add", svc)
	t.Cleanup(func() { route("del", svc) })
	r, _, code = svccheck(t, append(args, "--expect-routable-pods")...)
	if got := verdicts(r, "hostname"); code != 1 || strings.Join(got, ",") != "exposed@" {
		t.Errorf("an exposed ClusterIP: exit %d, verdicts %v", code, got)
	}
	for _, f := range r.Findings {
		if f.Code == "exposed" && !strings.HasPrefix(f.Message, "ClusterIP") {
			t.Errorf("exposure of what? %s", f.Message)
		}
	}
}

// withMetalLB turns MetalLB on for the test, with lb's Services applied and
// given their addresses.
func withMetalLB(t *testing.T) {
	t.Helper()
	namespaceGone(t, "lb")
	lab(t, "lb-on")
	t.Cleanup(func() {
		lab(t, "kubectl", "delete", "namespace", "lb", "--ignore-not-found", "--wait=false")
		lab(t, "lb-off")
	})
	lab(t, "kubectl", "apply", "-f", "../lab/manifests/loadbalancer.yaml")
	for _, d := range []string{"lb-web", "lb-local"} {
		lab(t, "kubectl", "-n", "lb", "rollout", "status", "deployment/"+d, "--timeout=120s")
		eventually(t, d+" gets a LoadBalancer address", 60*time.Second, func() error {
			if ip := lbIP(t, d); ip == "" {
				return fmt.Errorf("no ingress yet")
			}
			return nil
		})
	}
}

func lbIP(t *testing.T, svc string) string {
	return strings.TrimSpace(lab(t, "kubectl", "-n", "lb", "get", "service", svc, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"))
}

// TestLoadBalancer: MetalLB's addresses answer from outside through every
// backend (externalTrafficPolicy=Cluster); under Local, the health check
// NodePort answers 200 on the pod's node and 503 elsewhere, and the ingress
// reaches the local pod only. A dead speaker, and a kube-proxy that lost the
// API server and still answers 200 for a node without the pod, are found.
func TestLoadBalancer(t *testing.T) {
	withMetalLB(t)
	args := []string{"-n", "lb", "--http", "--timeout", "1s"}
	var r *report.Report
	var code int
	eventually(t, "both LoadBalancers healthy", 60*time.Second, func() error {
		r, _, code = svccheck(t, args...)
		if r == nil {
			return fmt.Errorf("exit %d, no report", code)
		}
		if code != 0 {
			var found []string
			for _, f := range r.Findings {
				found = append(found, string(f.Code)+"@"+f.Node+": "+f.Message)
			}
			return fmt.Errorf("exit %d, findings %q", code, found)
		}
		// Every node's kube-proxy programs both pods of lb-web before its
		// address reaches both.
		for _, p := range probesWhere(service(t, r, "lb-web"), func(p report.ProbeRow) bool { return p.Via == probe.ViaLoadBalancer }) {
			if p.Coverage == nil || len(p.Coverage.Missing) > 0 {
				return fmt.Errorf("%s: coverage %+v", p.ID, p.Coverage)
			}
		}
		return nil
	})
	web := service(t, r, "lb-web")
	for _, p := range probesWhere(web, func(p report.ProbeRow) bool { return p.Via == probe.ViaLoadBalancer }) {
		if !p.Pass || p.Coverage == nil || len(p.Coverage.Seen) != 2 {
			t.Errorf("%s: %s coverage %+v, want both pods", p.ID, p.Outcome, p.Coverage)
		}
	}
	local := service(t, r, "lb-local")
	for _, p := range probesWhere(local, func(p report.ProbeRow) bool { return p.Via == probe.ViaHealthCheck }) {
		want := 503
		if p.Node == "lab-w2" {
			want = 200
		}
		if p.HTTPStatus != want || !p.Pass {
			t.Errorf("health check on %s: HTTP %d, want %d", p.Node, p.HTTPStatus, want)
		}
	}
	for _, p := range probesWhere(local, func(p report.ProbeRow) bool { return p.Via == probe.ViaLoadBalancer }) {
		if !p.Pass || !strings.HasPrefix(p.Backend, "lb-local-") {
			t.Errorf("%s: %s backend %q", p.ID, p.Outcome, p.Backend)
		}
	}
	t.Run("dead speaker", func(t *testing.T) { deadSpeaker(t, args) })
	t.Run("stale health check", func(t *testing.T) {
		staleHealthCheck(t, args)
	})
}

// deadSpeaker stops the speaker that announces lb-local's address (on
// lab-w2, its only pod's node): once the operator's ARP entry is gone, the
// address answers no more, though every NodePort still does.
func deadSpeaker(t *testing.T, args []string) {
	lab(t, "speaker-stop", "lab-w2")
	defer lab(t, "speaker-start", "lab-w2")
	// The operator forgets the address's owner; nobody announces it again.
	eventually(t, "lb-local's ingress undelivered, its nodes forwarding", 30*time.Second, func() error {
		lab(t, "exec", "--", "ip", "neigh", "flush", "all")
		r, _, code := svccheck(t, append(args, "lb-local")...)
		if r == nil {
			return fmt.Errorf("exit %d, no report", code)
		}
		for _, f := range r.Findings {
			t.Logf("  %s %s@%s: %s", f.Severity, f.Code, f.Node, f.Message)
		}
		if failed := failing(service(t, r, "lb-local")); code != 1 || strings.Join(failed, ",") != "loadBalancer/" {
			return fmt.Errorf("exit %d, failing %v; want the LoadBalancer ingress only", code, failed)
		}
		if got := strings.Join(verdicts(r, "lb-local"), ","); got != "loadBalancerNotDelivering@" {
			return fmt.Errorf("verdicts %q, want loadBalancerNotDelivering", got)
		}
		return nil
	})
}

// staleHealthCheck cuts lab-w2's kube-proxy from the API server and moves
// lb-local's pod to lab-w1: lab-w2's health check still answers 200 for a
// pod it no longer has.
func staleHealthCheck(t *testing.T, args []string) {
	lab(t, "proxy-isolate", "lab-w2")
	defer lab(t, "proxy-rejoin", "lab-w2")
	move := func(node string) {
		lab(t, "kubectl", "-n", "lb", "patch", "deployment", "lb-local", "--type", "merge",
			"-p", `{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"`+node+`"}}}}}`)
		lab(t, "kubectl", "-n", "lb", "rollout", "status", "deployment/lb-local", "--timeout=120s")
	}
	move("lab-w1")
	defer move("lab-w2")
	var r *report.Report
	eventually(t, "lb-local's endpoint on lab-w1 only", 60*time.Second, func() error {
		var code int
		r, _, code = svccheck(t, append(args, "lb-local")...)
		if r == nil {
			return fmt.Errorf("exit %d", code)
		}
		// MetalLB announces the address from lab-w1 once the pod is there
		// (until then the ingress fails too), and lab-w1's kube-proxy
		// answers its health check and forwards its NodePort once it has
		// synced: the state to judge is the one where every other path has
		// settled and only lab-w2's stale health check can still differ.
		moved := false
		for _, p := range service(t, r, "lb-local").Probes {
			if p.Via == probe.ViaLoadBalancer && (!p.Pass || !strings.HasPrefix(p.Backend, "lb-local-")) {
				return fmt.Errorf("%s: %s (backend %q): the ingress has not moved to lab-w1 yet", p.ID, p.Outcome, p.Backend)
			}
			if p.Via == probe.ViaHealthCheck && p.Node == "lab-w1" && p.HTTPStatus == 200 {
				moved = true
			}
		}
		if !moved {
			return fmt.Errorf("lab-w1's health check does not answer 200 yet")
		}
		for _, f := range failing(service(t, r, "lb-local")) {
			if f != string(probe.ViaHealthCheck)+"/lab-w2" {
				return fmt.Errorf("failing %v: more than lab-w2's health check has not settled", failing(service(t, r, "lb-local")))
			}
		}
		return nil
	})
	for _, f := range r.Findings {
		t.Logf("  %s %s@%s: %s", f.Severity, f.Code, f.Node, f.Message)
	}
	var stale []report.ProbeRow
	for _, p := range service(t, r, "lb-local").Probes {
		if p.Via == probe.ViaHealthCheck && !p.Pass {
			stale = append(stale, p)
		}
	}
	if len(stale) != 1 || stale[0].Node != "lab-w2" || stale[0].HTTPStatus != 200 || r.Passed() {
		t.Errorf("failing health checks %+v, want lab-w2's answering 200; passed %v", stale, r.Passed())
	}
	if got := strings.Join(verdicts(r, "lb-local"), ","); got != "healthCheckMismatch@lab-w2" {
		t.Errorf("verdicts %q, want healthCheckMismatch@lab-w2", got)
	}
}
