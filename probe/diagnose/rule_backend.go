package diagnose

import (
	"math"
	"slices"

	"github.com/svccheck/svccheck/probe"
)

// backendFaults claims what is wrong with individual backends, from every
// sighting of each (see backends): a direct probe from inside, a failed
// connection the NAT table or the answer attributes, a forwarded path that
// failed some connections and never reached it while it reached others.
// Per Service port and backend with failures:
//
//   - applicationError: every failure is an HTTP 5xx;
//   - backendUnreachableFrom: it answered somewhere, and fails from or
//     through places where it never answered (on the finding's node when
//     those places share one);
//   - else it answered nowhere: backendNotListening when every failure is a
//     refusal, backendHung when every one connected and got no answer,
//     endpointUnreachable when every one is a connect timeout or no route,
//     backendUnreachable otherwise; on the endpoint's node.
//
// A failure at a place where the backend also answered is intermittent and
// claims nothing. One finding per backend and verdict (a backend failing
// alike on two ports is one finding), citing the probes of its claimed
// failures and the dead paths it explains (see explainDeadPaths). It never
// stops: node and hop rules judge what it leaves.
type backendFaults struct{}

func (backendFaults) apply(c *svcContext) bool {
	var js []judgement
	for _, b := range c.backends() {
		if j, ok := judge(b); ok {
			js = append(js, j)
		}
	}
	explained := c.explainDeadPaths(js)
	// Findings: one per backend and verdict, in the order of the judgements.
	type key struct {
		pod  string
		code Code
	}
	var order []key
	groups := map[key][]*judgement{}
	for k := range js {
		j := &js[k]
		gk := key{j.b.pod, j.code}
		if _, ok := groups[gk]; !ok {
			order = append(order, gk)
		}
		groups[gk] = append(groups[gk], j)
	}
	for _, k := range order {
		c.backendFinding(groups[k], explained)
	}
	return false
}

// judgement is what backendFaults concludes about one backend on one port.
type judgement struct {
	b        *backend
	code     Code
	claimed  []sighting // the failures the verdict rests on
	answered []sighting // where the backend answered
	kinds    []probe.Outcome
	inferred bool // no claimed failure is known to be the backend's
}

// judge classifies a backend by its sightings; false when they claim nothing.
func judge(b *backend) (judgement, bool) {
	j := judgement{b: b}
	status := map[place]int{} // 1: answered there, 2: failed there
	var fails []sighting
	for _, s := range b.seen {
		if s.ok {
			j.answered = append(j.answered, s)
			status[s.place] |= 1
		} else {
			fails = append(fails, s)
			status[s.place] |= 2
		}
	}
	allKinds := unionKinds()
	for _, s := range fails {
		allKinds = unionKinds(allKinds, s.kinds)
	}
	if len(fails) > 0 && slices.Equal(allKinds, []probe.Outcome{probe.ServerError}) && (anyFact(fails) || len(j.answered) == 0) {
		j.code, j.claimed, j.kinds = VerdictApplicationError, fails, allKinds
		return j, true
	}
	for _, s := range fails {
		if status[s.place] == 2 {
			j.claimed = append(j.claimed, s)
			j.kinds = unionKinds(j.kinds, s.kinds)
		}
	}
	if len(j.claimed) == 0 {
		return j, false
	}
	j.inferred = !anyFact(j.claimed)
	switch {
	case len(j.answered) > 0:
		j.code = VerdictBackendUnreachableFrom
	case slices.Equal(j.kinds, []probe.Outcome{probe.Refused}):
		j.code = VerdictBackendNotListening
	case slices.Equal(j.kinds, []probe.Outcome{probe.NoAnswer}):
		j.code = VerdictBackendHung
	case subsetKinds(j.kinds, []probe.Outcome{probe.Timeout, probe.NoRoute}):
		j.code = VerdictEndpointUnreachable
	default:
		j.code = VerdictBackendUnreachable
	}
	return j, true
}

func anyFact(ss []sighting) bool {
	for _, s := range ss {
		if s.fact {
			return true
		}
	}
	return false
}

// badAt reports whether the judgement says the backend fails at pl: it
// answered nowhere, or pl is one of its claimed places, or pl is forwarded by
// a node from which a claimed place failed (what a node's host or pods
// cannot reach, its forwarding cannot reach either) where the backend never
// answered.
func (j *judgement) badAt(pl place) bool {
	if j.code != VerdictBackendUnreachableFrom && j.code != VerdictApplicationError {
		return true
	}
	if slices.ContainsFunc(j.answered, func(s sighting) bool { return s.place == pl }) {
		return false
	}
	for _, s := range j.claimed {
		if s.place == pl || !pl.direct && pl.node != "" && s.place.node == pl.node {
			return true
		}
	}
	return false
}

