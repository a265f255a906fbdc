package report

import "github.com/svccheck/svccheck/probe"

// expectText is a probe's expectation as the tables show it, saying when
// NetworkPolicy or a declared exception set it: "noReach (policy)",
// "reach (exception)".
func expectText(p ProbeRow) string {
	switch {
	case p.Exception != "":
		return string(p.Expect) + " (exception)"
	case len(p.Policies) > 0 && p.Expect != probe.Reach:
		return string(p.Expect) + " (policy)"
	}
	return string(p.Expect)
}
