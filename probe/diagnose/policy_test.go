package diagnose

import "testing"

func TestParseFailOn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Severity
		err  bool
	}{
		{"error", SevError, false}, {"warning", SevWarning, false}, {"never", Never, false}, {"info", "", true}, {"", "", true},
	} {
		got, err := ParseFailOn(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseFailOn(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestFails(t *testing.T) {
	for _, tc := range []struct {
		sev, failOn Severity
		want        bool
	}{
		{SevError, "", true}, {SevWarning, "", false}, {SevWarning, SevWarning, true}, {SevError, SevWarning, true},
		{SevInfo, SevWarning, false}, {SevError, Never, false},
	} {
		if got := Fails(Finding{Severity: tc.sev}, tc.failOn); got != tc.want {
			t.Errorf("Fails(%s, %q) = %v", tc.sev, tc.failOn, got)
		}
	}
}

func TestVerdict(t *testing.T) {
	f := func(sev Severity, code Code) Finding { return Finding{Severity: sev, Code: code} }
	for _, tc := range []struct {
		name string
		fs   []Finding
		want Code
	}{
		{"none", nil, VerdictHealthy},
		{"info only", []Finding{f(SevInfo, NoteProtocolNotProbed)}, VerdictHealthy},
		{"first warning", []Finding{f(SevWarning, VerdictExposed), f(SevWarning, VerdictPartialCoverage)}, VerdictExposed},
		{"first error over warnings", []Finding{f(SevWarning, VerdictExposed), f(SevError, VerdictPathFailed), f(SevError, VerdictNotSticky)}, VerdictPathFailed},
	} {
		if got := Verdict(tc.fs); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
