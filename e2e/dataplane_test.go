//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

// The dataplane scenarios: svccheck on each dataplane the lab can run
// (lab/lab.sh up --dns --proxy --cni --stack). A scenario that needs a given
// dataplane skips on a lab running another; `make e2e-matrix` brings each up.

// labDataplane is the running lab's dataplane as lab/lab.sh wrote it in
// $LAB/dataplane: dns, proxy, cni and stack.
func labDataplane(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(labDir(), "dataplane"))
	if err != nil {
		t.Fatalf("the lab says nothing of its dataplane: %v", err)
	}
	dp := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			dp[k] = v
		}
	}
	return dp
}

// needDataplane skips the test unless the lab runs key=value.
func needDataplane(t *testing.T, key, value string) {
	t.Helper()
	if got := labDataplane(t)[key]; got != value {
		t.Skipf("needs a lab with %s=%s (this one has %s=%s): lab/lab.sh up --%s %s", key, value, key, got, key, value)
	}
}

// clusterIPs returns a Service's ClusterIPs.
func clusterIPs(t *testing.T, ns, name string) []string {
	return strings.Fields(lab(t, "kubectl", "get", "service", "-n", ns, name, "-o", `jsonpath={range .spec.clusterIPs[*]}{@}{" "}{end}`))
}

