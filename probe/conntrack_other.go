//go:build !linux

package probe

import "errors"

// NewConntrack is only available on Linux.
func NewConntrack() (Tracer, error) {
	return nil, errors.New("conntrack attribution needs Linux")
}
