package plugin

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/svccheck/svccheck/internal/exitcode"
)

// readmeTable returns the rows of the README's markdown table whose header
// line is header, each split into its cells.
func readmeTable(t *testing.T, header string) [][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	i := slices.Index(lines, header)
	if i < 0 {
		t.Fatalf("README has no table %q", header)
	}
	var rows [][]string
	for _, l := range lines[i+2:] { // past the header and the |---| line
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("README's table %q has no rows", header)
	}
	return rows
}

var backticked = regexp.MustCompile("`([^`]*)`")

// helpFlags is every flag --help lists for cmd (its own and inherited ones,
// help and version included), by long name.
func helpFlags(cmd *cobra.Command) map[string]*pflag.Flag {
	cmd.InitDefaultHelpFlag()
	cmd.InitDefaultVersionFlag()
	out := map[string]*pflag.Flag{}
	for _, fs := range []*pflag.FlagSet{cmd.LocalFlags(), cmd.InheritedFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				out[f.Name] = f
			}
		})
	}
	return out
}

// kubectlFlags are the flags of cli-runtime's ConfigFlags: the README's
// "kubectl flags" row stands for them all.
func kubectlFlags() map[string]bool {
	fs := pflag.NewFlagSet("kubectl", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(true).AddFlags(fs)
	out := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
	return out
}

// TestREADMEFlagTableMatchesHelp: every flag of `kubectl svccheck --help` is
// in the README's flag table (kubectl's own connection flags in its
// "kubectl flags" row), every flag the table names exists with the
// shorthand it shows and is not hidden, and a default the table quotes is
// the flag's default.
func TestREADMEFlagTableMatchesHelp(t *testing.T) {
	cmd := NewCmd(genericiooptions.NewTestIOStreamsDiscard())
	flags := helpFlags(cmd)
	kubectl := kubectlFlags()
	documented := map[string]bool{"help": true, "version": true} // cobra's; `version`/`--version` are in the subcommands paragraph
	for _, row := range readmeTable(t, "| flag | default | meaning |") {
		if len(row) < 3 {
			t.Errorf("row %q: want 3 cells", row)
			continue
		}
		if row[0] == "kubectl flags" {
			for _, name := range strings.Fields(backticked.FindStringSubmatch(row[2])[1]) {
				name = strings.TrimPrefix(name, "--")
				if name == "..." {
					continue
				}
				if flags[name] == nil || !kubectl[name] {
					t.Errorf("kubectl flags row: --%s is not a kubectl flag of --help", name)
				}
			}
			continue
		}
		var named []*pflag.Flag
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			if !strings.HasPrefix(m[1], "-") {
				continue // SERVICE ...
			}
			var long, short string
			for _, tok := range strings.Split(m[1], ", ") {
				if strings.HasPrefix(tok, "--") {
					long = strings.TrimPrefix(tok, "--")
				} else {
					short = strings.TrimPrefix(tok, "-")
				}
			}
			f := flags[long]
			switch {
			case f == nil:
				t.Errorf("README documents --%s, which --help does not list", long)
				continue
			case f.Shorthand != short:
				t.Errorf("README shows --%s with shorthand %q, --help with %q", long, short, f.Shorthand)
			}
			documented[long] = true
			named = append(named, f)
		}
		if len(named) == 1 {
			checkDefault(t, named[0], row[1])
		}
	}
	var missing []string
	for name := range flags {
		if !documented[name] && !kubectl[name] {
			missing = append(missing, "--"+name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("--help lists flags the README's table does not: %v", missing)
	}
}

// checkDefault compares a README default cell with the flag's default: a
// quoted value must equal it (durations by value, <version> standing for
// the build's), "off" is false or zero, an empty cell an empty default;
// prose ("kubeconfig's namespace") is not checked.
func checkDefault(t *testing.T, f *pflag.Flag, cell string) {
	t.Helper()
	got := strings.Trim(f.DefValue, "[]")
	switch {
	case cell == "":
		if got != "" && got != "false" {
			t.Errorf("--%s: README shows no default, --help %q", f.Name, f.DefValue)
		}
	case cell == "off":
		if got != "false" && got != "0s" && got != "0" {
			t.Errorf("--%s: README says off, --help's default is %q", f.Name, f.DefValue)
		}
	case strings.HasPrefix(cell, "`"):
		want := strings.ReplaceAll(backticked.FindStringSubmatch(cell)[1], "<version>", strings.TrimPrefix(Version, "v"))
		if f.Value.Type() == "duration" {
			w, err1 := time.ParseDuration(want)
			g, err2 := time.ParseDuration(got)
			if err1 != nil || err2 != nil || w != g {
				t.Errorf("--%s: README's default %q, --help's %q", f.Name, want, f.DefValue)
			}
			return
		}
		if want != got {
			t.Errorf("--%s: README's default %q, --help's %q", f.Name, want, f.DefValue)
		}
	}
}

// TestREADMEExitCodesMatchHelp: the README's exit code table, the codes
// --help lists and the codes the program uses are the same.
func TestREADMEExitCodesMatchHelp(t *testing.T) {
	var readme []int
	for _, row := range readmeTable(t, "| code | meaning |") {
		c, err := strconv.Atoi(row[0])
		if err != nil {
			t.Fatalf("exit code row %q", row)
		}
		readme = append(readme, c)
	}
	cmd := NewCmd(genericiooptions.NewTestIOStreamsDiscard())
	_, codes, ok := strings.Cut(cmd.Long, "Exit codes: ")
	if !ok {
		t.Fatal("--help does not list the exit codes")
	}
	var help []int
	for _, m := range regexp.MustCompile(`(?:^|, |\n)(\d+) `).FindAllStringSubmatch(codes, -1) {
		c, _ := strconv.Atoi(m[1])
		help = append(help, c)
	}
	used := []int{exitcode.OK, exitcode.Failed, exitcode.Usage, exitcode.Cluster, exitcode.Agent, exitcode.Interrupted}
	if !slices.Equal(readme, used) || !slices.Equal(help, used) {
		t.Errorf("exit codes: README %v, --help %v, the program's %v", readme, help, used)
	}
}

// TestREADMECleanupFlags: the flags the README gives cleanup exist on it.
func TestREADMECleanupFlags(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`cleanup ([^`]*)`").FindSubmatch(b)
	if m == nil {
		t.Fatal("README does not document cleanup's usage")
	}
	cleanup, _, err := NewCmd(genericiooptions.NewTestIOStreamsDiscard()).Find([]string{"cleanup"})
	if err != nil {
		t.Fatal(err)
	}
	flags := helpFlags(cleanup)
	shorts := map[string]bool{}
	for _, f := range flags {
		shorts[f.Shorthand] = true
	}
	n := 0
	for _, tok := range regexp.MustCompile(`-{1,2}[a-zA-Z][-a-zA-Z]*`).FindAllString(string(m[1]), -1) {
		n++
		if long, ok := strings.CutPrefix(tok, "--"); ok && flags[long] == nil || !ok && !shorts[strings.TrimPrefix(tok, "-")] {
			t.Errorf("README gives cleanup %s, which its --help does not list", tok)
		}
	}
	if n < 3 {
		t.Errorf("README's cleanup usage %q names %d flags, want -n, -A, --agent-namespace, --run", m[1], n)
	}
}