// explainDeadPaths maps each failed forwarded path that reached nothing and
// attributes nothing (a dead path, which sightings say nothing about) to the
// judgement that explains it: one whose backend fails at the path's place
// with every kind of failure the path saw. That explains it when every
// backend of the path fails there so; or when the prober gave the path up
// after two slow failures, which may both have gone to the bad backend, and
// chance can account for it: the place forwards (a listener accepted, or
// another path there reached a backend), or the odds that every such path at
// the place drew only bad backends are not below deadPathOdds. Otherwise the
// place is suspect itself, and the node rule judges it.
func (c *svcContext) explainDeadPaths(js []judgement) map[int]*judgement {
	out := map[int]*judgement{}
	type guess struct {
		i    int
		j    *judgement
		odds float64
	}
	byPlace := map[place][]guess{}
	for _, i := range c.open(forwardedReach) {
		p, r := c.probe(i)
		if !connFailed(p, r) || len(r.Seen) > 0 || len(r.FailedBackends) > 0 {
			continue
		}
		pl, kinds := c.placeOf(p), failureKinds(r)
		j, share, all := c.badCandidates(js, p, pl, kinds)
		if unanswered := withoutConnected(kinds); j == nil && r.Connections <= 2 && slowOnly(kinds) &&
			len(unanswered) > 0 && len(unanswered) < len(kinds) && c.forwards(pl) {
			// A connection with no answer besides the bad backend's
			// failure, at a place that forwards: most likely a slow answer
			// of a good backend, not another fault of the place.
			j, share, all = c.badCandidates(js, p, pl, unanswered)
		}
		switch {
		case j == nil:
		case all:
			out[i] = j
		case r.Connections <= 2 && slowOnly(kinds) && connectedOnly(kinds):
			out[i] = j // a listener accepted: the place forwards
		case r.Connections <= 2 && slowOnly(kinds):
			byPlace[pl] = append(byPlace[pl], guess{i, j, math.Pow(share, float64(r.Connections))})
		}
	}
	for pl, gs := range byPlace {
		odds := 1.0
		for _, g := range gs {
			odds *= g.odds
		}
		if odds >= deadPathOdds || c.forwards(pl) {
			for _, g := range gs {
				out[g.i] = g.j
			}
		}
	}
	return out
}

// deadPathOdds is the least chance with which the dead paths at a place may
// all have drawn only bad backends for a bad backend to explain them: a path
// of two backends given up after two connections is 1/4, so up to four such
// paths at one place (1/256) are put down to chance, five (1/1024) are not.
const deadPathOdds = 0.001

// badCandidates finds, among the judgements js, the first one that fails at
// pl on a backend of p with every kind of failure in kinds; the share of p's
// backends bad at pl; and whether all of them are, with every kind in kinds.
func (c *svcContext) badCandidates(js []judgement, p *probe.Probe, pl place, kinds []probe.Outcome) (*judgement, float64, bool) {
	cands := c.candidates(p)
	bad := map[string][]probe.Outcome{}
	var first *judgement
	for k := range js {
		if j := &js[k]; j.b.port == p.Port && slices.Contains(cands, j.b.pod) && j.badAt(pl) {
			bad[j.b.pod] = unionKinds(bad[j.b.pod], j.kinds)
			if first == nil && explainsKinds(j.kinds, kinds) {
				first = j
			}
		}
	}
	if first == nil || len(cands) == 0 {
		return nil, 0, false
	}
	all := true
	var union []probe.Outcome
	for _, b := range cands {
		all = all && bad[b] != nil
		union = unionKinds(union, bad[b])
	}
	return first, float64(len(bad)) / float64(len(cands)), all && explainsKinds(union, kinds)
}

// explainsKinds: a backend failing with the kinds have explains a path
// failing with every kind in kinds. A connect timeout and no route are one
// fault seen two ways: nothing answers at the address, and whether a client
// waits out its timeout or hears the ICMP host-unreachable of the node that
// forwards (or holds a failed neighbour entry) depends on that node's ARP
// state at the moment, not on the fault.
func explainsKinds(have, kinds []probe.Outcome) bool {
	unreachable := func(k probe.Outcome) bool { return k == probe.Timeout || k == probe.NoRoute }
	for _, k := range kinds {
		if !slices.Contains(have, k) && !(unreachable(k) && slices.ContainsFunc(have, unreachable)) {
			return false
		}
	}
	return true
}

// forwards reports whether a forwarded path at pl reached some backend: the
// place forwards.
func (c *svcContext) forwards(pl place) bool {
	for _, i := range c.ran(forwardedReach) {
		if p, r := c.probe(i); len(r.Seen) > 0 && c.placeOf(p) == pl {
			return true
		}
	}
	return false
}

// backendFinding adds the finding about one backend's judgements of one
// verdict (one per port it fails alike on), citing, in plan order, the
// probes of their claimed failures and the dead paths they explain.
func (c *svcContext) backendFinding(js []*judgement, explained map[int]*judgement) {
	var idx []int
	for _, j := range js {
		for _, s := range j.claimed {
			if !slices.Contains(idx, s.i) {
				idx = append(idx, s.i)
			}
		}
	}
	var dead []int
	for i, j := range explained {
		if slices.Contains(js, j) && !slices.Contains(idx, i) {
			dead = append(dead, i)
		}
	}
	slices.Sort(dead)
	idx = append(idx, dead...)
	slices.Sort(idx)
	j := js[0]
	node := c.endpointNode(j.b.pod)
	if j.code == VerdictBackendUnreachableFrom {
		node = claimedNode(js)
	}
	c.add(SevError, j.code, node, j.b.pod, idx, "%s", c.backendMessage(js, dead))
}

// claimedNode is the node every claimed failure of js is on, or "".
func claimedNode(js []*judgement) string {
	node := ""
	for _, j := range js {
		for _, s := range j.claimed {
			if s.place.node == "" || node != "" && s.place.node != node {
				return ""
			}
			node = s.place.node
		}
	}
	return node
}

// endpointNode is the node of the Service's endpoint for pod (a pod name,
// or an address), or "".
func (c *svcContext) endpointNode(pod string) string {
	for _, ep := range c.svc.Endpoints {
		if ep.PodName == pod || ep.PodName == "" && ep.Address == pod {
			return ep.NodeName
		}
	}
	return ""
}

// withoutConnected drops the kinds of failure that connected (no answer, a
// 5xx): what is left failed before any listener took the connection.
func withoutConnected(kinds []probe.Outcome) []probe.Outcome {
	var out []probe.Outcome
	for _, k := range kinds {
		if !k.Connected() {
			out = append(out, k)
		}
	}
	return out
}
