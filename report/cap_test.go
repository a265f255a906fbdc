package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

func nodeNames(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("lab-sim-%04d", i))
	}
	return out
}

func TestNamesCapped(t *testing.T) {
	if got := names(nodeNames(3)); got != "lab-sim-0000, lab-sim-0001, lab-sim-0002" {
		t.Errorf("short list: %q", got)
	}
	got := names(nodeNames(37))
	if want := "37: lab-sim-0000, lab-sim-0001, lab-sim-0002, lab-sim-0003, lab-sim-0004, … (all in JSON)"; got != want {
		t.Errorf("long list: %q", got)
	}
}

// TestTableAtScale: a NodePort of 1,000 nodes, 37 refusing and 3 not run
// because their node is unreachable, is one line of bounded width, and a
// thousand alike findings are a few lines.
func TestTableAtScale(t *testing.T) {
	s := Service{Namespace: "sim", Name: "web", Type: probe.TypeNodePort}
	for i, n := range nodeNames(1000) {
		row := ProbeRow{ID: "sim/web/http/local/nodePort/" + n, Port: "http", ServicePort: 80, Protocol: "TCP", From: probe.FromLocal,
			Via: probe.ViaNodePort, Node: n, Target: "10.253.0.1:31000", Expect: probe.Reach, Outcome: probe.OK, Pass: true}
		switch {
		case i%27 == 1:
			row.Outcome, row.Pass = probe.Refused, false
		case i >= 997:
			row.Outcome, row.Detail = probe.NotRun, "node "+n+" unreachable from here: no answer on NodePort 31000 (sim/web) within 2s (timeout)"
		}
		s.Probes = append(s.Probes, row)
	}
	r := &Report{Services: []Service{s}, Summary: Summary{Result: "fail"}}
	for i, n := range nodeNames(1000) {
		r.Findings = append(r.Findings, diagnose.Finding{Namespace: "sim", Service: fmt.Sprintf("svc-%d", i), Severity: diagnose.SevError,
			Code: diagnose.VerdictNodePathFailed, Node: "lab-sim-0001", Message: "NodePort 31000 fails on node lab-sim-0001 only (refused from outside)"})
		r.Findings = append(r.Findings, diagnose.Finding{Severity: diagnose.SevError, Code: "nodeUnreachable", Node: n, Message: "node " + n + " unreachable from here"})
	}
	l := &diagnose.List{Lead: "port http NodePort 31000 from local", Tail: " (all 1000 fail: the Service, not one node)"}
	for range 999 {
		l.Members = append(l.Members, "lab-sim-0000 (10.253.0.1:31000) refused")
	}
	l.Members = append(l.Members, "lab-sim-0999 (10.253.3.232:31000) refused")
	r.Findings = append(r.Findings, diagnose.Finding{Namespace: "sim", Service: "broken", Severity: diagnose.SevError, Code: diagnose.VerdictPathFailed,
		Message: l.Text(), List: l})
	var buf bytes.Buffer
	if err := Table(&buf, r, false, Options{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	for _, l := range lines {
		if len(l) > 700 {
			t.Errorf("line of %d characters: %.200s…", len(l), l)
		}
	}
	if len(lines) > 20 {
		t.Errorf("%d lines:\n%s", len(lines), buf.String())
	}
	out := buf.String()
	for _, want := range []string{
		"not run: node unreachable from here ×3",
		"(FAIL 37: lab-sim-0001, lab-sim-0028, lab-sim-0055, lab-sim-0082, lab-sim-0109, … (all in JSON))",
		"(and the same on 999 more Services: sim/svc-1, sim/svc-2",
		"cluster: node lab-sim-0000 unreachable from here (and the same on 999 more nodes: lab-sim-0001,",
		"port http NodePort 31000 from local: lab-sim-0000 (10.253.0.1:31000) refused; lab-sim-0000 (10.253.0.1:31000) refused; lab-sim-0000 (10.253.0.1:31000) refused; … 997 more (all in JSON) (all 1000 fail: the Service, not one node)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
