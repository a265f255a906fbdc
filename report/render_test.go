package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

func render(t *testing.T, r *Report, format string, o Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderWith(&buf, r, format, o); err != nil {
		t.Fatalf("render %s: %v", format, err)
	}
	return buf.String()
}

func TestRenderGolden(t *testing.T) {
	healthy := Build(healthyInput(t))
	broken := Build(brokenInput(t, ""))
	interrupted := Build(interruptedInput(t))
	baseline := baselineApplied(t)
	tests := []struct {
		file   string
		r      *Report
		format string
		o      Options
	}{
		{"healthy.txt", &healthy, "table", Options{}},
		{"healthy-wide.txt", &healthy, "wide", Options{}},
		{"broken.txt", &broken, "table", Options{}},
		{"broken-wide.txt", &broken, "wide", Options{}},
		{"broken-quiet.txt", &broken, "table", Options{Quiet: true}},
		{"broken-color.txt", &broken, "table", Options{Color: true}},
		{"broken-wide-color.txt", &broken, "wide", Options{Color: true}},
		{"broken.json", &broken, "json", Options{}},
		{"broken.yaml", &broken, "yaml", Options{}},
		{"broken.xml", &broken, "junit", Options{}},
		{"interrupted.txt", &interrupted, "table", Options{}},
		{"interrupted.json", &interrupted, "json", Options{}},
		{"interrupted.xml", &interrupted, "junit", Options{}},
		{"baseline.txt", &baseline, "table", Options{}},
		{"baseline-quiet-color.txt", &baseline, "table", Options{Quiet: true, Color: true}},
		{"baseline.json", &baseline, "json", Options{}},
		{"baseline.yaml", &baseline, "yaml", Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			golden(t, tc.file, render(t, tc.r, tc.format, tc.o))
		})
	}
}

// tableLines splits a table rendering into its table rows (header first)
// and the lines after the table.
func tableLines(out string) (rows, rest []string) {
	lines := strings.Split(out, "\n")
	i := 0
	for i < len(lines) && lines[i] != "" {
		i++
	}
	return lines[:i], lines[i:]
}

func TestTable(t *testing.T) {
	r := Build(brokenInput(t, ""))
	out := render(t, &r, "table", Options{})
	if strings.Contains(out, "\033[") {
		t.Error("colour without Options.Color")
	}
	if !strings.HasSuffix(out, "\n"+SummaryLine(&r)+"\n") {
		t.Errorf("output does not end with the summary line:\n%s", out)
	}
	rows, rest := tableLines(out)
	if got := strings.Split(columnsRE(rows[0]), "\t"); strings.Join(got, ",") != "SERVICE,PORT,FROM,PATH,EXPECT,RESULT,BACKENDS,STATUS" {
		t.Fatalf("header %q", got)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("trailing blanks: %q", l)
		}
	}
	want := map[string]string{ // a row's PATH → RESULT, BACKENDS, STATUS
		"nodePort :30080 on 3 nodes|local":           "ok ×2, refused ×1 (FAIL worker1)|2/2 seen|FAIL",
		"pod IP 10.244.0.5:80|local":                 "ok (exposed)|1/1 seen|FAIL",
		"clusterIP 10.96.0.100:8080|pod":             "ok|1/2 seen (never web-b)|PASS",
		"nodePort :30080 on 3 nodes|pod":             "ok ×2, timeout ×1 (FAIL worker2)|2/2 seen|FAIL",
		"dns web.default.svc.cluster.local:8080|pod": "not run: no cluster DNS (no kube-system/kube-dns Service)|-|SKIP",
		"endpoint ×3|pod":                            "ok ×3|3/3 seen|PASS",
		"clusterIP 10.96.0.101:9090|pod":             "ok|-|PASS",
		"endpoint ×3|pod|dns:53/UDP":                 "not run: protocol UDP is not probed ×3|-|SKIP",
		"externalname|-":                             "not probed|-|SKIP",
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		c := strings.Split(columnsRE(row), "\t")
		if len(c) != 8 {
			t.Fatalf("row has %d columns: %q", len(c), row)
		}
		key := c[3] + "|" + c[2]
		if c[1] == "dns:53/UDP" {
			key += "|" + c[1]
		}
		got[key] = c[5] + "|" + c[6] + "|" + c[7]
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("row %s: %q, want %q", k, got[k], v)
		}
	}
	if len(rows) != 1+18 {
		t.Errorf("%d rows, want 18 (one per Service port × vantage point × path, one for the ExternalName)", len(rows)-1)
	}
	trailer := strings.Join(rest, "\n")
	for _, s := range []string{"\nFINDINGS\n  INFO    cluster: node master is cordoned", "  ERROR   default/web: blocked between the operator and node worker1", "  INFO    default/db: ExternalName"} {
		if !strings.Contains(trailer, s) {
			t.Errorf("trailer lacks %q:\n%s", s, trailer)
		}
	}
	if strings.Contains(out, "COVERAGE") {
		t.Error("the narrow table shows the coverage matrix")
	}
}

