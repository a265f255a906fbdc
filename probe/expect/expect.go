// Package expect holds what a cluster declares as expected, so that a gate
// stays green until something new happens: the pod network routable from
// outside by design, Services that must stay internal, paths not to probe,
// and per-path expectation overrides. It reads them from a config file
// (apiVersion svccheck.dev/v1alpha1, kind Config, validated strictly against
// Schema with errors at file:line) and the --expect-* flags, and applies
// them to probes as they are planned (plan.Options.Adjust), marking each
// probe it changes with the exception's name so that the report shows it.
package expect

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/svccheck/svccheck/probe"
)

// Config is what a cluster declares as expected.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// RoutablePods: the pod network answers from outside by design, so a
	// pod IP probed from outside expects reach.
	RoutablePods bool `json:"routablePods,omitempty"`
	// Internal are namespace/name globs of Services that must stay
	// internal: no path from outside may answer.
	Internal []string `json:"internal,omitempty"`
	// Skip are paths not to probe.
	Skip []Rule `json:"skip,omitempty"`
	// Overrides set what a path is expected to do, last.
	Overrides []Rule `json:"overrides,omitempty"`

	routableAt string   // where RoutablePods was declared
	internalAt []string // where each Internal glob was
}

// Rule matches probes by Service (a namespace/name glob) and optionally
// port, vantage point, path kind and node; an override sets Expect.
type Rule struct {
	Name    string  `json:"name,omitempty"`
	Service string  `json:"service"`
	Port    portRef `json:"port,omitempty"`
	From    string  `json:"from,omitempty"`
	Via     string  `json:"via,omitempty"`
	Node    string  `json:"node,omitempty"`
	Expect  string  `json:"expect,omitempty"`
	Reason  string  `json:"reason"`

	ptr string // JSON pointer in the file
	at  string // file:line
}

// portRef is a port by name or number, as YAML gives either.
type portRef string

func (p *portRef) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*p = portRef(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*p = portRef(s)
	return nil
}

// rules lists the skip and override rules, naming the unnamed ones by
// their place ("skip[0]").
func (c *Config) rules() []*Rule {
	var out []*Rule
	for _, list := range []struct {
		name  string
		rules []Rule
	}{{"skip", c.Skip}, {"overrides", c.Overrides}} {
		for i := range list.rules {
			r := &list.rules[i]
			r.ptr = fmt.Sprintf("/%s/%d", list.name, i)
			if r.Name == "" {
				r.Name = fmt.Sprintf("%s[%d]", list.name, i)
			}
			out = append(out, r)
		}
	}
	return out
}

// locate records where in file each declaration was made.
func (c *Config) locate(file string, pos map[string]*yaml.Node) {
	line := func(ptr string) string { return file + ":" + strconv.Itoa(nearest(pos, ptr).Line) }
	if c.RoutablePods {
		c.routableAt = line("/routablePods#key")
	}
	for i := range c.Internal {
		c.internalAt = append(c.internalAt, line(fmt.Sprintf("/internal/%d", i)))
	}
	for _, r := range c.rules() {
		r.at = line(r.ptr)
	}
}

// AddFlags adds what the --expect-routable-pods and --expect-internal flags
// declare to c (which may come from a file, or be empty).
func (c *Config) AddFlags(routable bool, internal []string) error {
	if routable && !c.RoutablePods {
		c.RoutablePods, c.routableAt = true, "--expect-routable-pods"
	}
	for _, g := range internal {
		if _, err := path.Match(g, "x/y"); err != nil || strings.Count(g, "/") != 1 {
			return fmt.Errorf("--expect-internal %q: want namespace/name, where * and ? match within a part", g)
		}
		c.Internal = append(c.Internal, g)
		c.internalAt = append(c.internalAt, "--expect-internal")
	}
	return nil
}

// Exception is one declared exception, for the dry run and the report.
type Exception struct {
	// Name is what probes it changed carry in Probe.Exception.
	Name string
	// Source is where it was declared: "svccheck.yaml:7", or a flag.
	Source string
	// What it declares.
	What string
}

