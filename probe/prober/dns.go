package prober

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/svccheck/svccheck/probe"
)

// isDNS reports whether a probe's port speaks DNS: port 53, or a port named
// or appProtocol'd dns.
func isDNS(p *probe.Probe) bool {
	name := strings.ToLower(p.Port)
	return p.ServicePort == 53 || p.TargetPort == 53 || name == "dns" || strings.HasPrefix(name, "dns-")
}

// dnsQuery builds a recursive A query for the API server's Service name, which
// every cluster DNS answers (or refuses to: any well-formed reply with the
// query's ID proves the server was reached), and the check of its reply.
func dnsQuery() ([]byte, func([]byte) error) {
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	msg := dnsmessage.Message{
		Header: dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{
			Name:  dnsmessage.MustNewName("kubernetes.default.svc.cluster.local."),
			Type:  dnsmessage.TypeA,
			Class: dnsmessage.ClassINET,
		}},
	}
	q, err := msg.Pack()
	if err != nil {
		panic(err) // a constant message always packs
	}
	return q, func(reply []byte) error {
		var h dnsmessage.Header
		var parser dnsmessage.Parser
		h, err := parser.Start(reply)
		if err != nil {
			return fmt.Errorf("not DNS: %w", err)
		}
		if h.ID != id || !h.Response {
			return errors.New("not a response to the query")
		}
		return nil
	}
}
