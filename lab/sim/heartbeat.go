package main

import (
	"context"
	"log"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// renewEvery is how often each simulated node renews its Lease: within the
// Lease's 40 s, and well within the node lifecycle controller's grace
// period (50 s), at half a kubelet's rate to spare the lab's API server.
const renewEvery = 20 * time.Second

// heartbeats renews every simulated node's Lease until ctx ends, like a
// kubelet: the node lifecycle controller then keeps the nodes Ready.
func heartbeats(ctx context.Context, cs kubernetes.Interface, c *config) {
	leases := make([]*coordinationv1.Lease, c.nodes)
	var mu sync.Mutex
	t := time.NewTicker(renewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		failed := 0
		_ = parallel(ctx, c.nodes, 8, func(ctx context.Context, i int) error {
			l, err := renew(ctx, cs, leases[i], nodeName(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				l = nil
			}
			leases[i] = l
			return nil
		})
		if failed > 0 && ctx.Err() == nil {
			log.Printf("renewing %d leases took %s, %d failed", c.nodes, time.Since(start).Round(time.Millisecond), failed)
		}
	}
}

// renew moves a Lease's renew time to now, from the last copy when there
// is one (fetching it again when that copy is stale).
func renew(ctx context.Context, cs kubernetes.Interface, l *coordinationv1.Lease, name string) (*coordinationv1.Lease, error) {
	api := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for try := 0; try < 2; try++ {
		if l == nil {
			var err error
			if l, err = api.Get(ctx, name, metav1.GetOptions{}); err != nil {
				return nil, err
			}
		}
		l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		got, err := api.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			return got, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, err
		}
		l = nil
	}
	return nil, apierrors.NewConflict(coordinationv1.Resource("leases"), name, nil)
}
