package diagnose

import (
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/policy"
)

// policyPlan plans the seed (with pods) from every vantage point under a
// default-deny ingress policy in its namespace, or an ipBlock one that
// leaves svccheck's own machine undecided.
func policyPlan(pol policy.Policy) (probe.Inventory, probe.Plan) {
	inv := testinv.Seed()
	withPods(&inv)
	for i, ep := range inv.Services[0].Endpoints {
		inv.Pods[i].PodIP = ep.Address
	}
	agent := policy.Clients{Agent: policy.Host{Pod: true, Namespace: "svccheck", Desc: "svccheck's agent",
		Labels: map[string]string{"app.kubernetes.io/name": "svccheck"}}}
	a := policy.NewAdjuster(&inv, &policy.Set{Policies: []policy.Policy{pol}}, agent)
	return inv, plan.Build(inv, plan.Options{From: allFroms, HTTP: true, Adjust: []func(*probe.Probe){a.Adjust}})
}

var defaultDeny = policy.Policy{Namespace: "default", Name: "default-deny", Ingress: true}

func TestNetworkPolicyRule(t *testing.T) {
	blocked := func(p *probe.Probe) bool { return blockedByPolicy(p) }
	toPod := func(pod string) func(p *probe.Probe) bool {
		return func(p *probe.Probe) bool { return blocked(p) && p.Via == probe.ViaEndpoint && p.Pod == pod }
	}
	for _, tc := range []struct {
		name     string
		answered func(p *probe.Probe) bool // blocked probes that answer
		codes    string
		node     string
		msg      string
	}{
		{"enforced", func(*probe.Probe) bool { return false }, "info:policyBlocked,info:policyUndecided", "", "blocked by NetworkPolicy, as expected"},
		{"not enforced anywhere", blocked, "warning:policyNotEnforced,info:policyUndecided", "",
			"NetworkPolicy default/default-deny is not enforced on nodes master, worker1: 22 paths it blocks answered (port http NodePort 30080 from local, port http endpoints from pod"},
		{"not enforced on worker1 only", toPod("web-b"), "warning:policyNotEnforced,info:policyBlocked,info:policyUndecided", "worker1",
			"NetworkPolicy default/default-deny is not enforced on node worker1: 3 paths it blocks answered (port http endpoints from pod, port http endpoints from node/master, port http endpoints from node/worker2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, pl := policyPlan(defaultDeny)
			res := scriptedResults(pl, func(p *probe.Probe) (probe.Outcome, []string) {
				if tc.answered(p) {
					return probe.OK, p.Backends
				}
				return healthy(p)
			})
			fs := Diagnose(inv, pl, res, RunFacts{})
			if got := codes(fs); got != tc.codes {
				t.Fatalf("codes %s, want %s: %+v", got, tc.codes, fs)
			}
			if fs[0].Node != tc.node || !strings.Contains(fs[0].Message, tc.msg) {
				t.Errorf("first finding on %q: %s", fs[0].Node, fs[0].Message)
			}
			if err := checkInvariants(genCase{inv: inv, plan: pl, results: res}, fs); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPolicyBlockedPathThatFailsOtherwise: a blocked path that is refused
// rather than answering is no sign of an unenforced policy.
func TestPolicyBlockedPathThatFailsOtherwise(t *testing.T) {
	inv, pl := policyPlan(defaultDeny)
	res := scriptedResults(pl, healthy)
	for i := range pl.Probes {
		if blockedByPolicy(&pl.Probes[i]) {
			res[i].Observed = map[probe.Outcome]int{probe.NoAnswer: 1}
			res[i].Outcome = probe.NoAnswer
			probe.Evaluate(&pl.Probes[i], &res[i])
		}
	}
	for _, f := range Diagnose(inv, pl, res, RunFacts{}) {
		if f.Code == VerdictPathFailed {
			continue
		}
		if f.Code != VerdictPolicyNotEnforced && f.Code != NotePolicyUndecided {
			t.Errorf("unexpected %s: %s", f.Code, f.Message)
		}
	}
}

// TestLocalIngress: an externalTrafficPolicy=Local LoadBalancer that reached
// one node's pod is noted, not partial coverage.
func TestLocalIngress(t *testing.T) {
	inv := testinv.Seed()
	withPods(&inv)
	svc := &inv.Services[0]
	svc.Type, svc.LoadBalancerIngress, svc.ExternalTrafficPolicy, svc.HealthCheckNodePort = probe.TypeLoadBalancer, []string{"192.0.2.10"}, probe.PolicyLocal, 32000
	pl := plan.Build(inv, plan.Options{From: local, HTTP: true})
	res := scriptedResults(pl, func(p *probe.Probe) (probe.Outcome, []string) {
		if p.Via == probe.ViaLoadBalancer {
			return probe.OK, []string{"web-b"}
		}
		return healthy(p)
	})
	fs := Diagnose(inv, pl, res, RunFacts{})
	if got := codes(fs); got != "info:localIngress" || fs[0].Node != "worker1" ||
		!strings.Contains(fs[0].Message, "LoadBalancer 192.0.2.10:8080 reached web-b only (on worker1), not web-a") {
		t.Errorf("%s: %+v", got, fs)
	}
	svc.ExternalTrafficPolicy = probe.PolicyCluster
	svc.HealthCheckNodePort = 0
	pl = plan.Build(inv, plan.Options{From: local, HTTP: true})
	res = scriptedResults(pl, func(p *probe.Probe) (probe.Outcome, []string) {
		if p.Via == probe.ViaLoadBalancer {
			return probe.OK, []string{"web-b"}
		}
		return healthy(p)
	})
	if got := codes(Diagnose(inv, pl, res, RunFacts{})); got != "warning:partialCoverage" {
		t.Errorf("externalTrafficPolicy=Cluster: %s", got)
	}
}
