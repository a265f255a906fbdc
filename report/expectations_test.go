package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

// TestPolicyAndExceptionRows: probes whose expectation NetworkPolicy or a
// declared exception set say so in the tables and the JSON, which the
// schema accepts.
func TestPolicyAndExceptionRows(t *testing.T) {
	r := Build(brokenInput(t, diagnose.SevError))
	rows := r.Services[0].Probes
	if len(rows) < 2 {
		t.Fatalf("fixture has %d probes", len(rows))
	}
	rows[0].Expect, rows[0].Policies = probe.NoReach, []string{"default/default-deny"}
	rows[1].Exception = "routablePods"
	if got := expectText(rows[0]); got != "noReach (policy)" {
		t.Errorf("policy row: %q", got)
	}
	if got := expectText(rows[1]); got != string(rows[1].Expect)+" (exception)" {
		t.Errorf("exception row: %q", got)
	}
	var wide bytes.Buffer
	if err := Table(&wide, &r, true, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wide.String(), "noReach (policy)") || !strings.Contains(wide.String(), " (exception)") {
		t.Errorf("wide table does not mark them:\n%s", wide.String())
	}
	var js bytes.Buffer
	if err := JSON(&js, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"exception": "routablePods"`) || !strings.Contains(js.String(), `"policies": [`) {
		t.Errorf("JSON lacks them")
	}
	if err := validate(t, compileSchema(t), js.Bytes()); err != nil {
		t.Errorf("schema: %v", err)
	}
}