var columnGap = regexp.MustCompile(` {3,}`)

// columnsRE turns the column gaps of a table row (three or more blanks)
// into tabs.
func columnsRE(row string) string { return columnGap.ReplaceAllString(row, "\t") }

func TestTableWide(t *testing.T) {
	r := Build(brokenInput(t, ""))
	out := render(t, &r, "wide", Options{})
	rows, rest := tableLines(out)
	if got := strings.Split(columnsRE(rows[0]), "\t"); strings.Join(got, ",") != "SERVICE,PORT,FROM,PATH,NODE,TARGET,EXPECT,OUTCOME,LATENCY,BACKENDS,STATUS" {
		t.Fatalf("header %q", got)
	}
	if len(rows) != 1+r.Summary.Probes+1 {
		t.Errorf("%d rows, want one per probe (%d) and one for the ExternalName", len(rows)-1, r.Summary.Probes)
	}
	want := map[string]string{ // TARGET|FROM → OUTCOME|LATENCY|BACKENDS|STATUS
		"10.10.0.11:30080|local":                 "refused|-|-|FAIL",
		"10.10.0.10:30080|local":                 "ok (HTTP 200)|1.5ms|2/2 seen|PASS",
		"10.244.0.5:80|local":                    "ok (exposed) (HTTP 200)|0.8ms|web-a|FAIL",
		"10.96.0.100:8080|pod":                   "ok (HTTP 200)|1.5ms|1/2 seen (never web-b)|PASS",
		"10.10.0.12:30080|pod":                   "1/3 timeout (HTTP 200)|1.5ms|2/2 seen|FAIL",
		"web.default.svc.cluster.local:8080|pod": "not run: no cluster DNS (no kube-system/kube-dns Service)|-|-|SKIP",
		"10.244.2.4:9090|pod":                    "ok|1.5ms|api-1|PASS",
		"10.96.0.101:9090|pod":                   "ok|1.5ms|-|PASS",
		"-|-":                                    "not probed|-|-|SKIP",
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		c := strings.Split(columnsRE(row), "\t")
		if len(c) != 11 {
			t.Fatalf("row has %d columns: %q", len(c), row)
		}
		got[c[5]+"|"+c[2]] = strings.Join(c[7:], "|")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("row %s: %q, want %q", k, got[k], v)
		}
	}
	trailer := strings.Join(rest, "\n")
	matrix := "\nCOVERAGE default/web (pods: A=web-a, B=web-b)\n" +
		"  http     local          nodePort master        A B\n" +
		"  http     local          nodePort worker2       A B\n" +
		"  http     pod            clusterIP              A .\n"
	if !strings.Contains(trailer, matrix) {
		t.Errorf("wide trailer lacks the coverage matrix:\n%s", trailer)
	}
	if strings.Count(trailer, "COVERAGE") != 1 {
		t.Error("a matrix for a Service nothing attributed")
	}
	if !strings.Contains(trailer, "\nFINDINGS\n") || !strings.HasSuffix(out, SummaryLine(&r)+"\n") {
		t.Errorf("wide trailer lacks findings or summary:\n%s", trailer)
	}
}

