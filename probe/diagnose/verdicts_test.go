package diagnose

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// codesClaiming lists the registered codes that make claim c.
func codesClaiming(c Claim) []Code {
	var out []Code
	for _, ci := range Codes() {
		if ci.Has(c) {
			out = append(out, ci.Code)
		}
	}
	return out
}

// declaredCodes parses the package's non-test sources for constants of type
// Code: name -> value.
func declaredCodes(t *testing.T) map[string]Code {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Code{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: Code constant %s is not a string literal", name, n.Name)
					}
					v, _ := strconv.Unquote(lit.Value)
					out[n.Name] = Code(v)
				}
			}
		}
	}
	return out
}

// TestEveryCodeRegistered: every Code constant of the package is registered
// once, and nothing else is.
func TestEveryCodeRegistered(t *testing.T) {
	declared := declaredCodes(t)
	if len(declared) == 0 {
		t.Fatal("no Code constants found")
	}
	values := map[Code]bool{}
	for name, c := range declared {
		values[c] = true
		if Lookup(c).Kind == "" {
			t.Errorf("%s (%q) is not registered in verdicts.go", name, c)
		}
	}
	seen := map[Code]bool{}
	for _, ci := range Codes() {
		switch {
		case seen[ci.Code]:
			t.Errorf("%s registered twice", ci.Code)
		case !values[ci.Code]:
			t.Errorf("%s is registered but declares no constant", ci.Code)
		case ci.Kind != KindVerdict && ci.Kind != KindNote:
			t.Errorf("%s: kind %q", ci.Code, ci.Kind)
		case ci.Summary == "":
			t.Errorf("%s has no summary", ci.Code)
		case len(ci.Severities) == 0 && ci.Code != VerdictHealthy:
			t.Errorf("%s has no severity", ci.Code)
		}
		seen[ci.Code] = true
	}
}

// TestNoCodesOutsideDiagnose: no other package declares a diagnose.Code: the
// registry is the only list.
func TestNoCodesOutsideDiagnose(t *testing.T) {
	decl := regexp.MustCompile(`diagnose\.Code\s*=\s*"`)
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if decl.Match(b) {
			t.Errorf("%s declares a diagnose.Code; register it in probe/diagnose/verdicts.go", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readmeVerdicts returns the rows of the README's verdict table: the codes
// each names in its first cell, its severities, and whether it is the notes
// row.
func readmeVerdicts(t *testing.T) []struct {
	codes      []Code
	severities []Severity
	notes      bool
} {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	i := slices.Index(lines, "| verdict | severity | when (evidence) |")
	if i < 0 {
		t.Fatal("README has no verdict table")
	}
	code := regexp.MustCompile("`([a-zA-Z]+)`")
	var rows []struct {
		codes      []Code
		severities []Severity
		notes      bool
	}
	for _, l := range lines[i+2:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("README verdict row %q: want 3 cells", l)
		}
		var row struct {
			codes      []Code
			severities []Severity
			notes      bool
		}
		for _, m := range code.FindAllStringSubmatch(cells[0], -1) {
			row.codes = append(row.codes, Code(m[1]))
		}
		for _, s := range strings.Split(cells[1], "/") {
			if s = strings.TrimSpace(s); s != "" {
				row.severities = append(row.severities, Severity(s))
			}
		}
		row.notes = strings.TrimSpace(cells[2]) == "notes"
		rows = append(rows, row)
	}
	return rows
}

// TestREADMEVerdictTable: every registered code is in the README's verdict
// table once and the table names no other; notes are in its notes row,
// verdicts each in a row of its own with its severities.
func TestREADMEVerdictTable(t *testing.T) {
	documented := map[Code]bool{}
	for _, row := range readmeVerdicts(t) {
		for _, c := range row.codes {
			ci := Lookup(c)
			switch {
			case ci.Kind == "":
				t.Errorf("README documents %s, which is not registered", c)
				continue
			case documented[c]:
				t.Errorf("README documents %s twice", c)
			case row.notes != (ci.Kind == KindNote):
				t.Errorf("%s is a %s: the README's notes row must list exactly the notes", c, ci.Kind)
			case !row.notes && len(row.codes) != 1:
				t.Errorf("README's row of %v: one verdict per row", row.codes)
			}
			documented[c] = true
			for _, s := range ci.Severities {
				if !slices.Contains(row.severities, s) {
					t.Errorf("%s may be %s; README's row says %v", c, s, row.severities)
				}
			}
			if !row.notes && len(row.severities) != len(ci.Severities) {
				t.Errorf("%s: README says %v, registered %v", c, row.severities, ci.Severities)
			}
		}
	}
	for _, ci := range Codes() {
		if !documented[ci.Code] {
			t.Errorf("%s is not in the README's verdict table", ci.Code)
		}
	}
}
