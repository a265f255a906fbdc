package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// RetryPolicy says how often and for how long an API call is tried again
// after a transient error.
type RetryPolicy struct {
	// Backoff spaces the attempts (Steps bounds their number).
	Backoff wait.Backoff
	// Budget bounds the time from the first attempt after which no other
	// starts; each attempt is bounded by the client's request timeout.
	Budget time.Duration
}

// DefaultRetry rides out an API server that is briefly unavailable (a
// restart, a pause of 20 s, throttling): attempts 0.5 s, 1 s, 2 s, 4 s, 5 s,
// 5 s ... apart (±20%), none started 30 s after the first. With the 15 s
// request timeout a call gives up after at most 45 s.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{
		Backoff: wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 12, Cap: 5 * time.Second},
		Budget:  30 * time.Second,
	}
}

type retryKey struct{}

// WithRetryPolicy returns a context whose API calls in this package retry by
// p instead of DefaultRetry (tests use short ones).
func WithRetryPolicy(ctx context.Context, p RetryPolicy) context.Context {
	return context.WithValue(ctx, retryKey{}, p)
}

func retryPolicy(ctx context.Context) RetryPolicy {
	if p, ok := ctx.Value(retryKey{}).(RetryPolicy); ok {
		return p
	}
	return DefaultRetry()
}

// Transient reports whether err is worth trying again, following client-go's
// conventions: throttling (429), the server's own timeouts and unavailability
// (500 internal, 503, 504), conflicts, and connections that were refused,
// reset, cut short or timed out. Permanent errors (forbidden, not found,
// invalid, unauthorized, bad request) are not.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsTimeout(err), apierrors.IsInternalError(err), apierrors.IsConflict(err):
		return true
	case apierrors.IsForbidden(err), apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsUnauthorized(err),
		apierrors.IsBadRequest(err), apierrors.IsAlreadyExists(err), apierrors.IsMethodNotSupported(err):
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code >= 500 && code != http.StatusNotImplemented
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// A request's own deadline (the client's timeout); the caller's context
	// being done is checked apart, and ends the retries.
	return errors.Is(err, context.DeadlineExceeded)
}

// RetryAPI calls fn until it succeeds, fails with an error that is not
// Transient, ctx ends, or the policy's budget or steps are spent; it returns
// fn's last error. Delays grow by the backoff's factor up to its cap, and
// stay there (the cap does not end the retries as it does in wait.Backoff).
func RetryAPI(ctx context.Context, fn func(ctx context.Context) error) error {
	p := retryPolicy(ctx)
	start := time.Now()
	delay := p.Backoff.Duration
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		if p.Backoff.Steps > 0 && attempt >= p.Backoff.Steps {
			return err
		}
		d := delay
		if p.Backoff.Jitter > 0 {
			d = wait.Jitter(d, p.Backoff.Jitter)
		}
		if p.Backoff.Factor > 0 {
			delay = time.Duration(float64(delay) * p.Backoff.Factor)
		}
		if p.Backoff.Cap > 0 && delay > p.Backoff.Cap {
			delay = p.Backoff.Cap
		}
		if time.Since(start)+d >= p.Budget {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Sleep sleeps d, or less when ctx ends first (false).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
