package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func TestHopFailures(t *testing.T) {
	loadBalancer := func(inv *probe.Inventory) {
		svc := &inv.Services[0]
		svc.Type, svc.LoadBalancerIngress, svc.ExternalTrafficPolicy, svc.HealthCheckNodePort = probe.TypeLoadBalancer, []string{"192.0.2.10"}, probe.PolicyLocal, 32000
	}
	testRule(t, hopFailures{}, []ruleCase{
		{name: "every node's NodePort fails: the Service", from: local, outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Timeout),
			codes: "error:pathFailed", cites: everyFailed,
			msgs: []string{"port http NodePort 30080 from local: master (10.10.0.10:30080) timeout; worker1 (10.10.0.11:30080) timeout; worker2 (10.10.0.12:30080) timeout (all 3 fail: the Service, not one node)"}},
		{name: "a member on one node names the node", from: local, outcome: failing(onNode(probe.ViaNodePort, "worker1"), probe.Refused),
			codes: "error:pathFailed", node: "worker1", cites: everyFailed,
			msgs: []string{"port http NodePort 30080 from local: worker1 (10.10.0.11:30080) refused"}},
		{name: "an agent pod's hop names its node", from: []probe.From{probe.FromPod}, agent: "worker1",
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaClusterIP }, probe.Timeout),
			codes:   "error:pathFailed", cites: everyFailed,
			msgs: []string{"port http ClusterIP from pod (on worker1): 10.96.0.100:8080 timeout"}},
		{name: "one kind of hop per finding, in plan order", from: []probe.From{probe.FromPod},
			outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaDNS || p.Via == probe.ViaClusterIP }, probe.DNSError),
			codes:   "error:pathFailed,error:pathFailed", cites: everyFailed,
			msgs: []string{"port http ClusterIP from pod: 10.96.0.100:8080 dnsError", "port http DNS name from pod: web.default.svc.cluster.local:8080 dnsError"}},
		{name: "some connections fail", from: []probe.From{probe.FromPod}, outcome: healthy,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaClusterIP {
					r.Outcome, r.Connections, r.Failures = probe.Reset, 21, 3
				}
			},
			codes: "error:pathFailed", cites: everyFailed, msgs: []string{"port http ClusterIP from pod: 10.96.0.100:8080 3 of 21 connections reset"}},
		{name: "externalTrafficPolicy=Local node answers", from: local, outcome: answersFromOutside(probe.ViaNodePort),
			mutate: func(inv *probe.Inventory) { inv.Services[0].ExternalTrafficPolicy = probe.PolicyLocal },
			codes:  "error:pathFailed", node: "worker2", cites: everyFailed,
			msgs: []string{"worker2 (10.10.0.12:30080) answered but must not (externalTrafficPolicy=Local and the node has no ready endpoint: it must drop)"}},
		{name: "health check answers the wrong status", from: local, mutate: loadBalancer, outcome: healthy,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaHealthCheck && p.Node == "worker2" {
					r.HTTPStatus = 200
				}
			},
			codes: "error:pathFailed", node: "worker2", cites: everyFailed,
			msgs: []string{"port http healthCheckNodePort from local: worker2 (10.10.0.12:32000) HTTP 200, want 503"}},
		{name: "LoadBalancer ingress fails", from: local, mutate: loadBalancer, outcome: failing(func(p *probe.Probe) bool { return p.Via == probe.ViaLoadBalancer }, probe.NoRoute),
			codes: "error:pathFailed", cites: everyFailed, msgs: []string{"port http LoadBalancer from local: 192.0.2.10:8080 noRoute"}},
		{name: "affinity not honoured", from: []probe.From{probe.FromPod}, mutate: func(inv *probe.Inventory) { inv.Services[0].SessionAffinity = "ClientIP" },
			outcome: healthy, codes: "error:notSticky", cites: everyFailed,
			msgs: []string{"port http does not keep each client on one backend (sessionAffinity=ClientIP): ClusterIP from pod: 10.96.0.100:8080 reached web-a, web-b in 2 connections; " +
				"NodePort 30080 from pod: master (10.10.0.10:30080) reached web-a, web-b in 2 connections; NodePort 30080 from pod: worker1 (10.10.0.11:30080) reached web-a, web-b in 2 connections; " +
				"NodePort 30080 from pod: worker2 (10.10.0.12:30080) reached web-a, web-b in 2 connections; DNS name from pod: web.default.svc.cluster.local:8080 reached web-a, web-b in 2 connections"}},
		{name: "affinity honoured: one backend per path, no partial coverage", from: allFroms, mutate: func(inv *probe.Inventory) { inv.Services[0].SessionAffinity = "ClientIP" },
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				o, seen := healthy(p)
				if p.Via != probe.ViaEndpoint && len(seen) > 1 {
					seen = seen[:1]
				}
				return o, seen
			}},
		{name: "partial coverage is a warning and cites the passed probe", from: local,
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				if p.Via == probe.ViaNodePort && p.Node == "master" {
					return probe.OK, []string{"web-a"}
				}
				return healthy(p)
			},
			codes: "warning:partialCoverage", node: "master", cites: func(p *probe.Probe, _ *probe.Result) bool { return p.Via == probe.ViaNodePort && p.Node == "master" },
			msgs: []string{"port http NodePort 30080 from local: master (10.10.0.10:30080) saw 1 of 2 backends in 1 connections, never web-b"}},
		{name: "failures explained already", from: local, outcome: nodePortsRefused, cited: func(*probe.Probe) bool { return true }},
		{name: "probes that did not run", from: local, outcome: func(*probe.Probe) (probe.Outcome, []string) { return probe.NotRun, nil }},
		{name: "healthy", from: allFroms, mutate: withPods, outcome: healthy},
	})
}
