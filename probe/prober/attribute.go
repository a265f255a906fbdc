package prober

import (
	"net"
	"net/netip"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// Tracer maps a connection to the address a NAT sent it to.
type Tracer interface {
	Backend(protocol probe.Protocol, local, remote netip.AddrPort) (netip.Addr, bool)
	Close() error
}

// attribute names the pod that answered a connection, in order of proof: the
// answer names it (HTTP; a hostNetwork pod by its node's name), the NAT table says so (conntrack), or the probe
// dialled that pod's own address (direct). It returns "" when nothing does.
func (s *Sockets) attribute(p *probe.Probe, a Attempt) (string, string) {
	b := Attribute(a.Answer, p.Backends)
	if b == "" {
		b = attributeHost(a.Answer, p.BackendHosts)
	}
	if b != "" {
		if !p.HTTP {
			return b, probe.AttrAnswer
		}
		return b, probe.AttrHTTPBody
	}
	if b := s.trace(p, a.Local, a.Remote); b != "" {
		return b, probe.AttrConntrack
	}
	if p.Via.Kind().Route == probe.RouteDirect && len(p.Backends) == 1 {
		return p.Backends[0], probe.AttrDirect
	}
	return "", ""
}

// trace attributes a connection through a VIP by its tuple, or returns "".
func (s *Sockets) trace(p *probe.Probe, local, remote net.Addr) string {
	if s.Tracer == nil || local == nil || p.Via.Kind().Route == probe.RouteDirect || len(p.BackendAddrs) == 0 {
		return ""
	}
	la, lok := addrPort(local)
	ra, rok := addrPort(remote)
	if !lok || !rok {
		return ""
	}
	ip, ok := s.Tracer.Backend(p.Protocol, la, ra)
	if !ok {
		return ""
	}
	return p.BackendAddrs[ip.Unmap().String()]
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort(), true
	case *net.UDPAddr:
		return a.AddrPort(), true
	}
	return netip.AddrPort{}, false
}

// attributeHost returns the hostNetwork pod whose node alone text names
// (such a pod answers with its node's hostname), or "".
func attributeHost(text string, hosts map[string]string) string {
	found := ""
	for h, pod := range hosts {
		if !containsWord(text, h) {
			continue
		}
		if found != "" {
			return ""
		}
		found = pod
	}
	return found
}

// Attribute returns the one candidate named in text as a whole word (pod-name
// characters around it do not count), or "" when none or several are.
func Attribute(text string, candidates []string) string {
	found := ""
	for _, c := range candidates {
		if c == "" || !containsWord(text, c) {
			continue
		}
		if found != "" {
			return ""
		}
		found = c
	}
	return found
}

func containsWord(text, w string) bool {
	for off := 0; ; {
		i := strings.Index(text[off:], w)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(w)
		if (i == 0 || !nameChar(text[i-1])) && (end == len(text) || !nameChar(text[end])) {
			return true
		}
		off = i + 1
	}
}

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z'
}
