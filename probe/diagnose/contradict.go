package diagnose

import (
	"fmt"
	"slices"

	"github.com/svccheck/svccheck/probe"
)

// Observation is one probe as a report states it: what a finding about it
// can be checked against. Reports do not say which node an agent pod ran
// on, so neither does an Observation.
type Observation struct {
	ID, Namespace, Service string
	// Port is the Service port's label; TargetPort the port probed.
	Port       string
	TargetPort int32
	Protocol   probe.Protocol
	From       probe.From
	Via        probe.Via
	// Node is a NodePort's or health check's node, or a probed endpoint's.
	Node string
	// Pod is a direct probe's endpoint: its pod, or its address.
	Pod      string
	Want     probe.Want
	Outcome  probe.Outcome
	Pass     bool
	Seen     []string // the backends that answered
	Failures int
	Observed map[probe.Outcome]int
}

// ServiceKey returns the key of the observed probe's Service,
// "namespace/name" (probe.ServiceKey).
func (o *Observation) ServiceKey() string { return probe.ServiceKey(o.Namespace, o.Service) }

// Observe states probe p and its result r as an Observation.
func Observe(p *probe.Probe, r *probe.Result) Observation {
	o := Observation{ID: p.ID, Namespace: p.Namespace, Service: p.Service, Port: p.Port, TargetPort: p.TargetPort,
		Protocol: p.Protocol, From: p.From, Via: p.Via, Node: p.Node, Want: p.Expect.Want,
		Outcome: r.Outcome, Pass: r.Pass, Seen: r.Seen, Failures: r.Failures, Observed: r.Observed}
	if direct(p.Via) {
		o.Pod = nameOr(p.Pod, p.Host)
	}
	return o
}

// failed: the probe ran and did not meet its expectation.
func (o *Observation) failed() bool { return !o.Pass && o.Outcome != probe.NotRun }

// answeredBy reports whether pod answered on the probe: a direct probe from
// inside the cluster answered, or a forwarded path reached it (a health
// check answers for its node, never for a backend).
func (o *Observation) answeredBy(pod string) bool {
	switch o.Via.Kind().Route {
	case probe.RouteDirect:
		return o.From != probe.FromLocal && o.Pod == pod && o.Outcome == probe.OK
	case probe.RouteProxy:
		return false
	}
	return slices.Contains(o.Seen, pod)
}

// place is where an observation tries its backends from, as far as a report
// tells: directly from a vantage point, or forwarded by a NodePort's node,
// by the vantage point of a ClusterIP or DNS name, or by a LoadBalancer.
func (o *Observation) place() string {
	k := o.Via.Kind()
	if k.Route == probe.RouteDirect {
		return "direct|" + string(o.From)
	}
	if k.Route == probe.RouteForwarded {
		switch k.Through {
		case probe.ThroughTarget:
			return "forwarded|node/" + o.Node
		case probe.ThroughAny:
			return "forwarded|lb"
		}
	}
	return "forwarded|" + string(o.From)
}

// throughNode reports whether the observation's path is forwarded by node
// n, or may be (a ClusterIP or DNS name probed from an agent pod, whose node
// a report does not say).
func (o *Observation) throughNode(n string) bool {
	switch o.Via.Kind().Through {
	case probe.ThroughTarget:
		return o.Node == n
	case probe.ThroughVantage:
		return o.From == probe.FromNode(n) || o.From == probe.FromPod
	}
	return false
}

// Contradictions checks every finding against the probes of the same report
// and says, one line each, which findings a probe contradicts or nothing
// supports: a finding citing a probe the report lacks; an error citing
// probes none of which failed; a pod said not to answer (not listening,
// hung, unreachable) that answered on those ports; a pod said to be
// unreachable from or through some place that answered there, or answered
// nowhere; an application error without a 5xx; a node verdict citing a path
// that does not go through the node, or its NodePort said to fail from
// outside while it passed from outside; no endpoints while a path answered;
// an exposure whose address did not answer; a path said not to be sticky
// that reached one backend.
func Contradictions(fs []Finding, obs []Observation) []string {
	byID := map[string]*Observation{}
	bySvc := map[string][]*Observation{}
	for i := range obs {
		o := &obs[i]
		byID[o.ID] = o
		bySvc[o.ServiceKey()] = append(bySvc[o.ServiceKey()], o)
	}
	var out []string
	for _, f := range fs {
		var cited []*Observation
		for _, id := range f.Probes {
			if o, ok := byID[id]; ok {
				cited = append(cited, o)
			} else {
				out = append(out, fmt.Sprintf("%s %s cites probe %s, which the report lacks", f.Code, f.ServiceKey(), id))
			}
		}
		if why := contradiction(f, cited, bySvc[f.ServiceKey()]); why != "" {
			out = append(out, fmt.Sprintf("%s %s (node %q, pod %q): %s: %q", f.Code, f.ServiceKey(), f.Node, f.Pod, why, f.Message))
		}
	}
	return out
}

