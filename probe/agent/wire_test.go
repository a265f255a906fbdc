package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func wireProbes() []probe.Probe {
	return []probe.Probe{
		{ID: "a", Connections: 10, Backends: []string{"web-a", "web-b"}},
		{ID: "b", Connections: 1},
	}
}

func TestResultReader(t *testing.T) {
	good := `{"id":"b","outcome":"refused","latency":0,"connections":1,"failures":1,"pass":true}` + "\n\n" +
		`{"id":"a","outcome":"ok","latency":1500000,"seen":["web-a","web-b"],"connections":3,"pass":false,"attribution":"httpBody","observed":{"ok":3}}` + "\n"
	tests := []struct {
		name  string
		input string
		err   string
	}{
		{"valid", good, ""},
		{"early end", good[:strings.Index(good, "\n")+1], "unexpected EOF"},
		{"unknown probe", `{"id":"zz","outcome":"ok","latency":0,"connections":1,"pass":true}`, "unknown probe"},
		{"duplicate", `{"id":"b","outcome":"ok","latency":0,"connections":1,"pass":true}` + "\n" + `{"id":"b","outcome":"ok","latency":0,"connections":1,"pass":true}`, "twice"},
		{"unknown field", `{"id":"b","outcome":"ok","latency":0,"connections":1,"pass":true,"x":1}`, "unknown field"},
		{"bad outcome", `{"id":"b","outcome":"great","latency":0,"connections":1,"pass":true}`, "unknown outcome"},
		{"foreign backend", `{"id":"a","outcome":"ok","latency":0,"connections":1,"pass":true,"backend":"evil"}`, "not one of the Service"},
		{"too many attempts", `{"id":"b","outcome":"ok","latency":0,"connections":99,"pass":true}`, "impossible connections"},
		{"long line", `{"id":"b","detail":"` + strings.Repeat("x", MaxResultLine) + `"}`, "longer than"},
		{"not json", "hello\n", "invalid result"},
		{"observed more than made", `{"id":"a","outcome":"refused","latency":0,"connections":2,"failures":2,"observed":{"refused":3},"pass":true}`, "3 connections observed, 2 made"},
		{"unknown observed outcome", `{"id":"a","outcome":"refused","latency":0,"connections":2,"failures":2,"observed":{"meh":1},"pass":true}`, "impossible observation"},
		{"failed backend foreign", `{"id":"a","outcome":"serverError","latency":0,"connections":2,"failures":1,"failedBackends":{"evil":1},"pass":true}`, "not one of the Service"},
		{"failed backends exceed failures", `{"id":"a","outcome":"serverError","latency":0,"connections":3,"failures":1,"failedBackends":{"web-a":2},"pass":true}`, "2 failed connections attributed, 1 failed"},
		{"cause of a probe that ran", `{"id":"b","outcome":"ok","latency":0,"connections":1,"pass":true,"cause":"protocol"}`, "impossible cause"},
		{"unknown cause", `{"id":"b","outcome":"notRun","latency":0,"connections":0,"pass":true,"cause":"whim"}`, "impossible cause"},
		{"resolved no address", `{"id":"b","outcome":"dnsError","latency":0,"connections":1,"failures":1,"pass":true,"resolved":["evil"]}`, "no IP address"},
		{"resolved more than failed", `{"id":"b","outcome":"dnsError","latency":0,"connections":1,"failures":1,"pass":true,"resolved":["10.0.0.1","10.0.0.2"]}`, "2 wrong DNS answers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := NewResultReader(strings.NewReader(tc.input), wireProbes())
			var err error
			got := map[int]probe.Result{}
			for {
				var i int
				var r probe.Result
				i, r, err = rr.Next()
				if err != nil {
					break
				}
				got[i] = r
			}
			if tc.err == "" {
				if !errors.Is(err, io.EOF) || len(got) != 2 || got[0].Outcome != probe.OK || got[1].Outcome != probe.Refused {
					t.Fatalf("err %v results %+v", err, got)
				}
				if got[1].Pass || got[0].Pass {
					t.Error("the agent's pass verdict was trusted")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	var buf bytes.Buffer
	req := Request{Timeout: 2e9, Concurrency: 8, Probes: wireProbes()}
	if err := json.NewEncoder(&buf).Encode(req); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRequest(&buf)
	if err != nil || len(got.Probes) != 2 || got.Probes[0].Backends[1] != "web-b" {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{`{"timeout":1,"concurrency":0,"probes":[]}`, `{"nope":1}`, `[`} {
		if _, err := ReadRequest(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzResultReader: no input may panic the reader, loop forever, or yield a
// result that breaks the contract (unknown probe, foreign backend, trusted pass).
func FuzzResultReader(f *testing.F) {
	f.Add([]byte(`{"id":"a","outcome":"ok","latency":1,"seen":["web-a"],"connections":2,"pass":true}` + "\n"))
	f.Add([]byte(`{"id":"b","outcome":"timeout","latency":0,"connections":1,"failures":1,"pass":false}`))
	f.Add([]byte("{}\n{}\n"))
	f.Add([]byte(`{"id":"a","outcome":"ok","latency":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		probes := wireProbes()
		rr := NewResultReader(bytes.NewReader(data), probes)
		for n := 0; n <= len(probes); n++ {
			i, r, err := rr.Next()
			if err != nil {
				return
			}
			if i < 0 || i >= len(probes) || r.ID != probes[i].ID || r.Pass || len(r.Detail) > MaxDetailLength+len("…") {
				t.Fatalf("contract broken: %d %+v", i, r)
			}
			for _, s := range r.Seen {
				if s != "web-a" && s != "web-b" {
					t.Fatalf("foreign backend %q", s)
				}
			}
		}
		t.Fatal("more results than probes")
	})
}

// TestResultReaderKeepsTypedFacts: a result's not-run cause and the
// addresses a name resolved to survive the wire.
func TestResultReaderKeepsTypedFacts(t *testing.T) {
	in := `{"id":"a","outcome":"notRun","latency":0,"connections":0,"pass":true,"detail":"protocol SCTP is not probed","cause":"protocol"}` + "\n" +
		`{"id":"b","outcome":"dnsError","latency":0,"connections":1,"failures":1,"pass":false,"resolved":["10.96.0.200"]}` + "\n"
	rr := NewResultReader(strings.NewReader(in), wireProbes())
	got := map[string]probe.Result{}
	for {
		_, r, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[r.ID] = r
	}
	if got["a"].Cause != probe.NotRunProtocol || len(got["b"].Resolved) != 1 || got["b"].Resolved[0] != "10.96.0.200" {
		t.Errorf("results %+v", got)
	}
}
