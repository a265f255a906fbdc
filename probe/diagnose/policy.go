package diagnose

import "fmt"

// Never, as a FailOn, lets no finding fail the run.
const Never Severity = "never"

// FailOnValues are the accepted --fail-on values, most severe first.
var FailOnValues = []Severity{SevError, SevWarning, Never}

// ParseFailOn checks a --fail-on value.
func ParseFailOn(s string) (Severity, error) {
	for _, v := range FailOnValues {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown --fail-on %q: want error, warning or never", s)
}

// Fails reports whether finding f fails a run under failOn ("" is SevError).
// Info findings never fail a run.
func Fails(f Finding, failOn Severity) bool {
	if failOn == "" {
		failOn = SevError
	}
	return failOn != Never && f.Severity != SevInfo && f.Severity.AtLeast(failOn)
}

// Verdict is a Service's one-word state: the code of its first error
// finding, else of its first warning, else VerdictHealthy. Info notes never
// make the verdict.
func Verdict(fs []Finding) Code {
	verdict, worst := VerdictHealthy, SevInfo
	for _, f := range fs {
		if f.Severity == SevInfo {
			continue
		}
		if verdict == VerdictHealthy || f.Severity == SevError && worst != SevError {
			verdict, worst = f.Code, f.Severity
		}
	}
	return verdict
}
