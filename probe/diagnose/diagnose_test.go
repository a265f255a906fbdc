package diagnose

import (
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// probed are the protocols the probers speak (prober.Protocols).
var probed = []probe.Protocol{probe.ProtocolTCP, probe.ProtocolUDP}

// scriptedResults builds one result per probe from an outcome function; a
// probe the plan skips did not run.
func scriptedResults(pl probe.Plan, outcome func(p *probe.Probe) (probe.Outcome, []string)) []probe.Result {
	rs := make([]probe.Result, len(pl.Probes))
	for i := range pl.Probes {
		p := &pl.Probes[i]
		if p.Skip != "" {
			rs[i] = probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: p.Skip, Pass: true}
			continue
		}
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
		{"readiness failing everywhere", local, func(inv *probe.Inventory) {
			withPods(inv)
			for i := range inv.Services[0].Endpoints {
				inv.Services[0].Endpoints[i].Ready = false
			}
			inv.Pods[0].Ready, inv.Pods[0].NotReady, inv.Pods[0].ProbeMessage = false, []string{"web"}, "Readiness probe failed: HTTP probe failed with statuscode: 500"
		}, nodePortsRefused, "error:endpointNotReady",
			"selector app=web matches 2 pod(s), none ready: web-a (container web not ready: Readiness probe failed: HTTP probe failed with statuscode: 500), web-b"},
		{"one endpoint not ready", local, func(inv *probe.Inventory) { inv.Services[0].Endpoints[1].Ready = false }, healthy,
			"warning:endpointNotReady", "1 of 2 endpoints not ready: web-b"},
		{"affinity not honoured", []probe.From{probe.FromPod}, func(inv *probe.Inventory) { inv.Services[0].SessionAffinity = "ClientIP" }, healthy,
			"error:notSticky", "(sessionAffinity=ClientIP): ClusterIP from pod: 10.96.0.100:8080 reached web-a, web-b in 2 connections"},
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
			pl := plan.Build(inv, plan.Options{From: tc.from, HTTP: true, Protocols: probed})
			res := scriptedResults(pl, tc.outcome)
			fs := Diagnose(inv, pl, res, RunFacts{})
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
	fs := Diagnose(inv, pl, res, RunFacts{})
	if got := codes(fs); got != "error:dataplaneBroken" || fs[0].Node != "worker1" {
		t.Fatalf("findings %s: %+v", got, fs)
	}
	if !strings.Contains(fs[0].Message, "NodePort 30080 and ClusterIP 10.96.0.100 through worker1 fail (refused); pods answer directly from worker1") {
		t.Errorf("message %q", fs[0].Message)
	}
}

// A pod that refuses from everywhere: one finding, which cites the direct
// probes and the forwarded paths that failed because of it.
func TestDiagnoseBackendNotListening(t *testing.T) {
	inv := testinv.Seed()
	withPods(&inv)
	pl := plan.Build(inv, plan.Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, HTTP: true, Protocols: probed})
	res := badPod("web-b", probe.Refused).results(&pl)
	fs := Diagnose(inv, pl, res, RunFacts{})
	if got := codes(fs); got != "error:backendNotListening" || fs[0].Pod != "web-b" || fs[0].Node != "worker1" {
		t.Fatalf("findings %s: %+v", got, fs)
	}
	if want := "web-b does not answer on 10.244.1.7:80 (directly from pod, node/master, node/worker1, node/worker2 (refused); through"; !strings.Contains(fs[0].Message, want) {
		t.Errorf("message %q\ndoes not contain %q", fs[0].Message, want)
	}
	if err := checkInvariants(genCase{inv: inv, plan: pl, results: res}, fs); err != nil {
		t.Error(err)
	}
}

