//go:build linux

package prober

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
)

// TestBoundDialerBothFamilies: a node agent binds its sockets before they
// connect, for IPv4 and IPv6 destinations alike (a dual-stack cluster's
// ClusterIPs, NodePorts and endpoints come in both).
func TestBoundDialerBothFamilies(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "tcp6" {
				addr = "[::1]:0"
			}
			l, err := net.Listen(network, addr)
			if err != nil {
				t.Skipf("no %s loopback here: %v", network, err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
			var local atomic.Pointer[net.TCPAddr]
			c, err := boundDialer(true, &local).DialContext(context.Background(), "tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			bound := local.Load()
			if bound == nil || bound.String() != c.LocalAddr().String() {
				t.Errorf("bound to %v, connection from %v", bound, c.LocalAddr())
			}
		})
	}
}
