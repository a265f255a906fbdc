package diagnose

import (
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// Each finding here is wrong about the report it is checked against, and
// Contradictions must say so; the right findings of the same reports pass.
func TestContradictions(t *testing.T) {
	ok := func(id string, from probe.From, via probe.Via, node, pod string, seen ...string) Observation {
		return Observation{ID: id, Namespace: "default", Service: "web", Port: "http", TargetPort: 80, From: from, Via: via, Node: node,
			Pod: pod, Want: probe.Reach, Outcome: probe.OK, Pass: true, Seen: seen}
	}
	fail := func(o Observation, out probe.Outcome) Observation {
		o.Outcome, o.Pass, o.Failures, o.Seen = out, false, 1, nil
		return o
	}
	directB := ok("direct-b", probe.FromPod, probe.ViaEndpoint, "worker1", "web-b", "web-b")
	np1 := ok("np-worker1", probe.FromLocal, probe.ViaNodePort, "worker1", "", "web-a", "web-b")
	np2 := ok("np-worker2", probe.FromLocal, probe.ViaNodePort, "worker2", "", "web-a", "web-b")
	nodeB := ok("node-direct-b", probe.FromNode("worker2"), probe.ViaEndpoint, "worker1", "web-b", "web-b")
	sticky := ok("sticky", probe.FromPod, probe.ViaClusterIP, "", "", "web-a")
	sticky.Pass = false
	exposed := fail(ok("exposed", probe.FromLocal, probe.ViaClusterIP, "", ""), probe.Timeout)
	exposed.Want, exposed.Pass = probe.NoReach, true
	finding := func(code Code, node, pod string, ids ...string) Finding {
		return Finding{Namespace: "default", Service: "web", Severity: SevError, Code: code, Node: node, Pod: pod, Probes: ids}
	}
	for _, tc := range []struct {
		name string
		f    Finding
		obs  []Observation
		want string // part of the complaint; "" when the finding holds
	}{
		{"not listening, yet it answered directly", finding(VerdictBackendNotListening, "worker1", "web-b", "node-direct-b"),
			[]Observation{directB, fail(nodeB, probe.Refused)}, "probe direct-b reached web-b"},
		{"hung, yet a NodePort reached it", finding(VerdictBackendHung, "worker1", "web-b", "direct-b"),
			[]Observation{fail(directB, probe.NoAnswer), np1}, "probe np-worker1 reached web-b"},
		{"not listening, and nothing reached it", finding(VerdictBackendNotListening, "worker1", "web-b", "direct-b"),
			[]Observation{fail(directB, probe.Refused), ok("np", probe.FromLocal, probe.ViaNodePort, "worker1", "", "web-a")}, ""},
		{"unreachable through worker2, yet reached through worker2", finding(VerdictBackendUnreachableFrom, "worker2", "web-b", "np-worker2"),
			[]Observation{fail(np2, probe.Timeout), ok("np2-pod", probe.FromPod, probe.ViaNodePort, "worker2", "", "web-b"), np1}, "reached web-b where np-worker2 failed"},
		{"unreachable from worker2 and reached nowhere", finding(VerdictBackendUnreachableFrom, "worker2", "web-b", "node-direct-b"),
			[]Observation{fail(nodeB, probe.Timeout)}, "web-b answered nowhere"},
		{"unreachable from worker2, reached elsewhere", finding(VerdictBackendUnreachableFrom, "worker2", "web-b", "node-direct-b"),
			[]Observation{fail(nodeB, probe.Timeout), directB}, ""},
		{"a node called broken whose paths all passed", finding(VerdictDataplaneBroken, "worker1", "", "np-worker1"),
			[]Observation{np1}, "none of the probes it cites failed"},
		{"a node verdict citing another node's path", finding(VerdictDataplaneBroken, "worker1", "", "np-worker2"),
			[]Observation{fail(np2, probe.Refused)}, "does not go through worker1"},
		{"a broken dataplane citing what its node agent sent elsewhere", finding(VerdictDataplaneBroken, "worker1", "", "np2-node1"),
			[]Observation{fail(ok("np2-node1", probe.FromNode("worker1"), probe.ViaNodePort, "worker2", ""), probe.Timeout)}, ""},
		{"a blocked NodePort citing another node's NodePort, sent from it", finding(VerdictNodePortBlocked, "worker1", "", "np2-node1"),
			[]Observation{fail(ok("np2-node1", probe.FromNode("worker1"), probe.ViaNodePort, "worker2", ""), probe.Timeout)}, "does not go through worker1"},
		{"a broken dataplane citing another node agent's probe", finding(VerdictDataplaneBroken, "worker1", "", "np2-node2"),
			[]Observation{fail(ok("np2-node2", probe.FromNode("worker2"), probe.ViaNodePort, "worker2", ""), probe.Timeout)}, "does not go through worker1"},
		{"blocked from the operator, yet it answered from outside", finding(VerdictBlockedFromOperator, "worker1", "", "np1-pod"),
			[]Observation{np1, fail(ok("np1-pod", probe.FromPod, probe.ViaNodePort, "worker1", ""), probe.Timeout)}, "answered from outside"},
		{"no endpoints, yet the Service answered", finding(VerdictNoEndpoints, "", "", "np-worker2"),
			[]Observation{np1, fail(np2, probe.Refused)}, "probe np-worker1 reached the Service"},
		{"an application error nobody saw", finding(VerdictApplicationError, "worker1", "web-b", "direct-b"),
			[]Observation{fail(directB, probe.Timeout)}, "no probe it cites saw an HTTP 5xx"},
		{"exposed, but silent", Finding{Namespace: "default", Service: "web", Severity: SevWarning, Code: VerdictExposed, Probes: []string{"exposed"}},
			[]Observation{exposed}, "is no answer from outside"},
		{"not sticky with one backend", finding(VerdictNotSticky, "", "", "sticky"), []Observation{sticky}, "reached several backends"},
		{"a probe the report lacks", finding(VerdictPathFailed, "", "", "gone"), []Observation{np1}, "which the report lacks"},
	} {
		got := strings.Join(Contradictions([]Finding{tc.f}, tc.obs), "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
