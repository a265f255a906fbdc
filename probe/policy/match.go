package policy

import (
	"net/netip"

	"github.com/svccheck/svccheck/probe"
)

// Tri is a three-valued answer.
type Tri int8

// Answers.
const (
	No Tri = iota
	Maybe
	Yes
)

func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "maybe"
}

func and(a, b Tri) Tri { return min(a, b) }
func or(a, b Tri) Tri  { return max(a, b) }

func tri(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// LabelNamespaceName is the label the API server sets on every namespace to
// its name.
const LabelNamespaceName = "kubernetes.io/metadata.name"

// matches reports whether the selector selects labels that are all known.
func (s *Selector) matches(labels map[string]string) bool {
	return s.match(labels, nil) == Yes
}

// match evaluates the selector on labels; a key not in labels for which
// known returns false is unknown, and so is every requirement on it.
func (s *Selector) match(labels map[string]string, known func(key string) bool) Tri {
	out := Yes
	isKnown := func(k string) bool { return known == nil || known(k) }
	for k, v := range s.MatchLabels {
		if !isKnown(k) {
			out = and(out, Maybe)
			continue
		}
		got, ok := labels[k]
		out = and(out, tri(ok && got == v))
	}
	for _, r := range s.MatchExpressions {
		if !isKnown(r.Key) {
			out = and(out, Maybe)
			continue
		}
		out = and(out, tri(r.holds(labels)))
	}
	return out
}

func (r *Requirement) holds(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case "In":
		return ok && contains(r.Values, v)
	case "NotIn":
		return !ok || !contains(r.Values, v)
	case "Exists":
		return ok
	case "DoesNotExist":
		return !ok
	}
	return false // the API server rejects any other operator
}

// namespaceMatch evaluates a namespaceSelector on namespace ns.
func (s *Set) namespaceMatch(sel *Selector, ns string) (Tri, string) {
	if labels, ok := s.Namespaces[ns]; ok {
		return tri(sel.matches(labels)), ""
	}
	t := sel.match(map[string]string{LabelNamespaceName: ns}, func(k string) bool { return k == LabelNamespaceName })
	return t, "the labels of namespace " + ns + ", which svccheck could not read (namespaceSelector)"
}

// ruleAdmits evaluates one rule of a policy in namespace polNS for a
// connection with peer on port/protocol; target is the connection's
// destination, whose declared ports resolve named ports. When the answer is
// Maybe, the string says what it depends on.
func (s *Set) ruleAdmits(polNS string, r Rule, peer, target Host, port int32, protocol probe.Protocol) (Tri, string) {
	ports := Tri(Yes)
	if len(r.Ports) > 0 {
		ports = No
		for _, p := range r.Ports {
			ports = or(ports, tri(p.matches(target, port, protocol)))
		}
	}
	if ports == No || len(r.Peers) == 0 {
		return ports, ""
	}
	peers, why := No, ""
	for i := range r.Peers {
		t, w := s.peerMatches(polNS, &r.Peers[i], peer)
		peers = or(peers, t)
		if t == Maybe && why == "" {
			why = w
		}
	}
	if peers != Maybe {
		why = ""
	}
	return and(ports, peers), why
}

// peerMatches evaluates one peer of a policy in namespace polNS on host h.
func (s *Set) peerMatches(polNS string, p *Peer, h Host) (Tri, string) {
	if p.IPBlock != nil {
		return s.blockContains(p.IPBlock, h)
	}
	if !h.Pod {
		return No, "" // selectors select pods only
	}
	out, why := Yes, ""
	if p.PodSelector != nil {
		out = tri(p.PodSelector.matches(h.Labels))
		if p.NamespaceSelector == nil {
			return and(out, tri(h.Namespace == polNS)), ""
		}
	}
	if p.NamespaceSelector != nil && out != No {
		var t Tri
		t, why = s.namespaceMatch(p.NamespaceSelector, h.Namespace)
		out = and(out, t)
	}
	if out != Maybe {
		why = ""
	}
	return out, why
}

// contains evaluates the block on h's address. An address not known yet
// is in a block of everything; the agent pod's, which comes from the pod
// network, is in a block that holds every pod address discovery saw, and
// out of one that holds none of them.
func (s *Set) blockContains(b *IPBlock, h Host) (Tri, string) {
	if h.Addr.IsValid() {
		return tri(b.has(h.Addr)), ""
	}
	if b.CIDR.Bits() == 0 && len(b.Except) == 0 {
		return Yes, ""
	}
	if h.Pod && len(s.podAddrs) > 0 {
		in := 0
		for _, a := range s.podAddrs {
			if b.has(a) {
				in++
			}
		}
		switch in {
		case 0:
			return No, ""
		case len(s.podAddrs):
			return Yes, ""
		}
		return Maybe, "the agent pod's address, known only once it runs (ipBlock " + b.CIDR.String() + " holds some pod addresses only)"
	}
	what := "the agent pod's address, known only once it runs"
	if !h.Pod {
		what = "the address " + h.Desc + " connects from"
	}
	return Maybe, what + " (ipBlock " + b.CIDR.String() + ")"
}

func (b *IPBlock) has(a netip.Addr) bool {
	a = a.Unmap()
	if !b.CIDR.Contains(a) {
		return false
	}
	for _, e := range b.Except {
		if e.Contains(a) {
			return false
		}
	}
	return true
}

// matches reports whether the policy port admits port/protocol on target,
// whose declared container ports resolve a named port.
func (p *Port) matches(target Host, port int32, protocol probe.Protocol) bool {
	proto := p.Protocol
	if proto == "" {
		proto = probe.ProtocolTCP
	}
	switch {
	case proto != protocol:
		return false
	case p.Name != "":
		for _, np := range target.Ports {
			if np.Name == p.Name && np.Port == port && (np.Protocol == protocol || np.Protocol == "" && protocol == probe.ProtocolTCP) {
				return true
			}
		}
		return false
	case p.Port == 0:
		return true
	case p.EndPort > 0:
		return p.Port <= port && port <= p.EndPort
	}
	return p.Port == port
}

// ParseAddr parses an address, returning the zero (invalid) Addr on error.
func ParseAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}
