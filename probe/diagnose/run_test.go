package diagnose

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/expect"
	"github.com/svccheck/svccheck/probe/plan"
)

// TestDiagnoseRunFindings: the run's own findings come first (unreachable
// node addresses, then the deadline), the notes on expectations last, with
// their messages.
func TestDiagnoseRunFindings(t *testing.T) {
	inv := testinv.Seed()
	pl := plan.Build(inv, plan.Options{From: local, HTTP: true, Protocols: probed})
	res := scriptedResults(pl, healthy)
	pl.Probes[0].Exception = "skip[0]"
	res[1] = probe.Result{ID: pl.Probes[1].ID, Outcome: probe.NotRun, Detail: probe.ErrDeadline.Error(), Cause: probe.NotRunDeadline, Pass: true}
	facts := RunFacts{MaxTime: 90 * time.Second,
		Reach: &ReachFacts{Addrs: 3, Timeout: 2 * time.Second, Services: map[int32]string{30080: "default/web", 31000: "shop/api"},
			Down: []DownNode{{Node: "worker2", AddressType: "InternalIP", Host: "10.0.0.3", Ports: []int32{30080, 31000}, Outcome: probe.Timeout, Probes: 4}}},
		Expectations: ExpectationFacts{PoliciesUnread: "forbidden",
			Exceptions: []expect.Exception{{Name: "skip[0]", Source: "svccheck.yaml:7", What: "skip worker2"}, {Name: "internal[0]", Source: "--expect-internal", What: "x must stay internal"}}}}
	fs := Diagnose(inv, pl, res, facts)
	want := []Finding{
		{Severity: SevError, Code: VerdictNodeUnreachable, Node: "worker2", Message: "node worker2 unreachable from here: 10.0.0.3 (InternalIP) answered on no NodePort (30080 (default/web) or 31000 (shop/api) within 2s, timeout) where other nodes answer; its 4 NodePort probes were not run"},
		{Severity: SevError, Code: VerdictRunDeadline, Message: fmt.Sprintf("run deadline (--max-time 1m30s) reached: 1 of %d probes not run; the report holds what ran", len(res))},
	}
	for i, w := range want {
		if i >= len(fs) || fs[i].Code != w.Code || fs[i].Node != w.Node || fs[i].Message != w.Message || fs[i].Severity != w.Severity {
			t.Fatalf("finding %d: got %+v, want %+v", i, fs, w)
		}
	}
	notes := fs[len(fs)-3:]
	for i, w := range []string{
		"NetworkPolicies not read: forbidden; every path is expected as if no policy applied (deploy/rbac.yaml grants list networkpolicies)",
		"declared exception skip[0] (svccheck.yaml:7): skip worker2; it applied to 1 probe",
		"declared exception internal[0] (--expect-internal): x must stay internal; it matched no probe of this run",
	} {
		if notes[i].Message != w || notes[i].Severity != SevInfo {
			t.Errorf("note %d: %+v, want %q", i, notes[i], w)
		}
	}
	if len(notes[1].Probes) != 1 || notes[1].Probes[0] != pl.Probes[0].ID {
		t.Errorf("exception note cites %v", notes[1].Probes)
	}
}

// TestDiagnoseNoNodeAnswers: when every node address is down, one finding
// says so for all.
func TestDiagnoseNoNodeAnswers(t *testing.T) {
	facts := RunFacts{Reach: &ReachFacts{Addrs: 2, All: true, Timeout: time.Second, Services: map[int32]string{30080: "default/web", 31000: "shop/api"},
		Down: []DownNode{{Node: "a", Ports: []int32{30080, 31000}, Outcome: probe.NoRoute, Probes: 3}, {Node: "b", Ports: []int32{30080}, Outcome: probe.Timeout, Probes: 2}}}}
	fs := runFindings(&probe.Plan{}, nil, &facts)
	want := "no node answers from here: none of 2 node addresses answered on NodePort 30080 (default/web) or 31000 (shop/api) within 1s (noRoute); 5 NodePort probes not run: check the route and firewalls between this machine and the nodes, or probe from inside with --from cluster"
	if len(fs) != 1 || fs[0].Message != want || fs[0].Node != "" {
		t.Errorf("%+v", fs)
	}
}

// TestDiagnoseRecentChangeHint: an error a proxy catching up also produces,
// about a Service changed within recentWindow before the run, says when it
// changed, unless the run waited for convergence.
func TestDiagnoseRecentChangeHint(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hint := " (the Service or its endpoints changed 20s before this run: the proxies may still be catching up; --wait-converged waits for them)"
	for _, tc := range []struct {
		name    string
		changed time.Duration
		waited  bool
		want    bool
	}{
		{"changed 20s before", 20 * time.Second, false, true},
		{"changed 2m before", 2 * time.Minute, false, false},
		{"waited for convergence", 20 * time.Second, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := testinv.Seed()
			inv.Services[0].LastChange = start.Add(-tc.changed)
			pl := plan.Build(inv, plan.Options{From: local, HTTP: true, Protocols: probed})
			res := scriptedResults(pl, failing(onNode(probe.ViaNodePort, "worker1"), probe.Refused))
			fs := Diagnose(inv, pl, res, RunFacts{Start: start, WaitedConverged: tc.waited})
			found := false
			for _, f := range fs {
				if !Lookup(f.Code).CatchingUp || f.Severity != SevError {
					continue
				}
				found = true
				if got := strings.HasSuffix(f.Message, hint); got != tc.want {
					t.Errorf("%s: hint %v, want %v: %q", f.Code, got, tc.want, f.Message)
				}
			}
			if !found {
				t.Fatalf("no catching-up finding: %+v", fs)
			}
		})
	}
}

// TestAsClientNote: the note names the client, the labels it could not
// carry, and the Services that selected the agent pod.
func TestAsClientNote(t *testing.T) {
	inv := probe.Inventory{Services: []probe.Service{
		{Namespace: "default", Name: "hostname", Selector: map[string]string{"app": "hostname"}},
		{Namespace: "default", Name: "peers", Selector: map[string]string{"app": "hostname"}, PublishNotReady: true},
		{Namespace: "default", Name: "empty", Selector: map[string]string{"tier": ""}},
	}}
	c := &AsClientFacts{Namespace: "default", Labels: map[string]string{"app": "hostname", "app.kubernetes.io/name": "x"},
		AgentLabelKeys: []string{"app.kubernetes.io/name"}, ReadinessGate: "svccheck.dev/never-ready"}
	fs := ExpectationNotes(inv, probe.Plan{}, ExpectationFacts{AsClient: c})
	want := "the agent pod ran in namespace default as default/app=hostname,app.kubernetes.io/name=x with its pod labels app=hostname,app.kubernetes.io/name=x, " +
		"except app.kubernetes.io/name=x (svccheck finds its pods by that label; expectations use the agent's value); it never became ready (readiness gate svccheck.dev/never-ready), " +
		"so default/hostname, default/peers listed it only as a not-ready endpoint while it ran; default/peers publish not-ready addresses: their DNS names included the agent's while it ran"
	if len(fs) != 1 || fs[0].Code != NoteAsClient || fs[0].Message != want {
		t.Errorf("%+v\nwant %q", fs, want)
	}
}
