// Package agent is the in-cluster side of svccheck and the wire format it
// speaks: the plugin sends a Request (the probes of one vantage point) on the
// agent's stdin, the agent runs them with the same runner and probers as the
// operator's machine and writes one Result per probe as a JSON line.
package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// Request is what the plugin sends an agent on stdin: the probes to run
// and how. The agent answers with one Result per probe, as JSON lines on
// stdout, in completion order.
type Request struct {
	Timeout     time.Duration `json:"timeout"`
	Concurrency int           `json:"concurrency"`
	// Tries is how many times a failed probe is run in all (>= 1).
	Tries int `json:"tries,omitempty"`
	// Conntrack asks the agent to attribute VIP connections through the
	// node's conntrack table (hostNetwork agents with CAP_NET_ADMIN).
	Conntrack bool          `json:"conntrack,omitempty"`
	Probes    []probe.Probe `json:"probes"`
}

// MaxRequestBytes bounds what an agent reads from stdin.
const MaxRequestBytes = 256 << 20

// Limits on what the plugin accepts from an agent: a pod's output is not
// trusted, so neither its size nor its content may crash or flood the plugin.
const (
	MaxResultLine   = 64 << 10
	MaxDetailLength = 1024
)

// ReadRequest decodes an Request, rejecting oversized or malformed input.
func ReadRequest(r io.Reader) (Request, error) {
	var req Request
	lr := &io.LimitedReader{R: r, N: MaxRequestBytes + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if lr.N <= 0 {
			return req, fmt.Errorf("request larger than %d bytes", MaxRequestBytes)
		}
		return req, fmt.Errorf("decode request: %w", err)
	}
	if req.Concurrency < 1 || req.Timeout <= 0 {
		return req, fmt.Errorf("request needs concurrency >= 1 and a positive timeout")
	}
	return req, nil
}

// ResultReader reads an agent's result lines strictly: each line must be one
// JSON Result for a probe that was sent and has not answered yet, within the
// size limits, naming only that probe's backends.
type ResultReader struct {
	sc      *bufio.Scanner
	probes  []probe.Probe
	index   map[string]int
	done    []bool
	pending int
}

// NewResultReader reads results for probes from r.
func NewResultReader(r io.Reader, probes []probe.Probe) *ResultReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxResultLine)
	rr := &ResultReader{sc: sc, probes: probes, index: make(map[string]int, len(probes)), done: make([]bool, len(probes)), pending: len(probes)}
	for i := range probes {
		rr.index[probes[i].ID] = i
	}
	return rr
}

// Next returns the next result and the index of its probe. It returns io.EOF
// when every probe has answered, io.ErrUnexpectedEOF when the stream ends
// early, and a descriptive error on any violation.
func (rr *ResultReader) Next() (int, probe.Result, error) {
	for {
		if rr.pending == 0 {
			return -1, probe.Result{}, io.EOF
		}
		if !rr.sc.Scan() {
			if err := rr.sc.Err(); err != nil {
				if errors.Is(err, bufio.ErrTooLong) {
					return -1, probe.Result{}, fmt.Errorf("agent sent a line longer than %d bytes", MaxResultLine)
				}
				return -1, probe.Result{}, err
			}
			return -1, probe.Result{}, io.ErrUnexpectedEOF
		}
		line := bytes.TrimSpace(rr.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r probe.Result
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return -1, probe.Result{}, fmt.Errorf("agent sent an invalid result: %w", err)
		}
		if dec.More() {
			return -1, probe.Result{}, errors.New("agent sent trailing data after a result")
		}
		i, ok := rr.index[r.ID]
		if !ok {
			return -1, probe.Result{}, fmt.Errorf("agent answered for unknown probe %.80q", r.ID)
		}
		if rr.done[i] {
			return -1, probe.Result{}, fmt.Errorf("agent answered twice for probe %q", r.ID)
		}
		if err := sanitize(&rr.probes[i], &r); err != nil {
			return -1, probe.Result{}, fmt.Errorf("agent result for %q: %w", r.ID, err)
		}
		rr.done[i] = true
		rr.pending--
		return i, r, nil
	}
}

// sanitize checks a result against its probe and the wire limits.
func sanitize(p *probe.Probe, r *probe.Result) error {
	if !slices.Contains(probe.Outcomes, r.Outcome) {
		return fmt.Errorf("unknown outcome %.40q", r.Outcome)
	}
	if r.Connections < 0 || r.Failures < 0 || r.Failures > r.Connections || r.Connections > max(p.Connections, 1) {
		return fmt.Errorf("impossible connections %d / failures %d for a budget of %d", r.Connections, r.Failures, p.Connections)
	}
	if r.Latency < 0 || r.HTTPStatus < 0 || r.HTTPStatus > 999 {
		return errors.New("impossible latency or HTTP status")
	}
	if len(r.Detail) > MaxDetailLength {
		r.Detail = r.Detail[:MaxDetailLength] + "…"
	}
	// Answers may come from any pod of the Service (a proxy that ignores
	// externalTrafficPolicy=Local is a finding), never from elsewhere.
	known := func(pod string) bool {
		if slices.Contains(p.Backends, pod) {
			return true
		}
		for _, v := range p.BackendAddrs {
			if v == pod {
				return true
			}
		}
		return false
	}
	if len(r.Seen) > len(p.Backends)+len(p.BackendAddrs) {
		return errors.New("more backends seen than the Service has")
	}
	for _, s := range r.Seen {
		if !known(s) {
			return fmt.Errorf("backend %.80q is not one of the Service's pods", s)
		}
	}
	for _, s := range []string{r.Backend} {
		if s != "" && !known(s) {
			return fmt.Errorf("backend %.80q is not one of the Service's pods", s)
		}
	}
	if !slices.Contains([]string{"", probe.AttrHTTPBody, probe.AttrAnswer, probe.AttrDirect, probe.AttrConntrack}, r.Attribution) {
		return fmt.Errorf("unknown attribution %.40q", r.Attribution)
	}
	if err := sanitizeCounts(p, r, known); err != nil {
		return err
	}
	if r.Tries < 0 || r.Tries > 100 {
		return fmt.Errorf("impossible tries %d", r.Tries)
	}
	if r.Cause != "" && (r.Outcome != probe.NotRun || !slices.Contains(probe.NotRunCauses, r.Cause)) {
		return fmt.Errorf("impossible cause %.40q of outcome %s", r.Cause, r.Outcome)
	}
	if len(r.Resolved) > r.Failures {
		return fmt.Errorf("%d wrong DNS answers for %d failed connections", len(r.Resolved), r.Failures)
	}
	for _, a := range r.Resolved {
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf("resolved address %.80q is no IP address", a)
		}
	}
	r.Pass = false // the plugin evaluates; the agent's opinion is not trusted
	return nil
}

// sanitizeCounts checks the per-outcome and per-backend connection counts:
// known outcomes and pods only, never more than the connections made.
func sanitizeCounts(p *probe.Probe, r *probe.Result, known func(string) bool) error {
	total := 0
	for o, n := range r.Observed {
		if !slices.Contains(probe.Outcomes, o) || n < 0 {
			return fmt.Errorf("impossible observation %.40q: %d", o, n)
		}
		total += n
	}
	if total > r.Connections {
		return fmt.Errorf("%d connections observed, %d made", total, r.Connections)
	}
	failed := 0
	for b, n := range r.FailedBackends {
		if !known(b) || n < 0 {
			return fmt.Errorf("failed backend %.80q is not one of the Service's pods", b)
		}
		failed += n
	}
	if failed > r.Failures {
		return fmt.Errorf("%d failed connections attributed, %d failed", failed, r.Failures)
	}
	return nil
}