// contradiction says why the probes of f's Service (all), of which f cites
// cited, contradict f or leave it unsupported, or "".
func contradiction(f Finding, cited, all []*Observation) string {
	ci := Lookup(f.Code)
	if f.Severity == SevError && len(cited) > 0 && !ci.CitesAnswers &&
		!slices.ContainsFunc(cited, func(o *Observation) bool { return o.failed() }) {
		return "none of the probes it cites failed"
	}
	switch {
	case ci.Has(ClaimPodSilent | ClaimPodSilentOnTarget):
		if f.Pod != "" {
			return podAnswered(f, ci.Has(ClaimPodSilentOnTarget), cited, all)
		}
	case ci.Has(ClaimPodUnreachableSomewhere):
		return answeredWhereUnreachable(f, cited, all)
	case ci.Has(ClaimServerError):
		if !slices.ContainsFunc(cited, func(o *Observation) bool { return o.Outcome == probe.ServerError || o.Observed[probe.ServerError] > 0 }) {
			return "no probe it cites saw an HTTP 5xx"
		}
	case ci.Has(ClaimNodeForwards):
		return nodeContradiction(f, ci, cited, all)
	case ci.Has(ClaimNothingAnswers):
		if f.Severity != SevError {
			break
		}
		if i := slices.IndexFunc(all, func(o *Observation) bool {
			return o.Want == probe.Reach && o.Via.Kind().Route != probe.RouteProxy && o.Pass && o.Outcome == probe.OK
		}); i >= 0 {
			return "probe " + all[i].ID + " reached the Service"
		}
	case ci.Has(ClaimExposed):
		if i := slices.IndexFunc(cited, func(o *Observation) bool { return o.From != probe.FromLocal || o.Pass }); i >= 0 {
			return "probe " + cited[i].ID + " is no answer from outside"
		}
	case ci.Has(ClaimSeveralBackends):
		if !slices.ContainsFunc(cited, func(o *Observation) bool { return len(o.Seen) > 1 }) {
			return "no probe it cites reached several backends"
		}
	}
	return ""
}

// podAnswered: f's pod answered on a port of the probes f cites (onTarget:
// for direct probes, on a target port of the direct probes it cites).
func podAnswered(f Finding, onTarget bool, cited, all []*Observation) string {
	for _, o := range all {
		for _, c := range cited {
			same := o.Port == c.Port
			if onTarget {
				same = same && (!direct(o.Via) || direct(c.Via) && o.TargetPort == c.TargetPort)
			}
			if same && o.answeredBy(f.Pod) {
				return "probe " + o.ID + " reached " + f.Pod
			}
		}
	}
	return ""
}

// answeredWhereUnreachable: f's pod answered at a place where a probe f
// cites failed, or answered nowhere on the ports f cites.
func answeredWhereUnreachable(f Finding, cited, all []*Observation) string {
	anywhere := false
	for _, o := range all {
		for _, c := range cited {
			if o.Port != c.Port || !o.answeredBy(f.Pod) {
				continue
			}
			anywhere = true
			if c.failed() && o.place() == c.place() {
				return "probe " + o.ID + " reached " + f.Pod + " where " + c.ID + " failed"
			}
		}
	}
	if !anywhere {
		return f.Pod + " answered nowhere"
	}
	return ""
}

// nodeContradiction: a node verdict citing a path that does not go through
// its node, or saying its NodePort fails from outside while it passed there.
func nodeContradiction(f Finding, ci CodeInfo, cited, all []*Observation) string {
	// What a vantage point on the node sent leaves through the node's
	// network.
	through := func(o *Observation) bool {
		return o.throughNode(f.Node) || ci.Has(ClaimNodeSends) && (o.From == probe.FromNode(f.Node) || o.From == probe.FromPod)
	}
	if i := slices.IndexFunc(cited, func(o *Observation) bool { return !through(o) }); i >= 0 {
		return "probe " + cited[i].ID + " does not go through " + f.Node
	}
	if !ci.Has(ClaimNodePortFailsOutside) {
		return ""
	}
	outside := func(o *Observation) bool {
		return targetForwarded(o.Via) && o.Node == f.Node && o.From == probe.FromLocal && o.Want == probe.Reach && o.Outcome != probe.NotRun
	}
	if slices.ContainsFunc(all, outside) && !slices.ContainsFunc(all, func(o *Observation) bool { return outside(o) && !(o.Pass && o.Outcome == probe.OK) }) {
		return "its NodePort answered from outside"
	}
	return ""
}
