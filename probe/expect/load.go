package expect

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is the JSON Schema (draft 2020-12) of the config file.
//
//go:embed schema.json
var Schema []byte

// Config file identity.
const (
	APIVersion = "svccheck.dev/v1alpha1"
	Kind       = "Config"
)

var (
	compiled = mustCompile()
	printer  = message.NewPrinter(language.English)
)

func mustCompile() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.json", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("config.json")
}

// Error is everything wrong with a config file, each problem at its line.
type Error struct {
	File     string
	Problems []Problem
}

// Problem is one thing wrong, at a line and column of the file (0 when the
// file as a whole is wrong).
type Problem struct {
	Line, Column int
	// Path is where in the document: "skip[0].via".
	Path    string
	Message string
}

func (e *Error) Error() string {
	var sb strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&sb, ":%d:%d", p.Line, p.Column)
		}
		sb.WriteString(": ")
		if p.Path != "" {
			sb.WriteString(p.Path + ": ")
		}
		sb.WriteString(p.Message)
	}
	return sb.String()
}

// Parse reads a config file's content, validated strictly against Schema
// (unknown fields, wrong types, values out of their enums are errors), and
// returns every problem found as an *Error naming the file and line.
func Parse(file string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: file, Problems: []Problem{yamlProblem(err)}}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Problems: []Problem{{Message: "empty: want apiVersion: " + APIVersion + " and kind: " + Kind}}}
	}
	pos := map[string]*yaml.Node{}
	v, problems := toValue(doc.Content[0], "", pos)
	if len(problems) == 0 {
		problems = schemaProblems(v, pos)
	}
	var cfg Config
	if len(problems) == 0 {
		raw, _ := json.Marshal(v)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			problems = append(problems, Problem{Message: err.Error()})
		}
	}
	if len(problems) == 0 {
		problems = cfg.check(pos)
	}
	if len(problems) > 0 {
		return nil, &Error{File: file, Problems: problems}
	}
	cfg.locate(file, pos)
	return &cfg, nil
}

// yamlProblem turns a YAML syntax error ("yaml: line 3: ...") into a Problem.
func yamlProblem(err error) Problem {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				return Problem{Line: line, Column: 1, Message: tail}
			}
		}
	}
	return Problem{Message: msg}
}

// toValue converts a YAML node into the JSON value the schema validates,
// recording each value's node by JSON pointer in pos. Duplicate keys,
// anchors and non-string keys are problems.
func toValue(n *yaml.Node, ptr string, pos map[string]*yaml.Node) (any, []Problem) {
	pos[ptr] = n
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		var problems []Problem
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				problems = append(problems, at(k, ptr, "keys must be strings"))
				continue
			}
			if _, dup := out[k.Value]; dup {
				problems = append(problems, at(k, ptr, fmt.Sprintf("%q is set twice", k.Value)))
				continue
			}
			child := ptr + "/" + escape(k.Value)
			pos[child+"#key"] = k
			v, ps := toValue(val, child, pos)
			out[k.Value], problems = v, append(problems, ps...)
		}
		return out, problems
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		var problems []Problem
		for i, c := range n.Content {
			v, ps := toValue(c, ptr+"/"+strconv.Itoa(i), pos)
			out, problems = append(out, v), append(problems, ps...)
		}
		return out, problems
	case yaml.ScalarNode:
		return scalar(n, ptr)
	}
	return nil, []Problem{at(n, ptr, "aliases and anchors are not supported")}
}

func scalar(n *yaml.Node, ptr string) (any, []Problem) {
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, []Problem{at(n, ptr, err.Error())}
		}
		return b, nil
	case "!!int", "!!float":
		return json.Number(n.Value), nil
	}
	return n.Value, nil
}

func at(n *yaml.Node, ptr, msg string) Problem {
	return Problem{Line: n.Line, Column: n.Column, Path: pathOf(ptr), Message: msg}
}

// schemaProblems validates v against Schema: one problem per leaf error.
func schemaProblems(v any, pos map[string]*yaml.Node) []Problem {
	err := compiled.Validate(v)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		if err != nil {
			return []Problem{{Message: err.Error()}}
		}
		return nil
	}
	var problems []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := ""
		for _, t := range e.InstanceLocation {
			ptr += "/" + escape(t)
		}
		if ap, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			for _, name := range ap.Properties { // at the unknown key itself
				n := nearest(pos, ptr+"/"+escape(name)+"#key")
				problems = append(problems, Problem{Line: n.Line, Column: n.Column, Path: pathOf(ptr + "/" + escape(name)),
					Message: fmt.Sprintf("unknown field %q", name)})
			}
			return
		}
		n := nearest(pos, ptr)
		problems = append(problems, Problem{Line: n.Line, Column: n.Column, Path: pathOf(ptr), Message: e.ErrorKind.LocalizedString(printer)})
	}
	walk(ve)
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return problems
}

// nearest is the node at ptr, or at its closest ancestor.
func nearest(pos map[string]*yaml.Node, ptr string) *yaml.Node {
	for {
		if n, ok := pos[ptr]; ok {
			return n
		}
		i := strings.LastIndex(ptr, "/")
		if i < 0 {
			return &yaml.Node{}
		}
		ptr = ptr[:i]
	}
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// pathOf turns a JSON pointer into the path people read: "/skip/0/via" is
// "skip[0].via".
func pathOf(ptr string) string {
	var sb strings.Builder
	for _, t := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if t == "" {
			continue
		}
		t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(t); err == nil {
			sb.WriteString("[" + t + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(t)
	}
	return sb.String()
}

// check finds what the schema cannot: malformed globs, names used twice.
func (c *Config) check(pos map[string]*yaml.Node) []Problem {
	var problems []Problem
	bad := func(ptr, what string, err error) {
		problems = append(problems, at(nearest(pos, ptr), ptr, what+": "+err.Error()))
	}
	for i, g := range c.Internal {
		if _, err := path.Match(g, "x/y"); err != nil {
			bad(fmt.Sprintf("/internal/%d", i), "bad glob", err)
		}
	}
	names := map[string]string{}
	for _, r := range c.rules() {
		for field, g := range map[string]string{"service": r.Service, "node": r.Node, "from": r.From} {
			if _, err := path.Match(g, "x"); err != nil {
				bad(r.ptr+"/"+field, "bad glob", err)
			}
		}
		if prev, dup := names[r.Name]; dup && r.Name != "" {
			problems = append(problems, at(nearest(pos, r.ptr+"/name"), r.ptr+"/name", fmt.Sprintf("name %q is already used by %s", r.Name, pathOf(prev))))
		}
		names[r.Name] = r.ptr
	}
	return problems
}
