// Package diagnose turns a plan and its results into findings: one verdict per
// problem, naming the broken hop, each citing the probes that support it.
package diagnose

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/svccheck/svccheck/internal/strdist"
	"github.com/svccheck/svccheck/probe"
)

// Severity ranks a Finding.
type Severity string

// Severities, most severe first.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

// AtLeast reports whether s is as severe as min.
func (s Severity) AtLeast(min Severity) bool { return s.rank() <= min.rank() }

func (s Severity) rank() int {
	switch s {
	case SevError:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

// Code names a kind of finding. Its string is the stable "code" of the JSON
// report and the JUnit failure type.
type Code string

// Verdict codes, one per kind of problem a Service can have.
const (
	VerdictHealthy             Code = "healthy"
	VerdictNoEndpoints         Code = "noEndpoints"
	VerdictPortMismatch        Code = "portMismatch"
	VerdictEndpointNotReady    Code = "endpointNotReady"
	VerdictBackendNotListening Code = "backendNotListening"
	VerdictDataplaneBroken     Code = "dataplaneBroken"
	VerdictBlockedFromOperator Code = "blockedFromOperator"
	VerdictNodePathFailed      Code = "nodePathFailed"
	VerdictExposed             Code = "exposed"
	VerdictPartialCoverage     Code = "partialCoverage"
	VerdictNotSticky           Code = "notSticky"
	VerdictPathFailed          Code = "pathFailed"
)

// Notes about the cluster or a Service that are not verdicts on a path.
const (
	NoteNodeNotReady      Code = "nodeNotReady"
	NoteNodeUnschedulable Code = "nodeUnschedulable"
	NoteExternalName      Code = "externalName"
	NoteProtocolNotProbed Code = "protocolNotProbed"
)

// Finding is one conclusion about a Service, with the probes that support it.
type Finding struct {
	Namespace string   `json:"namespace"`
	Service   string   `json:"service"`
	Severity  Severity `json:"severity"`
	// Code is a verdict (see the Verdict constants) or a cluster note:
	// nodeNotReady, nodeUnschedulable, externalName, protocolNotProbed.
	Code    Code     `json:"code"`
	Message string   `json:"message"`
	Node    string   `json:"node,omitempty"`
	Pod     string   `json:"pod,omitempty"`
	Probes  []string `json:"probes,omitempty"`
}

// Diagnose correlates the results of every vantage point with the inventory
// into verdicts that name the broken hop. A failure explained by a verdict
// (no endpoints explains every refused path) yields no finding of its own;
// every failed probe is covered by some finding.
func Diagnose(inv probe.Inventory, plan probe.Plan, results []probe.Result) []Finding {
	var out []Finding
	byKey := map[string][]int{}
	for i := range plan.Probes {
		p := &plan.Probes[i]
		k := p.Namespace + "/" + p.Service
		byKey[k] = append(byKey[k], i)
	}
	for _, n := range inv.Nodes {
		if !n.Ready {
			out = append(out, Finding{Severity: SevWarning, Code: NoteNodeNotReady, Node: n.Name,
				Message: fmt.Sprintf("node %s is NotReady (its paths are still probed from outside)", n.Name)})
		} else if n.Unschedulable {
			out = append(out, Finding{Severity: SevInfo, Code: NoteNodeUnschedulable, Node: n.Name,
				Message: fmt.Sprintf("node %s is cordoned (its paths are still probed)", n.Name)})
		}
	}
	for i := range inv.Services {
		d := diagnoser{svc: &inv.Services[i], pods: inv.Pods, plan: plan, results: results, idx: byKey[inv.Services[i].Key()]}
		out = append(out, d.run()...)
	}
	return out
}

type diagnoser struct {
	svc      *probe.Service
	pods     []probe.Pod
	plan     probe.Plan
	results  []probe.Result
	idx      []int
	out      []Finding
	covered  map[int]bool // failed probes a finding explains
	selected []probe.Pod  // pods the selector matches
}

func (d *diagnoser) add(sev Severity, code Code, node, pod string, probes []int, format string, args ...any) {
	f := Finding{Namespace: d.svc.Namespace, Service: d.svc.Name, Severity: sev, Code: code, Node: node, Pod: pod,
		Message: fmt.Sprintf(format, args...)}
	for _, i := range probes {
		f.Probes = append(f.Probes, d.plan.Probes[i].ID)
		d.covered[i] = true
	}
	d.out = append(d.out, f)
}

func (d *diagnoser) probe(i int) (*probe.Probe, *probe.Result) {
	return &d.plan.Probes[i], &d.results[i]
}

// Result filters for selectRun.
const (
	anyResult = iota
	failedOnly
	passedOnly
)

// selectRun lists the probes that ran, matching f and the result filter.
func (d *diagnoser) selectRun(which int, f func(p *probe.Probe) bool) []int {
	var out []int
	for _, i := range d.idx {
		p, r := d.probe(i)
		if r.Outcome == probe.NotRun || which == failedOnly && r.Pass || which == passedOnly && !r.Pass {
			continue
		}
		if f(p) {
			out = append(out, i)
		}
	}
	return out
}

func (d *diagnoser) failed(f func(p *probe.Probe) bool) []int      { return d.selectRun(failedOnly, f) }
func (d *diagnoser) passed(f func(p *probe.Probe) bool) []int      { return d.selectRun(passedOnly, f) }
func (d *diagnoser) probesWhere(f func(p *probe.Probe) bool) []int { return d.selectRun(anyResult, f) }

func (d *diagnoser) run() []Finding {
	svc := d.svc
	d.covered = map[int]bool{}
	if svc.Type == probe.TypeExternalName {
		d.add(SevInfo, NoteExternalName, "", "", nil, "ExternalName Service (CNAME to %s): nothing in the cluster forwards it, not probed", svc.ExternalName)
		return d.out
	}
	for _, p := range svc.Ports {
		if p.Protocol != "TCP" {
			d.add(SevInfo, NoteProtocolNotProbed, "", "", nil, "port %s is %s: not probed", p.Label(), p.Protocol)
		}
	}
	for _, p := range d.pods {
		if p.Namespace == svc.Namespace && len(svc.Selector) > 0 && matches(svc.Selector, p.Labels) {
			d.selected = append(d.selected, p)
		}
	}
	if !d.endpoints() {
		return d.out // nothing answers: that verdict explains every path
	}
	d.directFailures()
	d.nodeFailures()
	d.exposure()
	d.rest()
	return d.out
}

// endpoints reports no endpoints, port mismatches and readiness; false when
// the Service has no ready endpoint at all.
func (d *diagnoser) endpoints() bool {
	svc := d.svc
	ready, notReady := 0, []string{}
	for _, ep := range svc.Endpoints {
		switch {
		case ep.Ready:
			ready++
		case !ep.Terminating:
			notReady = append(notReady, nameOr(ep.PodName, ep.Address))
		}
	}
	all := d.failed(func(*probe.Probe) bool { return true })
	if len(d.selected) > 0 && d.namedPortMissing() != "" {
		// The EndpointSlices list the pods without that port: nothing to reach.
		d.add(SevError, VerdictPortMismatch, "", "", all, "no endpoints for the port: %s", d.namedPortMissing())
		return false
	}
	if ready > 0 {
		if len(notReady) > 0 {
			d.add(SevWarning, VerdictEndpointNotReady, "", "", nil, "%d of %d endpoints not ready: %s",
				len(notReady), len(notReady)+ready, d.readiness(notReady))
		}
		return true
	}
	switch {
	case len(svc.Selector) == 0:
		d.add(SevError, VerdictNoEndpoints, "", "", all, "no ready endpoints: the Service has no selector and nobody manages its EndpointSlices")
	case len(d.selected) == 0:
		d.add(SevError, VerdictNoEndpoints, "", "", all, "no ready endpoints: selector %s matches no pod in namespace %s%s",
			selectorString(svc.Selector), svc.Namespace, d.closest())
	default:
		var names []string
		for _, p := range d.selected {
			names = append(names, p.Name)
		}
		d.add(SevError, VerdictEndpointNotReady, "", firstOr(names), all, "no ready endpoints: selector %s matches %d pod(s), none ready: %s",
			selectorString(svc.Selector), len(d.selected), d.readiness(names))
	}
	return false
}

// readiness explains why pods are not ready: containers and the last probe message.
func (d *diagnoser) readiness(names []string) string {
	var parts []string
	for _, n := range names {
		s := n
		for _, p := range d.pods {
			if p.Namespace != d.svc.Namespace || p.Name != n {
				continue
			}
			if len(p.NotReady) > 0 {
				s += " (container " + strings.Join(p.NotReady, ", ") + " not ready"
				if p.ProbeMessage != "" {
					s += ": " + p.ProbeMessage
				} else if p.ReadyMessage != "" {
					s += ": " + p.ReadyMessage
				}
				s += ")"
			} else if p.Phase != "" && p.Phase != "Running" {
				s += " (" + p.Phase + ")"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// closest names the pods whose labels come nearest the selector (a typo in
// a value counts as near), and how they differ.
func (d *diagnoser) closest() string {
	var best []string
	bestScore := 0.5 // below this nothing is close
	for _, p := range d.pods {
		if p.Namespace != d.svc.Namespace {
			continue
		}
		score, diffs := 0.0, []string{}
		for k, v := range d.svc.Selector {
			switch got, ok := p.Labels[k]; {
			case ok && got == v:
				score += 2
			case ok:
				score += 1 - float64(strdist.Levenshtein(got, v))/float64(max(len(got), len(v)))
				diffs = append(diffs, fmt.Sprintf("%s=%s, not %s", k, got, v))
			default:
				diffs = append(diffs, "no label "+k)
			}
		}
		sort.Strings(diffs)
		desc := p.Name + " (" + strings.Join(diffs, "; ") + ")"
		switch {
		case score > bestScore+1e-9:
			best, bestScore = []string{desc}, score
		case score > bestScore-1e-9 && len(best) > 0 && len(best) < 3:
			best = append(best, desc)
		}
	}
	if len(best) == 0 {
		return ""
	}
	return "; closest: " + strings.Join(best, ", ")
}

// namedPortMissing says which named targetPort no selected pod declares.
func (d *diagnoser) namedPortMissing() string {
	for _, sp := range d.svc.Ports {
		if _, err := strconv.Atoi(sp.TargetPort); err == nil || sp.TargetPort == "" {
			continue
		}
		found := false
		for _, p := range d.selected {
			for _, cp := range p.Ports {
				found = found || cp.Name == sp.TargetPort
			}
		}
		if !found {
			return fmt.Sprintf("targetPort %q of port %s is not a port name of any selected pod (they declare %s)",
				sp.TargetPort, sp.Label(), declared(d.selected))
		}
	}
	return ""
}

// undeclared reports whether a numeric targetPort is declared by no selected pod.
func (d *diagnoser) undeclared(port int32) bool {
	if len(d.selected) == 0 {
		return false
	}
	for _, p := range d.selected {
		for _, cp := range p.Ports {
			if cp.Port == port {
				return false
			}
		}
	}
	return true
}

func declared(pods []probe.Pod) string {
	var ps []string
	for _, p := range pods {
		for _, cp := range p.Ports {
			s := strconv.Itoa(int(cp.Port))
			if cp.Name != "" {
				s = cp.Name + "/" + s
			}
			if !slices.Contains(ps, s) {
				ps = append(ps, s)
			}
		}
	}
	if len(ps) == 0 {
		return "no ports"
	}
	return strings.Join(ps, ", ")
}

// directFailures: endpoints that refuse direct connections explain every VIP
// path through them.
func (d *diagnoser) directFailures() {
	refused := d.failed(func(p *probe.Probe) bool { return p.Via == probe.ViaEndpoint && p.From != probe.FromLocal })
	if len(refused) > 0 {
		byPod := map[string][]int{}
		var pods []string
		for _, i := range refused {
			p, _ := d.probe(i)
			k := nameOr(p.Pod, p.Host)
			if _, ok := byPod[k]; !ok {
				pods = append(pods, k)
			}
			byPod[k] = append(byPod[k], i)
		}
		p0, r0 := d.probe(refused[0])
		if d.undeclared(p0.TargetPort) {
			d.add(SevError, VerdictPortMismatch, "", pods[0], d.failed(func(*probe.Probe) bool { return true }),
				"targetPort %d is declared by no container of the selected pods (they declare %s) and %s %s on it",
				p0.TargetPort, declared(d.selected), strings.Join(pods, ", "), r0.Outcome)
			return
		}
		vip := d.failed(func(p *probe.Probe) bool { return p.Via != probe.ViaEndpoint })
		for _, pod := range pods {
			ids := byPod[pod]
			p, r := d.probe(ids[0])
			d.add(SevError, VerdictBackendNotListening, p.Node, pod, append(ids, vip...),
				"%s does not answer on %s (%s from %s): the application is not listening", pod, p.Address(), r.Outcome, p.From)
			vip = nil
		}
		return
	}
	// Without an in-cluster view, a numeric targetPort nobody declares and
	// every NodePort failing is the same story.
	nps := d.failed(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort && p.Expect.Want == probe.Reach })
	all := d.probesWhere(func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort && p.Expect.Want == probe.Reach })
	if len(nps) > 1 && len(nps) == len(all) {
		for _, sp := range d.svc.Ports {
			if n, err := strconv.Atoi(sp.TargetPort); err == nil && d.undeclared(int32(n)) {
				d.add(SevError, VerdictPortMismatch, "", "", d.failed(func(*probe.Probe) bool { return true }),
					"targetPort %d is declared by no container of the selected pods (they declare %s); every NodePort fails (%s)",
					n, declared(d.selected), d.results[nps[0]].Outcome)
				return
			}
		}
	}
}

// nodeFailures localises NodePort and VIP failures to a node: broken
// dataplane (fails from inside too) or blocked from the operator (answers
// from inside, not from outside).
func (d *diagnoser) nodeFailures() {
	nodes := map[string]bool{}
	var order []string
	for _, i := range d.failed(func(p *probe.Probe) bool {
		return (p.Via == probe.ViaNodePort || p.Via == probe.ViaClusterIP) && p.Expect.Want == probe.Reach
	}) {
		if d.covered[i] {
			continue
		}
		p, _ := d.probe(i)
		n := p.Node
		if p.Via == probe.ViaClusterIP {
			n = d.plan.NodeOf(p.From)
		}
		if n != "" && !nodes[n] {
			nodes[n] = true
			order = append(order, n)
		}
	}
	reachNP := func(p *probe.Probe) bool { return p.Via == probe.ViaNodePort && p.Expect.Want == probe.Reach }
	if len(nodes) > 1 && len(d.failed(reachNP)) == len(d.probesWhere(reachNP)) {
		return // every node failing is the Service's problem, not a node's
	}
	for _, n := range order {
		onNode := func(p *probe.Probe) bool {
			return p.Via == probe.ViaNodePort && p.Node == n && p.Expect.Want == probe.Reach
		}
		viaNode := func(p *probe.Probe) bool {
			return (p.Via == probe.ViaNodePort && p.Node == n || p.Via == probe.ViaClusterIP && d.plan.NodeOf(p.From) == n) && p.Expect.Want == probe.Reach
		}
		failedHere := d.failed(viaNode)
		outsideFail := d.failed(func(p *probe.Probe) bool { return onNode(p) && p.From == probe.FromLocal })
		insideFail := d.failed(func(p *probe.Probe) bool { return viaNode(p) && p.From != probe.FromLocal })
		insideOK := d.passed(func(p *probe.Probe) bool { return onNode(p) && p.From != probe.FromLocal })
		directOK := d.passed(func(p *probe.Probe) bool {
			return p.Via == probe.ViaEndpoint && p.From != probe.FromLocal && d.plan.NodeOf(p.From) == n
		})
		r := d.results[failedHere[0]]
		switch {
		case len(insideFail) > 0:
			evidence := ""
			if len(directOK) > 0 {
				evidence = fmt.Sprintf("; pods answer directly from %s", n)
			}
			d.add(SevError, VerdictDataplaneBroken, n, "", failedHere,
				"dataplane broken on node %s: %s through %s fail%s (%s)%s: check kube-proxy and the CNI on %s",
				n, d.hops(failedHere), n, plural(len(d.hopsList(failedHere)), "", "s"), r.Outcome, evidence, n)
		case len(outsideFail) > 0 && len(insideOK) > 0:
			d.add(SevError, VerdictBlockedFromOperator, n, "", outsideFail,
				"blocked between the operator and node %s: NodePort %d answers from inside the cluster but not from outside (%s): check firewalls and security groups",
				n, d.plan.Probes[outsideFail[0]].TargetPort, d.results[outsideFail[0]].Outcome)
		case len(outsideFail) > 0:
			d.add(SevError, VerdictNodePathFailed, n, "", outsideFail,
				"NodePort %d fails on node %s only (%s from outside; other nodes answer); --from all tells a broken kube-proxy from a firewall",
				d.plan.Probes[outsideFail[0]].TargetPort, n, d.results[outsideFail[0]].Outcome)
		}
	}
}

func (d *diagnoser) hops(idx []int) string { return strings.Join(d.hopsList(idx), " and ") }

func (d *diagnoser) hopsList(idx []int) []string {
	var hs []string
	for _, i := range idx {
		p, _ := d.probe(i)
		h := fmt.Sprintf("NodePort %d", p.TargetPort)
		if p.Via == probe.ViaClusterIP {
			h = "ClusterIP " + p.Host
		}
		if !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return hs
}

// exposure: a cluster-internal address answered from outside.
func (d *diagnoser) exposure() {
	for _, via := range []probe.Via{probe.ViaClusterIP, probe.ViaEndpoint} {
		ex := d.failed(func(p *probe.Probe) bool {
			return p.From == probe.FromLocal && p.Via == via && p.Expect.Want == probe.NoReach
		})
		if len(ex) == 0 {
			continue
		}
		what := "ClusterIP"
		if via == probe.ViaEndpoint {
			what = "pod IP"
		}
		var addrs []string
		for _, i := range ex {
			addrs = append(addrs, d.plan.Probes[i].Address())
		}
		d.add(SevWarning, VerdictExposed, "", "", ex, "%s %s answers from outside the cluster: cluster-internal addresses are exposed to the operator's network",
			what, strings.Join(addrs, ", "))
	}
}

// rest: coverage, stickiness, and any failure no verdict explained, one
// finding per kind of hop naming each failing member.
func (d *diagnoser) rest() {
	type group struct {
		code    Code
		sev     Severity
		hop     string
		node    string
		members []string
		idx     []int
	}
	groups := map[string]*group{}
	var order []string
	add := func(code Code, sev Severity, p *probe.Probe, i int, member string) {
		key := string(code) + "|" + p.Port + "|" + string(p.From) + "|" + string(p.Via)
		g, ok := groups[key]
		if !ok {
			g = &group{code: code, sev: sev, hop: describeHop(p), node: p.Node}
			groups[key] = g
			order = append(order, key)
		}
		if g.node != p.Node {
			g.node = ""
		}
		g.members = append(g.members, member)
		g.idx = append(g.idx, i)
	}
	for _, i := range d.idx {
		p, r := d.probe(i)
		if r.Outcome == probe.NotRun || d.covered[i] {
			continue
		}
		where := p.Address()
		if p.Via == probe.ViaNodePort || p.Via == probe.ViaHealthCheck {
			where = p.Node + " (" + p.Address() + ")"
		}
		switch {
		case !r.Pass && p.Expect.Sticky && r.Outcome == probe.OK && len(r.Seen) > 1:
			add(VerdictNotSticky, SevError, p, i, fmt.Sprintf("%s reached %s in %d connections (sessionAffinity=ClientIP)", where, strings.Join(r.Seen, ", "), r.Connections))
		case !r.Pass:
			what := string(r.Outcome)
			switch {
			case r.Failures > 0 && r.Failures < r.Connections:
				what = fmt.Sprintf("%d of %d connections %s", r.Failures, r.Connections, r.Outcome)
			case r.Outcome == probe.OK && p.Expect.Want == probe.NoReach:
				what = "answered but must not (" + p.Expect.Reason + ")"
			case r.Outcome == probe.OK && p.Expect.Status != 0:
				what = fmt.Sprintf("HTTP %d, want %d", r.HTTPStatus, p.Expect.Status)
			}
			add(VerdictPathFailed, SevError, p, i, where+" "+what)
		case p.Expect.Want == probe.Reach && len(p.Backends) > 1 && len(r.Seen) > 0 && len(missing(p.Backends, r.Seen)) > 0:
			add(VerdictPartialCoverage, SevWarning, p, i, fmt.Sprintf("%s saw %d of %d backends in %d connections, never %s",
				where, len(r.Seen), len(p.Backends), r.Connections, strings.Join(missing(p.Backends, r.Seen), ", ")))
		}
	}
	total := map[string]int{}
	for _, i := range d.idx {
		if p, r := d.probe(i); r.Outcome != probe.NotRun {
			total[string(VerdictPathFailed)+"|"+p.Port+"|"+string(p.From)+"|"+string(p.Via)]++
		}
	}
	for _, k := range order {
		g := groups[k]
		msg := strings.Join(g.members, "; ")
		if n := total[k]; g.code == VerdictPathFailed && n > 1 && len(g.idx) == n {
			msg += fmt.Sprintf(" (all %d fail: the Service, not one node)", n)
		}
		d.add(g.sev, g.code, g.node, "", g.idx, "%s: %s", g.hop, msg)
	}
}

// describeHop names a kind of hop, e.g. "port http NodePort 30080 from local".
func describeHop(p *probe.Probe) string {
	s := "port " + p.Port + " "
	switch p.Via {
	case probe.ViaNodePort:
		s += fmt.Sprintf("NodePort %d", p.TargetPort)
	case probe.ViaEndpoint:
		s += "endpoints"
	case probe.ViaClusterIP:
		s += "ClusterIP"
	case probe.ViaLoadBalancer:
		s += "LoadBalancer"
	case probe.ViaHealthCheck:
		s += "healthCheckNodePort"
	default:
		s += "DNS name"
	}
	return s + " from " + string(p.From)
}

func missing(all, seen []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(seen, a) {
			out = append(out, a)
		}
	}
	return out
}

// Missing returns the backends of p that are not in seen.
func Missing(p *probe.Probe, seen []string) []string { return missing(p.Backends, seen) }

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func selectorString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + sel[k]
	}
	return strings.Join(keys, ",")
}

func nameOr(name, alt string) string {
	if name != "" {
		return name
	}
	return alt
}

func firstOr(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func plural(n int, many, one string) string {
	if n == 1 {
		return one
	}
	return many
}
