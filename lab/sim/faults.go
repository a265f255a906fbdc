package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
)

// faults are the dataplane's injected faults. Node faults are iptables
// rules in the simulation's namespace; an unreachable backend is the
// dataplane resetting the connections it sends there.
type faults struct {
	// RefuseNodes refuse every NodePort (a node whose kube-proxy is gone).
	RefuseNodes []string `json:"refuseNodes,omitempty"`
	// DropNodes drop every packet (a node gone from the network).
	DropNodes []string `json:"dropNodes,omitempty"`
	// FirewallNodes drop packets from the operator only (a firewall
	// between the operator and the node).
	FirewallNodes []string `json:"firewallNodes,omitempty"`
	// BrokenServices refuse on every node and on their pods (backends
	// that do not listen).
	BrokenServices []string `json:"brokenServices,omitempty"`
	// BadBackends are backends unreachable through one node: connections
	// through that node's NodePort sent to that pod are reset.
	BadBackends []badBackend `json:"badBackends,omitempty"`
}

// badBackend is a pod of a Service unreachable through a node; an empty
// Pod is the Service's first ready backend by name.
type badBackend struct {
	Node    string `json:"node"`
	Service string `json:"service"`
	Pod     string `json:"pod,omitempty"`
}

func (f *faults) unreachable(node, svc, pod string) bool {
	for _, b := range f.BadBackends {
		if b.Node == node && b.Service == svc && b.Pod == pod {
			return true
		}
	}
	return false
}

func loadFaults(path string) (*faults, error) {
	f := &faults{}
	if path == "" {
		return f, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("faults %s: %w", path, err)
	}
	return f, nil
}

// resolve names the pod of each bad backend left unnamed.
func (f *faults) resolve(v *view) {
	for i := range f.BadBackends {
		b := &f.BadBackends[i]
		if b.Pod != "" {
			continue
		}
		var pods []string
		for _, be := range v.backends[b.Service] {
			pods = append(pods, be.pod)
		}
		sort.Strings(pods)
		if len(pods) > 0 {
			b.Pod = pods[0]
		}
	}
}

// rules are the iptables-restore input of the node and Service faults.
func (d *dataplane) rules(c *config, f *faults, v *view) (string, error) {
	var b bytes.Buffer
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	ip := map[string]string{}
	for a, n := range d.nodeByIP {
		ip[n] = a
	}
	for kind, nodes := range map[string][]string{"refuse": f.RefuseNodes, "drop": f.DropNodes, "firewall": f.FirewallNodes} {
		for _, n := range nodes {
			a, ok := ip[n]
			if !ok {
				return "", fmt.Errorf("no simulated node %q", n)
			}
			switch kind {
			case "refuse":
				fmt.Fprintf(&b, "-A INPUT -d %s/32 -p tcp -j REJECT --reject-with tcp-reset\n", a)
			case "drop":
				fmt.Fprintf(&b, "-A INPUT -d %s/32 -j DROP\n", a)
			default:
				fmt.Fprintf(&b, "-A INPUT -s %s/32 -d %s/32 -j DROP\n", c.operator, a)
			}
		}
	}
	for _, svc := range f.BrokenServices {
		for port, s := range v.byNodePort {
			if s == svc {
				fmt.Fprintf(&b, "-A INPUT -p tcp --dport %d -j REJECT --reject-with tcp-reset\n", port)
			}
		}
		for _, be := range v.backends[svc] {
			fmt.Fprintf(&b, "-A INPUT -d %s/32 -p tcp --dport %d -j REJECT --reject-with tcp-reset\n", be.ip, PodPort)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String(), nil
}

// apply makes f the dataplane's faults.
func (d *dataplane) apply(c *config, f *faults) error {
	v := d.view.Load()
	f.resolve(v)
	rules, err := d.rules(c, f, v)
	if err != nil {
		return err
	}
	cmd := exec.Command("iptables-restore")
	cmd.Stdin = bytes.NewBufferString(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, out)
	}
	d.faults.Store(f)
	return nil
}

// sortedFaults is f with its lists sorted, for the status file.
func sortedFaults(f *faults) *faults {
	g := *f
	for _, l := range [][]string{g.RefuseNodes, g.DropNodes, g.FirewallNodes, g.BrokenServices} {
		slices.Sort(l)
	}
	return &g
}
