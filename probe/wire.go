package probe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// AgentRequest is what the plugin sends an agent on stdin: the probes to run
// and how. The agent answers with one Result per probe, as JSON lines on
// stdout, in completion order.
type AgentRequest struct {
	Timeout     time.Duration `json:"timeout"`
	Concurrency int           `json:"concurrency"`
	// Tries is how many times a failed probe is run in all (>= 1).
	Tries int `json:"tries,omitempty"`
	// Conntrack asks the agent to attribute VIP connections through the
	// node's conntrack table (hostNetwork agents with CAP_NET_ADMIN).
	Conntrack bool    `json:"conntrack,omitempty"`
	Probes    []Probe `json:"probes"`
}

// MaxRequestBytes bounds what an agent reads from stdin.
const MaxRequestBytes = 256 << 20

// Limits on what the plugin accepts from an agent: a pod's output is not
// trusted, so neither its size nor its content may crash or flood the plugin.
const (
	MaxResultLine   = 64 << 10
	MaxDetailLength = 1024
)

// ReadRequest decodes an AgentRequest, rejecting oversized or malformed input.
func ReadRequest(r io.Reader) (AgentRequest, error) {
	var req AgentRequest
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

var validOutcomes = []Outcome{OK, Refused, Timeout, Reset, NoRoute, DNSError, Error, NotRun}

// ResultReader reads an agent's result lines strictly: each line must be one
// JSON Result for a probe that was sent and has not answered yet, within the
// size limits, naming only that probe's backends.
type ResultReader struct {
	sc      *bufio.Scanner
	probes  []Probe
	index   map[string]int
	done    []bool
	pending int
}

// NewResultReader reads results for probes from r.
func NewResultReader(r io.Reader, probes []Probe) *ResultReader {
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
func (rr *ResultReader) Next() (int, Result, error) {
	for {
		if rr.pending == 0 {
			return -1, Result{}, io.EOF
		}
		if !rr.sc.Scan() {
			if err := rr.sc.Err(); err != nil {
				if errors.Is(err, bufio.ErrTooLong) {
					return -1, Result{}, fmt.Errorf("agent sent a line longer than %d bytes", MaxResultLine)
				}
				return -1, Result{}, err
			}
			return -1, Result{}, io.ErrUnexpectedEOF
		}
		line := bytes.TrimSpace(rr.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r Result
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return -1, Result{}, fmt.Errorf("agent sent an invalid result: %w", err)
		}
		if dec.More() {
			return -1, Result{}, errors.New("agent sent trailing data after a result")
		}
		i, ok := rr.index[r.ID]
		if !ok {
			return -1, Result{}, fmt.Errorf("agent answered for unknown probe %.80q", r.ID)
		}
		if rr.done[i] {
			return -1, Result{}, fmt.Errorf("agent answered twice for probe %q", r.ID)
		}
		if err := sanitize(&rr.probes[i], &r); err != nil {
			return -1, Result{}, fmt.Errorf("agent result for %q: %w", r.ID, err)
		}
		rr.done[i] = true
		rr.pending--
		return i, r, nil
	}
}

// sanitize checks a result against its probe and the wire limits.
func sanitize(p *Probe, r *Result) error {
	if !slices.Contains(validOutcomes, r.Outcome) {
		return fmt.Errorf("unknown outcome %.40q", r.Outcome)
	}
	if r.Attempts < 0 || r.Failures < 0 || r.Failures > r.Attempts || r.Attempts > max(p.Attempts, 1) {
		return fmt.Errorf("impossible attempts %d / failures %d for a budget of %d", r.Attempts, r.Failures, p.Attempts)
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
	for _, s := range append(r.Seen, r.Backend) {
		if s != "" && !known(s) {
			return fmt.Errorf("backend %.80q is not one of the Service's pods", s)
		}
	}
	if r.Attribution != "" && r.Attribution != AttrHTTPBody && r.Attribution != AttrDirect && r.Attribution != AttrConntrack {
		return fmt.Errorf("unknown attribution %.40q", r.Attribution)
	}
	if r.Tries < 0 || r.Tries > 100 {
		return fmt.Errorf("impossible tries %d", r.Tries)
	}
	r.Pass = false // the plugin evaluates; the agent's opinion is not trusted
	return nil
}
