package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

// The table stays readable at scale: nothing in it grows with the number of
// nodes or probes. Lists of names in a cell or a finding are cut after a
// few, findings alike in all but their Service or node are folded into one
// line, and the JSON keeps everything.

// capNames is the most names a table cell or a finding line lists.
const capNames = 5

// capMembers is the most "; "-separated members of a finding shown.
const capMembers = 3

// foldAfter is how many findings alike are shown before the rest fold.
const foldAfter = 3

// maxFindingLine bounds a finding's message in the table.
const maxFindingLine = 600

// names lists names, cut after capNames: "a, b, c" or
// "37: a, b, c, d, e, … (all in JSON)".
func names(list []string) string {
	if len(list) <= capNames {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%d: %s", len(list), someNames(list))
}

// someNames is names without the count, for a list already counted.
func someNames(list []string) string {
	if len(list) <= capNames {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:capNames], ", ") + ", … (all in JSON)"
}

// notRunReason is why p did not run, with its node left out, so that the
// same reason on a thousand nodes groups as one, and a long reason's
// explanation after its first ": " left to the JSON.
func notRunReason(p ProbeRow) string {
	r := p.Detail
	if p.Node != "" {
		r = strings.Replace(r, "node "+p.Node+" ", "node ", 1)
	}
	if head, _, ok := strings.Cut(r, ": "); ok && len(r) > 60 {
		return head
	}
	return r
}

// capParts joins the parts of a result cell, cut after capNames.
func capParts(parts []string) string {
	if len(parts) <= capNames {
		return strings.Join(parts, ", ")
	}
	return strings.Join(parts[:capNames], ", ") + fmt.Sprintf(", … %d more (all in JSON)", len(parts)-capNames)
}

// foldKey groups findings that say the same thing of different Services
// (same code, severity and node) or, at cluster level, of different nodes.
func foldKey(f diagnose.Finding) string {
	if f.Service == "" {
		return string(f.Severity) + "|" + string(f.Code) + "|cluster"
	}
	return string(f.Severity) + "|" + string(f.Code) + "|" + f.Node
}

// foldSubject is what differs between findings of one fold: the Service, or
// the node of a cluster finding.
func foldSubject(f diagnose.Finding) (string, string) {
	if f.Service == "" {
		return f.Node, "nodes"
	}
	return f.ServiceKey(), "Services"
}

// writeFindings writes the FINDINGS section: each finding on one line, its
// member list cut, and beyond foldAfter findings alike one line for the
// rest.
func writeFindings(w io.Writer, fs []diagnose.Finding) {
	groups := map[string][]int{}
	var order []string
	for i, f := range fs {
		k := foldKey(f)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		g := groups[k]
		shown := g
		if len(g) > foldAfter {
			shown = g[:1]
		}
		for _, i := range shown {
			f := fs[i]
			msg := capMessage(f)
			if len(g) > foldAfter {
				var rest []string
				for _, j := range g[1:] {
					s, _ := foldSubject(fs[j])
					rest = append(rest, s)
				}
				_, kind := foldSubject(f)
				msg += fmt.Sprintf(" (and the same on %d more %s: %s)", len(rest), kind, someNames(rest))
			}
			fmt.Fprintf(w, "  %-7s %s: %s\n", strings.ToUpper(string(f.Severity)), findingWho(f), msg)
		}
	}
}

func findingWho(f diagnose.Finding) string {
	if f.Service == "" {
		return "cluster"
	}
	return f.ServiceKey()
}

// capMessage is a finding's message for the table: a list (diagnose.List)
// cut after capMembers members, and any message after maxFindingLine.
func capMessage(f diagnose.Finding) string {
	msg := f.Message
	if l := f.List; l != nil && len(l.Members) > capMembers {
		msg = fmt.Sprintf("%s: %s; … %d more (all in JSON)%s", l.Lead, strings.Join(l.Members[:capMembers], "; "), len(l.Members)-capMembers, l.Tail)
	}
	if len(msg) > maxFindingLine {
		n := maxFindingLine
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n] + "… (all in JSON)"
	}
	return msg
}

// notRunLabel is the result cell's text for a probe that did not run.
func notRunLabel(p ProbeRow) string {
	if p.Outcome != probe.NotRun {
		return string(p.Outcome)
	}
	return "not run: " + notRunReason(p)
}

// maxLines is the most lines of one kind a section lists.
const maxLines = 20

// writeLines writes "  label item" for each item, cut after maxLines.
func writeLines(w io.Writer, label string, items []string) {
	for i, it := range items {
		if i == maxLines {
			fmt.Fprintf(w, "  %s … %d more (all in JSON)\n", label, len(items)-maxLines)
			return
		}
		fmt.Fprintf(w, "  %s %s\n", label, it)
	}
}
