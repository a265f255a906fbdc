package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"

	"github.com/svccheck/svccheck/report"
)

// colorModes are the --color values.
var colorModes = []string{"auto", "always", "never"}

// kubectlFormats are the -o values kubectl's printers handle, as completion
// offers them; a trailing "=" takes an argument.
var kubectlFormats = []string{"name", "jsonpath=", "jsonpath-as-json=", "jsonpath-file=", "go-template=", "go-template-file=",
	"template=", "templatefile=", "custom-columns="}

// reportPrinter renders a report in one of kubectl's output formats.
type reportPrinter func(w io.Writer, rep *report.Report) error

// validateFormat checks -o and, for kubectl's formats, builds the printer:
// jsonpath and templates apply to the JSON report, name and custom-columns
// print one line per Service.
func (o *command) validateFormat() error {
	if tmpl := o.PrintFlags.TemplatePrinterFlags.TemplateArgument; tmpl != nil && *tmpl != "" && o.Output == "table" {
		o.Output = "go-template" // --template alone means a Go template, as in kubectl
	}
	if slices.Contains(report.Formats, o.Output) {
		return nil
	}
	if o.Output == "" {
		return fmt.Errorf("-o needs a format: one of %s", strings.Join(append(slices.Clone(report.Formats), kubectlFormats...), ", "))
	}
	if spec, ok := strings.CutPrefix(o.Output, "custom-columns="); ok {
		cols, err := parseCustomColumns(spec)
		if err != nil {
			return fmt.Errorf("-o custom-columns: %v", err)
		}
		o.printer = func(w io.Writer, rep *report.Report) error { return printColumns(w, rep, cols, o.NoHeaders) }
		return nil
	}
	*o.PrintFlags.OutputFormat = o.Output
	p, err := o.PrintFlags.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		return fmt.Errorf("unknown output format %q: want one of %s", o.Output, strings.Join(append(slices.Clone(report.Formats), kubectlFormats...), ", "))
	}
	if err != nil {
		return fmt.Errorf("-o %s: %v", o.Output, err)
	}
	if np, ok := p.(*printers.NamePrinter); ok {
		o.printer = func(w io.Writer, rep *report.Report) error { return printNames(w, rep, np) }
		return nil
	}
	o.printer = func(w io.Writer, rep *report.Report) error {
		obj, err := unstructuredReport(rep)
		if err != nil {
			return err
		}
		return p.PrintObj(obj, w)
	}
	return nil
}

// unstructuredReport is the report as the -o json object, for jsonpath and
// templates.
func unstructuredReport(rep *report.Report) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	return obj, json.Unmarshal(data, &obj.Object)
}

// printNames is -o name: "service/NAME" per Service in the report.
func printNames(w io.Writer, rep *report.Report, p printers.ResourcePrinter) error {
	for _, s := range rep.Services {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("Service")
		u.SetNamespace(s.Namespace)
		u.SetName(s.Name)
		if err := p.PrintObj(u, w); err != nil {
			return err
		}
	}
	return nil
}

// column is one custom column: a header and a JSONPath into a Service of
// the JSON report.
type column struct {
	header string
	path   *jsonpath.JSONPath
}

// parseCustomColumns parses kubectl's HEADER:.json.path,... spec; paths may
// leave out the braces and the leading dot, as in kubectl.
func parseCustomColumns(spec string) ([]column, error) {
	if spec == "" {
		return nil, fmt.Errorf("no columns given: want HEADER:.json.path[,HEADER:.json.path...]")
	}
	var cols []column
	for _, part := range strings.Split(spec, ",") {
		header, expr, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("column %q: want HEADER:.json.path", part)
		}
		expr = strings.TrimSuffix(strings.TrimPrefix(expr, "{"), "}")
		jp := jsonpath.New(header).AllowMissingKeys(true)
		if err := jp.Parse("{." + strings.TrimPrefix(expr, ".") + "}"); err != nil {
			return nil, fmt.Errorf("column %q: %v", header, err)
		}
		cols = append(cols, column{header: header, path: jp})
	}
	return cols, nil
}

// printColumns is -o custom-columns: one row per Service of the JSON report,
// "<none>" where a path finds nothing, several values joined by commas, as
// kubectl prints them.
func printColumns(w io.Writer, rep *report.Report, cols []column, noHeaders bool) error {
	obj, err := unstructuredReport(rep)
	if err != nil {
		return err
	}
	tw := printers.GetNewTabWriter(w)
	if !noHeaders {
		var hs []string
		for _, c := range cols {
			hs = append(hs, c.header)
		}
		fmt.Fprintln(tw, strings.Join(hs, "\t"))
	}
	svcs, _, _ := unstructured.NestedSlice(obj.Object, "services")
	for _, svc := range svcs {
		cells := make([]string, len(cols))
		for i, c := range cols {
			results, err := c.path.FindResults(svc)
			if err != nil {
				return fmt.Errorf("column %s: %v", c.header, err)
			}
			var vals []string
			for _, r := range results {
				for _, v := range r {
					vals = append(vals, printers.EscapeTerminal(fmt.Sprint(v.Interface())))
				}
			}
			cells[i] = strings.Join(vals, ",")
			if len(vals) == 0 {
				cells[i] = "<none>"
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// render writes the report to w in the -o format.
func (o *command) render(w io.Writer, rep *report.Report) error {
	if o.printer != nil {
		// kubectl's printers say a failed template with the whole object,
		// some on the output itself: print all or nothing, and one line.
		var buf bytes.Buffer
		if err := o.printer(&buf, rep); err != nil {
			line, _, _ := strings.Cut(err.Error(), "\n")
			return errors.New(line)
		}
		_, err := w.Write(buf.Bytes())
		return err
	}
	opts := report.Options{Quiet: o.Quiet, Color: o.colored()}
	if !o.NoHeaders || o.Quiet || (o.Output != "table" && o.Output != "wide") {
		return report.RenderWith(w, rep, o.Output, opts)
	}
	var buf bytes.Buffer
	if err := report.RenderWith(&buf, rep, o.Output, opts); err != nil {
		return err
	}
	_, table, _ := strings.Cut(buf.String(), "\n") // the header line
	_, err := io.WriteString(w, table)
	return err
}

// colored is --color: auto colours a terminal unless NO_COLOR is set.
func (o *command) colored() bool {
	switch o.Color {
	case "always":
		return true
	case "never":
		return false
	}
	terminal := o.terminal
	if terminal == nil {
		terminal = isTerminal
	}
	return terminal(o.Out) && os.Getenv("NO_COLOR") == ""
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeReportFile writes the report atomically, mode 0644: a CI step never
// reads half a file.
func writeReportFile(name string, rep *report.Report) error {
	format, _ := report.FormatForFile(name)
	tmp, err := os.CreateTemp(filepath.Dir(name), ".svccheck-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := report.Render(tmp, rep, format); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
