// Package exitcode holds svccheck's process exit codes and the error type that
// carries one from wherever a run fails to main.
package exitcode

import (
	"errors"
	"fmt"
)

// Exit codes; stable and documented in the README.
const (
	OK          = 0
	Failed      = 1
	Usage       = 2
	Cluster     = 3
	Agent       = 4
	Interrupted = 130
)

// Error carries the process exit code for an error. A nil Err means the
// report already said everything (checks failed) and nothing more is printed.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Of maps an error to the process exit code: nil is OK, an *Error its code,
// anything else a usage error (cobra's own: unknown flags, bad arguments).
func Of(err error) int {
	if err == nil {
		return OK
	}
	var ee *Error
	if errors.As(err, &ee) {
		return ee.Code
	}
	return Usage
}
