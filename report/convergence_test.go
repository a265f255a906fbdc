package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe/diagnose"
)

// TestConvergenceInTableAndSchema: the table lists every Service that did
// not agree at once, and a report carrying convergence is valid.
func TestConvergenceInTableAndSchema(t *testing.T) {
	r := Build(brokenInput(t, diagnose.SevError))
	if len(r.Services) < 3 {
		t.Fatalf("fixture has %d Services", len(r.Services))
	}
	changed := r.Metadata.GeneratedAt.Add(-3 * time.Hour)
	since := int64(4200)
	r.Services[0].Convergence = &Convergence{State: ConvergeConverged, WaitedMs: 3150, SinceChangeMs: &since, Reprobes: 3,
		LastChange: &changed, Probes: []string{"a", "b"}}
	r.Services[1].Convergence = &Convergence{State: ConvergeNotWaited, LastChange: &changed, Probes: []string{"c"}}
	r.Services[2].Convergence = &Convergence{State: ConvergeNotConverged, WaitedMs: 60000, Reprobes: 9, Probes: []string{"d"}}
	var buf bytes.Buffer
	if err := Table(&buf, &r, false, Options{Quiet: true}); err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return r.Services[i].Namespace + "/" + r.Services[i].Name }
	for _, want := range []string{
		"\nCONVERGENCE\n",
		"  " + name(0) + ": converged 3.2s after the first pass (2 paths re-probed, 3 re-probes); 4.2s after its last change\n",
		"  " + name(1) + ": failures not waited on: last changed 3h0m0s before the run\n",
		"  " + name(2) + ": not converged after waiting 1m0s (1 path, 9 re-probes): the failures stand\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	r.Services[0].Convergence.State = ConvergeAgreed
	buf.Reset()
	_ = Table(&buf, &r, false, Options{Quiet: true})
	section, _, _ := strings.Cut(buf.String(), "FINDINGS")
	if strings.Contains(section, name(0)+":") {
		t.Errorf("a Service that agreed at once is listed:\n%s", buf.String())
	}
	var js bytes.Buffer
	if err := JSON(&js, &r); err != nil {
		t.Fatal(err)
	}
	if err := validate(t, compileSchema(t), js.Bytes()); err != nil {
		t.Errorf("report with convergence does not match the schema: %v", err)
	}
	r.Services[1].Convergence.State = "settled"
	js.Reset()
	_ = JSON(&js, &r)
	if validate(t, compileSchema(t), js.Bytes()) == nil {
		t.Error("the schema accepts an unknown convergence state")
	}
}
