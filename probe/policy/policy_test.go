package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

var (
	web = Host{Pod: true, Namespace: "shop", Name: "web-a", Labels: map[string]string{"app": "web"},
		Ports: []NamedPort{{Name: "http", Port: 8080, Protocol: "TCP"}}, Addr: netip.MustParseAddr("10.244.1.5"), Desc: "pod shop/web-a"}
	frontend = Host{Pod: true, Namespace: "shop", Labels: map[string]string{"app": "frontend"}, Desc: "svccheck's agent as shop/frontend"}
	agent    = Host{Pod: true, Namespace: "svccheck", Labels: map[string]string{"app.kubernetes.io/name": "svccheck"}, Desc: "svccheck's agent"}
	node1    = Host{Addr: netip.MustParseAddr("10.0.0.11"), Desc: "node n1 (10.0.0.11)"}
	external = Host{Desc: "svccheck's machine outside the cluster"}
)

func sel(kv ...string) *Selector {
	s := &Selector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func ingressPolicy(name string, rules ...Rule) Policy {
	return Policy{Namespace: "shop", Name: name, PodSelector: *sel("app", "web"), Ingress: true, IngressRules: rules}
}

func block(cidr string, except ...string) *IPBlock {
	b := &IPBlock{CIDR: netip.MustParsePrefix(cidr)}
	for _, e := range except {
		b.Except = append(b.Except, netip.MustParsePrefix(e))
	}
	return b
}

func TestEvaluate(t *testing.T) {
	denyAll := Policy{Namespace: "shop", Name: "default-deny", Ingress: true}
	fromFrontend := ingressPolicy("allow-frontend", Rule{Peers: []Peer{{PodSelector: sel("app", "frontend")}}, Ports: []Port{{Name: "http"}}})
	nsSvccheck := ingressPolicy("allow-svccheck-ns", Rule{Peers: []Peer{{NamespaceSelector: sel("team", "sre")}}})
	nsByName := ingressPolicy("allow-by-name", Rule{Peers: []Peer{{NamespaceSelector: sel(LabelNamespaceName, "svccheck"), PodSelector: sel()}}})
	cidr := ingressPolicy("allow-nodes", Rule{Peers: []Peer{{IPBlock: block("10.0.0.0/16", "10.0.0.11/32")}}})
	everything := ingressPolicy("allow-world", Rule{Peers: []Peer{{IPBlock: block("0.0.0.0/0")}}})
	ranges := ingressPolicy("ports", Rule{Ports: []Port{{Port: 8000, EndPort: 8100}, {Protocol: "UDP"}}})
	egressDeny := Policy{Namespace: "svccheck", Name: "no-egress", PodSelector: Selector{}, Egress: true,
		EgressRules: []Rule{{Peers: []Peer{{IPBlock: block("10.0.0.0/24")}}}}}
	egressDNS := Policy{Namespace: "svccheck", Name: "to-shop", Egress: true,
		EgressRules: []Rule{{Peers: []Peer{{NamespaceSelector: sel(LabelNamespaceName, "shop")}}, Ports: []Port{{Name: "http"}}}}}
	for _, tc := range []struct {
		name     string
		policies []Policy
		ns       map[string]map[string]string
		src, dst Host
		port     int32
		proto    probe.Protocol
		want     Tri
		reason   string
	}{
		{"no policy", nil, nil, agent, web, 8080, "TCP", Yes, ""},
		{"default deny", []Policy{denyAll}, nil, agent, web, 8080, "TCP", No,
			"NetworkPolicy shop/default-deny admits no ingress from svccheck's agent on port 8080/TCP"},
		{"a policy of another namespace", []Policy{{Namespace: "other", Name: "deny", Ingress: true}}, nil, agent, web, 8080, "TCP", Yes, ""},
		{"pod selector: not the agent", []Policy{denyAll, fromFrontend}, nil, agent, web, 8080, "TCP", No,
			"NetworkPolicies shop/allow-frontend, shop/default-deny admit no ingress from svccheck's agent"},
		{"pod selector: the client's labels, named port", []Policy{denyAll, fromFrontend}, nil, frontend, web, 8080, "TCP", Yes,
			"admitted by NetworkPolicies shop/allow-frontend, shop/default-deny"},
		{"named port resolves on the target only", []Policy{fromFrontend}, nil, frontend, web, 9090, "TCP", No, "on port 9090/TCP"},
		{"pod selector alone: the policy's namespace only", []Policy{ingressPolicy("p", Rule{Peers: []Peer{{PodSelector: sel("app.kubernetes.io/name", "svccheck")}}})},
			nil, agent, web, 8080, "TCP", No, ""},
		{"namespace labels read", []Policy{nsSvccheck}, map[string]map[string]string{"svccheck": {"team": "sre"}}, agent, web, 8080, "TCP", Yes, ""},
		{"namespace labels unreadable", []Policy{nsSvccheck}, nil, agent, web, 8080, "TCP", Maybe,
			"depends on the labels of namespace svccheck, which svccheck could not read (namespaceSelector)"},
		{"namespace by name, labels unreadable", []Policy{nsByName}, nil, agent, web, 8080, "TCP", Yes, ""},
		{"namespace by name, another namespace", []Policy{nsByName}, nil, frontend, web, 8080, "TCP", No, ""},
		{"ipBlock: a node", []Policy{cidr}, nil, Host{Addr: netip.MustParseAddr("10.0.0.12"), Desc: "node n2"}, web, 8080, "TCP", Yes, ""},
		{"ipBlock except", []Policy{cidr}, nil, node1, web, 8080, "TCP", No, ""},
		{"ipBlock: the agent's address is not known", []Policy{cidr}, nil, agent, web, 8080, "TCP", Maybe, "the agent pod's address, known only once it runs (ipBlock 10.0.0.0/16)"},
		{"ipBlock: outside, address unknown", []Policy{cidr}, nil, external, web, 8080, "TCP", Maybe, "the address svccheck's machine outside the cluster connects from"},
		{"ipBlock of everything", []Policy{everything}, nil, external, web, 8080, "TCP", Yes, ""},
		{"selectors never match a node", []Policy{ingressPolicy("any-pod", Rule{Peers: []Peer{{NamespaceSelector: sel()}}})}, nil, node1, web, 8080, "TCP", No, ""},
		{"empty namespaceSelector: every pod", []Policy{ingressPolicy("any-pod", Rule{Peers: []Peer{{NamespaceSelector: sel()}}})}, nil, agent, web, 8080, "TCP", Yes, ""},
		{"endPort range", []Policy{ranges}, nil, agent, web, 8080, "TCP", Yes, ""},
		{"outside the range", []Policy{ranges}, nil, agent, web, 8101, "TCP", No, ""},
		{"a protocol's every port", []Policy{ranges}, nil, agent, web, 53, "UDP", Yes, ""},
		{"egress of the client", []Policy{egressDeny}, nil, agent, web, 8080, "TCP", No,
			"NetworkPolicy svccheck/no-egress admits no egress from svccheck's agent to pod shop/web-a on port 8080/TCP"},
		{"egress: named port of the destination", []Policy{egressDNS}, nil, agent, web, 8080, "TCP", Yes, ""},
		{"egress to a node address", []Policy{egressDNS}, nil, agent, node1, 30080, "TCP", No, ""},
		{"both directions", []Policy{egressDNS, denyAll}, nil, agent, web, 8080, "TCP", No, "shop/default-deny"},
		{"expressions", []Policy{ingressPolicy("expr", Rule{Peers: []Peer{{PodSelector: &Selector{MatchExpressions: []Requirement{
			{Key: "app", Operator: "In", Values: []string{"frontend", "admin"}}, {Key: "canary", Operator: "DoesNotExist"}}}}}})},
			nil, frontend, web, 8080, "TCP", Yes, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Set{Policies: tc.policies, Namespaces: tc.ns}
			v := s.Evaluate(tc.src, tc.dst, tc.port, tc.proto)
			if v.Admit != tc.want || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("got %s %q, want %s containing %q", v.Admit, v.Reason, tc.want, tc.reason)
			}
		})
	}
}

func TestRequirementOperators(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	for _, tc := range []struct {
		r    Requirement
		want bool
	}{
		{Requirement{"app", "In", []string{"web"}}, true},
		{Requirement{"app", "NotIn", []string{"web"}}, false},
		{Requirement{"missing", "NotIn", []string{"web"}}, true},
		{Requirement{"tier", "Exists", nil}, true},
		{Requirement{"tier", "DoesNotExist", nil}, false},
		{Requirement{"tier", "Gt", []string{"1"}}, false},
	} {
		if got := tc.r.holds(labels); got != tc.want {
			t.Errorf("%+v: got %v", tc.r, got)
		}
	}
}
