package probe

import (
	"strings"
	"testing"
)

// results builds one result per probe: outcome by a function of the probe.
func scriptedResults(pl Plan, outcome func(p *Probe) (Outcome, []string)) []Result {
	rs := make([]Result, len(pl.Probes))
	for i := range pl.Probes {
		p := &pl.Probes[i]
		o, seen := outcome(p)
		r := Result{ID: p.ID, Outcome: o, Attempts: max(len(seen), 1), Seen: seen}
		if o != OK {
			r.Failures = r.Attempts
		}
		Evaluate(p, &r)
		rs[i] = r
	}
	return rs
}

func codes(fs []Finding) string {
	var c []string
	for _, f := range fs {
		c = append(c, string(f.Severity)+":"+f.Code)
	}
	return strings.Join(c, ",")
}

func TestDiagnose(t *testing.T) {
	healthy := func(p *Probe) (Outcome, []string) {
		if p.Expect.Want == NoReach {
			return Timeout, nil
		}
		return OK, p.Backends
	}
	tests := []struct {
		name    string
		mutate  func(inv *Inventory)
		outcome func(p *Probe) (Outcome, []string)
		codes   string
		msg     string
	}{
		{"healthy", nil, healthy, "", ""},
		{"one node broken", nil, func(p *Probe) (Outcome, []string) {
			if p.Via == ViaNodePort && p.Node == "worker1" {
				return Refused, nil
			}
			return healthy(p)
		}, "error:pathFailed", "port http NodePort 30080 from local: worker1 (10.10.0.11:30080) refused"},
		{"every node broken", nil, func(p *Probe) (Outcome, []string) {
			if p.Via == ViaNodePort {
				return Timeout, nil
			}
			return healthy(p)
		}, "error:pathFailed", "(all 3 fail: the Service, not one node)"},
		{"ClusterIP exposed", nil, func(p *Probe) (Outcome, []string) {
			if p.Via == ViaClusterIP {
				return OK, nil
			}
			return healthy(p)
		}, "error:exposed", "port http ClusterIP from local: 10.96.0.100:8080 answered from outside the cluster, but must not"},
		{"partial coverage", nil, func(p *Probe) (Outcome, []string) {
			if p.Via == ViaNodePort && p.Node == "master" {
				return OK, []string{"web-a"}
			}
			return healthy(p)
		}, "warning:partialCoverage", "master (10.10.0.10:30080) saw 1 of 2 backends in 1 connections, never web-b"},
		{"no endpoints explains the failures", func(inv *Inventory) {
			inv.Services[0].Endpoints = nil
			inv.Services[0].Selector = map[string]string{"app": "web"}
			inv.Pods = []Pod{{Namespace: "default", Name: "web-x", Labels: map[string]string{"app": "api"}}}
		}, func(p *Probe) (Outcome, []string) {
			if p.Via == ViaNodePort {
				return Refused, nil
			}
			return healthy(p)
		}, "error:noEndpoints", "no ready endpoints: selector app=web matches no pod in namespace default"},
		{"pods exist but none ready", func(inv *Inventory) {
			inv.Services[0].Selector = map[string]string{"app": "web"}
			for i := range inv.Services[0].Endpoints {
				inv.Services[0].Endpoints[i].Ready = false
			}
			inv.Pods = []Pod{{Namespace: "default", Name: "web-a", Labels: map[string]string{"app": "web"}}}
		}, healthy, "error:noEndpoints", "selector app=web matches 1 pods, none ready (web-a, web-b)"},
		{"one endpoint not ready", func(inv *Inventory) { inv.Services[0].Endpoints[1].Ready = false }, healthy,
			"warning:endpointsNotReady", "1 of 2 endpoints not ready: web-b"},
		{"node not ready", func(inv *Inventory) { inv.Nodes[0].Ready = false }, healthy, "warning:nodeNotReady", "node worker2 is NotReady"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := seedInventory()
			if tc.mutate != nil {
				tc.mutate(&inv)
			}
			pl := BuildPlan(inv, PlanOptions{From: []From{FromLocal}, HTTP: true})
			fs := Diagnose(inv, pl, scriptedResults(pl, tc.outcome))
			if got := codes(fs); got != tc.codes {
				t.Fatalf("findings %s, want %s: %+v", got, tc.codes, fs)
			}
			if tc.msg != "" && !strings.Contains(fs[0].Message, tc.msg) {
				t.Errorf("message %q does not contain %q", fs[0].Message, tc.msg)
			}
		})
	}
}
