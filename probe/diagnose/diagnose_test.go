package diagnose

import (
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// scriptedResults builds one result per probe from an outcome function.
func scriptedResults(pl probe.Plan, outcome func(p *probe.Probe) (probe.Outcome, []string)) []probe.Result {
	rs := make([]probe.Result, len(pl.Probes))
	for i := range pl.Probes {
		p := &pl.Probes[i]
		o, seen := outcome(p)
		r := probe.Result{ID: p.ID, Outcome: o, Connections: max(len(seen), 1), Seen: seen}
		if o != probe.OK {
			r.Failures = r.Connections
		}
		if p.Expect.Status != 0 && o == probe.OK {
			r.HTTPStatus = p.Expect.Status
		}
		probe.Evaluate(p, &r)
		rs[i] = r
	}
	return rs
}

func codes(fs []Finding) string {
	var c []string
	for _, f := range fs {
		c = append(c, string(f.Severity)+":"+string(f.Code))
	}
	return strings.Join(c, ",")
}

func healthy(p *probe.Probe) (probe.Outcome, []string) {
	if p.Expect.Want == probe.NoReach {
		return probe.Timeout, nil
	}
	return probe.OK, p.Backends
}

// failing wraps healthy with a failure where broken says so.
func failing(broken func(p *probe.Probe) bool, o probe.Outcome) func(p *probe.Probe) (probe.Outcome, []string) {
	return func(p *probe.Probe) (probe.Outcome, []string) {
		if broken(p) {
			return o, nil
		}
		return healthy(p)
	}
}

func withPods(inv *probe.Inventory) {
	inv.Services[0].Selector = map[string]string{"app": "web"}
	ports := []probe.ContainerPort{{Container: "web", Name: "http", Port: 80, Protocol: "TCP"}}
	inv.Pods = []probe.Pod{
		{Namespace: "default", Name: "web-a", Labels: map[string]string{"app": "web"}, NodeName: "master", Ready: true, Ports: ports},
		{Namespace: "default", Name: "web-b", Labels: map[string]string{"app": "web"}, NodeName: "worker1", Ready: true, Ports: ports},
	}
}

func TestDiagnose(t *testing.T) {
	local := []probe.From{probe.FromLocal}
	all := []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}
	tests := []struct {
		name    string
		from    []probe.From
		mutate  func(inv *probe.Inventory)
		outcome func(p *probe.Probe) (probe.Outcome, []string)
		codes   string
		msg     string
	}{
		{"healthy", all, withPods, healthy, "", ""},
		{"one node fails from outside only", local, nil,
			failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort && p.Node == "worker1" }, probe.Refused),
			"error:nodePathFailed", "NodePort 30080 fails on node worker1 only (refused from outside; other nodes answer)"},
		{"kube-proxy down on worker1: fails from inside too", all, withPods,
			failing(func(p *probe.Probe) bool {
				return p.Via == probe.ViaNodePort && p.Node == "worker1" || p.Via == probe.ViaClusterIP && p.From == probe.FromNode("worker1")
			}, probe.Refused),
			"error:dataplaneBroken", "dataplane broken on node worker1: NodePort 30080 and ClusterIP 10.96.0.100 through worker1 fail (refused); pods answer directly from worker1"},
		{"firewall in front of worker2", all, withPods,
			failing(func(p *probe.Probe) bool {
				return p.Via == probe.ViaNodePort && p.Node == "worker2" && p.From == probe.FromLocal
			}, probe.Timeout),
			"error:blockedFromOperator", "blocked between the operator and node worker2: NodePort 30080 answers from inside the cluster but not from outside (timeout)"},
		{"every node broken", local, nil, failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Timeout),
			"error:pathFailed", "(all 3 fail: the Service, not one node)"},
		{"ClusterIP exposed", local, nil, func(p *probe.Probe) (probe.Outcome, []string) {
			if p.Via == probe.ViaClusterIP {
				return probe.OK, nil
			}
			return healthy(p)
		}, "warning:exposed", "ClusterIP 10.96.0.100:8080 answers from outside the cluster"},
		{"partial coverage", local, nil, func(p *probe.Probe) (probe.Outcome, []string) {
			if p.Via == probe.ViaNodePort && p.Node == "master" {
				return probe.OK, []string{"web-a"}
			}
			return healthy(p)
		}, "warning:partialCoverage", "master (10.10.0.10:30080) saw 1 of 2 backends in 1 connections, never web-b"},
		{"selector matches nothing: closest pods", local, func(inv *probe.Inventory) {
			withPods(inv)
			inv.Services[0].Endpoints = nil
			inv.Services[0].Selector = map[string]string{"app": "wbe", "tier": "front"}
			inv.Pods[0].Labels["tier"] = "front"
		}, failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Refused),
			"error:noEndpoints", "selector app=wbe,tier=front matches no pod in namespace default; closest: web-a (app=web, not wbe)"},
		{"named targetPort typo", local, func(inv *probe.Inventory) {
			withPods(inv)
			inv.Services[0].Endpoints = nil
			inv.Services[0].Ports[0].TargetPort = "htp"
		}, failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Refused),
			"error:portMismatch", `targetPort "htp" of port http is not a port name of any selected pod (they declare http/80)`},
		{"numeric targetPort nobody declares, from outside only", local, func(inv *probe.Inventory) {
			withPods(inv)
			inv.Services[0].Ports[0].TargetPort = "8081"
		}, failing(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort }, probe.Refused),
			"error:portMismatch", "targetPort 8081 is declared by no container of the selected pods (they declare http/80); every NodePort fails (refused)"},
		{"declared port, nothing listening", all, func(inv *probe.Inventory) {
			withPods(inv)
			for i := range inv.Services[0].Endpoints {
				inv.Services[0].Endpoints[i].Ports["http"] = 80
			}
		}, failing(func(p *probe.Probe) bool { return p.Pod == "web-b" && p.From != probe.FromLocal }, probe.Refused),
			"error:backendNotListening", "web-b does not answer on 10.244.1.7:80 (refused from pod): the application is not listening"},
		{"readiness failing everywhere", local, func(inv *probe.Inventory) {
			withPods(inv)
			for i := range inv.Services[0].Endpoints {
				inv.Services[0].Endpoints[i].Ready = false
			}
			inv.Pods[0].Ready, inv.Pods[0].NotReady, inv.Pods[0].ProbeMessage = false, []string{"web"}, "Readiness probe failed: HTTP probe failed with statuscode: 500"
		}, healthy, "error:endpointNotReady",
			"selector app=web matches 2 pod(s), none ready: web-a (container web not ready: Readiness probe failed: HTTP probe failed with statuscode: 500), web-b"},
		{"one endpoint not ready", local, func(inv *probe.Inventory) { inv.Services[0].Endpoints[1].Ready = false }, healthy,
			"warning:endpointNotReady", "1 of 2 endpoints not ready: web-b"},
		{"affinity not honoured", []probe.From{probe.FromPod}, func(inv *probe.Inventory) { inv.Services[0].SessionAffinity = "ClientIP" }, healthy,
			"error:notSticky", "reached web-a, web-b in 2 connections (sessionAffinity=ClientIP)"},
		{"ETP=Local node answers although it must drop", local, func(inv *probe.Inventory) { inv.Services[0].ExternalTrafficPolicy = probe.PolicyLocal },
			func(p *probe.Probe) (probe.Outcome, []string) {
				if p.Via == probe.ViaNodePort {
					return probe.OK, nil
				}
				return healthy(p)
			}, "error:pathFailed", "worker2 (10.10.0.12:30080) answered but must not (externalTrafficPolicy=Local and the node has no ready endpoint: it must drop)"},
		{"node not ready", local, func(inv *probe.Inventory) { inv.Nodes[0].Ready = false }, healthy, "warning:nodeNotReady", "node worker2 is NotReady"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := testinv.Seed()
			if tc.mutate != nil {
				tc.mutate(&inv)
			}
			pl := plan.Build(inv, plan.Options{From: tc.from, HTTP: true})
			res := scriptedResults(pl, tc.outcome)
			fs := Diagnose(inv, pl, res)
			if got := codes(fs); got != tc.codes {
				t.Fatalf("findings %s, want %s: %+v", got, tc.codes, fs)
			}
			if tc.msg != "" && !strings.Contains(fs[0].Message, tc.msg) {
				t.Errorf("message %q\ndoes not contain %q", fs[0].Message, tc.msg)
			}
			// Every failed probe is covered by a finding.
			covered := map[string]bool{}
			for _, f := range fs {
				for _, id := range f.Probes {
					covered[id] = true
				}
			}
			for i, r := range res {
				if !r.Pass && r.Outcome != probe.NotRun && !covered[pl.Probes[i].ID] {
					t.Errorf("failed probe %s is in no finding", pl.Probes[i].ID)
				}
			}
		})
	}
}

// The agent pod ran on worker1, whose kube-proxy is down: its ClusterIP
// failure and worker1's NodePort are one verdict about worker1.
func TestDiagnosePodAgentNode(t *testing.T) {
	inv := testinv.Seed()
	withPods(&inv)
	pl := plan.Build(inv, plan.Options{From: []probe.From{probe.FromLocal, probe.FromPod}, HTTP: true})
	pl.AgentNodes = map[probe.From]string{probe.FromPod: "worker1"}
	res := scriptedResults(pl, failing(func(p *probe.Probe) bool {
		return p.Via == probe.ViaNodePort && p.Node == "worker1" || p.Via == probe.ViaClusterIP && p.From == probe.FromPod
	}, probe.Refused))
	fs := Diagnose(inv, pl, res)
	if got := codes(fs); got != "error:dataplaneBroken" || fs[0].Node != "worker1" {
		t.Fatalf("findings %s: %+v", got, fs)
	}
	if !strings.Contains(fs[0].Message, "NodePort 30080 and ClusterIP 10.96.0.100 through worker1 fail (refused); pods answer directly from worker1") {
		t.Errorf("message %q", fs[0].Message)
	}
}
