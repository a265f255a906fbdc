package report

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"sigs.k8s.io/yaml"

	"github.com/svccheck/svccheck/probe"
)

// Formats accepted by Render.
var Formats = []string{"table", "wide", "json", "yaml", "junit"}

// Options tune the table formats.
type Options struct {
	// Quiet prints only the findings and the summary line.
	Quiet bool
	// Color marks PASS/FAIL and severities with ANSI colours.
	Color bool
}

// Render writes r in the named format.
func Render(w io.Writer, r *Report, format string) error {
	return RenderWith(w, r, format, Options{})
}

// RenderWith writes r in the named format with table options.
func RenderWith(w io.Writer, r *Report, format string, o Options) error {
	switch format {
	case "table", "", "wide":
		return Table(w, r, format == "wide", o)
	case "json":
		return JSON(w, r)
	case "yaml":
		return YAML(w, r)
	case "junit":
		return JUnit(w, r)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// JSON writes the report as indented JSON, one Service at a time
// (stream.go).
func JSON(w io.Writer, r *Report) error { return streamJSON(w, r) }

// YAML writes the report as YAML, with the JSON field names.
func YAML(w io.Writer, r *Report) error {
	b, err := yaml.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// FormatForFile picks a format from a file name's extension: .json, .yaml or
// .yml, .xml (JUnit); anything else is an error.
func FormatForFile(name string) (string, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "json", nil
	case ".yaml", ".yml":
		return "yaml", nil
	case ".xml":
		return "junit", nil
	}
	return "", fmt.Errorf("cannot tell the report format of %q: use .json, .yaml, .yml or .xml (JUnit)", name)
}

// Table writes the report as a kubectl-style table: one row per Service port ×
// vantage point × path (wide: one row per probe, with latency), then the
// findings and a summary line.
func Table(w io.Writer, r *Report, wide bool, o Options) error {
	var buf bytes.Buffer
	if err := table(&buf, r, wide, o.Quiet); err != nil {
		return err
	}
	lines := strings.Split(buf.String(), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
		if o.Color {
			lines[i] = colorize(lines[i])
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

// ANSI colours for the table's verdict words.
var colors = []struct{ word, code string }{
	{"PASS", "32"}, {"FAIL", "31"}, {"SKIP", "33"}, {"ERROR", "31"}, {"WARNING", "33"}, {"INTERRUPTED", "33"}, {"REGRESSION", "31"},
}

// colorize colours a line's status column, finding severity or verdict word.
func colorize(line string) string {
	for _, c := range colors {
		switch {
		case strings.HasSuffix(line, "   "+c.word):
			return line[:len(line)-len(c.word)] + "\033[" + c.code + "m" + c.word + "\033[0m"
		case strings.HasPrefix(line, c.word+":"), strings.HasPrefix(line, "  "+c.word+" "):
			i := strings.Index(line, c.word)
			return line[:i] + "\033[" + c.code + "m" + c.word + "\033[0m" + line[i+len(c.word):]
		}
	}
	return line
}

func table(w io.Writer, r *Report, wide, quiet bool) error {
	if quiet {
		return trailer(w, r, false)
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off}, Lines: tw.Lines{ShowHeaderLine: tw.Off}},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Right: "   ", Overwrite: true}},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Right: "   ", Overwrite: true}},
			},
		}),
	)
	if wide {
		t.Header([]string{"SERVICE", "PORT", "FROM", "PATH", "NODE", "TARGET", "EXPECT", "OUTCOME", "LATENCY", "BACKENDS", "STATUS"})
	} else {
		t.Header([]string{"SERVICE", "PORT", "FROM", "PATH", "EXPECT", "RESULT", "BACKENDS", "STATUS"})
	}
	for i := range r.Services {
		s := &r.Services[i]
		name := s.Key()
		if len(s.Probes) == 0 {
			row := []string{name, "-", "-", strings.ToLower(s.Type), "-", "not probed", "-", "SKIP"}
			if wide {
				row = []string{name, "-", "-", strings.ToLower(s.Type), "-", "-", "-", "not probed", "-", "-", "SKIP"}
			}
			if err := t.Append(row); err != nil {
				return err
			}
			continue
		}
		var rows [][]string
		if wide {
			rows = wideRows(name, s)
		} else {
			rows = groupRows(name, s)
		}
		for _, row := range rows {
			if err := t.Append(row); err != nil {
				return err
			}
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	return trailer(w, r, wide)
}

// trailer writes the coverage matrices (wide), the baseline diff, the
// findings and the summary line.
func trailer(w io.Writer, r *Report, wide bool) error {
	if wide {
		for i := range r.Services {
			writeMatrix(w, &r.Services[i])
		}
	}
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "\nBASELINE %s (%s): %d regressions, %d fixed, %d new Services, %d gone; paths: %d appeared, %d vanished\n", b.File,
			b.GeneratedAt.Format(time.RFC3339), len(b.Regressions), len(b.Fixed), len(b.NewServices), len(b.GoneServices), len(b.Appeared), len(b.Vanished))
		writeLines(w, "REGRESSION", b.Regressions) // cap.go: at most maxLines each
		writeLines(w, "new       ", b.NewServices)
		writeLines(w, "vanished  ", b.Vanished)
	}
	writeConvergence(w, r)
	if len(r.Findings) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "FINDINGS")
		writeFindings(w, r.Findings) // cap.go: lists cut, findings alike folded
	}
	fmt.Fprintln(w)
	_, err := fmt.Fprintln(w, SummaryLine(r))
	return err
}