// dnsProbes returns the DNS probes of the named Services in r.
func dnsProbes(r *report.Report, names ...string) []report.ProbeRow {
	var out []report.ProbeRow
	if r == nil { // a run that printed no report: no probe
		return nil
	}
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if p.Via == "dns" && contains(names, s.Name) {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestDataplaneDNSProbesPass: with CoreDNS as the cluster DNS, the
// walkthrough from everywhere passes and every DNS probe ran: the name
// resolved to the Service's ClusterIP (the prober fails a name that resolves
// elsewhere) and reached both pods.
func TestDataplaneDNSProbesPass(t *testing.T) {
	needDataplane(t, "dns", "coredns")
	var r *report.Report
	eventually(t, "the walkthrough healthy from all", 60*time.Second, func() error {
		var code int
		r, _, code = svccheck(t, "-n", "default", "--from", "all", "--http", "hostname", "hostname-nodeport")
		return healthySeedFromAll(r, code)
	})
	dns := dnsProbes(r, "hostname", "hostname-nodeport")
	if len(dns) != 2 {
		t.Fatalf("%d DNS probes, want one per Service", len(dns))
	}
	for _, p := range dns {
		if p.Outcome != "ok" || !p.Pass || p.Coverage == nil || len(p.Coverage.Seen) != 2 || p.Attribution != "httpBody" {
			t.Errorf("%s: %s %q coverage %+v, want ok through both pods", p.ID, p.Outcome, p.Detail, p.Coverage)
		}
		if !strings.Contains(p.ExpectReason, "resolves to its ClusterIP") {
			t.Errorf("%s: expectation %q does not say the name must resolve to the ClusterIP", p.ID, p.ExpectReason)
		}
	}
}

// corefile returns CoreDNS's Corefile from its ConfigMap.
func corefile(t *testing.T) string {
	return lab(t, "kubectl", "get", "configmap", "-n", "kube-system", "coredns", "-o", "jsonpath={.data.Corefile}")
}

// setCorefile replaces CoreDNS's Corefile; CoreDNS reads it when it starts
// (restartCoreDNS).
func setCorefile(t *testing.T, text string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "corefile.json")
	patch := fmt.Sprintf(`{"data": {"Corefile": %q}}`, text)
	if err := os.WriteFile(f, []byte(patch), 0o644); err != nil {
		t.Fatal(err)
	}
	lab(t, "kubectl", "patch", "configmap", "-n", "kube-system", "coredns", "--type", "merge", "--patch-file", f)
}

// restartCoreDNS runs CoreDNS afresh with one replica and waits until it
// is ready, so the next answers come from the current Corefile.
func restartCoreDNS(t *testing.T) {
	t.Helper()
	lab(t, "kubectl", "scale", "-n", "kube-system", "deployment/coredns", "--replicas=1")
	lab(t, "kubectl", "rollout", "restart", "-n", "kube-system", "deployment/coredns")
	lab(t, "kubectl", "rollout", "status", "-n", "kube-system", "deployment/coredns", "--timeout=90s")
}

// TestDataplaneDNSPointingElsewhere: CoreDNS is made to answer the name of
// Service hostname with the record of hostname-nodeport (a rewrite, as a
// stale or mistaken DNS entry would): the connection succeeds, to the wrong
// Service, and the DNS probe fails naming both addresses (dnsWrongAnswer).
// With CoreDNS stopped, the DNS probe fails as dnsError and the verdict is
// the cluster DNS (dnsFailed), not the agent's node.
func TestDataplaneDNSPointingElsewhere(t *testing.T) {
	needDataplane(t, "dns", "coredns")
	orig := corefile(t)
	want, other := clusterIPs(t, "default", "hostname"), clusterIPs(t, "default", "hostname-nodeport")
	if len(want) == 0 || len(other) == 0 {
		t.Fatalf("ClusterIPs %v and %v", want, other)
	}
	restored := false
	restore := func() {
		setCorefile(t, orig)
		restartCoreDNS(t)
		restored = true
	}
	defer func() {
		if !restored {
			restore()
		}
	}()
	rewrite := "rewrite name exact hostname.default.svc.cluster.local. hostname-nodeport.default.svc.cluster.local. answer auto"
	if !strings.Contains(orig, "errors\n") {
		t.Fatalf("unexpected Corefile:\n%s", orig)
	}
	setCorefile(t, strings.Replace(orig, "errors\n", "errors\n    "+rewrite+"\n", 1))
	restartCoreDNS(t)
	detail := regexp.MustCompile(`resolved to (\S+), not the ClusterIP (\S+)`)
	eventually(t, "the DNS probe of hostname failing as resolved elsewhere", 60*time.Second, func() error {
		r, _, code := svccheck(t, "-n", "default", "--from", "cluster", "--http", "hostname")
		dns := dnsProbes(r, "hostname")
		if code != 1 || len(dns) != 1 {
			return fmt.Errorf("exit %d, %d DNS probes", code, len(dns))
		}
		p := dns[0]
		m := detail.FindStringSubmatch(p.Detail)
		if p.Pass || p.Outcome != "dnsError" || m == nil || m[1] != other[0] || m[2] != want[0] {
			return fmt.Errorf("%s: %s pass=%v detail %q, want dnsError: resolved to %s, not the ClusterIP %s",
				p.ID, p.Outcome, p.Pass, p.Detail, other[0], want[0])
		}
		for _, q := range service(t, r, "hostname").Probes {
			if q.Via != "dns" && !q.Pass {
				return fmt.Errorf("%s failed too: only the name is wrong", q.ID)
			}
		}
		t.Logf("%s: %s: %s", p.ID, p.Outcome, p.Detail)
		if got := strings.Join(verdicts(r, "hostname"), ","); got != "dnsWrongAnswer@" {
			return fmt.Errorf("verdicts %q (%v), want dnsWrongAnswer", got, findingsOf(r))
		}
		return nil
	})

	// No DNS server at all: CoreDNS scaled to zero, kube-dns has no endpoints.
	setCorefile(t, orig)
	lab(t, "kubectl", "scale", "-n", "kube-system", "deployment/coredns", "--replicas=0")
	eventually(t, "the DNS probe failing with no DNS server", 60*time.Second, func() error {
		r, _, code := svccheck(t, "-n", "default", "--from", "cluster", "--http", "hostname")
		dns := dnsProbes(r, "hostname")
		if code != 1 || len(dns) != 1 || dns[0].Outcome != "dnsError" || !strings.Contains(dns[0].Detail, "hostname.default.svc.cluster.local") {
			return fmt.Errorf("exit %d, DNS probes %+v", code, dns)
		}
		t.Logf("%s: %s: %s", dns[0].ID, dns[0].Outcome, dns[0].Detail)
		// The ClusterIP answers from the agent: the cluster DNS fails,
		// not the node's dataplane.
		if got := strings.Join(verdicts(r, "hostname"), ","); got != "dnsFailed@" || !slices.ContainsFunc(r.Findings, func(f diagnose.Finding) bool {
			return f.Code == diagnose.VerdictDNSFailed && strings.Contains(f.Message, "kube-system/kube-dns has no ready endpoint")
		}) {
			return fmt.Errorf("verdicts %q (%v), want dnsFailed naming kube-dns without a ready endpoint", got, findingsOf(r))
		}
		return nil
	})
	restore()
	eventually(t, "the DNS probe passing again", 60*time.Second, func() error {
		r, _, code := svccheck(t, "-n", "default", "--from", "cluster", "--http", "hostname")
		if dns := dnsProbes(r, "hostname"); code != 0 || len(dns) != 1 || !dns[0].Pass {
			return fmt.Errorf("exit %d, DNS probes %+v", code, dns)
		}
		return nil
	})
}

// TestDataplaneUDPService: the UDP echo Service on the hostname pods is
// probed from outside and from a pod; every answer names its pod, so NodePorts
// and the ClusterIP show both pods, endpoints their own.
func TestDataplaneUDPService(t *testing.T) {
	var r *report.Report
	eventually(t, "the UDP Service healthy", 60*time.Second, func() error {
		var code int
		r, _, code = svccheck(t, "-n", "default", "--from", "all", "hostname-udp")
		if r == nil || code != 0 {
			return fmt.Errorf("exit %d", code)
		}
		return nil
	})
	dual := labDataplane(t)["stack"] == "dual"
	count := map[string]int{}
	for _, p := range service(t, r, "hostname-udp").Probes {
		if p.Protocol != "UDP" || p.Outcome == "notRun" || !p.Pass {
			t.Errorf("%s: %s %s pass=%v %s", p.ID, p.Protocol, p.Outcome, p.Pass, p.Detail)
			continue
		}
		if p.Expect != "reach" {
			continue // from outside a ClusterIP or pod IP stays silent: inconclusive for UDP, and passing
		}
		count[string(p.From)+"/"+string(p.Via)]++
		switch {
		case p.Outcome != "ok":
			t.Errorf("%s: %s, want an answer", p.ID, p.Outcome)
		case p.Via == "endpoint":
			if p.Backend != p.Pod || p.Attribution != "direct" {
				t.Errorf("%s: answered by %q (%s), want %q", p.ID, p.Backend, p.Attribution, p.Pod)
			}
		case p.Coverage == nil || len(p.Coverage.Seen) != 2 || p.Attribution != "answer":
			t.Errorf("%s: coverage %+v attribution %q, want both pods named by their answers", p.ID, p.Coverage, p.Attribution)
		}
	}
	families := 1
	if dual {
		families = 2
	}
	want := map[string]int{"local/nodePort": 3 * families, "pod/endpoint": 2 * families, "pod/clusterIP": families, "pod/nodePort": 3 * families}
	if labDataplane(t)["dns"] == "coredns" {
		want["pod/dns"] = 1
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %s probes reached, want %d (all: %v)", count[k], k, n, count)
		}
	}
}

