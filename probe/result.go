package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Outcome classifies what a probe observed.
type Outcome string

// Outcomes. NotRun means the probe was planned but not executed (Result.Detail
// says why: unsupported protocol, vantage point not available, interrupted).
const (
	OK       Outcome = "ok"
	Refused  Outcome = "refused"
	Timeout  Outcome = "timeout"
	Reset    Outcome = "reset"
	NoRoute  Outcome = "noRoute"
	DNSError Outcome = "dnsError"
	Error    Outcome = "error"
	NotRun   Outcome = "notRun"
	// NoAnswer: the connection was made but no answer came within the
	// timeout (HTTP headers never arrived; for UDP, no reply datagram).
	NoAnswer Outcome = "noAnswer"
	// ServerError: an HTTP answer with a 5xx status the path did not expect.
	ServerError Outcome = "serverError"
)

// Outcomes lists every Outcome value.
var Outcomes = []Outcome{OK, Refused, Timeout, Reset, NoRoute, DNSError, Error, NotRun, NoAnswer, ServerError}

// Connected reports whether an outcome proves the connection reached a
// listener (it answered, or accepted and then said nothing useful).
func (o Outcome) Connected() bool { return o == OK || o == NoAnswer || o == ServerError }

// Attribution says how the answering backend was identified.
const (
	AttrHTTPBody = "httpBody"
	// AttrAnswer: a non-HTTP answer (a UDP reply) named the pod.
	AttrAnswer    = "answer"
	AttrDirect    = "direct"
	AttrConntrack = "conntrack"
)

// Result is what one probe observed. Failures are data: a refused connection
// is a Result, not an error.
type Result struct {
	ID      string  `json:"id"`
	Outcome Outcome `json:"outcome"`
	// Detail is the error text of the last failed attempt, or why the probe
	// did not run.
	Detail string `json:"detail,omitempty"`
	// Latency is the median latency of the successful attempts (connect for
	// TCP, time to response headers for HTTP).
	Latency    time.Duration `json:"latency"`
	HTTPStatus int           `json:"httpStatus,omitempty"`
	// Backend is the pod that answered when exactly one did.
	Backend     string `json:"backend,omitempty"`
	Attribution string `json:"attribution,omitempty"`
	// Seen lists the distinct backends that answered, sorted.
	Seen []string `json:"seen,omitempty"`
	// Connections is the number of connections made; Failures how many of
	// them failed.
	Connections int `json:"connections"`
	Failures    int `json:"failures,omitempty"`
	// Tries is how many times the whole probe ran (--attempts retries a
	// failed probe); 0 when it did not run.
	Tries int `json:"tries,omitempty"`
	// Observed counts the connections by outcome, when more than one kind
	// was seen or any failed: "6 refused, 15 ok".
	Observed map[Outcome]int `json:"observed,omitempty"`
	// FailedBackends counts, per pod, the failed connections that are known
	// to have gone to it (a 5xx answer naming it, or the NAT table).
	FailedBackends map[string]int `json:"failedBackends,omitempty"`
	Pass           bool           `json:"pass"`
	Interrupted    bool           `json:"interrupted,omitempty"`
	// Cause says why a NotRun probe did not run, where a reader must know
	// (Detail says it in words); empty otherwise.
	Cause NotRunCause `json:"cause,omitempty"`
	// Resolved lists the addresses a DNS name resolved to that are none of
	// the probe's Expect.Addresses (a wrong answer), in the order seen.
	Resolved []string `json:"resolved,omitempty"`
}

// NotRunCause says, as data, why a probe did not run.
type NotRunCause string

// Causes of a probe not run that a reader acts on.
const (
	// NotRunProtocol: the probers do not speak the probe's protocol.
	NotRunProtocol NotRunCause = "protocol"
	// NotRunDeadline: the run's deadline (--max-time) passed before the
	// probe finished.
	NotRunDeadline NotRunCause = "deadline"
)

// NotRunCauses lists every NotRunCause value.
var NotRunCauses = []NotRunCause{NotRunProtocol, NotRunDeadline}

// CauseOf is why probe p, with result r, did not run: r's cause, or the
// plan's when it skipped p; empty when p ran or no cause is known.
func CauseOf(p *Probe, r *Result) NotRunCause {
	switch {
	case r.Outcome != NotRun:
		return ""
	case r.Cause != "":
		return r.Cause
	case p.Skip != "":
		return p.SkipCause
	}
	return ""
}

// Evaluate sets r.Pass by comparing the outcome with the probe's expectation:
// reach passes when every connection was answered as expected, noReach when
// none connected, unknown
// and not-run probes always pass (they are informational).
func Evaluate(p *Probe, r *Result) {
	switch {
	case r.Outcome == NotRun:
		r.Pass = true
	case p.Protocol == ProtocolUDP && r.Outcome == NoAnswer && r.Observed[OK] == 0:
		r.Pass = true // silence proves nothing either way: inconclusive
	case p.Expect.Want == Reach:
		r.Pass = r.Outcome == OK && r.Failures == 0 &&
			(p.Expect.Status == 0 || r.HTTPStatus == p.Expect.Status) &&
			(!p.Expect.Sticky || len(r.Seen) <= 1)
	case p.Expect.Want == NoReach:
		// Nothing may have connected: a listener that accepted and said
		// nothing was still reached.
		r.Pass = r.Connections > 0 && r.Failures == r.Connections &&
			r.Observed[NoAnswer]+r.Observed[ServerError] == 0
	default:
		r.Pass = true
	}
}

// dialRefusedLocally: the dialling host's own kernel would not send the
// connection: a blackhole route (EINVAL), a prohibit route (EACCES) or a
// firewall rule on its way out (EPERM). The address is unreachable from
// there, as with no route; the detail keeps the kernel's words.
func dialRefusedLocally(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// Classify maps a dial or HTTP error to an Outcome.
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return DNSError
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return NoRoute
	case dialRefusedLocally(err):
		return NoRoute
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Error
}