func TestTableQuiet(t *testing.T) {
	r := Build(brokenInput(t, ""))
	for _, format := range []string{"table", "wide"} {
		out := render(t, &r, format, Options{Quiet: true})
		if strings.Contains(out, "SERVICE") || strings.Contains(out, "COVERAGE") || strings.Contains(out, "http:8080/TCP") {
			t.Errorf("-q %s prints more than findings and summary:\n%s", format, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if lines[0] != "FINDINGS" || len(lines) != 1+len(r.Findings)+2 || lines[len(lines)-1] != SummaryLine(&r) {
			t.Errorf("-q %s:\n%s", format, out)
		}
	}
	healthy := Build(healthyInput(t))
	if out := render(t, &healthy, "table", Options{Quiet: true}); out != "\n"+SummaryLine(&healthy)+"\n" {
		t.Errorf("-q without findings = %q, want the summary line only", out)
	}
}

var ansi = regexp.MustCompile("\033\\[(\\d+)m([A-Z]+)\033\\[0m")

func TestTableColor(t *testing.T) {
	r := Build(brokenInput(t, ""))
	plain := render(t, &r, "table", Options{})
	colored := render(t, &r, "table", Options{Color: true})
	if stripped := ansi.ReplaceAllString(colored, "$2"); stripped != plain {
		t.Errorf("colour changes more than the marked words:\n%s", stripped)
	}
	counts := map[string]int{}
	for _, m := range ansi.FindAllStringSubmatch(colored, -1) {
		counts[m[2]+"="+m[1]]++
	}
	rows, _ := tableLines(plain)
	statuses := map[string]int{}
	for _, row := range rows[1:] {
		c := strings.Split(columnsRE(row), "\t")
		statuses[c[len(c)-1]]++
	}
	want := map[string]int{
		"PASS=32": statuses["PASS"], "FAIL=31": statuses["FAIL"] + 1, // + the summary line
		"SKIP=33": statuses["SKIP"], "ERROR=31": r.Summary.Errors, "WARNING=33": r.Summary.Warnings,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s coloured %d times, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("unexpected colours: %v", counts)
	}
	// The header stays plain.
	if header := strings.SplitN(colored, "\n", 2)[0]; strings.Contains(header, "\033[") {
		t.Errorf("header coloured: %q", strings.SplitN(colored, "\n", 2)[0])
	}
}

func TestColorize(t *testing.T) {
	for in, want := range map[string]string{
		"default/web   http   local   PASS":              "default/web   http   local   \033[32mPASS\033[0m",
		"default/web   http   local   SKIP":              "default/web   http   local   \033[33mSKIP\033[0m",
		"  ERROR   default/web: broken":                  "  \033[31mERROR\033[0m   default/web: broken",
		"  WARNING default/web: exposed":                 "  \033[33mWARNING\033[0m default/web: exposed",
		"  REGRESSION default/web/http/local/nodePort/a": "  \033[31mREGRESSION\033[0m default/web/http/local/nodePort/a",
		"FAIL: 1 service":                                "\033[31mFAIL\033[0m: 1 service",
		"INTERRUPTED: 1 service":                         "\033[33mINTERRUPTED\033[0m: 1 service",
		"  INFO    default/db: ExternalName":             "  INFO    default/db: ExternalName",
		"nothing to see":                                 "nothing to see",
		"PASSWORD: x":                                    "PASSWORD: x",
		"":                                               "",
	} {
		if got := colorize(in); got != want {
			t.Errorf("colorize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for name, r := range map[string]Report{"broken": Build(brokenInput(t, "")), "baseline": baselineApplied(t), "interrupted": Build(interruptedInput(t))} {
		out := render(t, &r, "json", Options{Quiet: true, Color: true}) // table options do not apply
		var back Report
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := json.MarshalIndent(&back, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if string(again)+"\n" != out {
			t.Errorf("%s: the JSON report does not survive a round trip", name)
		}
		if strings.Contains(out, "\033[") || !strings.HasPrefix(out, "{\n  \"apiVersion\": \""+APIVersion+"\",\n  \"kind\": \"Report\",") {
			t.Errorf("%s: JSON starts %q", name, out[:min(len(out), 80)])
		}
		if err := validate(t, compileSchema(t), []byte(out)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestYAMLIsTheJSON(t *testing.T) {
	r := baselineApplied(t)
	y := render(t, &r, "yaml", Options{})
	j := render(t, &r, "json", Options{})
	fromYAML, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(fromYAML, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(j), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("YAML and JSON reports differ:\n%s\n%s", ja, jb)
	}
	if !strings.HasPrefix(y, "apiVersion: "+APIVersion+"\n") || !strings.Contains(y, "\nbaseline:\n") {
		t.Errorf("YAML does not use the JSON field names:\n%s", y[:min(len(y), 200)])
	}
}

// junit mirrors the JUnit XML for reading it back.
type junit struct {
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, out string) junit {
	t.Helper()
	if !strings.HasPrefix(out, xml.Header) {
		t.Errorf("no XML header: %q", out[:min(len(out), 60)])
	}
	var j junit
	if err := xml.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJUnit(t *testing.T) {
	r := Build(brokenInput(t, ""))
	j := parseJUnit(t, render(t, &r, "junit", Options{}))
	// One case per probe plus one verdict case per Service, and a cluster
	// suite for the cordoned node's note; a failing Service's verdict case
	// fails too, the note does not.
	failingServices := 0
	for _, s := range r.Services {
		if !s.Pass {
			failingServices++
		}
	}
	if j.Tests != r.Summary.Probes+len(r.Services)+1 || j.Failures != r.Summary.Failed+failingServices || j.Skipped != r.Summary.NotRun || j.Time != "2.150" {
		t.Errorf("totals tests=%d failures=%d skipped=%d time=%s, want %d %d %d 2.150", j.Tests, j.Failures, j.Skipped, j.Time,
			r.Summary.Probes+len(r.Services)+1, r.Summary.Failed+failingServices, r.Summary.NotRun)
	}
	if len(j.Suites) != len(r.Services)+1 {
		t.Fatalf("%d suites, want one per Service and the cluster's", len(j.Suites))
	}
	if c := j.Suites[len(r.Services)]; c.Name != "cluster" || c.Tests != 1 || c.Failures != 0 || c.Cases[0].Name != "nodeUnschedulable master" {
		t.Errorf("cluster suite %+v", c)
	}
	j.Suites = j.Suites[:len(r.Services)]
	sumTests := 0
	for i, s := range j.Suites {
		svc := r.Services[i]
		sumTests += s.Tests
		if s.Name != svc.Namespace+"/"+svc.Name || s.Tests != len(s.Cases) || s.Tests != len(svc.Probes)+1 {
			t.Errorf("suite %s: %d tests, %d cases, %d probes", s.Name, s.Tests, len(s.Cases), len(svc.Probes))
		}
		v := s.Cases[0]
		if v.Name != "verdict" || v.SystemOut != "verdict: "+string(svc.Verdict) || v.Classname != s.Name || (v.Failure != nil) == svc.Pass {
			t.Errorf("suite %s: verdict case %+v for pass=%v verdict=%s", s.Name, v, svc.Pass, svc.Verdict)
		}
	}
	if sumTests+1 != j.Tests {
		t.Errorf("suite tests add up to %d, not %d", sumTests, j.Tests)
	}

	web := j.Suites[2]
	if web.Failures != 4 || web.Skipped != 1 || web.Time != "0.013" {
		t.Errorf("web suite failures=%d skipped=%d time=%s, want 4 1 0.013", web.Failures, web.Skipped, web.Time)
	}
	v := web.Cases[0].Failure
	if v.Type != string(diagnose.VerdictBlockedFromOperator) || !strings.HasPrefix(v.Message, "blockedFromOperator: blocked between the operator and node worker1") {
		t.Errorf("verdict failure %+v", v)
	}
	// Every error and warning of the Service is in the text, infos are not.
	if n := strings.Count(v.Text, "\n") + 1; n != 4 || !strings.Contains(v.Text, "WARNING partialCoverage: ") || !strings.HasPrefix(v.Text, "ERROR blockedFromOperator: ") {
		t.Errorf("verdict failure text:\n%s", v.Text)
	}
	cases := map[string]int{}
	for i, c := range web.Cases {
		cases[c.Name] = i
	}
	refused := web.Cases[cases["port http nodePort worker1/InternalIP from local"]]
	if f := refused.Failure; f == nil || f.Type != string(diagnose.VerdictBlockedFromOperator) ||
		!strings.HasSuffix(f.Text, "\ntarget 10.10.0.11:30080: expected reach (a NodePort answers on every node), observed refused after 2 connection(s): dial tcp 10.10.0.11:30080: connect: connection refused") {
		t.Errorf("refused NodePort case %+v", refused)
	}
	exposed := web.Cases[cases["port http endpoint podNetwork from local"]]
	if f := exposed.Failure; f == nil || f.Type != string(diagnose.VerdictExposed) || exposed.Time != "0.001" {
		t.Errorf("exposed pod IP case %+v", exposed)
	}
	dns := web.Cases[cases["port http dns web.default.svc.cluster.local from pod"]]
	if dns.Skipped == nil || dns.Skipped.Message != "no cluster DNS (no kube-system/kube-dns Service)" || dns.Failure != nil {
		t.Errorf("DNS case %+v, want skipped with the reason", dns)
	}
	if ok := web.Cases[cases["port http nodePort master/InternalIP from local"]]; ok.Failure != nil || ok.Skipped != nil || ok.Time != "0.002" {
		t.Errorf("passing case %+v", ok)
	}
	db := j.Suites[1]
	if db.Tests != 1 || db.Failures != 0 || db.Cases[0].SystemOut != "verdict: healthy" {
		t.Errorf("ExternalName suite %+v, want only a passing verdict case", db)
	}
}

// TestJUnitVerdictSkipsInfo: under --fail-on warning the api Service fails
// on its warning; its info note, listed first, is neither the failure's
// message nor in its text.
func TestJUnitVerdictSkipsInfo(t *testing.T) {
	r := Build(brokenInput(t, diagnose.SevWarning))
	j := parseJUnit(t, render(t, &r, "junit", Options{}))
	api := j.Suites[0]
	f := api.Cases[0].Failure
	if api.Name != "default/api" || f == nil || f.Type != string(diagnose.VerdictEndpointNotReady) ||
		!strings.HasPrefix(f.Message, "endpointNotReady: 1 of 2 endpoints not ready") || strings.Contains(f.Text, "INFO") || strings.Contains(f.Text, "\n") {
		t.Errorf("api verdict failure %+v", f)
	}
	if api.Failures != 1 || j.Failures != 4+1 {
		t.Errorf("failures: api %d, total %d", api.Failures, j.Failures)
	}
}

// TestJUnitFailureWithoutFinding: a failed probe no finding cites still
// fails, as pathFailed with its evidence.
func TestJUnitFailureWithoutFinding(t *testing.T) {
	r := Build(brokenInput(t, ""))
	r.Findings = nil
	j := parseJUnit(t, render(t, &r, "junit", Options{}))
	for _, c := range j.Suites[2].Cases {
		if c.Name == "port http nodePort worker1/InternalIP from local" {
			if f := c.Failure; f == nil || f.Type != "pathFailed" || f.Message != "pathFailed" || !strings.HasPrefix(f.Text, "target 10.10.0.11:30080: expected reach") {
				t.Errorf("failure %+v", f)
			}
			return
		}
	}
	t.Fatal("no case for worker1's NodePort")
}

func TestSummaryLine(t *testing.T) {
	one := Report{Services: make([]Service, 1), Summary: Summary{Probes: 1, Passed: 1, Errors: 1, Warnings: 1, Result: "pass"}}
	tests := []struct {
		name string
		r    func() Report
		want string
	}{
		{"pass, singular", func() Report { return one },
			"PASS: 1 service, 1 probe: 1 passed, 0 failed, 0 not run; 1 error, 1 warning"},
		{"fail, plural", func() Report { return Build(brokenInput(t, "")) },
			"FAIL: 3 services, 26 probes: 15 passed, 3 failed, 8 not run; 2 errors, 3 warnings"},
		{"interrupted", func() Report { return Build(interruptedInput(t)) },
			"INTERRUPTED: 1 service, 12 probes: 5 passed, 0 failed, 7 not run; 0 errors, 0 warnings (interrupted: partial report)"},
		{"interrupted and failing", func() Report {
			r := Build(interruptedInput(t))
			r.Summary.Result = "fail"
			return r
		}, "FAIL: 1 service, 12 probes: 5 passed, 0 failed, 7 not run; 0 errors, 0 warnings (interrupted: partial report)"},
		{"baseline", func() Report { return baselineApplied(t) },
			"FAIL: 3 services, 26 probes: 15 passed, 3 failed, 8 not run; 2 errors, 3 warnings; 2 regressions against the baseline"},
		{"baseline, one regression", func() Report {
			r := one
			r.Baseline = &BaselineDiff{Regressions: []string{"x"}}
			r.Summary.Result = "fail"
			return r
		}, "FAIL: 1 service, 1 probe: 1 passed, 0 failed, 0 not run; 1 error, 1 warning; 1 regression against the baseline"},
		{"nothing", func() Report { return Build(Input{}) },
			"PASS: 0 services, 0 probes: 0 passed, 0 failed, 0 not run; 0 errors, 0 warnings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r()
			if got := SummaryLine(&r); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBaselineTrailer(t *testing.T) {
	r := baselineApplied(t)
	out := render(t, &r, "table", Options{})
	want := "\nBASELINE svccheck-baseline.json (2026-01-01T03:04:05Z): 2 regressions, 1 fixed, 2 new Services, 1 gone; paths: 0 appeared, 0 vanished\n" +
		"  REGRESSION " + seedID(t, localNodePortWorker1) + "\n" +
		"  REGRESSION " + seedID(t, localPodIP) + "\n" +
		"  new        default/api\n" +
		"  new        default/db\n"
	if !strings.Contains(out, want) {
		t.Errorf("baseline section missing:\n%s", out)
	}
	if strings.Index(out, "BASELINE") > strings.Index(out, "FINDINGS") {
		t.Error("the baseline comes after the findings")
	}
	colored := render(t, &r, "table", Options{Color: true, Quiet: true})
	if strings.Count(colored, "\033[31mREGRESSION\033[0m") != 2 {
		t.Errorf("regressions not coloured:\n%s", colored)
	}
}

func TestFormatForFile(t *testing.T) {
	for name, want := range map[string]string{
		"out.json": "json", "dir.d/OUT.JSON": "json", "r.yaml": "yaml", "r.yml": "yaml", "junit.xml": "junit", "a.b.XML": "junit",
	} {
		if got, err := FormatForFile(name); err != nil || got != want {
			t.Errorf("FormatForFile(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"report.txt", "report", "json", ".json.bak", ""} {
		if got, err := FormatForFile(name); err == nil || !strings.Contains(err.Error(), ".json, .yaml, .yml or .xml") {
			t.Errorf("FormatForFile(%q) = %q, %v; want an error naming the extensions", name, got, err)
		}
	}
}

func TestRenderFormats(t *testing.T) {
	r := Build(healthyInput(t))
	var def, table bytes.Buffer
	if err := Render(&def, &r, ""); err != nil {
		t.Fatal(err)
	}
	if err := Render(&table, &r, "table"); err != nil {
		t.Fatal(err)
	}
	if def.String() != table.String() {
		t.Error(`format "" is not the table`)
	}
	err := Render(&bytes.Buffer{}, &r, "csv")
	if err == nil || !strings.Contains(err.Error(), `"csv"`) || !strings.Contains(err.Error(), strings.Join(Formats, ", ")) {
		t.Errorf("unknown format: %v", err)
	}
	for _, f := range Formats {
		if err := Render(&bytes.Buffer{}, &r, f); err != nil {
			t.Errorf("format %s listed in Formats: %v", f, err)
		}
	}
}

type failingWriter struct{ after int }

var errWrite = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errWrite
	}
	w.after--
	return len(p), nil
}

func TestRenderReportsWriteErrors(t *testing.T) {
	r := Build(brokenInput(t, ""))
	for _, tc := range []struct {
		format string
		after  int
	}{{"table", 0}, {"wide", 0}, {"json", 0}, {"yaml", 0}, {"junit", 0}, {"junit", 1}, {"junit", 2}} {
		if err := Render(&failingWriter{after: tc.after}, &r, tc.format); !errors.Is(err, errWrite) {
			t.Errorf("%s, writer failing after %d writes: err %v", tc.format, tc.after, err)
		}
	}
}

func TestTableHelpers(t *testing.T) {
	if got := portLabel(ProbeRow{Port: "8080", ServicePort: 8080, Protocol: "TCP"}); got != "8080/TCP" {
		t.Errorf("unnamed port label %q", got)
	}
	if got := portLabel(ProbeRow{Port: "http", ServicePort: 80, Protocol: "UDP"}); got != "http:80/UDP" {
		t.Errorf("named port label %q", got)
	}
	if got := Count(0, "probe") + "|" + Count(1, "probe") + "|" + Count(2, "probe"); got != "0 probes|1 probe|2 probes" {
		t.Errorf("Count: %s", got)
	}
	lb := []ProbeRow{{Via: probe.ViaLoadBalancer, Target: "192.0.2.1:80"}, {Via: probe.ViaLoadBalancer, Target: "192.0.2.2:80"}}
	if got := pathLabel(lb); got != "loadBalancer ×2" {
		t.Errorf("path of two ingresses %q", got)
	}
	if got := pathLabel([]ProbeRow{{Via: probe.ViaNodePort, Node: "n1", Target: "[fd00::1]:30080"}}); got != "nodePort :30080 on 1 node" {
		t.Errorf("IPv6 NodePort path %q", got)
	}
	if got := pathLabel([]ProbeRow{{From: probe.FromPod, Via: probe.ViaEndpoint, Target: "10.0.0.1:80"}}); got != "endpoint ×1" {
		t.Errorf("endpoint path from a pod %q", got)
	}
	partial := []ProbeRow{
		{Via: probe.ViaNodePort, Coverage: &Coverage{Seen: []string{"a", "b"}}},
		{Via: probe.ViaNodePort, Coverage: &Coverage{Seen: []string{"a"}, Missing: []string{"b"}}},
	}
	if got := backendsLabel(partial); got != "2/2 seen (partial on 1 of 2 paths)" {
		t.Errorf("partial coverage label %q", got)
	}
	if got := backendsLabel([]ProbeRow{{Via: probe.ViaClusterIP, Backend: "a"}}); got != "a" {
		t.Errorf("single unmeasured answer %q", got)
	}
	if got := status([]ProbeRow{{Outcome: probe.NotRun, Pass: true}, {Outcome: probe.OK, Pass: true}}); got != "PASS" {
		t.Errorf("status with a not-run probe %q", got)
	}
	if got := outcomeText(ProbeRow{Outcome: probe.Refused, Connections: 3, Failures: 3}); got != "refused" {
		t.Errorf("all failed %q", got)
	}
	mixed := []ProbeRow{
		{Outcome: probe.NotRun, Detail: "interrupted", Pass: true},
		{Outcome: probe.Refused, Via: probe.ViaClusterIP, Target: "10.96.0.1:80"},
		{Outcome: probe.Refused, Via: probe.ViaEndpoint, Pod: "p-1", Target: "10.0.0.1:80"},
	}
	if got := resultLabel(mixed); got != "not run: interrupted ×1, refused ×2 (FAIL 10.96.0.1:80, p-1)" {
		t.Errorf("mixed result %q", got)
	}
	if got := expectLabel([]ProbeRow{{Expect: probe.Reach}, {Expect: probe.NoReach}, {Expect: probe.Reach}}); got != "reach 2, noReach 1" {
		t.Errorf("expectations %q", got)
	}
}

func TestWriteMatrixLetters(t *testing.T) {
	s := Service{Namespace: "n", Name: "s", Matrix: &Matrix{Backends: []string{"p0", "p1", "p2"},
		Rows: []MatrixRow{{From: "node/n1", Via: probe.ViaNodePort, Node: "n1", Port: "http", Seen: []bool{false, true, true}}}}}
	var buf bytes.Buffer
	writeMatrix(&buf, &s)
	want := "\nCOVERAGE n/s (pods: A=p0, B=p1, C=p2)\n  http     node/n1        nodePort n1            . B C\n"
	if buf.String() != want {
		t.Errorf("matrix\n%q, want\n%q", buf.String(), want)
	}
	buf.Reset()
	writeMatrix(&buf, &Service{})
	if buf.Len() != 0 {
		t.Errorf("no matrix printed %q", buf.String())
	}
}
