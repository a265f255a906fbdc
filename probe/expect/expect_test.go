package expect

import (
	"os"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

const valid = `apiVersion: svccheck.dev/v1alpha1
kind: Config
routablePods: true
internal:
- shop/admin
skip:
- service: default/*
  from: local
  via: nodePort
  node: worker2
  reason: worker2's NodePorts are firewalled from CI by design
overrides:
- name: dns-external
  service: default/web
  port: 8080
  from: pod
  via: dns
  expect: unknown
  reason: names resolve through an external resolver here
`

func TestParseValid(t *testing.T) {
	c, err := Parse("svccheck.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range c.Exceptions() {
		got = append(got, e.Name+" "+e.Source+" "+e.What)
	}
	want := []string{
		"routablePods svccheck.yaml:3 the pod network answers from outside by design: pod IPs probed from outside expect reach",
		"internal[0] svccheck.yaml:5 shop/admin must stay internal: no path from outside may answer",
		"skip[0] svccheck.yaml:7 skip default/* from local via nodePort on node worker2: worker2's NodePorts are firewalled from CI by design",
		"dns-external svccheck.yaml:13 default/web port 8080 from pod via dns expects unknown: names resolve through an external resolver here",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseErrors(t *testing.T) {
	head := "apiVersion: svccheck.dev/v1alpha1\nkind: Config\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"empty", "", []string{"f.yaml: empty"}},
		{"syntax", head + "skip: [\n", []string{"f.yaml:3:1: did not find expected node content"}},
		{"wrong kind", "apiVersion: svccheck.dev/v1alpha1\nkind: Report\n", []string{"f.yaml:2:7: kind: value must be 'Config'"}},
		{"missing apiVersion", "kind: Config\n", []string{"f.yaml:1:1: missing property 'apiVersion'"}},
		{"unknown field", head + "routablePod: true\nskip:\n- {service: a/b, reason: why not, vai: dns}\n", []string{
			`f.yaml:3:1: routablePod: unknown field "routablePod"`, `f.yaml:5:35: skip[0].vai: unknown field "vai"`}},
		{"wrong type", head + "routablePods: yes please\n", []string{"f.yaml:3:15: routablePods: got string, want boolean"}},
		{"bad enum and missing reason", head + "overrides:\n- service: a/b\n  expect: reachable\n", []string{
			"f.yaml:4:3: overrides[0]: missing property 'reason'",
			"f.yaml:5:11: overrides[0].expect: value must be one of 'reach', 'noReach', 'unknown'"}},
		{"bad service pattern", head + "internal: [web]\n", []string{"f.yaml:3:12: internal[0]: 'web' does not match pattern"}},
		{"duplicate key", head + "skip:\n- service: a/b\n  reason: why not\n  reason: twice\n", []string{`f.yaml:6:3: skip[0]: "reason" is set twice`}},
		{"duplicate name", head + "skip:\n- {name: x, service: a/b, reason: one}\n- {name: x, service: a/c, reason: two}\n",
			[]string{`f.yaml:5:10: skip[1].name: name "x" is already used by skip[0]`}},
		{"bad glob", head + "skip:\n- {service: 'a/[b', reason: bad glob}\n", []string{"f.yaml:4:13: skip[0].service: bad glob: syntax error in pattern"}},
		{"port out of range", head + "skip:\n- {service: a/b, port: 70000, reason: big}\n", []string{"f.yaml:4:24: skip[0].port: maximum: got 70,000, want 65,535"}},
		{"anchors", head + "internal: &a [x/y]\nskip: *a\n", []string{"f.yaml:4:7: skip: aliases and anchors are not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d:\n%s\nwant prefix\n%s", i, lines[i], w)
				}
			}
		})
	}
}

func TestAddFlags(t *testing.T) {
	var c Config
	if err := c.AddFlags(true, []string{"shop/*"}); err != nil {
		t.Fatal(err)
	}
	ex := c.Exceptions()
	if len(ex) != 2 || ex[0].Source != "--expect-routable-pods" || ex[1].Name != "internal[0]" || ex[1].Source != "--expect-internal" {
		t.Errorf("got %+v", ex)
	}
	if err := c.AddFlags(false, []string{"web"}); err == nil {
		t.Error("--expect-internal web: no error")
	}
}

// apply plans the seed (a NodePort, two pods) from every vantage point
// with c's adjusters.
func apply(t *testing.T, doc string) map[string]probe.Probe {
	t.Helper()
	c, err := Parse("svccheck.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	pl := plan.Build(testinv.Seed(), plan.Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, HTTP: true,
		Adjust: []func(*probe.Probe){c.Declared(), c.Final()}})
	out := map[string]probe.Probe{}
	for _, p := range pl.Probes {
		out[strings.TrimPrefix(p.ID, "default/web/http/")] = p
	}
	return out
}

func TestApply(t *testing.T) {
	ps := apply(t, valid)
	for id, want := range map[string]struct {
		want      probe.Want
		exception string
		skip      bool
	}{
		"local/endpoint/podNetwork":                {probe.Reach, "routablePods", false},
		"local/clusterIP/ipv4":                     {probe.NoReach, "", false},
		"local/nodePort/worker2/InternalIP":        {probe.Reach, "skip[0]", true},
		"local/nodePort/worker1/InternalIP":        {probe.Reach, "", false},
		"pod/dns/web.default.svc.cluster.local":    {probe.Unknown, "dns-external", false},
		"node/worker2/nodePort/worker2/InternalIP": {probe.Reach, "", false},
	} {
		p, ok := ps[id]
		if !ok {
			t.Fatalf("no probe %s", id)
		}
		if p.Expect.Want != want.want || p.Exception != want.exception || (p.Skip != "") != want.skip {
			t.Errorf("%s: %s exception %q skip %q; want %s %q skipped %v", id, p.Expect.Want, p.Exception, p.Skip, want.want, want.exception, want.skip)
		}
	}
	if r := ps["local/endpoint/podNetwork"].Expect.Reason; r != "declared: the pod network is routable from outside (svccheck.yaml:3)" {
		t.Errorf("reason %q", r)
	}
	if s := ps["local/nodePort/worker2/InternalIP"].Skip; s != "skipped by exception skip[0]: worker2's NodePorts are firewalled from CI by design" {
		t.Errorf("skip %q", s)
	}
	internal := apply(t, "apiVersion: svccheck.dev/v1alpha1\nkind: Config\ninternal: [default/w*]\n")
	for id, p := range internal {
		if strings.HasPrefix(id, "local/nodePort/") && (p.Expect.Want != probe.NoReach || p.Exception != "internal[0]" || p.Connections != 1) {
			t.Errorf("%s: %s %q, %d connections", id, p.Expect.Want, p.Exception, p.Connections)
		}
		if strings.HasPrefix(id, "pod/nodePort/") && p.Expect.Want != probe.Reach {
			t.Errorf("%s: inside the cluster an internal Service still answers, got %s", id, p.Expect.Want)
		}
	}
}

// TestExampleConfig: the documented example is valid.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../../deploy/svccheck.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("svccheck.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Exceptions()); n != 5 {
		t.Errorf("%d exceptions, want 5", n)
	}
}
