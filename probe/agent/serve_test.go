package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/probe"
)

func TestServeSpeaksTheWireFormat(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	pn, _ := strconv.Atoi(port)
	probes := []probe.Probe{
		{ID: "up", From: probe.FromPod, Host: "127.0.0.1", TargetPort: int32(pn), Connections: 1, Expect: probe.Expectation{Want: probe.Reach}},
		{ID: "udp", From: probe.FromPod, Skip: "protocol UDP is not probed", SkipCause: probe.NotRunProtocol},
	}
	var in bytes.Buffer
	if err := json.NewEncoder(&in).Encode(Request{Timeout: time.Second, Concurrency: 2, Probes: probes}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Serve(context.Background(), &in, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	rr := NewResultReader(&out, probes)
	got := map[string]probe.Result{}
	for {
		_, r, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[r.ID] = r
	}
	if got["up"].Outcome != probe.OK || got["udp"].Outcome != probe.NotRun || got["udp"].Cause != probe.NotRunProtocol {
		t.Errorf("results %+v", got)
	}
	if err := Serve(context.Background(), strings.NewReader("{"), io.Discard, io.Discard); err == nil {
		t.Errorf("bad request: %v", err)
	}
}
