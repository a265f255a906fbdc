package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func TestHealthCheckMismatch(t *testing.T) {
	localLB := func(inv *probe.Inventory) {
		svc := &inv.Services[0]
		svc.Type, svc.LoadBalancerIngress, svc.ExternalTrafficPolicy, svc.HealthCheckNodePort = probe.TypeLoadBalancer, []string{"192.0.2.10"}, probe.PolicyLocal, 32000
	}
	status := func(node string, code int) func(p *probe.Probe, r *probe.Result) {
		return func(p *probe.Probe, r *probe.Result) {
			if p.Via == probe.ViaHealthCheck && p.Node == node {
				r.HTTPStatus = code
			}
		}
	}
	healthChecks := failedWhere(func(p *probe.Probe) bool { return p.Via == probe.ViaHealthCheck })
	testRule(t, healthCheckMismatch{}, []ruleCase{
		{name: "200 on a node without a ready endpoint: stale", from: local, mutate: localLB, outcome: healthy, tweak: status("worker2", 200),
			codes: "error:healthCheckMismatch", node: "worker2", cites: healthChecks,
			msgs: []string{"healthCheckNodePort 32000 on worker2 answers HTTP 200 though worker2 has no ready endpoint of the Service: kube-proxy there still counts one"},
			also: []string{"load balancers keep sending worker2 traffic that externalTrafficPolicy=Local drops"}},
		{name: "503 on a node running a ready endpoint", from: local, mutate: localLB, outcome: healthy, tweak: status("worker1", 503),
			codes: "error:healthCheckMismatch", node: "worker1", cites: healthChecks,
			msgs: []string{"healthCheckNodePort 32000 on worker1 answers HTTP 503 though worker1 runs ready endpoint web-b: kube-proxy there does not count it"},
			also: []string{"load balancers skip worker1"}},
		{name: "one finding per node", from: local, mutate: localLB, outcome: healthy,
			tweak: func(p *probe.Probe, r *probe.Result) { status("worker2", 200)(p, r); status("master", 503)(p, r) },
			codes: "error:healthCheckMismatch,error:healthCheckMismatch", node: "master", cites: healthChecks,
			msgs: []string{"on master answers HTTP 503", "on worker2 answers HTTP 200"}},
		{name: "no answer is not a status", from: local, mutate: localLB,
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaHealthCheck }, probe.Timeout)},
		{name: "explained already", from: local, mutate: localLB, outcome: healthy, tweak: status("worker2", 200),
			cited: func(*probe.Probe) bool { return true }},
		{name: "healthy", from: local, mutate: localLB, outcome: healthy},
	})
}