// Behaviours the rules once had that the report contradicted.
func TestNoLongerContradicted(t *testing.T) {
	fromPod := []probe.From{probe.FromLocal, probe.FromPod}
	for _, tc := range []struct {
		name   string
		from   []probe.From
		agent  string
		mutate func(inv *probe.Inventory)
		sim    *sim
		tweak  func(p *probe.Probe, r *probe.Result)
		codes  string
		notIn  string // a text no finding may contain
	}{
		{name: "a sticky ClusterIP reaching two pods from an agent on a known node is not sticky, not a broken node",
			from: fromPod, agent: "worker1", mutate: func(inv *probe.Inventory) { withPods(inv); inv.Services[0].SessionAffinity = "ClientIP" },
			sim: &sim{}, tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Expect.Sticky {
					r.Seen, r.Connections = []string{"web-a", "web-b"}, 5
				}
			}, codes: "error:notSticky"},
		{name: "no endpoints and a ClusterIP answering from outside: both said",
			from: []probe.From{probe.FromLocal}, mutate: func(inv *probe.Inventory) { withPods(inv); inv.Services[0].Endpoints = nil },
			sim: &sim{exposed: true}, codes: "error:endpointNotReady,warning:exposed"},
		{name: "a pod not listening does not hide another node's firewall",
			from: fromPod, agent: "master", mutate: withPods, sim: &sim{bad: map[string]probe.Outcome{"web-b": probe.Refused}, walled: setOf("worker2")},
			codes: "error:backendNotListening,error:nodePathFailed"},
		{name: "no NodePort: the shortcut for every NodePort failing does not apply",
			from: []probe.From{probe.FromNodes}, mutate: func(inv *probe.Inventory) {
				withPods(inv)
				inv.Services[0].Type, inv.Services[0].Ports[0].NodePort = probe.TypeClusterIP, 0
			}, sim: &sim{deadNodes: setOf("worker1", "worker2")}, codes: "error:dataplaneBroken,error:dataplaneBroken"},
		{name: "two ClusterIPs of one node failing are not the Service's",
			from: []probe.From{probe.FromPod}, mutate: func(inv *probe.Inventory) {
				inv.Services[0].ClusterIPs = append(inv.Services[0].ClusterIPs, "fd00::100")
			}, sim: &sim{}, tweak: func(p *probe.Probe, r *probe.Result) {
				if p.Via == probe.ViaClusterIP {
					*r = probe.Result{ID: p.ID, Outcome: probe.Refused, Connections: 1, Failures: 1}
				}
			}, codes: "error:pathFailed", notIn: "the Service, not one node"},
		{name: "a port mismatch is judged on every failed direct probe, not the first",
			from: []probe.From{probe.FromPod}, mutate: func(inv *probe.Inventory) {
				withPods(inv)
				svc := &inv.Services[0]
				svc.Ports = []probe.ServicePort{{Name: "a", Protocol: "TCP", Port: 80, TargetPort: "80"}, {Name: "b", Protocol: "TCP", Port: 81, TargetPort: "8081"}}
				for i := range svc.Endpoints {
					svc.Endpoints[i].Ports = map[string]int32{"a": 80, "b": 8081}
				}
			}, sim: &sim{}, tweak: func(p *probe.Probe, r *probe.Result) {
				switch {
				case p.Port == "b" && p.Expect.Want == probe.Reach || p.Port == "a" && p.Pod == "web-a":
					*r = probe.Result{ID: p.ID, Outcome: probe.Refused, Connections: 1, Failures: 1}
				case p.Port == "a" && forwardedReach(p):
					*r = probe.Result{ID: p.ID, Outcome: probe.Refused, Connections: 21, Failures: 10, Seen: []string{"web-b"},
						Observed: map[probe.Outcome]int{probe.OK: 11, probe.Refused: 10}}
				}
			}, codes: "error:portMismatch,error:backendNotListening"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := testinv.Seed()
			tc.mutate(&inv)
			pl := plan.Build(inv, plan.Options{From: tc.from, HTTP: true, Protocols: probed})
			if tc.agent != "" {
				pl.AgentNodes = map[probe.From]string{probe.FromPod: tc.agent}
			}
			res := tc.sim.results(&pl)
			for i := range res {
				if tc.tweak != nil {
					tc.tweak(&pl.Probes[i], &res[i])
					probe.Evaluate(&pl.Probes[i], &res[i])
				}
			}
			fs := Diagnose(inv, pl, res, RunFacts{})
			if got := codes(fs); got != tc.codes {
				t.Fatalf("findings %s, want %s:\n%s", got, tc.codes, describe(fs))
			}
			for _, f := range fs {
				if tc.notIn != "" && strings.Contains(f.Message, tc.notIn) {
					t.Errorf("%q says %q", f.Message, tc.notIn)
				}
			}
			c := genCase{inv: inv, plan: pl, results: res}
			if err := checkInvariants(c, fs); err != nil {
				t.Error(err)
			}
			if bad := Contradictions(fs, observations(c)); len(bad) > 0 {
				t.Error(strings.Join(bad, "\n"))
			}
		})
	}
}
