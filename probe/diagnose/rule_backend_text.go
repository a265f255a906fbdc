package diagnose

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// backendMessage says what is wrong with a backend (its judgements js, of
// one verdict) and on what evidence: where it failed and how, the paths
// that reached nothing it explains (dead), and for backendUnreachableFrom
// where it answered and what to check.
func (c *svcContext) backendMessage(js []*judgement, dead []int) string {
	j := js[0]
	var claimed, answered []sighting
	for _, jj := range js {
		claimed = append(claimed, jj.claimed...)
		answered = append(answered, jj.answered...)
	}
	for _, i := range dead {
		p, r := c.probe(i)
		claimed = append(claimed, sighting{i: i, place: c.placeOf(p), kinds: failureKinds(r), failed: r.Failures})
	}
	who, addr := j.b.pod, c.backendAddrs(js)
	ev := c.placesText(claimed)
	guess := ""
	if j.inferred {
		guess = "; inferred from the paths that failed and never reached it"
		if !slices.ContainsFunc(append(claimed, answered...), func(s sighting) bool { return s.place.direct }) {
			guess += ": --from cluster or --from nodes probes it directly"
		}
	}
	switch j.code {
	case VerdictBackendUnreachableFrom:
		return fmt.Sprintf("%s (%s on %s) does not answer %s; it answers %s%s%s",
			who, addr, nameOr(c.endpointNode(who), "an unknown node"), ev, placeList(answered), c.unreachableHint(j, claimed, answered), guess)
	case VerdictBackendNotListening:
		return fmt.Sprintf("%s does not answer on %s (%s): the application is not listening on that port (or only on 127.0.0.1)%s", who, addr, ev, guess)
	case VerdictBackendHung:
		return fmt.Sprintf("%s accepts connections on %s but never answers (%s): the application is hung, or slower than the timeout%s", who, addr, ev, guess)
	case VerdictEndpointUnreachable:
		lead := fmt.Sprintf("%s answers at %s from nowhere", who, addr)
		if host, _, _ := net.SplitHostPort(addr); host == who {
			lead = "nothing answers at " + addr
		}
		return fmt.Sprintf("%s (%s): no host behind that address, or all traffic to it dropped (a stale or wrong EndpointSlice address, a dead pod or node, a NetworkPolicy)%s",
			lead, ev, guess)
	case VerdictApplicationError:
		others := ""
		if len(answered) > 0 {
			others = ", and answers other requests"
		}
		return fmt.Sprintf("%s answers %s on %s (%s)%s: the application fails%s", who, c.statuses(claimed), addr, ev, others, guess)
	}
	return fmt.Sprintf("%s answers on %s from nowhere (%s)%s", who, addr, ev, guess)
}

// unreachableHint says what to check about a backend that fails from or
// through one node: the node's forwarding when the node's own host reaches
// the backend directly, the network between the two nodes when it does not.
func (c *svcContext) unreachableHint(j *judgement, claimed, answered []sighting) string {
	n := claimedNode([]*judgement{j})
	if n == "" {
		return ""
	}
	host := func(s sighting) bool { return s.place.direct && s.place.at == string(probe.FromNode(n)) }
	switch podNode := c.endpointNode(j.b.pod); {
	case slices.ContainsFunc(answered, host):
		return fmt.Sprintf(": %s reaches it directly but does not forward to it: check what %s does with traffic to it (kube-proxy's rules, the CNI, a firewall on forwarded traffic)", n, n)
	case slices.ContainsFunc(claimed, host) && podNode != "" && podNode != n:
		return fmt.Sprintf(": check the network between %s and %s (routes, firewalls, NetworkPolicy)", n, podNode)
	case slices.ContainsFunc(claimed, host):
		return fmt.Sprintf(": check the network between %s and the pod (firewalls, NetworkPolicy)", n)
	}
	return fmt.Sprintf(": --from nodes tells whether %s cannot reach it or does not forward to it", n)
}

// placesText describes failures, direct places first: "directly from pod,
// node/lab-w1 (timeout); through lab-w1 (6 of 21 connections went to it:
// timeout)". Places that failed alike share one entry: direct ones by how
// they failed, forwarded ones by how and by whether the failed connections
// are known to have gone to the backend.
func (c *svcContext) placesText(ss []sighting) string {
	type entry struct {
		key   string
		where []string
		at    []sighting
	}
	var direct, forwarded []*entry
	done := map[place]bool{}
	for _, s := range ss {
		if done[s.place] {
			continue
		}
		done[s.place] = true
		at := sightingsAt(ss, s.place)
		kinds := kindsText(unionKinds(kindsOf(at)...))
		list, where, key := &forwarded, strings.TrimPrefix(s.place.String(), "through "), kinds+"|"+c.knownText(at)
		if s.place.direct {
			list, where, key = &direct, strings.TrimPrefix(s.place.String(), "directly from "), kinds
		}
		k := slices.IndexFunc(*list, func(e *entry) bool { return e.key == key })
		if k < 0 {
			*list = append(*list, &entry{key: key})
			k = len(*list) - 1
		}
		e := (*list)[k]
		e.where, e.at = append(e.where, where), append(e.at, at...)
	}
	var parts []string
	for _, e := range direct {
		parts = append(parts, "directly from "+strings.Join(e.where, ", ")+" ("+e.key+")")
	}
	for _, e := range forwarded {
		kinds := kindsText(unionKinds(kindsOf(e.at)...))
		parts = append(parts, "through "+strings.Join(e.where, ", ")+" ("+c.forwardedText(e.at, kinds)+")")
	}
	return strings.Join(parts, "; ")
}

