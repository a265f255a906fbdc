package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Local probes from the machine it runs on with real sockets: a TCP connect,
// or an HTTP GET that attributes the answer to a backend pod when the response
// names exactly one of the probe's backends (as a hostname server does).
// Every attempt is a new connection so a VIP balances it afresh.
type Local struct {
	// Tracer, when set, attributes connections through a VIP to the endpoint
	// they were translated to (conntrack on a node).
	Tracer Tracer
	// Timeout bounds each attempt (connect plus, for HTTP, the response).
	Timeout time.Duration
	// MaxBody caps how much of an HTTP body is read for attribution; 64 KiB
	// when zero.
	MaxBody int64
}

// Tracer maps a connection to the address a NAT sent it to.
type Tracer interface {
	Backend(local, remote netip.AddrPort) (netip.Addr, bool)
	Close() error
}

// attempt is one connection's observation.
type attempt struct {
	err     error
	latency time.Duration
	status  int
	backend string
	attr    string
}

// Probe runs p: single attempt, or repeated attempts until every backend has
// answered, the budget is spent, or the path proves dead.
func (l *Local) Probe(ctx context.Context, p *Probe) Result {
	r := Result{ID: p.ID}
	if p.Skip != "" {
		r.Outcome, r.Detail = NotRun, p.Skip
		return r
	}
	var client *http.Client
	if p.HTTP {
		client = l.httpClient()
		defer client.CloseIdleConnections()
	}
	seen := map[string]bool{}
	var lat []time.Duration
	var lastErr error
	worst := OK
	budget := max(p.Attempts, 1)
	for r.Attempts < budget {
		if ctx.Err() != nil {
			r.Interrupted = true
			break
		}
		var a attempt
		if client != nil {
			a = l.httpAttempt(ctx, client, p)
		} else {
			a = l.tcpAttempt(ctx, p)
		}
		if a.err != nil && ctx.Err() != nil {
			r.Interrupted = true // the run was stopped, the path did not fail
			break
		}
		r.Attempts++
		if a.err != nil {
			r.Failures++
			lastErr = a.err
			worst = Classify(a.err)
			// A dead path: the first two attempts failed and nothing answered.
			if r.Failures >= 2 && len(lat) == 0 {
				break
			}
			continue
		}
		lat = append(lat, a.latency)
		r.HTTPStatus = a.status
		if a.backend != "" {
			seen[a.backend] = true
			r.Attribution = a.attr
		} else if len(p.Backends) > 0 {
			// Nothing names the backend: coverage cannot be measured, one
			// answer is all the proof there is.
			break
		}
		if len(p.Backends) > 0 && len(seen) == len(p.Backends) {
			break
		}
	}
	if r.Interrupted && r.Attempts == 0 {
		r.Outcome, r.Detail = NotRun, "interrupted"
		return r
	}
	r.Outcome = OK
	if r.Failures > 0 {
		r.Outcome = worst
		r.Detail = lastErr.Error()
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.Latency = lat[len(lat)/2]
	}
	for b := range seen {
		r.Seen = append(r.Seen, b)
	}
	sort.Strings(r.Seen)
	if len(r.Seen) == 1 {
		r.Backend = r.Seen[0]
	}
	if len(r.Seen) > 0 && p.Via == ViaEndpoint {
		r.Attribution = AttrDirect
	}
	return r
}

func (l *Local) timeout() time.Duration {
	if l.Timeout <= 0 {
		return 2 * time.Second
	}
	return l.Timeout
}

func (l *Local) tcpAttempt(ctx context.Context, p *Probe) attempt {
	ctx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	var d net.Dialer
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", p.Address())
	if err != nil {
		return attempt{err: err}
	}
	lat := time.Since(start)
	a := attempt{latency: lat}
	a.backend, a.attr = l.attribute(p, "", c.LocalAddr(), c.RemoteAddr())
	_ = c.Close()
	return a
}

// attribute names the pod that answered a connection, in order of proof: the
// answer names it (HTTP), the NAT table says so (conntrack), or the probe
// dialled that pod's own address (direct). It returns "" when nothing does.
func (l *Local) attribute(p *Probe, answer string, local, remote net.Addr) (string, string) {
	if b := Attribute(answer, p.Backends); b != "" {
		return b, AttrHTTPBody
	}
	if local != nil {
		if b := l.trace(p, local, remote); b != "" {
			return b, AttrConntrack
		}
	}
	if p.Via == ViaEndpoint && len(p.Backends) == 1 {
		return p.Backends[0], AttrDirect
	}
	return "", ""
}

// trace attributes a connection through a VIP by its tuple, or returns "".
func (l *Local) trace(p *Probe, local, remote net.Addr) string {
	if l.Tracer == nil || p.Via == ViaEndpoint || len(p.BackendAddrs) == 0 {
		return ""
	}
	la, lok := local.(*net.TCPAddr)
	ra, rok := remote.(*net.TCPAddr)
	if !lok || !rok {
		return ""
	}
	ip, ok := l.Tracer.Backend(la.AddrPort(), ra.AddrPort())
	if !ok {
		return ""
	}
	return p.BackendAddrs[ip.Unmap().String()]
}

func (l *Local) httpClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // probes go straight to the path under test
			DisableKeepAlives:   true,
			DisableCompression:  true,
			MaxIdleConnsPerHost: -1,
		},
		Timeout: l.timeout(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the first answer is the backend's
		},
	}
}

func (l *Local) httpAttempt(ctx context.Context, client *http.Client, p *Probe) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Address()+"/", nil)
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("User-Agent", "svccheck")
	var local, remote net.Addr
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			local, remote = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
		},
	}))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if local != nil && ctx.Err() == nil && Classify(err) == Error {
			// Connected, but the answer is not HTTP: the path works, the
			// port just does not speak HTTP.
			a := attempt{latency: time.Since(start)}
			a.backend, a.attr = l.attribute(p, "", local, remote)
			return a
		}
		return attempt{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	lat := time.Since(start)
	limit := l.MaxBody
	if limit <= 0 {
		limit = 64 << 10
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return attempt{err: fmt.Errorf("read response: %w", err)}
	}
	a := attempt{latency: lat, status: resp.StatusCode}
	var sb strings.Builder
	for k, vs := range resp.Header {
		for _, v := range vs {
			sb.WriteString(k)
			sb.WriteString(": ")
			sb.WriteString(v)
			sb.WriteByte('\n')
		}
	}
	sb.Write(body)
	a.backend, a.attr = l.attribute(p, sb.String(), local, remote)
	return a
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
