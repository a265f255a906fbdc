package cluster

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodOwner(t *testing.T) {
	ctrl := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: "Node", Name: "n1"}, {Kind: kind, Name: name, Controller: ptr.To(true)}}
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		refs   []metav1.OwnerReference
		want   string
	}{
		{"deployment through its ReplicaSet", map[string]string{"pod-template-hash": "b8d8446d"}, ctrl("ReplicaSet", "hostname-b8d8446d"), "Deployment/hostname"},
		{"bare ReplicaSet", map[string]string{"pod-template-hash": "zz"}, ctrl("ReplicaSet", "web-1"), "ReplicaSet/web-1"},
		{"StatefulSet", nil, ctrl("StatefulSet", "db"), "StatefulSet/db"},
		{"no controller", nil, []metav1.OwnerReference{{Kind: "Node", Name: "n1"}}, ""},
		{"bare pod", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: tc.labels, OwnerReferences: tc.refs}}
			if got := podOwner(p); got != tc.want {
				t.Errorf("podOwner = %q, want %q", got, tc.want)
			}
		})
	}
}