// knownText says whether failures are known to be the backend's: "known",
// "inferred" or "both".
func (c *svcContext) knownText(ss []sighting) string {
	facts := 0
	for _, s := range ss {
		if s.fact {
			facts++
		}
	}
	switch facts {
	case 0:
		return "inferred"
	case len(ss):
		return "known"
	}
	return "both"
}

// forwardedText sums up the failures of forwarded paths: how many of their
// connections failed, and how many of those are known to have gone to the
// backend.
func (c *svcContext) forwardedText(at []sighting, kinds string) string {
	var known, failed, conns int
	seenProbe := map[int]bool{}
	for _, s := range at {
		if s.fact {
			known += s.failed
		}
		if !seenProbe[s.i] {
			failed, conns = failed+c.results[s.i].Failures, conns+c.results[s.i].Connections
		}
		seenProbe[s.i] = true
	}
	switch {
	case known == failed:
		return fmt.Sprintf("%d of %d connections went to it: %s", known, conns, kinds)
	case known > 0:
		return fmt.Sprintf("%d of %d connections failed: %s, %d known to have gone to it", failed, conns, kinds, known)
	}
	return fmt.Sprintf("%d of %d connections failed: %s, and it never answered there", failed, conns, kinds)
}

func sightingsAt(ss []sighting, pl place) []sighting {
	var out []sighting
	for _, s := range ss {
		if s.place == pl {
			out = append(out, s)
		}
	}
	return out
}

func kindsOf(ss []sighting) [][]probe.Outcome {
	out := make([][]probe.Outcome, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.kinds)
	}
	return out
}

// placeList names the places of sightings, direct ones first:
// "directly from node/lab-cp, pod and through lab-cp, lab-w2".
func placeList(ss []sighting) string {
	var direct, through []string
	for _, s := range ss {
		name, list := s.place.String(), &through
		if s.place.direct {
			name, list = strings.TrimPrefix(name, "directly from "), &direct
		} else {
			name = strings.TrimPrefix(name, "through ")
		}
		if !slices.Contains(*list, name) {
			*list = append(*list, name)
		}
	}
	var parts []string
	if len(direct) > 0 {
		parts = append(parts, "directly from "+strings.Join(direct, ", "))
	}
	if len(through) > 0 {
		parts = append(parts, "through "+strings.Join(through, ", "))
	}
	return strings.Join(parts, " and ")
}

// kindsText names failure kinds: "timeout", "refused or reset".
func kindsText(kinds []probe.Outcome) string {
	var s []string
	for _, k := range kinds {
		switch k {
		case probe.NoAnswer:
			s = append(s, "no answer")
		case probe.ServerError:
			s = append(s, "HTTP 5xx")
		case probe.NoRoute:
			s = append(s, "no route")
		default:
			s = append(s, string(k))
		}
	}
	return strings.Join(s, " or ")
}

// statuses names the HTTP statuses of the probes of ss: "HTTP 500".
func (c *svcContext) statuses(ss []sighting) string {
	var codes []string
	for _, s := range ss {
		if st := c.results[s.i].HTTPStatus; st >= 500 && !slices.Contains(codes, strconv.Itoa(st)) {
			codes = append(codes, strconv.Itoa(st))
		}
	}
	if len(codes) == 0 {
		return "HTTP 5xx"
	}
	return "HTTP " + strings.Join(codes, ", ")
}

// backendAddrs is the address and target port of the backend of js on each
// of their ports: "10.244.1.7:80".
func (c *svcContext) backendAddrs(js []*judgement) string {
	var out []string
	for _, j := range js {
		if a := c.backendAddr(j.b.port, j.b.pod); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return "its target port"
	}
	return strings.Join(out, ", ")
}

// backendAddr is host:targetPort of the Service's endpoint for pod on the
// Service port labelled port, or "".
func (c *svcContext) backendAddr(port, pod string) string {
	name := ""
	for _, sp := range c.svc.Ports {
		if sp.Label() == port {
			name = sp.Name
		}
	}
	for _, ep := range c.svc.Endpoints {
		if tp, ok := ep.Ports[name]; ok && (ep.PodName == pod || ep.PodName == "" && ep.Address == pod) {
			return net.JoinHostPort(ep.Address, strconv.Itoa(int(tp)))
		}
	}
	return ""
}