// SummaryLine is the one-line verdict printed under the table.
func SummaryLine(r *Report) string {
	s := r.Summary
	verdict := "PASS"
	switch {
	case !r.Passed():
		verdict = "FAIL"
	case r.Interrupted:
		verdict = "INTERRUPTED"
	}
	line := fmt.Sprintf("%s: %s, %s: %d passed, %d failed, %d not run; %s, %s", verdict,
		Count(len(r.Services), "service"), Count(s.Probes, "probe"), s.Passed, s.Failed, s.NotRun,
		Count(s.Errors, "error"), Count(s.Warnings, "warning"))
	if r.Baseline != nil {
		line += fmt.Sprintf("; %s against the baseline", Count(len(r.Baseline.Regressions), "regression"))
	}
	if r.Interrupted {
		line += " (interrupted: partial report)"
	}
	return line
}

func portLabel(p ProbeRow) string {
	num := strconv.Itoa(int(p.ServicePort))
	if p.Port == num {
		return num + "/" + string(p.Protocol)
	}
	return p.Port + ":" + num + "/" + string(p.Protocol)
}

func status(rows []ProbeRow) string {
	run, fail := 0, 0
	for _, p := range rows {
		if p.Outcome == probe.NotRun {
			continue
		}
		run++
		if !p.Pass {
			fail++
		}
	}
	switch {
	case run == 0:
		return "SKIP"
	case fail > 0:
		return "FAIL"
	}
	return "PASS"
}

