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
// testcase per probe plus one for the Service's verdict. A failure's message
// is the verdict and its evidence.
func JUnit(w io.Writer, r *Report) error {
	byProbe := map[string][]diagnose.Finding{}
	byService := map[string][]diagnose.Finding{}
	for _, f := range r.Findings {
		for _, id := range f.Probes {
			byProbe[id] = append(byProbe[id], f)
		}
		byService[f.Namespace+"/"+f.Service] = append(byService[f.Namespace+"/"+f.Service], f)
	}
	out := junitSuites{Name: "svccheck", Time: seconds(float64(r.Metadata.DurationMs))}
	for i := range r.Services {
		s := &r.Services[i]
		name := s.Namespace + "/" + s.Name
		suite := junitSuite{Name: name}
		var total float64
		verdict := junitCase{Name: "verdict: " + string(s.Verdict), Classname: name, Time: "0"}
		if !s.Pass {
			verdict.Failure = findingsFailure(byService[name], s.Verdict)
		}
		suite.Cases = append(suite.Cases, verdict)
		for _, p := range s.Probes {
			c := junitCase{Name: caseName(p), Classname: name, Time: seconds(p.LatencyMs)}
			total += p.LatencyMs
			switch {
			case p.Outcome == probe.NotRun:
				c.Skipped = &junitSkipped{Message: p.Detail}
			case !p.Pass:
				c.Failure = findingsFailure(byProbe[p.ID], diagnose.VerdictPathFailed)
				c.Failure.Text += fmt.Sprintf("\nexpected %s (%s), observed %s after %d attempt(s) %s", p.Expect, p.ExpectReason, p.Outcome, p.Connections, p.Detail)
			}
			suite.Cases = append(suite.Cases, c)
		}
		for _, c := range suite.Cases {
			suite.Tests++
			if c.Failure != nil {
				suite.Failures++
			}
			if c.Skipped != nil {
				suite.Skipped++
			}
		}
		suite.Time = seconds(total)
		out.Tests += suite.Tests
		out.Failures += suite.Failures
		out.Skipped += suite.Skipped
		out.Suites = append(out.Suites, suite)
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

func caseName(p ProbeRow) string {
	s := fmt.Sprintf("port %s %s", p.Port, p.Via)
	if p.Node != "" && p.Via == probe.ViaNodePort {
		s += " " + p.Node
	}
	if p.Pod != "" {
		s += " " + p.Pod
	}
	return s + fmt.Sprintf(" from %s (%s)", p.From, p.Target)
}

func seconds(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }
