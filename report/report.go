// Package report turns a plan, its results and the findings into a Report and
// renders it as a table, a wide table or JSON.
package report

import (
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

// APIVersion and Kind identify the JSON report format.
const (
	APIVersion = "svccheck.dev/v1alpha2"
	// APIVersionV1Alpha1 is the previous version, still read as a baseline:
	// its probe IDs end in addresses, and outcomes are fewer.
	APIVersionV1Alpha1 = "svccheck.dev/v1alpha1"
	Kind               = "Report"
)

// Report is the complete outcome of one run. Its JSON form is the stable,
// documented interface for CI.
type Report struct {
	APIVersion  string             `json:"apiVersion"`
	Kind        string             `json:"kind"`
	Metadata    Metadata           `json:"metadata"`
	Scope       Scope              `json:"scope"`
	Inventory   Inventory          `json:"inventory"`
	Summary     Summary            `json:"summary"`
	Services    []Service          `json:"services"`
	Findings    []diagnose.Finding `json:"findings"`
	Interrupted bool               `json:"interrupted,omitempty"`
	// Baseline, with --baseline, compares this run with a saved report; the
	// run then fails only on regressions.
	Baseline *BaselineDiff `json:"baseline,omitempty"`
}

// BaselineDiff is what changed since a saved report.
type BaselineDiff struct {
	File string `json:"file"`
	// APIVersion is the baseline report's version.
	APIVersion  string    `json:"apiVersion"`
	GeneratedAt time.Time `json:"generatedAt"`
	// Regressions are probes that passed in the baseline and fail now.
	Regressions []string `json:"regressions"`
	// Fixed are probes that failed in the baseline and pass now.
	Fixed []string `json:"fixed"`
	// NewServices are in this run only: reported, never a failure.
	NewServices []string `json:"newServices"`
	// GoneServices were in the baseline only.
	GoneServices []string `json:"goneServices"`
	// Appeared are probe identities of known Services that only this run
	// has (a node or replica added); failing, they are regressions.
	Appeared []string `json:"appeared"`
	// Vanished are probe identities of known Services only the baseline had.
	Vanished []string `json:"vanished"`
}

// ApplyBaseline compares r with a saved report, matching probes by their
// stable identity (ID: names of nodes and pod owners, never IPs), so a
// rollout or a node address change between the two runs matches. The result
// becomes "fail" exactly when there is a regression: a probe that passed in
// the baseline fails now, or a probe new in a Service the baseline knew (a
// node or a replica added) fails. Identities that appeared or vanished are
// listed; new Services are reported, never failures.
func (r *Report) ApplyBaseline(file string, base *Report) {
	d := &BaselineDiff{File: file, APIVersion: base.APIVersion, GeneratedAt: base.Metadata.GeneratedAt, Regressions: []string{},
		Fixed: []string{}, NewServices: []string{}, GoneServices: []string{}, Appeared: []string{}, Vanished: []string{}}
	before, planned, services := baselineProbes(base)
	now := map[string]bool{}
	regressed := map[string]bool{}
	for _, s := range r.Services {
		key := s.Key()
		now[key] = true
		if !services[key] {
			d.NewServices = append(d.NewServices, key)
			continue
		}
		for _, p := range s.Probes {
			passed, known := before[p.ID]
			delete(before, p.ID) // it still exists, run or not
			if p.Outcome == probe.NotRun {
				continue
			}
			switch {
			case !known && planned[p.ID]:
				// It did not run then: nothing to compare with.
			case !known:
				d.Appeared = append(d.Appeared, p.ID)
				if !p.Pass {
					d.Regressions = append(d.Regressions, p.ID)
					regressed[key] = true
				}
			case passed && !p.Pass:
				d.Regressions = append(d.Regressions, p.ID)
				regressed[key] = true
			case !passed && p.Pass:
				d.Fixed = append(d.Fixed, p.ID)
			}
		}
	}
	for _, s := range base.Services {
		key := s.Key()
		if !now[key] {
			d.GoneServices = append(d.GoneServices, key)
			continue
		}
		for _, p := range s.Probes {
			if _, left := before[baselineID(base.APIVersion, p)]; left && p.Outcome != probe.NotRun {
				d.Vanished = append(d.Vanished, baselineID(base.APIVersion, p))
			}
		}
	}
	r.Baseline = d
	r.Summary.Result = "pass"
	if len(d.Regressions) > 0 {
		r.Summary.Result = "fail"
	}
	for i := range r.Services {
		r.Services[i].Pass = !regressed[r.Services[i].Key()]
	}
}

// baselineProbes maps each probe that ran in the baseline to whether it
// passed, by identity, and lists every probe it planned and its Services.
func baselineProbes(base *Report) (ran, planned, services map[string]bool) {
	ran, planned, services = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range base.Services {
		services[s.Key()] = true
		for _, p := range s.Probes {
			id := baselineID(base.APIVersion, p)
			planned[id] = true
			if p.Outcome != probe.NotRun {
				ran[id] = p.Pass
			}
		}
	}
	return ran, planned, services
}

// baselineID is a baseline probe's identity in today's terms. Reports of
// APIVersionV1Alpha1 named probes by address; their identity is rebuilt from
// the row's fields (node and address type, VIP family), except that an
// endpoint is known there only by its pod's name, so endpoints of a baseline
// that old match only until the pods are replaced.
func baselineID(version string, p ProbeRow) string {
	if version != APIVersionV1Alpha1 {
		return p.ID
	}
	host := p.Target
	if h, _, err := net.SplitHostPort(p.Target); err == nil {
		host = h
	}
	v6 := ""
	if strings.Contains(host, ":") {
		v6 = "/ipv6"
	}
	key := p.Via.Kind().Key(probe.Target{From: p.From, Node: p.Node, AddressType: p.AddressType, Host: host,
		Endpoints: map[string]string{host: p.Pod + v6}})
	id := p.ID[:strings.LastIndex(p.ID, "/"+string(p.Via)+"/")]
	return id + "/" + string(p.Via) + "/" + key
}

// Metadata says when and against what the report was made.
type Metadata struct {
	GeneratedAt time.Time `json:"generatedAt"`
	DurationMs  int64     `json:"durationMs"`
	Server      string    `json:"server,omitempty"`
	Context     string    `json:"context,omitempty"`
}

// Scope is what was asked for.
type Scope struct {
	Namespace     string   `json:"namespace,omitempty"`
	AllNamespaces bool     `json:"allNamespaces,omitempty"`
	Selector      string   `json:"selector,omitempty"`
	Services      []string `json:"services,omitempty"`
	From          []string `json:"from"`
}

// Inventory counts what discovery found.
type Inventory struct {
	Services       int `json:"services"`
	EndpointSlices int `json:"endpointSlices"`
	Endpoints      int `json:"endpoints"`
	ReadyEndpoints int `json:"readyEndpoints"`
	Nodes          int `json:"nodes"`
	Pods           int `json:"pods"`
}

// Summary totals the probes and findings. Result is "pass" or "fail", the
// same verdict the exit code gives.
type Summary struct {
	Probes   int `json:"probes"`
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	NotRun   int `json:"notRun"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// FailOn is the least severe finding that fails the run.
	FailOn string `json:"failOn"`
	Result string `json:"result"`
}

// Service is one Service's probes, in plan order.
type Service struct {
	Namespace             string    `json:"namespace"`
	Name                  string    `json:"name"`
	Type                  string    `json:"type"`
	ClusterIPs            []string  `json:"clusterIPs,omitempty"`
	ExternalTrafficPolicy string    `json:"externalTrafficPolicy,omitempty"`
	Endpoints             Endpoints `json:"endpoints"`
	Pass                  bool      `json:"pass"`
	// Verdict is the code of the Service's most severe error or warning
	// finding, or "healthy".
	Verdict diagnose.Code `json:"verdict"`
	Probes  []ProbeRow    `json:"probes"`
	// Matrix is the vantage point × backend coverage of the VIP paths that
	// could attribute answers, when any could.
	Matrix *Matrix `json:"coverageMatrix,omitempty"`
	// Convergence, with --wait-converged, says whether and when the
	// Service's paths came to agree with their expectations.
	Convergence *Convergence `json:"convergence,omitempty"`
}

// Key returns the Service's key, "namespace/name" (probe.ServiceKey).
func (s *Service) Key() string { return probe.ServiceKey(s.Namespace, s.Name) }

// Convergence states.
const (
	// ConvergeAgreed: every probe met its expectation on the first pass.
	ConvergeAgreed = "agreed"
	// ConvergeConverged: some did only when probed again.
	ConvergeConverged = "converged"
	// ConvergeNotConverged: some still did not when the wait ended.
	ConvergeNotConverged = "notConverged"
	// ConvergeNotWaited: some did not, and the Service had not changed
	// recently: their results were final at once.
	ConvergeNotWaited = "notWaited"
)

// Convergence is how a Service's paths settled while svccheck waited for
// the dataplane to converge (--wait-converged).
type Convergence struct {
	State string `json:"state"`
	// LastChange is the newest change the cluster recorded for the Service
	// (its creation, an EndpointSlice change, an endpoint pod's readiness).
	LastChange *time.Time `json:"lastChange,omitempty"`
	// WaitedMs is the time from the end of the first pass to the end of the
	// pass in which every probe agreed (converged), or to the end of the
	// wait (notConverged); 0 otherwise.
	WaitedMs int64 `json:"waitedMs"`
	// SinceChangeMs, when converged, is the time from LastChange to the end
	// of the pass in which every probe agreed.
	SinceChangeMs *int64 `json:"sinceChangeMs,omitempty"`
	// Reprobes is how many times the Service's disagreeing probes ran again.
	Reprobes int `json:"reprobes"`
	// Probes are the IDs of the probes that disagreed on the first pass.
	Probes []string `json:"probes,omitempty"`
}

// Endpoints counts a Service's endpoints by condition.
type Endpoints struct {
	Total       int `json:"total"`
	Ready       int `json:"ready"`
	NotReady    int `json:"notReady"`
	Terminating int `json:"terminating"`
}

// ProbeRow is one probe with its expectation and what it observed.
type ProbeRow struct {
	ID string `json:"id"`
	// Key is the end of ID that identifies the probe within its port,
	// vantage point and path kind by names (node and address type, endpoint
	// owner and position), never IPs; Target keeps the address.
	Key          string         `json:"key"`
	Port         string         `json:"port"`
	ServicePort  int32          `json:"servicePort"`
	Protocol     probe.Protocol `json:"protocol"`
	From         probe.From     `json:"from"`
	Via          probe.Via      `json:"via"`
	Node         string         `json:"node,omitempty"`
	AddressType  string         `json:"addressType,omitempty"`
	Pod          string         `json:"pod,omitempty"`
	Target       string         `json:"target"`
	HTTP         bool           `json:"http,omitempty"`
	Expect       probe.Want     `json:"expect"`
	ExpectReason string         `json:"expectReason"`
	Outcome      probe.Outcome  `json:"outcome"`
	Pass         bool           `json:"pass"`
	Detail       string         `json:"detail,omitempty"`
	LatencyMs    float64        `json:"latencyMs"`
	HTTPStatus   int            `json:"httpStatus,omitempty"`
	Backend      string         `json:"backend,omitempty"`
	Attribution  string         `json:"attribution,omitempty"`
	Connections  int            `json:"attempts"`
	Failures     int            `json:"failures"`
	Tries        int            `json:"tries"`
	// Observed counts connections by outcome when they differed or failed.
	Observed map[probe.Outcome]int `json:"observed,omitempty"`
	// FailedBackends counts failed connections known to have gone to a pod.
	FailedBackends map[string]int `json:"failedBackends,omitempty"`
	Coverage       *Coverage      `json:"coverage,omitempty"`
	// Policies are the NetworkPolicies that decided the expectation.
	Policies []string `json:"policies,omitempty"`
	// Exception names the declared exception (--config, --expect-*) that
	// set the expectation or skipped the probe.
	Exception string `json:"exception,omitempty"`
}

// Matrix says which backend answered on which path: Rows[i].Seen[j] is true
// when Backends[j] answered on Rows[i].
type Matrix struct {
	Backends []string    `json:"backends"`
	Rows     []MatrixRow `json:"rows"`
}

// MatrixRow is one attributed VIP path.
type MatrixRow struct {
	From probe.From `json:"from"`
	Via  probe.Via  `json:"via"`
	Node string     `json:"node,omitempty"`
	Port string     `json:"port"`
	Seen []bool     `json:"seen"`
}

func buildMatrix(rows []ProbeRow) *Matrix {
	var backends []string
	for _, p := range rows {
		if p.Coverage == nil {
			continue
		}
		for _, b := range append(append([]string{}, p.Coverage.Seen...), p.Coverage.Missing...) {
			if !slices.Contains(backends, b) {
				backends = append(backends, b)
			}
		}
	}
	if len(backends) == 0 {
		return nil
	}
	sort.Strings(backends)
	m := &Matrix{Backends: backends}
	for _, p := range rows {
		if p.Coverage == nil {
			continue
		}
		row := MatrixRow{From: p.From, Via: p.Via, Node: p.Node, Port: p.Port, Seen: make([]bool, len(backends))}
		for j, b := range backends {
			row.Seen[j] = slices.Contains(p.Coverage.Seen, b)
		}
		m.Rows = append(m.Rows, row)
	}
	return m
}

// Coverage says which of the backends behind a VIP path answered.
type Coverage struct {
	Seen    []string `json:"seen"`
	Missing []string `json:"missing"`
	Total   int      `json:"total"`
	Budget  int      `json:"budget"`
}

// Input is everything Build needs.
type Input struct {
	Inventory probe.Inventory
	Plan      probe.Plan
	Results   []probe.Result
	Findings  []diagnose.Finding
	Metadata  Metadata
	Scope     Scope
	// FailOn is the least severe finding that fails the run: error (the
	// default), warning, or "never".
	FailOn diagnose.Severity
}

// Build assembles the report. Services appear in inventory order, probes in
// plan order; the result is deterministic for deterministic inputs.
func Build(in Input) Report {
	r := Report{APIVersion: APIVersion, Kind: Kind, Metadata: in.Metadata, Scope: in.Scope, Findings: in.Findings}
	// The JSON has no null lists: the schema wants arrays.
	if r.Findings == nil {
		r.Findings = []diagnose.Finding{}
	}
	if r.Scope.From == nil {
		r.Scope.From = []string{}
	}
	byKey := r.addServices(in.Inventory)
	r.addProbes(in.Plan, in.Results, byKey)
	r.judge(in.FailOn)
	return r
}

// addServices counts the inventory and adds one Service per inventoried
// Service, in order; it returns each Service's index by "namespace/name".
func (r *Report) addServices(inv probe.Inventory) map[string]int {
	r.Inventory = Inventory{Services: len(inv.Services), EndpointSlices: inv.EndpointSlices,
		Nodes: len(inv.Nodes), Pods: len(inv.Pods)}
	r.Services = make([]Service, 0, len(inv.Services))
	byKey := map[string]int{}
	for i := range inv.Services {
		s := &inv.Services[i]
		sr := Service{Namespace: s.Namespace, Name: s.Name, Type: s.Type, ClusterIPs: s.ClusterIPs,
			ExternalTrafficPolicy: s.ExternalTrafficPolicy, Pass: true, Probes: []ProbeRow{}, Endpoints: countEndpoints(s.Endpoints)}
		r.Inventory.Endpoints += sr.Endpoints.Total
		r.Inventory.ReadyEndpoints += sr.Endpoints.Ready
		byKey[s.Key()] = len(r.Services)
		r.Services = append(r.Services, sr)
	}
	return byKey
}

// countEndpoints counts endpoints by condition: ready, else terminating,
// else not ready.
func countEndpoints(eps []probe.Endpoint) Endpoints {
	var c Endpoints
	for _, ep := range eps {
		c.Total++
		switch {
		case ep.Ready:
			c.Ready++
		case ep.Terminating:
			c.Terminating++
		default:
			c.NotReady++
		}
	}
	return c
}

// addProbes adds each probe of a known Service with its result (results[i]
// is the result of plan.Probes[i]), totals them, and builds each Service's
// coverage matrix. Probes of Services not in byKey are left out.
func (r *Report) addProbes(pl probe.Plan, results []probe.Result, byKey map[string]int) {
	for i := range pl.Probes {
		p, res := &pl.Probes[i], results[i]
		si, ok := byKey[p.ServiceKey()]
		if !ok {
			continue
		}
		r.Summary.Probes++
		switch {
		case res.Outcome == probe.NotRun:
			r.Summary.NotRun++
		case res.Pass:
			r.Summary.Passed++
		default:
			r.Summary.Failed++
		}
		if res.Interrupted {
			r.Interrupted = true
		}
		r.Services[si].Probes = append(r.Services[si].Probes, newRow(p, res))
	}
	for i := range r.Services {
		r.Services[i].Matrix = buildMatrix(r.Services[i].Probes)
	}
}

// judge counts the findings by severity and sets the run's result and each
// Service's verdict and pass under failOn ("" is error).
func (r *Report) judge(failOn diagnose.Severity) {
	if failOn == "" {
		failOn = diagnose.SevError
	}
	r.Summary.FailOn = string(failOn)
	r.Summary.Result = "pass"
	byService := map[string][]diagnose.Finding{}
	for _, f := range r.Findings {
		switch f.Severity {
		case diagnose.SevError:
			r.Summary.Errors++
		case diagnose.SevWarning:
			r.Summary.Warnings++
		}
		if diagnose.Fails(f, failOn) {
			r.Summary.Result = "fail"
		}
		byService[f.ServiceKey()] = append(byService[f.ServiceKey()], f)
	}
	for i := range r.Services {
		s := &r.Services[i]
		fs := byService[s.Key()]
		s.Verdict = diagnose.Verdict(fs)
		for _, f := range fs {
			if diagnose.Fails(f, failOn) {
				s.Pass = false
			}
		}
	}
}

// Passed reports whether no finding reached the --fail-on severity.
func (r *Report) Passed() bool { return r.Summary.Result == "pass" }

func newRow(p *probe.Probe, res probe.Result) ProbeRow {
	row := ProbeRow{ID: p.ID, Key: p.Key, Port: p.Port, ServicePort: p.ServicePort, Protocol: p.Protocol, From: p.From, Via: p.Via, Node: p.Node,
		AddressType: p.AddressType, Pod: p.Pod, Target: p.Address(), HTTP: p.HTTP, Expect: p.Expect.Want,
		ExpectReason: p.Expect.Reason, Outcome: res.Outcome, Pass: res.Pass, Detail: res.Detail,
		LatencyMs: float64(res.Latency.Microseconds()) / 1000, HTTPStatus: res.HTTPStatus, Backend: res.Backend,
		Attribution: res.Attribution, Connections: res.Connections, Failures: res.Failures, Tries: res.Tries,
		Observed: res.Observed, FailedBackends: res.FailedBackends, Policies: p.Expect.Policies, Exception: p.Exception}
	if p.Via.Kind().Route == probe.RouteForwarded && len(p.Backends) > 0 && res.Connections > res.Failures && (p.HTTP || len(res.Seen) > 0) {
		seen := append([]string{}, res.Seen...)
		sort.Strings(seen)
		miss := missing(p.Backends, seen)
		if miss == nil {
			miss = []string{}
		}
		row.Coverage = &Coverage{Seen: seen, Missing: miss, Total: len(p.Backends), Budget: p.Connections}
	}
	return row
}

// missing returns the backends not in seen.
func missing(all, seen []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(seen, a) {
			out = append(out, a)
		}
	}
	return out
}
