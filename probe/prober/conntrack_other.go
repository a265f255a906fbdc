//go:build !linux

package prober

import (
	"errors"
	"net"
	"syscall"
)

// NewConntrack is only available on Linux.
func NewConntrack() (Tracer, error) {
	return nil, errors.New("conntrack attribution needs Linux")
}

// bindSource does nothing where there is no conntrack to look connections up in.
func bindSource(string, string, syscall.RawConn) (*net.TCPAddr, error) { return nil, nil }
