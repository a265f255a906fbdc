package agentjob

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// NeverReadyCondition is the readiness gate of an agent pod that carries a
// client's labels (AgentConfig.NeverReady): nothing ever sets it.
const NeverReadyCondition = "svccheck.dev/never-ready"

// podLabels are the agent pod's labels: AgentConfig.PodLabels, and over
// them the labels that find the agent.
func (a *Agent) podLabels() map[string]string {
	l := map[string]string{}
	maps.Copy(l, a.cfg.PodLabels)
	maps.Copy(l, a.labels())
	return l
}

func (a *Agent) readinessGates() []corev1.PodReadinessGate {
	if !a.cfg.NeverReady {
		return nil
	}
	return []corev1.PodReadinessGate{{ConditionType: NeverReadyCondition}}
}

// AgentLabelKeys are the labels of an agent pod that keep svccheck's
// values whatever AgentConfig.PodLabels says: svccheck finds its pods by them.
var AgentLabelKeys = []string{LabelName, LabelComponent, LabelRun, LabelAgent}
