package agentjob

import (
	"strings"
	"testing"

	"github.com/svccheck/svccheck/plugin/cluster"
)

// TestAgentAsClient: an agent probing as a client carries the client's
// labels, except those svccheck finds its pods by, and never becomes ready.
func TestAgentAsClient(t *testing.T) {
	a := &Agent{run: &Ledger{ID: "0123456789"}, id: "a1", cfg: AgentConfig{Namespace: "shop", NeverReady: true,
		PodLabels: map[string]string{"app": "frontend", LabelName: "frontend"}}}
	job := a.jobSpec()
	pod := job.Spec.Template
	want := "app=frontend,app.kubernetes.io/component=agent,app.kubernetes.io/name=svccheck,svccheck.dev/agent=a1,svccheck.dev/run=0123456789"
	if got := cluster.LabelString(pod.Labels); got != want {
		t.Errorf("pod labels %s, want %s", got, want)
	}
	if got := cluster.LabelString(job.Labels); strings.Contains(got, "frontend") {
		t.Errorf("the Job carries the client's labels: %s", got)
	}
	if g := pod.Spec.ReadinessGates; len(g) != 1 || g[0].ConditionType != NeverReadyCondition {
		t.Errorf("readiness gates %+v", g)
	}
	a.cfg.NeverReady, a.cfg.PodLabels = false, nil
	if pod := a.jobSpec().Spec.Template; pod.Spec.ReadinessGates != nil || len(pod.Labels) != 4 {
		t.Errorf("a plain agent: gates %+v labels %v", pod.Spec.ReadinessGates, pod.Labels)
	}
}