// TestDataplaneProxyMode: kube-proxy really runs in the mode the lab says,
// on every node: in nftables mode its table is there and no iptables
// Service chain is.
func TestDataplaneProxyMode(t *testing.T) {
	mode := labDataplane(t)["proxy"]
	for _, n := range []string{"lab-cp", "lab-w1", "lab-w2"} {
		ipt := lab(t, "node", n, "--", "iptables-save", "-t", "nat")
		switch mode {
		case "nftables":
			if nft := lab(t, "node", n, "--", "nft", "list", "table", "ip", "kube-proxy"); !strings.Contains(nft, "map service-ips") {
				t.Errorf("%s: no kube-proxy nftables table:\n%s", n, nft)
			}
			if strings.Contains(ipt, "-A KUBE-SERVICES") {
				t.Errorf("%s: iptables Service rules in nftables mode", n)
			}
		case "iptables":
			if !strings.Contains(ipt, "-A KUBE-SERVICES") {
				t.Errorf("%s: no iptables Service rules", n)
			}
		default:
			t.Fatalf("unknown proxy mode %q", mode)
		}
	}
}

// TestDataplaneFlannel: pods are networked by flannel's VXLAN device, not
// the bridge's static routes, and the walkthrough passes from everywhere.
func TestDataplaneFlannel(t *testing.T) {
	needDataplane(t, "cni", "flannel")
	nodes := map[string]string{"lab-cp": "10.251.1.0/24", "lab-w1": "10.251.2.0/24", "lab-w2": "10.251.3.0/24"}
	for n := range nodes {
		if link := lab(t, "node", n, "--", "ip", "-d", "link", "show", "flannel.1"); !strings.Contains(link, "vxlan id 1") {
			t.Errorf("%s: flannel.1 is not a VXLAN device: %s", n, link)
		}
		routes := lab(t, "node", n, "--", "ip", "route")
		for m, subnet := range nodes {
			if m != n && !regexp.MustCompile(regexp.QuoteMeta(subnet)+` via \S+ dev flannel\.1`).MatchString(routes) {
				t.Errorf("%s: %s (%s) not routed through flannel.1:\n%s", n, subnet, m, routes)
			}
		}
	}
	r, _, code := svccheck(t, "-n", "default", "--from", "everywhere", "--http", "hostname", "hostname-nodeport", "tcp-silent")
	if code != 0 {
		t.Fatalf("exit %d: %+v", code, r.Findings)
	}
}

