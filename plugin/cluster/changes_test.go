package cluster

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLastChange(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", CreationTimestamp: at(0)}}
	pod := func(name string, ready time.Duration) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Status: corev1.PodStatus{
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at(ready)}}}}
	}
	slice := func(trigger string, pods ...string) *discoveryv1.EndpointSlice {
		sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Annotations: map[string]string{}}}
		if trigger != "" {
			sl.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger
		}
		for _, p := range pods {
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: p}})
		}
		return sl
	}
	ix := newChangeIndex([]corev1.Pod{pod("a", time.Minute), pod("b", 2*time.Minute), pod("other", time.Hour)})
	for _, tc := range []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		want   time.Time
	}{
		{"created only", nil, t0},
		{"pods became ready later", []*discoveryv1.EndpointSlice{slice("", "a", "b")}, t0.Add(2 * time.Minute)},
		{"slice trigger newest", []*discoveryv1.EndpointSlice{slice(t0.Add(5*time.Minute).Format(time.RFC3339Nano), "a")}, t0.Add(5 * time.Minute)},
		{"bad trigger ignored", []*discoveryv1.EndpointSlice{slice("yesterday", "a")}, t0.Add(time.Minute)},
		{"pods of other Services ignored", []*discoveryv1.EndpointSlice{slice("", "a", "gone")}, t0.Add(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ix.lastChange(svc, tc.slices); !got.Equal(tc.want) {
				t.Errorf("lastChange = %v, want %v", got, tc.want)
			}
		})
	}
	if got := ix.lastChange(&corev1.Service{}, nil); !got.IsZero() {
		t.Errorf("nothing known: %v, want zero", got)
	}
}