// Exceptions lists the declared exceptions in the order they apply.
func (c *Config) Exceptions() []Exception {
	var out []Exception
	if c.RoutablePods {
		out = append(out, Exception{"routablePods", c.routableAt, "the pod network answers from outside by design: pod IPs probed from outside expect reach"})
	}
	for i, g := range c.Internal {
		out = append(out, Exception{internalName(i), c.internalAt[i], g + " must stay internal: no path from outside may answer"})
	}
	for _, r := range c.rules() {
		what := "skip " + r.match() + ": " + r.Reason
		if r.Expect != "" {
			what = r.match() + " expects " + r.Expect + ": " + r.Reason
		}
		out = append(out, Exception{r.Name, r.at, what})
	}
	return out
}

func internalName(i int) string { return fmt.Sprintf("internal[%d]", i) }

// match describes what a rule matches: "shop/web port http from local via nodePort on node edge-*".
func (r *Rule) match() string {
	s := r.Service
	for _, kv := range [][2]string{{"port", string(r.Port)}, {"from", r.From}, {"via", r.Via}, {"on node", r.Node}} {
		if kv[1] != "" {
			s += " " + kv[0] + " " + kv[1]
		}
	}
	return s
}

// matches reports whether the rule selects probe p.
func (r *Rule) matches(p *probe.Probe) bool {
	if ok, _ := path.Match(r.Service, p.ServiceKey()); !ok {
		return false
	}
	if r.Port != "" && string(r.Port) != p.Port && string(r.Port) != strconv.Itoa(int(p.ServicePort)) {
		return false
	}
	switch {
	case r.From == "":
	case r.From == "nodes":
		if p.From.Node() == "" {
			return false
		}
	default:
		if ok, _ := path.Match(r.From, string(p.From)); !ok {
			return false
		}
	}
	if r.Via != "" && r.Via != string(p.Via) {
		return false
	}
	if r.Node != "" {
		if ok, _ := path.Match(r.Node, p.Node); !ok || p.Node == "" {
			return false
		}
	}
	return true
}

// Declared returns the adjuster for what the cluster declares about itself
// (routable pods, internal Services); it runs before NetworkPolicy's, which
// may then find a path it made reachable blocked.
func (c *Config) Declared() func(p *probe.Probe) {
	return func(p *probe.Probe) {
		if p.From != probe.FromLocal || p.Skip != "" {
			return
		}
		if c.RoutablePods && p.Via.Kind().Route == probe.RouteDirect && p.Expect.Want == probe.NoReach {
			p.Expect = probe.Expectation{Want: probe.Reach, Reason: "declared: the pod network is routable from outside (" + c.routableAt + ")"}
			p.Exception = "routablePods"
		}
		for i, g := range c.Internal {
			if ok, _ := path.Match(g, p.ServiceKey()); ok && p.Expect.Want == probe.Reach {
				p.Expect = probe.Expectation{Want: probe.NoReach, Reason: "declared internal: " + g + " must not answer from outside (" + c.internalAt[i] + ")"}
				p.Exception = internalName(i)
			}
		}
	}
}

// Final returns the adjuster for skips and overrides, which have the last
// word on a probe's expectation.
func (c *Config) Final() func(p *probe.Probe) {
	rules := c.rules()
	return func(p *probe.Probe) {
		for _, r := range rules {
			if !r.matches(p) {
				continue
			}
			p.Exception = r.Name
			if r.Expect == "" {
				if p.Skip == "" {
					p.Skip = "skipped by exception " + r.Name + ": " + r.Reason
				}
				continue
			}
			want := probe.Want(r.Expect)
			exp := probe.Expectation{}
			if want == probe.Reach {
				exp = p.Expect // keeps the status, stickiness and names the path must show
				exp.Policies = nil
			}
			exp.Want, exp.Reason = want, "declared: "+r.Reason+" ("+r.Name+", "+r.at+")"
			p.Expect = exp
		}
	}
}
