package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// fastRetry is DefaultRetry's shape at a test's pace.
func fastRetry(ctx context.Context) context.Context {
	return WithRetryPolicy(ctx, RetryPolicy{Backoff: wait.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Steps: 6, Cap: 20 * time.Millisecond}, Budget: time.Second})
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "batch", Resource: "jobs"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewServerTimeout(gr, "create", 1), true},
		{apierrors.NewServiceUnavailable("shutting down"), true},
		{apierrors.NewTimeoutError("etcd", 1), true},
		{apierrors.NewInternalError(errors.New("etcdserver: leader changed")), true},
		{apierrors.NewConflict(gr, "x", errors.New("modified")), true},
		{apierrors.NewGenericServerResponse(502, "get", gr, "x", "bad gateway", 0, true), true},
		{apierrors.NewForbidden(gr, "x", errors.New("no")), false},
		{apierrors.NewNotFound(gr, "x"), false},
		{apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "x", nil), false},
		{apierrors.NewUnauthorized("who"), false},
		{apierrors.NewBadRequest("bad"), false},
		{apierrors.NewAlreadyExists(gr, "x"), false},
		{&url.Error{Op: "Post", URL: "https://10.0.0.1:6443", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, true},
		{&url.Error{Op: "Get", URL: "https://10.0.0.1:6443", Err: syscall.ECONNRESET}, true},
		{&url.Error{Op: "Get", URL: "https://10.0.0.1:6443", Err: io.ErrUnexpectedEOF}, true},
		{&url.Error{Op: "Post", URL: "https://10.0.0.1:6443", Err: timeoutErr{}}, true},
		{fmt.Errorf("list: %w", context.DeadlineExceeded), true},
		{errors.New("no kind Job is registered"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryAPI(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("starting")
	t.Run("transient then success", func(t *testing.T) {
		n := 0
		err := RetryAPI(fastRetry(context.Background()), func(context.Context) error {
			if n++; n < 3 {
				return unavailable
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Errorf("err %v after %d calls", err, n)
		}
	})
	t.Run("permanent at once", func(t *testing.T) {
		n := 0
		err := RetryAPI(fastRetry(context.Background()), func(context.Context) error {
			n++
			return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))
		})
		if !apierrors.IsForbidden(err) || n != 1 {
			t.Errorf("err %v after %d calls, want forbidden after 1", err, n)
		}
	})
	t.Run("steps bound it", func(t *testing.T) {
		n := 0
		err := RetryAPI(fastRetry(context.Background()), func(context.Context) error { n++; return unavailable })
		if !apierrors.IsServiceUnavailable(err) || n != 6 {
			t.Errorf("err %v after %d calls, want the last error after 6", err, n)
		}
	})
	t.Run("budget bounds it", func(t *testing.T) {
		ctx := WithRetryPolicy(context.Background(), RetryPolicy{Backoff: wait.Backoff{Duration: 40 * time.Millisecond, Steps: 100}, Budget: 100 * time.Millisecond})
		start := time.Now()
		n := 0
		_ = RetryAPI(ctx, func(context.Context) error { n++; return unavailable })
		if d := time.Since(start); d > 150*time.Millisecond || n > 3 {
			t.Errorf("%d calls in %s, want at most 3 within the 100ms budget", n, d)
		}
	})
	t.Run("cancel stops it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(WithRetryPolicy(context.Background(), RetryPolicy{Backoff: wait.Backoff{Duration: time.Hour, Steps: 3}, Budget: 2 * time.Hour}))
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		err := RetryAPI(ctx, func(context.Context) error { return unavailable })
		if time.Since(start) > time.Second || err == nil {
			t.Errorf("err %v after %s", err, time.Since(start))
		}
	})
}
