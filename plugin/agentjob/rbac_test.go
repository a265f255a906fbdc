package agentjob

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/svccheck/svccheck/internal/fixture"
)

// TestDeployRBACGrantsThePreflight: deploy/rbac.yaml grants every permission
// the preflight checks, the reader role discovery and the agent role (bound
// in the dedicated svccheck namespace) the agent's, and nothing cluster.cluster-wide
// for the agent.
func TestDeployRBACGrantsThePreflight(t *testing.T) {
	roles := map[string][]rbacv1.PolicyRule{}
	var ns *corev1.Namespace
	for _, obj := range fixture.Objects(t, "../../deploy/rbac.yaml") {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			roles[o.Name] = o.Rules
		case *corev1.Namespace:
			ns = o
		}
	}
	if ns == nil || ns.Name != "svccheck" || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Errorf("no dedicated svccheck namespace allowing the node agents: %+v", ns)
	}
	grants := func(rules []rbacv1.PolicyRule, p permission) bool {
		res := p.resource
		if p.subresource != "" {
			res += "/" + p.subresource
		}
		for _, r := range rules {
			if len(r.ResourceNames) == 0 && slices.Contains(r.APIGroups, p.group) && slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, p.verb) {
				return true
			}
		}
		return false
	}
	for _, p := range agentPermissions("shop", "svccheck") {
		role := "svccheck-reader"
		if p.namespace == "svccheck" {
			role = "svccheck-agent"
		}
		if !grants(roles[role], p) {
			t.Errorf("%s does not grant %s", role, p)
		}
		if role == "svccheck-agent" && p.verb != "list" && grants(roles["svccheck-reader"], p) {
			t.Errorf("svccheck-reader grants %s cluster.cluster-wide", p)
		}
	}
}