// TestDataplaneDualStack: a PreferDualStack Service gets a ClusterIP of each
// family, NodePorts answer on both node addresses and endpoints of both
// families answer: every path of each family is probed and passes, from
// outside, from a pod and from every node.
func TestDataplaneDualStack(t *testing.T) {
	needDataplane(t, "stack", "dual")
	if ips := clusterIPs(t, "default", "hostname-dual"); len(ips) != 2 || !strings.Contains(ips[1], ":") {
		t.Fatalf("hostname-dual ClusterIPs %v, want IPv4 and IPv6", ips)
	}
	var r *report.Report
	eventually(t, "hostname-dual healthy from everywhere", 60*time.Second, func() error {
		var code int
		r, _, code = svccheck(t, "-n", "default", "--from", "everywhere", "--http", "hostname-dual")
		if r == nil || code != 0 {
			return fmt.Errorf("exit %d", code)
		}
		return nil
	})
	v6 := map[string]int{}
	for _, p := range service(t, r, "hostname-dual").Probes {
		if p.Outcome == "notRun" || !p.Pass {
			t.Errorf("%s: %s pass=%v %s", p.ID, p.Outcome, p.Pass, p.Detail)
		}
		if !strings.HasSuffix(p.ID, "/ipv6") {
			continue
		}
		if !strings.HasPrefix(p.Target, "[") {
			t.Errorf("%s: target %s is not an IPv6 address", p.ID, p.Target)
		}
		if p.Via == "nodePort" && !strings.HasPrefix(p.Target, "["+topo.ip6[p.Node]+"]:") {
			t.Errorf("%s: target %s, want %s's IPv6 address %s (lab/topology)", p.ID, p.Target, p.Node, topo.ip6[p.Node])
		}
		from := string(p.From)
		if strings.HasPrefix(from, "node/") {
			from = "node"
		}
		v6[from+"/"+string(p.Via)]++
		if p.Expect == "reach" && p.Via != "endpoint" && (p.Coverage == nil || len(p.Coverage.Seen) != 2) {
			t.Errorf("%s: coverage %+v, want both pods over IPv6", p.ID, p.Coverage)
		}
	}
	want := map[string]int{
		"local/nodePort": 3, "local/clusterIP": 1,
		"pod/endpoint": 2, "pod/clusterIP": 1, "pod/nodePort": 3,
		"node/endpoint": 6, "node/clusterIP": 3, "node/nodePort": 9,
	}
	for k, n := range want {
		if v6[k] != n {
			t.Errorf("%d IPv6 %s probes, want %d (all: %v)", v6[k], k, n, v6)
		}
	}
	for _, p := range dnsProbes(r, "hostname-dual") {
		if !p.Pass || p.Outcome != "ok" {
			t.Errorf("%s: %s %s", p.ID, p.Outcome, p.Detail)
		}
	}
}
