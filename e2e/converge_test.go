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

	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

// convergeManifest is a Deployment and a NodePort Service that nothing else
// uses, so each apply starts from nothing: pods to schedule and start,
// endpoints to publish, every kube-proxy to program.
const convergeManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: converge, namespace: default, labels: {app: converge}}
spec:
  replicas: 2
  selector: {matchLabels: {app: converge}}
  template:
    metadata: {labels: {app: converge}}
    spec:
      terminationGracePeriodSeconds: 1
      automountServiceAccountToken: false
      containers:
      - name: hostname
        image: svccheck.local/hostname:1
        imagePullPolicy: Never
        args: ["-ports", "80"]
        ports: [{name: http, containerPort: 80}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: converge, namespace: default}
spec:
  type: NodePort
  selector: {app: converge}
  ports: [{name: http, port: 8080, targetPort: 80, nodePort: 30099}]
`

// applyFresh deletes the converge Deployment and Service if they exist,
// waits until they are gone, and applies them anew.
func applyFresh(t *testing.T) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "converge.yaml")
	if err := os.WriteFile(f, []byte(convergeManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	lab(t, "kubectl", "delete", "--ignore-not-found", "--wait", "--timeout=60s", "-f", f)
	eventually(t, "converge pods gone", 60*time.Second, func() error {
		if out := lab(t, "kubectl", "get", "pods", "-n", "default", "-l", "app=converge", "-o", "name"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("pods left: %s", strings.TrimSpace(out))
		}
		return nil
	})
	lab(t, "kubectl", "apply", "-f", f)
	t.Cleanup(func() { lab(t, "kubectl", "delete", "--ignore-not-found", "--wait=false", "-f", f) })
}

// timed runs svccheck and returns how long it took too.
func timed(t *testing.T, args ...string) (*report.Report, string, int, time.Duration) {
	t.Helper()
	start := time.Now()
	r, stderr, code := svccheck(t, args...)
	return r, stderr, code, time.Since(start)
}

// TestConvergeNewService applies a new Deployment and NodePort Service and
// runs svccheck at once: without --wait-converged the run sees the cluster
// mid-change (logged: it may fail); with --wait-converged 60s it waits until
// the Service has converged, exits 0 and records how long that took.
func TestConvergeNewService(t *testing.T) {
	applyFresh(t)
	r, stderr, code, took := timed(t, "-n", "default", "--http", "converge")
	if r == nil {
		t.Fatalf("no report (exit %d): %s", code, stderr)
	}
	t.Logf("without --wait-converged, run at once after apply: exit %d in %s, %d ready endpoints, failing %v, verdicts %v",
		code, took.Round(time.Millisecond), r.Inventory.ReadyEndpoints, failing(service(t, r, "converge")), findingCodes(r, "converge"))

	applyFresh(t)
	r, stderr, code, took = timed(t, "-n", "default", "--http", "--wait-converged", "60s", "converge")
	if r == nil {
		t.Fatalf("no report (exit %d): %s", code, stderr)
	}
	s := service(t, r, "converge")
	c := s.Convergence
	if c == nil {
		t.Fatalf("no convergence recorded")
	}
	since := "-"
	if c.SinceChangeMs != nil {
		since = (time.Duration(*c.SinceChangeMs) * time.Millisecond).String()
	}
	t.Logf("with --wait-converged 60s: exit %d in %s; convergence %s: waited %dms after the first pass, %s after the last change, %d re-probe passes, first disagreeing %v",
		code, took.Round(time.Millisecond), c.State, c.WaitedMs, since, c.Reprobes, c.Probes)
	if code != 0 {
		t.Fatalf("exit %d, want 0: failing %v, findings %v", code, failing(s), findingCodes(r, "converge"))
	}
	if c.State != report.ConvergeConverged && c.State != report.ConvergeAgreed {
		t.Errorf("convergence state %s", c.State)
	}
	if r.Inventory.ReadyEndpoints < 2 || s.Endpoints.Ready != 2 {
		t.Errorf("report shows %d ready endpoints of converge, want the 2 it converged to", s.Endpoints.Ready)
	}
	if took > 65*time.Second {
		t.Errorf("took %s, more than the 60s bound", took)
	}
}

// TestConvergeRealBreakFails: with kube-proxy stopped on lab-w1, waiting
// does not hide the break: the run still exits 1 with lab-w1's NodePort
// failing, once the wait is over, and within the bound.
func TestConvergeRealBreakFails(t *testing.T) {
	applyFresh(t)
	lab(t, "kubectl", "rollout", "status", "deployment/converge", "-n", "default", "--timeout=60s")
	lab(t, "proxy-stop", "lab-w1")
	t.Cleanup(func() { lab(t, "proxy-start", "lab-w1") })
	// Without the mode, lab-w1's failure is said to follow the Service's
	// creation moments before.
	r0, _, code0 := svccheck(t, "-n", "default", "--http", "converge")
	if code0 != 1 || !slices.ContainsFunc(findingsOf(r0), func(f diagnose.Finding) bool {
		return f.Code == diagnose.VerdictNodePathFailed && f.Node == "lab-w1" && strings.Contains(f.Message, "before this run: the proxies may still be catching up")
	}) {
		t.Errorf("without --wait-converged: exit %d, findings %v; want lab-w1's nodePathFailed saying the Service just changed", code0, findingsOf(r0))
	}
	const bound = 20 * time.Second
	r, stderr, code, took := timed(t, "-n", "default", "--http", "--wait-converged", bound.String(), "--converge-window", "10m", "converge")
	if r == nil {
		t.Fatalf("no report (exit %d): %s", code, stderr)
	}
	s := service(t, r, "converge")
	c := s.Convergence
	if c != nil {
		t.Logf("exit %d in %s; convergence %s after waiting %dms, %d re-probe passes", code, took.Round(time.Millisecond), c.State, c.WaitedMs, c.Reprobes)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if c == nil || c.State != report.ConvergeNotConverged || c.Reprobes == 0 {
		t.Errorf("convergence %+v, want notConverged after re-probing", c)
	}
	if got := strings.Join(failing(s), ","); !strings.Contains(got, "lab-w1") || strings.Contains(got, "lab-w2") || strings.Contains(got, "lab-cp") {
		t.Errorf("failing %s, want lab-w1's NodePort only", got)
	}
	// The first pass, the wait, and one last pass of at most a 2s timeout.
	if took < bound || took > bound+12*time.Second {
		t.Errorf("took %s, want the %s bound and a last pass", took, bound)
	}
}
