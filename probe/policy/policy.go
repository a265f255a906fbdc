// Package policy evaluates Kubernetes NetworkPolicies (networking.k8s.io/v1)
// for svccheck's probes: whether the policies in force admit a connection
// from one host to another, in both directions (the egress policies that
// select the client, the ingress policies that select the target), with
// podSelector, namespaceSelector, ipBlock with except, ports (named ports,
// endPort) and protocols.
//
// Answers are three-valued: what svccheck cannot know before the run (the
// agent pod's address for an ipBlock, a namespace's labels it may not read)
// makes an answer Maybe, never a guess. The package is pure: the plugin
// converts the API's objects into a Set.
package policy

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// Policy is one NetworkPolicy.
type Policy struct {
	Namespace string
	Name      string
	// PodSelector selects the pods of Namespace the policy applies to.
	PodSelector Selector
	// Ingress and Egress are the policy's policyTypes: a policy isolates
	// the pods it selects in each direction it names, and then admits only
	// what its rules for that direction admit (none: nothing).
	Ingress, Egress bool
	IngressRules    []Rule
	EgressRules     []Rule
}

// Key returns "namespace/name".
func (p *Policy) Key() string { return p.Namespace + "/" + p.Name }

// Rule is one ingress or egress rule: it admits a connection from (or to)
// any of its peers on any of its ports.
type Rule struct {
	// Peers are the rule's from (ingress) or to (egress); empty admits
	// every peer.
	Peers []Peer
	// Ports are the rule's ports; empty admits every port.
	Ports []Port
}

// Peer is one NetworkPolicyPeer: pods chosen by selectors, or addresses.
type Peer struct {
	// PodSelector alone selects pods in the policy's namespace; with
	// NamespaceSelector, pods in the namespaces it selects.
	PodSelector *Selector
	// NamespaceSelector alone selects every pod of the namespaces it selects.
	NamespaceSelector *Selector
	IPBlock           *IPBlock
}

// IPBlock is a CIDR with exceptions.
type IPBlock struct {
	CIDR   netip.Prefix
	Except []netip.Prefix
}

// Port is one NetworkPolicyPort: a protocol (TCP when empty) and a port by
// number (with EndPort, a range) or by name; neither means every port of
// the protocol.
type Port struct {
	Protocol probe.Protocol
	Port     int32
	Name     string
	EndPort  int32
}

// Selector is a label selector: every MatchLabels pair and every
// expression must hold; an empty Selector selects everything.
type Selector struct {
	MatchLabels      map[string]string
	MatchExpressions []Requirement
}

// Requirement is one matchExpressions entry: Operator is In, NotIn, Exists
// or DoesNotExist.
type Requirement struct {
	Key      string
	Operator string
	Values   []string
}

// Set is the NetworkPolicies in force and what is known of the namespaces
// their namespaceSelectors select from.
type Set struct {
	Policies []Policy
	// Namespaces maps a namespace to its labels. A namespace not in the map
	// has unknown labels, except kubernetes.io/metadata.name, which the API
	// server sets to the namespace's name.
	Namespaces map[string]map[string]string
	// podAddrs are the addresses of the pods discovery saw (NewAdjuster).
	podAddrs []netip.Addr
}

// Host is one end of a connection as policy sees it.
type Host struct {
	// Pod is true for a pod on the pod network (selectors apply to it);
	// false for a node, a hostNetwork pod or a machine outside the cluster,
	// which only ipBlocks match.
	Pod       bool
	Namespace string
	Name      string
	Labels    map[string]string
	// Ports are the container ports the pod declares, for named ports.
	Ports []NamedPort
	// Addr is the host's address; invalid when it is not known before the
	// run (the agent pod, svccheck's own machine).
	Addr netip.Addr
	// Desc names the host in reasons: "svccheck's agent", "node lab-w1
	// (10.250.0.12)", "outside the cluster".
	Desc string
}

// NamedPort is a port a container declares.
type NamedPort struct {
	Name     string
	Port     int32
	Protocol probe.Protocol
}

// Verdict is whether policy admits a connection, and why.
type Verdict struct {
	Admit Tri
	// Policies are the NetworkPolicies that isolate the connection's client
	// (egress) or target (ingress): the ones that decided. Empty when no
	// policy applies.
	Policies []string
	// Reason says, when Admit is No or Maybe, which policy refuses or what
	// the answer depends on; when Yes with Policies, which admitted it.
	Reason string
}

// Evaluate says whether the policies admit a connection from src to dst
// on port/protocol: the egress policies selecting src (a pod) must admit
// it to dst, and the ingress policies selecting dst (a pod) must admit it
// from src.
func (s *Set) Evaluate(src, dst Host, port int32, protocol probe.Protocol) Verdict {
	eg := s.direction(src, dst, port, protocol, true)
	in := s.direction(src, dst, port, protocol, false)
	v := Verdict{Admit: and(eg.Admit, in.Admit), Policies: union(eg.Policies, in.Policies)}
	switch {
	case eg.Admit == No:
		v.Reason = eg.Reason
	case in.Admit == No:
		v.Reason = in.Reason
	case eg.Admit == Maybe:
		v.Reason = eg.Reason
	case in.Admit == Maybe:
		v.Reason = in.Reason
	default:
		v.Reason = strings.Trim(eg.Reason+"; "+in.Reason, "; ")
	}
	return v
}

// direction evaluates the egress policies of src (egress) or the ingress
// policies of dst.
func (s *Set) direction(src, dst Host, port int32, protocol probe.Protocol, egress bool) Verdict {
	self, peer := dst, src
	if egress {
		self, peer = src, dst
	}
	if !self.Pod {
		return Verdict{Admit: Yes}
	}
	var isolating []*Policy
	admit, why := No, ""
	for i := range s.Policies {
		p := &s.Policies[i]
		if p.Namespace != self.Namespace || !(egress && p.Egress || !egress && p.Ingress) || !p.PodSelector.matches(self.Labels) {
			continue
		}
		isolating = append(isolating, p)
		rules := p.IngressRules
		if egress {
			rules = p.EgressRules
		}
		for _, r := range rules {
			// Named ports are the target's: dst's in both directions.
			got, w := s.ruleAdmits(p.Namespace, r, peer, dst, port, protocol)
			admit = or(admit, got)
			if got == Maybe && why == "" {
				why = w
			}
		}
	}
	if len(isolating) == 0 {
		return Verdict{Admit: Yes}
	}
	names := make([]string, len(isolating))
	for i, p := range isolating {
		names[i] = p.Key()
	}
	sort.Strings(names)
	return Verdict{Admit: admit, Policies: names, Reason: reason(admit, names, egress, src, dst, port, protocol, why)}
}

// reason says what a direction's policies decided.
func reason(admit Tri, names []string, egress bool, src, dst Host, port int32, protocol probe.Protocol, why string) string {
	subject := "NetworkPolicy " + names[0]
	verb := "admits"
	if len(names) > 1 {
		subject, verb = "NetworkPolicies "+strings.Join(names, ", "), "admit"
	}
	dir := "ingress from " + src.Desc
	if egress {
		dir = "egress from " + src.Desc + " to " + dst.Desc
	}
	on := " on port " + itoa(port) + "/" + string(protocol)
	switch admit {
	case Yes:
		return "admitted by " + subject
	case No:
		return subject + " " + verb + " no " + dir + on
	}
	return "whether " + subject + " " + verb + " " + dir + on + " depends on " + why
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
