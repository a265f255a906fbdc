package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit writes the report as JUnit XML: one testsuite per Service, one
// testcase per probe plus one for the Service's verdict, and a "cluster"
// suite for findings about no Service and an interrupted run. Test names are
// stable across runs (port, path kind, probe key, vantage point: names, never
// IPs), so a CI system's history follows each path through rollouts. A case
// fails exactly when it fails the run: under --baseline, a regression; else a
// failed probe of a Service whose findings reach --fail-on. Other failed
// probes pass with their evidence in system-out.
func JUnit(w io.Writer, r *Report) error {
	byProbe := map[string][]diagnose.Finding{}
	byService := map[string][]diagnose.Finding{}
	for _, f := range r.Findings {
		for _, id := range f.Probes {
			byProbe[id] = append(byProbe[id], f)
		}
		byService[f.ServiceKey()] = append(byService[f.ServiceKey()], f)
	}
	regressions := map[string]bool{}
	if r.Baseline != nil {
		for _, id := range r.Baseline.Regressions {
			regressions[id] = true
		}
	}
	out := junitSuites{Name: "svccheck", Time: seconds(float64(r.Metadata.DurationMs))}
	for i := range r.Services {
		s := &r.Services[i]
		name := s.Key()
		suite := junitSuite{Name: name}
		verdict := junitCase{Name: "verdict", Classname: name, Time: "0", SystemOut: "verdict: " + string(s.Verdict)}
		if !s.Pass {
			verdict.Failure = findingsFailure(byService[name], s.Verdict)
		}
		suite.Cases = append(suite.Cases, verdict)
		var total float64
		for _, p := range s.Probes {
			total += p.LatencyMs
			counts := !s.Pass
			if r.Baseline != nil {
				counts = regressions[p.ID]
			}
			suite.Cases = append(suite.Cases, probeCase(name, p, byProbe[p.ID], counts))
		}
		out.add(suite, total)
	}
	if cluster := clusterSuite(r, byService[probe.ServiceKey("", "")]); len(cluster.Cases) > 0 { // findings about no Service
		out.add(cluster, 0)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// add totals a suite into the report.
func (out *junitSuites) add(suite junitSuite, ms float64) {
	for _, c := range suite.Cases {
		suite.Tests++
		if c.Failure != nil {
			suite.Failures++
		}
		if c.Skipped != nil {
			suite.Skipped++
		}
	}
	suite.Time = seconds(ms)
	out.Tests += suite.Tests
	out.Failures += suite.Failures
	out.Skipped += suite.Skipped
	out.Suites = append(out.Suites, suite)
}

// probeCase is one probe's testcase; a failed probe is a failure only when
// it counts against the run.
func probeCase(class string, p ProbeRow, fs []diagnose.Finding, counts bool) junitCase {
	c := junitCase{Name: caseName(p), Classname: class, Time: seconds(p.LatencyMs)}
	switch {
	case p.Outcome == probe.NotRun:
		c.Skipped = &junitSkipped{Message: p.Detail}
	case !p.Pass:
		f := findingsFailure(fs, diagnose.VerdictPathFailed)
		evidence := fmt.Sprintf("target %s: expected %s (%s), observed %s after %d connection(s)", p.Target, p.Expect, p.ExpectReason, p.Outcome, p.Connections)
		if p.Detail != "" {
			evidence += ": " + p.Detail
		}
		f.Text = strings.TrimPrefix(f.Text+"\n"+evidence, "\n")
		if counts {
			c.Failure = f
		} else {
			c.SystemOut = "not failing the run: " + f.Message + "\n" + f.Text
		}
	}
	return c
}

// clusterSuite holds findings about no Service (node NotReady, cordoned) and
// whether the run was interrupted.
func clusterSuite(r *Report, fs []diagnose.Finding) junitSuite {
	suite := junitSuite{Name: "cluster"}
	failOn := diagnose.Severity(r.Summary.FailOn)
	for _, f := range fs {
		name := string(f.Code)
		if f.Node != "" {
			name += " " + f.Node
		}
		c := junitCase{Name: name, Classname: "cluster", Time: "0", SystemOut: f.Message}
		if r.Baseline == nil && diagnose.Fails(f, failOn) {
			c.Failure = &junitFailure{Type: string(f.Code), Message: string(f.Code) + ": " + f.Message, Text: f.Message}
		}
		suite.Cases = append(suite.Cases, c)
	}
	if r.Interrupted {
		suite.Cases = append(suite.Cases, junitCase{Name: "run complete", Classname: "cluster", Time: "0",
			Failure: &junitFailure{Type: "interrupted", Message: "interrupted: partial report, probes not run are skipped"}})
	}
	return suite
}

func findingsFailure(fs []diagnose.Finding, fallback diagnose.Code) *junitFailure {
	f := &junitFailure{Type: string(fallback), Message: string(fallback)}
	var lines []string
	for _, fd := range fs {
		if fd.Severity == diagnose.SevInfo {
			continue
		}
		if len(lines) == 0 {
			f.Type, f.Message = string(fd.Code), string(fd.Code)+": "+fd.Message
		}
		lines = append(lines, strings.ToUpper(string(fd.Severity))+" "+string(fd.Code)+": "+fd.Message)
	}
	f.Text = strings.Join(lines, "\n")
	return f
}

// caseName names a probe by what survives rollouts, e.g.
// "port http nodePort lab-w1/InternalIP from local".
func caseName(p ProbeRow) string {
	return fmt.Sprintf("port %s %s %s from %s", p.Port, p.Via, p.Key, p.From)
}

func seconds(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }
