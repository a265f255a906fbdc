package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// dnsFaults: the Service's DNS name fails from a vantage point where the
// addresses it should resolve to answer (the ClusterIP; a headless Service's
// endpoints), every failed connection a DNS error. The name, not the
// dataplane, is what fails there:
//
//   - dnsFailed: the name does not resolve (no answer from the cluster DNS,
//     SERVFAIL, NXDOMAIN): the cluster DNS is down, has no ready endpoint,
//     or cannot be reached from there;
//   - dnsWrongAnswer: it resolves to an address that is not the Service's (a
//     stale or rewritten record).
//
// One finding per Service port and kind, naming every vantage point that
// shows it. Where the ClusterIP fails too, the node and hop rules judge the
// paths (a node that forwards nothing fails its DNS lookups as well).
type dnsFaults struct{}

func (dnsFaults) apply(c *svcContext) bool {
	answers := map[*probe.Probe][]int{} // what answers at the addresses each failed name should resolve to
	keys, groups := c.openGroups(func(p *probe.Probe) bool { return p.Via == probe.ViaDNS },
		func(p *probe.Probe, r *probe.Result) bool {
			if !connFailed(p, r) || !slices.Equal(failureKinds(r), []probe.Outcome{probe.DNSError}) {
				return false
			}
			answers[p] = c.resolvedAnswer(p)
			return len(answers[p]) > 0
		},
		func(p *probe.Probe, r *probe.Result) string { return p.Port + "|" + string(dnsFaultCode(r)) })
	for _, k := range keys {
		idx := groups[k]
		p0, r0 := c.probe(idx[0])
		code := dnsFaultCode(r0)
		var from []string
		for _, i := range idx {
			p, r := c.probe(i)
			where := "from " + c.fromText(p)
			if r.Failures < r.Connections {
				where += fmt.Sprintf(" (%d of %d connections)", r.Failures, r.Connections)
			}
			from = append(from, where)
		}
		var targets []string
		for _, i := range answers[p0] {
			q := &c.plan.Probes[i]
			targets = append(targets, describeTarget(q))
		}
		targets = dedupe(targets)
		if code == VerdictDNSWrongAnswer {
			c.add(SevError, code, "", "", idx,
				"DNS name %s %s: %s, while %s there: a stale or rewritten record (check the cluster DNS's configuration: rewrite, hosts, stub domains, a search domain)",
				p0.Address(), strings.Join(from, ", "), r0.Detail, answer(targets))
			continue
		}
		cause := "the cluster DNS fails, not the Service (check kube-system/kube-dns: its pods, its ready endpoints and the way to them, a NetworkPolicy on egress to port 53 included)"
		switch d := c.dns; {
		case d == nil || d.Ready < 0:
		case d.Ready == 0:
			cause = "the cluster DNS Service " + d.Service + " has no ready endpoint (check its pods)"
		default:
			cause = fmt.Sprintf("the cluster DNS Service %s has %d ready endpoint(s) that do not answer there (check the way from there to them: routes, a NetworkPolicy on egress to port 53; and their logs)", d.Service, d.Ready)
		}
		c.add(SevError, code, "", "", idx, "DNS name %s does not resolve %s (%s) while %s there: %s",
			p0.Host, strings.Join(from, ", "), r0.Detail, answer(targets), cause)
	}
	return false
}

// dnsFaultCode tells a name that resolved elsewhere (its result names the
// addresses, Result.Resolved) from one that did not resolve.
func dnsFaultCode(r *probe.Result) Code {
	if r != nil && len(r.Resolved) > 0 {
		return VerdictDNSWrongAnswer
	}
	return VerdictDNSFailed
}

// resolvedAnswer lists the probes from p's vantage point and port that
// answered at an address p's name should resolve to: a cluster-internal
// one (the ClusterIP, or a headless Service's endpoints).
func (c *svcContext) resolvedAnswer(p *probe.Probe) []int {
	return c.answered(func(q *probe.Probe) bool {
		return q.From == p.From && q.Port == p.Port && q.Via.Kind().ClusterInternal &&
			slices.Contains(p.Expect.Addresses, q.Host)
	})
}

// answer says that targets answer: "ClusterIP 10.96.0.1:80 answers".
func answer(targets []string) string {
	if len(targets) == 1 {
		return targets[0] + " answers"
	}
	return strings.Join(targets, ", ") + " answer"
}

// describeTarget names a probe's target: "ClusterIP 10.96.0.1:80", "pod
// web-a (10.244.1.7:80)".
func describeTarget(p *probe.Probe) string {
	if direct(p.Via) {
		if p.Pod != "" {
			return "pod " + p.Pod + " (" + p.Address() + ")"
		}
		return "endpoint " + p.Address()
	}
	return p.Via.Kind().Name(p) + " " + p.Address()
}
