package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/internal/fixture"
)

// pagedServices answers Service Lists in pages of the requested limit, and
// with 410 Expired for a continue token when expire is set, as an API server
// does once the first page's resourceVersion is compacted.
func pagedServices(all []corev1.Service, expire bool, calls *[]metav1.ListOptions) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts := metav1.ListOptions{}
		if r, ok := a.(k8stesting.ListActionImpl); ok {
			opts = r.ListOptions
		}
		*calls = append(*calls, opts)
		from := 0
		if opts.Continue != "" {
			if expire {
				return true, nil, apierrors.NewResourceExpired("continue token expired")
			}
			fmt.Sscan(opts.Continue, &from)
		}
		to := len(all)
		if opts.Limit > 0 {
			to = min(from+int(opts.Limit), len(all))
		}
		l := &corev1.ServiceList{Items: all[from:to]}
		if to < len(all) {
			l.Continue = fmt.Sprint(to)
		}
		return true, l, nil
	}
}

func TestDiscoverPagesServices(t *testing.T) {
	for _, expire := range []bool{false, true} {
		t.Run(fmt.Sprintf("expired=%v", expire), func(t *testing.T) {
			cs := fixture.Clientset(t, clusterFixture)
			list, err := cs.CoreV1().Services("default").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var calls []metav1.ListOptions
			cs.PrependReactor("list", "services", pagedServices(list.Items, expire, &calls))
			inv, err := Discover(context.Background(), cs, Scope{Namespace: "default", PageSize: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Services) != len(list.Items) {
				t.Errorf("%d services, want %d", len(inv.Services), len(list.Items))
			}
			var got []string
			for _, c := range calls {
				got = append(got, fmt.Sprintf("%d/%s", c.Limit, c.Continue))
			}
			want := "3/,3/3,3/6"
			if expire {
				want = "3/,3/3,0/" // the continue token expired: one full List
			}
			if strings.Join(got, ",") != want {
				t.Errorf("lists (limit/continue) %v, want %s", got, want)
			}
		})
	}
}

func TestDiscoverDefaultPageSize(t *testing.T) {
	cs := fixture.Clientset(t, clusterFixture)
	if _, err := Discover(context.Background(), cs, Scope{Namespace: "default"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.Actions() {
		if l, ok := a.(k8stesting.ListActionImpl); ok && l.GetResource().Resource != "events" && l.ListOptions.Limit != 500 {
			t.Errorf("list %s with limit %d, want 500", l.GetResource().Resource, l.ListOptions.Limit)
		}
	}
}
