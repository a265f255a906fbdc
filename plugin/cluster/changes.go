package cluster

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// changeIndex finds when the cluster last changed what a Service routes to,
// from what discovery already listed.
type changeIndex struct {
	// ready maps namespace/pod to its Ready condition's lastTransitionTime.
	ready map[string]time.Time
}

func newChangeIndex(pods []corev1.Pod) changeIndex {
	ix := changeIndex{ready: map[string]time.Time{}}
	for i := range pods {
		for _, c := range pods[i].Status.Conditions {
			if c.Type == corev1.PodReady && !c.LastTransitionTime.IsZero() {
				ix.ready[pods[i].Namespace+"/"+pods[i].Name] = c.LastTransitionTime.Time
			}
		}
	}
	return ix
}

// lastChange is the newest of: the Service's creation, each of its
// EndpointSlices' endpoints.kubernetes.io/last-change-trigger-time (when
// the change the slice reflects happened: a pod added, ready, deleted), and
// the Ready transition of each endpoint's pod. Zero when none is known.
func (ix changeIndex) lastChange(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) time.Time {
	last := svc.CreationTimestamp.Time
	later := func(t time.Time) {
		if t.After(last) {
			last = t
		}
	}
	for _, sl := range slices {
		if v := sl.Annotations[corev1.EndpointsLastChangeTriggerTime]; v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				later(t)
			}
		}
		for _, ep := range sl.Endpoints {
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				later(ix.ready[sl.Namespace+"/"+ep.TargetRef.Name])
			}
		}
	}
	return last.UTC()
}
