//go:build !linux

package prober

import "errors"

// NewConntrack is only available on Linux.
func NewConntrack() (Tracer, error) {
	return nil, errors.New("conntrack attribution needs Linux")
}