func groupRows(name string, s *Service) [][]string {
	type key struct {
		port string
		from probe.From
		via  probe.Via
	}
	var order []key
	groups := map[key][]ProbeRow{}
	for _, p := range s.Probes {
		k := key{p.Port, p.From, p.Via}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	var rows [][]string
	for _, k := range order {
		g := groups[k]
		rows = append(rows, []string{name, portLabel(g[0]), string(k.from), pathLabel(g), expectLabel(g),
			resultLabel(g), backendsLabel(g), status(g)})
	}
	return rows
}

func pathLabel(g []ProbeRow) string {
	nodes := map[string]bool{}
	for _, q := range g {
		nodes[q.Node] = true
	}
	return g[0].Via.Kind().Label(probe.Group{From: g[0].From, Target: g[0].Target, Count: len(g), Nodes: len(nodes)})
}

func expectLabel(g []ProbeRow) string {
	counts := map[string]int{}
	var order []string
	for _, p := range g {
		if counts[expectText(p)] == 0 {
			order = append(order, expectText(p))
		}
		counts[expectText(p)]++
	}
	if len(order) == 1 {
		return order[0]
	}
	parts := make([]string, len(order))
	for i, w := range order {
		parts[i] = fmt.Sprintf("%s %d", w, counts[w])
	}
	return strings.Join(parts, ", ")
}

// resultLabel summarises outcomes, e.g. "ok ×3", "ok ×2, refused ×1 (FAIL worker1)".
func resultLabel(g []ProbeRow) string {
	if len(g) == 1 {
		if g[0].Outcome == probe.NotRun {
			return "not run: " + g[0].Detail
		}
		return outcomeText(g[0])
	}
	counts := map[string]int{}
	var order, bad []string
	for _, p := range g {
		o := string(p.Outcome)
		if p.Outcome == probe.NotRun {
			o = notRunLabel(p) // cap.go: the reason without the node
		} else if !p.Pass {
			bad = append(bad, member(p))
		}
		if counts[o] == 0 {
			order = append(order, o)
		}
		counts[o]++
	}
	parts := make([]string, len(order))
	for i, o := range order {
		parts[i] = fmt.Sprintf("%s ×%d", o, counts[o])
	}
	s := capParts(parts)
	if len(bad) > 0 {
		s += " (FAIL " + names(bad) + ")"
	}
	return s
}

func outcomeText(p ProbeRow) string {
	s := string(p.Outcome)
	if p.Failures > 0 && p.Failures < p.Connections {
		s = fmt.Sprintf("%d/%d %s", p.Failures, p.Connections, p.Outcome)
	}
	if !p.Pass && p.Outcome == probe.OK && p.Expect == probe.NoReach {
		s = "ok (exposed)"
	}
	return s
}

func member(p ProbeRow) string {
	switch {
	case p.Via.Kind().NamedByNode:
		return p.Node
	case p.Pod != "":
		return p.Pod
	}
	return p.Target
}

func backendsLabel(g []ProbeRow) string {
	seen := map[string]bool{}
	total := map[string]bool{}
	measured, partial := 0, 0
	for _, p := range g {
		switch {
		case p.Coverage != nil:
			measured++
			if len(p.Coverage.Missing) > 0 {
				partial++
			}
			for _, s := range p.Coverage.Seen {
				seen[s], total[s] = true, true
			}
			for _, s := range p.Coverage.Missing {
				total[s] = true
			}
		case p.Via.Kind().Route == probe.RouteDirect && p.Pod != "":
			total[p.Pod] = true
			if p.Backend != "" {
				measured++
				seen[p.Backend] = true
			}
		}
	}
	if measured == 0 {
		if len(g) == 1 && g[0].Backend != "" {
			return g[0].Backend
		}
		return "-"
	}
	s := fmt.Sprintf("%d/%d seen", len(seen), len(total))
	if len(seen) < len(total) {
		var miss []string
		for t := range total {
			if !seen[t] {
				miss = append(miss, t)
			}
		}
		sort.Strings(miss)
		s += " (never " + names(miss) + ")"
	} else if partial > 0 {
		s += fmt.Sprintf(" (partial on %d of %d paths)", partial, measured)
	}
	return s
}

func wideRows(name string, s *Service) [][]string {
	rows := make([][]string, 0, len(s.Probes))
	for _, p := range s.Probes {
		node := p.Node
		if node == "" {
			node = "-"
		}
		lat := "-"
		if p.Outcome != probe.NotRun && p.LatencyMs > 0 {
			lat = fmt.Sprintf("%.1fms", p.LatencyMs)
		}
		out := outcomeText(p)
		if p.Outcome == probe.NotRun {
			out = "not run: " + p.Detail
		} else if p.HTTPStatus != 0 {
			out += fmt.Sprintf(" (HTTP %d)", p.HTTPStatus)
		}
		back := "-"
		switch {
		case p.Coverage != nil:
			back = fmt.Sprintf("%d/%d seen", len(p.Coverage.Seen), p.Coverage.Total)
			if len(p.Coverage.Missing) > 0 {
				back += " (never " + names(p.Coverage.Missing) + ")"
			}
		case p.Backend != "":
			back = p.Backend
		}
		rows = append(rows, []string{name, portLabel(p), string(p.From), string(p.Via), node, p.Target,
			expectText(p), out, lat, back, status([]ProbeRow{p})})
	}
	return rows
}

// Count says "1 probe", "2 probes".
func Count(n int, noun string) string { return fmt.Sprintf("%d %s%s", n, noun, plural(n)) }

// writeMatrix prints a Service's path × backend coverage: which pod answered
// through which vantage point and path.
func writeMatrix(w io.Writer, s *Service) {
	m := s.Matrix
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\nCOVERAGE %s (pods: ", s.Key())
	for j, b := range m.Backends {
		if j > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "%c=%s", 'A'+rune(j%26), b)
	}
	fmt.Fprintln(w, ")")
	for _, row := range m.Rows {
		path := string(row.Via)
		if row.Node != "" {
			path += " " + row.Node
		}
		marks := make([]string, len(row.Seen))
		for j, ok := range row.Seen {
			marks[j] = "."
			if ok {
				marks[j] = string(rune('A' + j%26))
			}
		}
		fmt.Fprintf(w, "  %-8s %-14s %-22s %s\n", row.Port, row.From, path, strings.Join(marks, " "))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
