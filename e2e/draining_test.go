//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe/diagnose"
)

// TestTerminatingFallback: a Deployment scaled to 0 whose pod takes 30 s to
// stop. While it drains, its endpoint is terminating and still serving, and
// kube-proxy sends the Service's traffic to it: the NodePorts answer, and
// the verdict says that this is the fallback to a pod on its way out
// (terminatingFallback, exit 1), not forwarding that lags behind.
func TestTerminatingFallback(t *testing.T) {
	withManifest(t, "draining.yaml")
	lab(t, "kubectl", "-n", "default", "rollout", "status", "deployment/draining", "--timeout=120s")
	passesClean(t, "draining healthy", "-n", "default", "--http", "--timeout", "1s", "draining")
	names, _, _ := podsOf(t, "app=draining")
	if len(names) != 1 {
		t.Fatalf("pods %v", names)
	}
	lab(t, "kubectl", "-n", "default", "scale", "deployment/draining", "--replicas=0")
	// Judged inside the pod's 30 s preStop.
	eventually(t, "the draining pod answering as a terminating fallback", 20*time.Second, func() error {
		r, _, code := svccheck(t, "-n", "default", "--http", "--timeout", "1s", "draining")
		if r == nil {
			return fmt.Errorf("exit %d, no report", code)
		}
		got := strings.Join(verdicts(r, "draining"), ",")
		if code != 1 || got != string(diagnose.VerdictTerminatingFallback)+"@" {
			return fmt.Errorf("exit %d, verdicts %q: %v", code, got, findingsOf(r))
		}
		for _, f := range r.Findings {
			if f.Code == diagnose.VerdictTerminatingFallback && !strings.Contains(f.Message, names[0]+", terminating but still serving") {
				return fmt.Errorf("finding %q does not name %s", f.Message, names[0])
			}
		}
		return nil
	})
}
