package prober

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// HTTP proves a path with a GET and keeps the answer (headers and body) so it
// can name the pod that gave it, as a hostname server does.
type HTTP struct {
	client  *http.Client
	maxBody int64
	// bound is the local address of the last socket dialled, when sockets
	// are bound before they connect (for conntrack).
	bound atomic.Pointer[net.TCPAddr]
}

// newHTTP makes an HTTP connector; with bind, its sockets are bound before
// they connect (see boundDialer).
func newHTTP(timeout time.Duration, maxBody int64, bind bool) *HTTP {
	if maxBody <= 0 {
		maxBody = 64 << 10
	}
	h := &HTTP{maxBody: maxBody}
	h.client = &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return boundDialer(bind, &h.bound).DialContext(ctx, network, addr)
			},
			Proxy:               nil, // probes go straight to the path under test
			DisableKeepAlives:   true,
			DisableCompression:  true,
			MaxIdleConnsPerHost: -1,
		},
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the first answer is the backend's
		},
	}
	return h
}

// Close drops idle connections.
func (h *HTTP) Close() { h.client.CloseIdleConnections() }

// Connect sends one GET / on a new connection.
func (h *HTTP) Connect(ctx context.Context, p *probe.Probe) Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Address()+"/", nil)
	if err != nil {
		return Attempt{Err: err}
	}
	req.Header.Set("User-Agent", "svccheck")
	var local, remote net.Addr
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			local, remote = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
		},
	}))
	h.bound.Store(nil)
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		if local != nil && ctx.Err() == nil && probe.Classify(err) == probe.Error {
			// Connected, but the answer is not HTTP: the path works, the
			// port just does not speak HTTP.
			return Attempt{Latency: time.Since(start), Connected: true, Local: local, Remote: remote}
		}
		if local == nil {
			return dialFailure(err, h.bound.Load())
		}
		return Attempt{Err: err, Connected: true, Local: local, Remote: remote}
	}
	defer func() { _ = resp.Body.Close() }()
	lat := time.Since(start)
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody))
	if err != nil {
		return Attempt{Err: fmt.Errorf("read response: %w", err), Connected: true, Status: resp.StatusCode, Local: local, Remote: remote}
	}
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
	return Attempt{Latency: lat, Status: resp.StatusCode, Answer: sb.String(), Connected: true, Local: local, Remote: remote}
}
