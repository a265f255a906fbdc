package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

var nodePortsRefused = failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Refused)

func withoutEndpoints(inv *probe.Inventory) { inv.Services[0].Endpoints = nil }

func TestNamedPortMismatch(t *testing.T) {
	typo := func(inv *probe.Inventory) {
		withPods(inv)
		withoutEndpoints(inv)
		inv.Services[0].Ports[0].TargetPort = "htp"
	}
	testRule(t, namedPortMismatch{}, []ruleCase{
		{name: "named targetPort no pod declares", from: local, mutate: typo, outcome: nodePortsRefused,
			codes: "error:portMismatch", msgs: []string{`no endpoints for the port: targetPort "htp" of port http is not a port name of any selected pod (they declare http/80)`},
			cites: everyFailed, stop: true},
		{name: "pods declare no ports at all", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) {
				typo(inv)
				for i := range inv.Pods {
					inv.Pods[i].Ports = nil
				}
			},
			codes: "error:portMismatch", msgs: []string{"(they declare no ports)"}, cites: everyFailed, stop: true},
		{name: "named targetPort declared", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) { withPods(inv); inv.Services[0].Ports[0].TargetPort = "http" }},
		{name: "numeric targetPort is not this rule's", from: local, mutate: withUnlisted, outcome: nodePortsRefused},
		{name: "no pod selected: left to noReadyEndpoints", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) { typo(inv); inv.Services[0].Selector = map[string]string{"app": "nothing"} }},
	})
}

func TestNoReadyEndpoints(t *testing.T) {
	notReady := func(inv *probe.Inventory) {
		withPods(inv)
		for i := range inv.Services[0].Endpoints {
			inv.Services[0].Endpoints[i].Ready = false
		}
		inv.Pods[0].Ready, inv.Pods[0].NotReady, inv.Pods[0].ReadyMessage = false, []string{"web"}, "containers with unready status: [web]"
		inv.Pods[1].Ready, inv.Pods[1].Phase = false, "Pending"
	}
	testRule(t, noReadyEndpoints{}, []ruleCase{
		{name: "no selector, no endpoints", from: local, mutate: withoutEndpoints, outcome: nodePortsRefused,
			codes: "error:noEndpoints", msgs: []string{"no ready endpoints: the Service has no selector and nobody manages its EndpointSlices"},
			cites: everyFailed, stop: true},
		{name: "selector matches no pod, closest named", from: allFroms, outcome: failing(forwardedReach, probe.Refused),
			mutate: func(inv *probe.Inventory) {
				withPods(inv)
				withoutEndpoints(inv)
				inv.Services[0].Selector = map[string]string{"app": "webb"}
				inv.Pods = append(inv.Pods, probe.Pod{Namespace: "other", Name: "webb-0", Labels: map[string]string{"app": "webb"}})
			},
			codes: "error:noEndpoints", msgs: []string{"selector app=webb matches no pod in namespace default; closest: web-a (app=web, not webb), web-b (app=web, not webb)"},
			cites: everyFailed, stop: true},
		{name: "selector matches no pod, none close", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) {
				withPods(inv)
				withoutEndpoints(inv)
				inv.Services[0].Selector = map[string]string{"role": "db"}
			},
			codes: "error:noEndpoints", msgs: []string{"selector role=db matches no pod in namespace default"}, cites: everyFailed, stop: true},
		{name: "pods selected, none ready", from: allFroms, mutate: notReady, outcome: failing(forwardedReach, probe.Refused),
			codes: "error:endpointNotReady", pod: "web-a",
			msgs:  []string{"selector app=web matches 2 pod(s), none ready: web-a (container web not ready: containers with unready status: [web]), web-b (Pending)"},
			cites: everyFailed, stop: true},
		{name: "only terminating endpoints", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) {
				for i := range inv.Services[0].Endpoints {
					inv.Services[0].Endpoints[i].Ready, inv.Services[0].Endpoints[i].Terminating = false, true
				}
			},
			codes: "error:noEndpoints", cites: everyFailed, stop: true},
		{name: "only terminating endpoints, still serving and answering: kube-proxy's fallback, not stale forwarding", from: local,
			outcome: nodePortsAnsweredBy("web-b"),
			mutate:  draining,
			codes:   "error:terminatingFallback", cites: func(p *probe.Probe, r *probe.Result) bool { return p.Via == probe.ViaNodePort }, stop: true,
			msgs: []string{"no ready endpoints ("}, also: []string{"); NodePort 30080 answered through web-a, web-b, terminating but still serving: kube-proxy falls back"}},
		{name: "terminating pods are said to be", from: local, outcome: nodePortsRefused,
			mutate: func(inv *probe.Inventory) {
				withPods(inv)
				ep := &inv.Services[0].Endpoints[0]
				ep.Ready, ep.Terminating = false, true
				inv.Services[0].Endpoints[1].Ready = false
			},
			codes: "error:endpointNotReady", pod: "web-a", cites: everyFailed, stop: true,
			msgs: []string{"none ready: web-a (terminating), web-b"}},
		{name: "terminating endpoints, yet a pod that is not one of them answered: stale forwarding", from: local,
			outcome: nodePortsAnsweredBy("web-old"),
			mutate:  draining,
			codes:   "error:staleForwarding", cites: func(p *probe.Probe, r *probe.Result) bool { return p.Via == probe.ViaNodePort }, stop: true},
		{name: "no endpoints, yet a NodePort answers: stale forwarding", from: local, outcome: failing(onNode(probe.ViaNodePort, "worker1"), probe.Refused),
			mutate: func(inv *probe.Inventory) {
				withPods(inv)
				withoutEndpoints(inv)
				inv.Services[0].Selector = map[string]string{"app": "webb"}
			},
			codes: "error:staleForwarding", cites: func(p *probe.Probe, r *probe.Result) bool { return p.Via == probe.ViaNodePort }, stop: true,
			msgs: []string{"no ready endpoints (selector app=webb matches no pod in namespace default; closest: web-a (app=web, not webb), web-b (app=web, not webb)), yet NodePort 30080 answered: forwarding has not caught up"}},
		{name: "an exposure is not the endpoints' business", from: local, mutate: withoutEndpoints,
			outcome: func(p *probe.Probe) (probe.Outcome, []string) {
				if p.Via == probe.ViaClusterIP {
					return probe.OK, nil
				}
				return nodePortsRefused(p)
			}, codes: "error:noEndpoints",
			cites: failedWhere(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }), stop: true},
		{name: "one ready endpoint", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) { inv.Services[0].Endpoints[0].Ready = false }},
	})
}

