package diagnose

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// Codes about NetworkPolicy, declared exceptions and probing as a client.
const (
	// VerdictPolicyNotEnforced: a path NetworkPolicy must block answered.
	VerdictPolicyNotEnforced Code = "policyNotEnforced"
	// NotePolicyBlocked: paths NetworkPolicy blocks, as it should (info).
	NotePolicyBlocked Code = "policyBlocked"
	// NotePolicyUndecided: paths whose fate under NetworkPolicy svccheck
	// cannot know before the run, expected unknown (info).
	NotePolicyUndecided Code = "policyUndecided"
	// NotePoliciesNotRead: svccheck could not read NetworkPolicies, and
	// expected every path as if there were none (info).
	NotePoliciesNotRead Code = "policiesNotRead"
	// NoteException: a declared exception set expectations or skipped
	// probes (info).
	NoteException Code = "exception"
	// NoteAsClient: the in-cluster agent ran with a client's labels (info).
	NoteAsClient Code = "asClient"
	// NoteLocalIngress: a LoadBalancer ingress of an
	// externalTrafficPolicy=Local Service answered from the pods of some
	// nodes only, as that policy makes it (info).
	NoteLocalIngress Code = "localIngress"
)

// networkPolicy judges the paths whose expectation NetworkPolicy decided
// (Expectation.Policies): a path policy must block that answered anyway is
// policyNotEnforced, a warning placed on the node of the pods that answered
// when they share one (policy is enforced where the pod runs), one finding
// per set of deciding policies; paths blocked as policy says, and paths it
// leaves undecided, are noted (info). It also judges the other policy that
// decides who answers: a LoadBalancer ingress under
// externalTrafficPolicy=Local (localIngress). It explains the paths it
// cites.
type networkPolicy struct{}

func (networkPolicy) apply(c *svcContext) bool {
	byPolicies := map[string][]int{}
	var order []string
	for _, i := range c.failed(blockedByPolicy) {
		if _, r := c.probe(i); !r.Outcome.Connected() {
			continue // failed otherwise: not the policy's business
		}
		k := strings.Join(c.plan.Probes[i].Expect.Policies, ", ")
		if _, ok := byPolicies[k]; !ok {
			order = append(order, k)
		}
		byPolicies[k] = append(byPolicies[k], i)
	}
	for _, k := range order {
		c.notEnforced(k, byPolicies[k])
	}
	if blocked := c.passed(blockedByPolicy); len(blocked) > 0 {
		p := &c.plan.Probes[blocked[0]]
		c.add(SevInfo, NotePolicyBlocked, "", "", blocked, "%s blocked by NetworkPolicy, as expected: %s (%s)",
			countOf(len(blocked), "path"), hops(c, blocked), p.Expect.Reason)
	}
	undecided := c.ran(func(p *probe.Probe) bool { return p.Expect.Want == probe.Unknown && len(p.Expect.Policies) > 0 })
	if len(undecided) > 0 {
		p := &c.plan.Probes[undecided[0]]
		c.add(SevInfo, NotePolicyUndecided, "", "", undecided, "%s not judged: %s (%s)",
			countOf(len(undecided), "path"), hops(c, undecided), p.Expect.Reason)
	}
	c.localIngress()
	return false
}

// localIngress notes a LoadBalancer ingress of an externalTrafficPolicy=Local
// Service that answered from the pods of some nodes only: the load balancer
// delivers to nodes with a local endpoint, each answers with its own pods,
// and one that announces from a single node (an L2 announcer such as
// MetalLB) reaches that node's pods alone. That is the policy, not partial
// coverage; the answers still come from ready endpoints only.
func (c *svcContext) localIngress() {
	if c.svc.ExternalTrafficPolicy != probe.PolicyLocal {
		return
	}
	for _, i := range c.passed(func(p *probe.Probe) bool { return p.Via == probe.ViaLoadBalancer && len(p.Backends) > 1 }) {
		p, r := c.probe(i)
		miss := missing(p.Backends, r.Seen)
		if len(r.Seen) == 0 || len(miss) == 0 {
			continue
		}
		var nodes []string
		for _, pod := range c.pods {
			if pod.Namespace == p.Namespace && slices.Contains(r.Seen, pod.Name) && !slices.Contains(nodes, pod.NodeName) {
				nodes = append(nodes, pod.NodeName)
			}
		}
		sort.Strings(nodes)
		node := ""
		if len(nodes) == 1 {
			node = nodes[0]
		}
		c.add(SevInfo, NoteLocalIngress, node, "", []int{i}, "LoadBalancer %s reached %s only (on %s), not %s: with externalTrafficPolicy=Local the ingress reaches the pods of the nodes it delivers to",
			p.Address(), strings.Join(r.Seen, ", "), strings.Join(nodes, ", "), strings.Join(miss, ", "))
	}
}

// blockedByPolicy: a probe NetworkPolicy must block.
func blockedByPolicy(p *probe.Probe) bool {
	return p.Expect.Want == probe.NoReach && len(p.Expect.Policies) > 0
}

// notEnforced adds the finding about paths that answered though the
// policies named by k must block them.
func (c *svcContext) notEnforced(k string, idx []int) {
	var nodes []string
	for _, i := range idx {
		for _, n := range c.answeringNodes(i) {
			if !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
	}
	sort.Strings(nodes)
	where, node := "the nodes of the answering pods", ""
	switch len(nodes) {
	case 0:
	case 1:
		where, node = "node "+nodes[0], nodes[0]
	default:
		where = "nodes " + strings.Join(nodes, ", ")
	}
	what, blocks := "NetworkPolicy "+k+" is", "it blocks"
	if strings.Contains(k, ",") {
		what, blocks = "NetworkPolicies "+k+" are", "they block"
	}
	c.add(SevWarning, VerdictPolicyNotEnforced, node, "", idx, "%s not enforced on %s: %s %s answered (%s); check the NetworkPolicy implementation there",
		what, where, countOf(len(idx), "path"), blocks, hops(c, idx))
}

// answeringNodes are the nodes of the pods that answered probe i: the
// endpoint's node, or the nodes of the backends seen (of every backend when
// none was attributed).
func (c *svcContext) answeringNodes(i int) []string {
	p, r := c.probe(i)
	if direct(p.Via) {
		if p.Node == "" {
			return nil
		}
		return []string{p.Node}
	}
	pods := r.Seen
	if len(pods) == 0 {
		pods = p.Backends
	}
	var out []string
	for _, name := range pods {
		for _, pod := range c.pods {
			if pod.Namespace == p.Namespace && pod.Name == name && pod.NodeName != "" {
				out = append(out, pod.NodeName)
			}
		}
	}
	return out
}

// hops names the kinds of hop of the probes idx, in plan order.
func hops(c *svcContext, idx []int) string {
	var out []string
	for _, i := range idx {
		if d := describeHop(&c.plan.Probes[i]); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, ", ")
}

func countOf(n int, what string) string {
	return fmt.Sprintf("%d %s", n, plural(n, what+"s", what))
}
