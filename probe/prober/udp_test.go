package prober

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/svccheck/svccheck/probe"
)

// udpServer answers each datagram with reply(datagram); nil means silence.
func udpServer(t *testing.T, reply func([]byte) []byte) (string, int32) {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				_, _ = c.WriteTo(out, from)
			}
		}
	}()
	a := c.LocalAddr().(*net.UDPAddr)
	return "127.0.0.1", int32(a.Port)
}

func closedUDPPort(t *testing.T) int32 {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := c.LocalAddr().(*net.UDPAddr).Port
	_ = c.Close()
	return int32(p)
}

func dnsAnswer(q []byte) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(q); err != nil {
		return []byte("garbage")
	}
	m.Header.Response, m.Header.RCode = true, dnsmessage.RCodeNameError
	out, _ := m.Pack()
	return out
}

func TestUDP(t *testing.T) {
	names := []string{"echo-a", "echo-b"}
	n := 0
	echoHost, echoPort := udpServer(t, func([]byte) []byte { n++; return []byte("svccheck from " + names[n%2] + "\n") })
	silentHost, silentPort := udpServer(t, func([]byte) []byte { return nil })
	dnsHost, dnsPort := udpServer(t, dnsAnswer)
	wrongHost, wrongPort := udpServer(t, func([]byte) []byte { return []byte{1, 2, 3} })
	s := &Sockets{Timeout: 300 * time.Millisecond}
	reach := probe.Expectation{Want: probe.Reach}
	for _, tc := range []struct {
		name string
		p    probe.Probe
		want probe.Outcome
		pass bool
		also func(r probe.Result) error
	}{
		{"echo names every backend", probe.Probe{Host: echoHost, TargetPort: echoPort, Connections: 20, Via: probe.ViaClusterIP, Backends: names, Expect: reach}, probe.OK, true,
			func(r probe.Result) error {
				if len(r.Seen) != 2 || r.Attribution != probe.AttrAnswer {
					return errors.New("backends not attributed")
				}
				return nil
			}},
		{"ICMP port unreachable is a refusal", probe.Probe{Host: "127.0.0.1", TargetPort: closedUDPPort(t), Connections: 1, Expect: reach}, probe.Refused, false, nil},
		{"silence is inconclusive for reach", probe.Probe{Host: silentHost, TargetPort: silentPort, Connections: 1, Expect: reach}, probe.NoAnswer, true,
			func(r probe.Result) error {
				if !strings.Contains(r.Detail, "silence proves nothing") {
					return errors.New("detail does not say why")
				}
				return nil
			}},
		{"silence is inconclusive for noReach", probe.Probe{Host: silentHost, TargetPort: silentPort, Connections: 1, Expect: probe.Expectation{Want: probe.NoReach}}, probe.NoAnswer, true, nil},
		{"a DNS port gets a real query", probe.Probe{Host: dnsHost, TargetPort: dnsPort, ServicePort: 53, Connections: 1, Expect: reach}, probe.OK, true, nil},
		{"a DNS port answering garbage failed", probe.Probe{Host: wrongHost, TargetPort: wrongPort, Port: "dns", Connections: 1, Expect: reach}, probe.Error, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.ID, p.Protocol = tc.name, "UDP"
			r := s.Probe(context.Background(), &p)
			probe.Evaluate(&p, &r)
			if r.Outcome != tc.want || r.Pass != tc.pass {
				t.Fatalf("got %s pass=%v, want %s pass=%v: %+v", r.Outcome, r.Pass, tc.want, tc.pass, r)
			}
			if tc.also != nil {
				if err := tc.also(r); err != nil {
					t.Errorf("%v: %+v", err, r)
				}
			}
		})
	}
}

func TestUnsupportedProtocolIsNotRun(t *testing.T) {
	p := probe.Probe{ID: "x", Protocol: "SCTP", Host: "127.0.0.1", TargetPort: 9, Connections: 1}
	if r := (&Sockets{}).Probe(context.Background(), &p); r.Outcome != probe.NotRun || r.Detail != "protocol SCTP is not probed" {
		t.Errorf("got %+v", r)
	}
}