func TestEndpointsNotReady(t *testing.T) {
	testRule(t, endpointsNotReady{}, []ruleCase{
		{name: "one of two not ready", from: allFroms, outcome: healthy,
			mutate: func(inv *probe.Inventory) {
				withPods(inv)
				inv.Services[0].Endpoints[1].Ready = false
				inv.Pods[1].Ready, inv.Pods[1].NotReady, inv.Pods[1].ProbeMessage = false, []string{"web"}, "Readiness probe failed: HTTP 500"
			},
			codes: "warning:endpointNotReady", msgs: []string{"1 of 2 endpoints not ready: web-b (container web not ready: Readiness probe failed: HTTP 500)"}},
		{name: "an endpoint without a pod is named by its address", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) {
				inv.Services[0].Endpoints[1].Ready, inv.Services[0].Endpoints[1].PodName = false, ""
			},
			codes: "warning:endpointNotReady", msgs: []string{"1 of 2 endpoints not ready: 10.244.1.7"}},
		{name: "terminating endpoints do not count", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) {
				inv.Services[0].Endpoints[1].Ready, inv.Services[0].Endpoints[1].Terminating = false, true
			}},
		{name: "none ready is noReadyEndpoints'", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) {
				for i := range inv.Services[0].Endpoints {
					inv.Services[0].Endpoints[i].Ready = false
				}
			}},
		{name: "all ready", from: local, outcome: healthy},
	})
}

// draining makes every endpoint terminating and still serving.
func draining(inv *probe.Inventory) {
	for i := range inv.Services[0].Endpoints {
		ep := &inv.Services[0].Endpoints[i]
		ep.Ready, ep.Terminating, ep.Serving = false, true, true
	}
}

// nodePortsAnsweredBy: every NodePort answers from pod, the rest as healthy.
func nodePortsAnsweredBy(pod string) func(p *probe.Probe) (probe.Outcome, []string) {
	return func(p *probe.Probe) (probe.Outcome, []string) {
		if p.Via == probe.ViaNodePort {
			return probe.OK, []string{pod}
		}
		return healthy(p)
	}
}
