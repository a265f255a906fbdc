package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func TestDNSFaults(t *testing.T) {
	dns := func(p *probe.Probe) bool { return p.Via == probe.ViaDNS }
	detail := func(d string) func(p *probe.Probe, r *probe.Result) {
		return func(p *probe.Probe, r *probe.Result) {
			if dns(p) {
				r.Detail = d
			}
		}
	}
	wrongAnswer := func(d string, addrs ...string) func(p *probe.Probe, r *probe.Result) {
		return func(p *probe.Probe, r *probe.Result) {
			if dns(p) {
				r.Detail, r.Resolved = d, addrs
			}
		}
	}
	lookup := "lookup web.default.svc.cluster.local on 10.96.0.10:53: read udp 10.244.1.9:40000->10.96.0.10:53: i/o timeout"
	inside := []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}
	testRule(t, dnsFaults{}, []ruleCase{
		{name: "the name does not resolve where the ClusterIP answers", from: inside, agent: "worker1",
			outcome: failing(dns, probe.DNSError), tweak: detail(lookup),
			codes: "error:dnsFailed", cites: everyFailed,
			msgs: []string{"DNS name web.default.svc.cluster.local does not resolve from pod (on worker1) (" + lookup +
				") while ClusterIP 10.96.0.100:8080 answers there: the cluster DNS fails, not the Service"}},
		{name: "the cluster DNS Service has no ready endpoint", from: []probe.From{probe.FromPod},
			mutate:  func(inv *probe.Inventory) { inv.ClusterDNS = &probe.ClusterDNS{Service: "kube-system/kube-dns"} },
			outcome: failing(dns, probe.DNSError), tweak: detail(lookup), codes: "error:dnsFailed", cites: everyFailed,
			msgs: []string{"answers there: the cluster DNS Service kube-system/kube-dns has no ready endpoint (check its pods)"}},
		{name: "the cluster DNS has ready endpoints that do not answer", from: []probe.From{probe.FromPod},
			mutate: func(inv *probe.Inventory) {
				inv.ClusterDNS = &probe.ClusterDNS{Service: "kube-system/kube-dns", Ready: 2}
			},
			outcome: failing(dns, probe.DNSError), tweak: detail(lookup), codes: "error:dnsFailed", cites: everyFailed,
			msgs: []string{"the cluster DNS Service kube-system/kube-dns has 2 ready endpoint(s) that do not answer there"}},
		{name: "resolves elsewhere", from: []probe.From{probe.FromPod}, outcome: failing(dns, probe.DNSError),
			tweak: wrongAnswer("resolved to 10.96.0.200, not the ClusterIP 10.96.0.100", "10.96.0.200"),
			codes: "error:dnsWrongAnswer", cites: everyFailed,
			msgs: []string{"DNS name web.default.svc.cluster.local:8080 from pod: resolved to 10.96.0.200, not the ClusterIP 10.96.0.100, while ClusterIP 10.96.0.100:8080 answers there: a stale or rewritten record"}},
		{name: "a headless Service's name, its endpoints answering", from: []probe.From{probe.FromPod},
			mutate: func(inv *probe.Inventory) {
				inv.Services[0].ClusterIPs = nil
				inv.Services[0].Type = probe.TypeClusterIP
				inv.Services[0].Ports[0].NodePort = 0
			},
			outcome: failing(dns, probe.DNSError), tweak: detail("lookup web.default.svc.cluster.local: no such host"),
			codes: "error:dnsFailed", cites: everyFailed, msgs: []string{"while pod web-a (10.244.0.5:80), pod web-b (10.244.1.7:80) answer there"}},
		{name: "some lookups fail", from: []probe.From{probe.FromPod}, outcome: healthy,
			tweak: func(p *probe.Probe, r *probe.Result) {
				if dns(p) {
					r.Outcome, r.Connections, r.Failures, r.Detail = probe.DNSError, 21, 7, lookup
					r.Observed = map[probe.Outcome]int{probe.OK: 14, probe.DNSError: 7}
				}
			},
			codes: "error:dnsFailed", cites: everyFailed, msgs: []string{"does not resolve from pod (7 of 21 connections) ("}},
		{name: "the ClusterIP fails too: the dataplane, not the name", from: []probe.From{probe.FromPod},
			outcome: failing(func(p *probe.Probe) bool { return dns(p) || p.Via == probe.ViaClusterIP }, probe.DNSError), tweak: detail(lookup)},
		{name: "the connection after the lookup failed: not the name", from: []probe.From{probe.FromPod}, outcome: failing(dns, probe.Timeout)},
		{name: "explained already", from: []probe.From{probe.FromPod}, outcome: failing(dns, probe.DNSError), tweak: detail(lookup),
			cited: func(p *probe.Probe) bool { return dns(p) }},
		{name: "healthy", from: inside, outcome: healthy},
	})
}
