package main

import (
	"strings"
	"testing"
)

// TestAddresses: node i is 10.253.(i/254).(i%254+1), as lab/sim.sh gives
// them to the namespace; pods follow in their own range.
func TestAddresses(t *testing.T) {
	c := &config{nodes: 1000, podsPerService: 5, nodeNet: "10.253.0.0/16", podNet: "10.254.0.0/16"}
	for i, want := range map[int]string{0: "10.253.0.1", 253: "10.253.0.254", 254: "10.253.1.1", 999: "10.253.3.238"} {
		if got := c.nodeAddr(i); got != want {
			t.Errorf("node %d: %s, want %s", i, got, want)
		}
	}
	if got := c.podAddr(1, 2); got != "10.254.0.8" {
		t.Errorf("pod 2 of Service 1: %s", got)
	}
	if _, err := addr("10.253.0.0/24", 300); err == nil {
		t.Error("an address beyond the range")
	}
}

func TestFaultRules(t *testing.T) {
	c := &config{nodes: 3, nodeNet: "10.253.0.0/16", operator: "10.250.0.100"}
	d := newDataplane(c)
	v := &view{byNodePort: map[int32]string{31000: "sim-00001"}, backends: map[string][]backend{"sim-00001": {{ip: "10.254.0.1", pod: "sim-00001-0"}}}}
	f := &faults{RefuseNodes: []string{"lab-sim-0000"}, DropNodes: []string{"lab-sim-0001"}, FirewallNodes: []string{"lab-sim-0002"},
		BrokenServices: []string{"sim-00001"}, BadBackends: []badBackend{{Node: "lab-sim-0000", Service: "sim-00001"}}}
	f.resolve(v)
	if !f.unreachable("lab-sim-0000", "sim-00001", "sim-00001-0") {
		t.Errorf("bad backend not resolved: %+v", f.BadBackends)
	}
	rules, err := d.rules(c, f, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-A INPUT -d 10.253.0.1/32 -p tcp -j REJECT --reject-with tcp-reset",
		"-A INPUT -d 10.253.0.2/32 -j DROP",
		"-A INPUT -s 10.250.0.100/32 -d 10.253.0.3/32 -j DROP",
		"-A INPUT -p tcp --dport 31000 -j REJECT --reject-with tcp-reset",
		"-A INPUT -d 10.254.0.1/32 -p tcp --dport 8080 -j REJECT --reject-with tcp-reset",
	} {
		if !strings.Contains(rules, want+"\n") {
			t.Errorf("rules lack %q:\n%s", want, rules)
		}
	}
	if _, err := d.rules(c, &faults{DropNodes: []string{"nope"}}, v); err == nil {
		t.Error("an unknown node is an error")
	}
}
