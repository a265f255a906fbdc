package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// parallel runs fn(0..n-1) with at most workers at once and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// create makes obj unless it exists (a simulation started again).
func create(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

var simLabels = map[string]string{LabelSim: "true"}

// createNode creates the i-th node, Ready, and its Lease.
func createNode(ctx context.Context, cs kubernetes.Interface, c *config, i int) error {
	name := nodeName(i)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelSim: "true", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: LabelSim, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
	}
	got, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	// The node lifecycle controller taints a new node at once: set the status
	// on the latest version.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got.Status = nodeStatus(name, c.nodeAddr(i))
		_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, got, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if latest, gerr := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				got = latest
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s status: %w", name, err)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease, Labels: simLabels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: got.UID}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To(int32(40)),
			RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	_, err = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease, metav1.CreateOptions{})
	return create(err)
}

func nodeStatus(name, ip string) corev1.NodeStatus {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	return corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
		},
		Capacity: res, Allocatable: res,
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.34.4-sim", OperatingSystem: "linux", Architecture: "amd64",
			ContainerRuntimeVersion: "sim://1"},
	}
}

// createService creates the i-th Service: a NodePort or a ClusterIP, with a
// selector unless its slices are written here.
func createService(ctx context.Context, cs kubernetes.Interface, c *config, i int) error {
	name := serviceName(i)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: simLabels},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(PodPort), Protocol: corev1.ProtocolTCP}}},
	}
	if c.isNodePort(i) {
		svc.Spec.Type = corev1.ServiceTypeNodePort
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	} else if c.manualSlices {
		// No selector, and no kube-proxy: the label keeps the lab's real
		// nodes from programming ten thousand ClusterIPs (each proxy resync
		// an iptables-restore of every rule), which made creating them take
		// eight minutes instead of one. They are there to be discovered and
		// planned, not probed.
		svc.Spec.Selector = nil
		svc.Labels = map[string]string{LabelSim: "true", ServiceProxyNameLabel: "svccheck-sim"}
	}
	_, err := cs.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err = create(err); err != nil || svc.Spec.Selector != nil {
		return err
	}
	return createSlice(ctx, cs, c, i)
}

// createSlice writes the EndpointSlice of a Service without selector.
func createSlice(ctx context.Context, cs kubernetes.Interface, c *config, i int) error {
	name := serviceName(i)
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: map[string]string{
			LabelSim: "true", discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "svccheck-sim"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(PodPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for j := 0; j < c.podsPerService; j++ {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{c.podAddr(i, j)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(nodeName(c.podNode(i, j))),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: Namespace, Name: podName(name, j)}})
	}
	_, err := cs.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, sl, metav1.CreateOptions{})
	return create(err)
}

// createPods creates the pods of the i-th Service, bound to their nodes,
// Running and Ready with their addresses, as a kubelet would report them.
func createPods(ctx context.Context, cs kubernetes.Interface, c *config, i int) error {
	if !c.isNodePort(i) && c.manualSlices {
		return nil
	}
	svc := serviceName(i)
	for j := 0; j < c.podsPerService; j++ {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName(svc, j), Namespace: Namespace, Labels: map[string]string{LabelSim: "true", "app": svc}},
			Spec: corev1.PodSpec{NodeName: nodeName(c.podNode(i, j)), Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				Containers: []corev1.Container{{Name: "hostname", Image: "svccheck.local/hostname:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: PodPort, Protocol: corev1.ProtocolTCP}}}}},
		}
		got, err := cs.CoreV1().Pods(Namespace).Create(ctx, p, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = cs.CoreV1().Pods(Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got.Status = podStatus(c.nodeAddr(c.podNode(i, j)), c.podAddr(i, j))
			_, err := cs.CoreV1().Pods(Namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				if latest, gerr := cs.CoreV1().Pods(Namespace).Get(ctx, p.Name, metav1.GetOptions{}); gerr == nil {
					got = latest
				}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("pod %s status: %w", p.Name, err)
		}
	}
	return nil
}

func podStatus(hostIP, ip string) corev1.PodStatus {
	now := metav1.Now()
	var conds []corev1.PodCondition
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		conds = append(conds, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	return corev1.PodStatus{Phase: corev1.PodRunning, HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
		PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &now, Conditions: conds,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "hostname", Ready: true, Started: ptr.To(true),
			Image: "svccheck.local/hostname:1", ImageID: "sim://hostname", ContainerID: "sim://" + ip,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
}

// populate creates the namespace, the nodes, the Services and the pods.
func populate(ctx context.Context, cs kubernetes.Interface, c *config) error {
	start := time.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: simLabels}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); create(err) != nil {
		return err
	}
	if err := parallel(ctx, c.nodes, c.workers, func(ctx context.Context, i int) error { return createNode(ctx, cs, c, i) }); err != nil {
		return err
	}
	log.Printf("%d nodes Ready in %s", c.nodes, time.Since(start).Round(time.Millisecond))
	if err := parallel(ctx, c.services, c.workers, func(ctx context.Context, i int) error { return createService(ctx, cs, c, i) }); err != nil {
		return err
	}
	log.Printf("%d Services in %s", c.services, time.Since(start).Round(time.Millisecond))
	if err := parallel(ctx, c.services, c.workers, func(ctx context.Context, i int) error { return createPods(ctx, cs, c, i) }); err != nil {
		return err
	}
	log.Printf("pods Ready in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// down deletes everything the simulation made: its pods at once (no kubelet
// would ever confirm a graceful deletion), its namespace, nodes and leases.
func down(ctx context.Context, cs kubernetes.Interface) error {
	sel := metav1.ListOptions{LabelSelector: LabelSim + "=true"}
	now := metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}
	if err := cs.CoreV1().Pods(Namespace).DeleteCollection(ctx, now, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pods: %w", err)
	}
	// The namespace controller deletes Services one at a time at the
	// controller manager's 20 QPS (ten thousand: eight minutes): delete them
	// here, in parallel, and the slices with them.
	if err := deleteServices(ctx, cs); err != nil {
		return err
	}
	if err := cs.DiscoveryV1().EndpointSlices(Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete endpoint slices: %w", err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", Namespace, err)
	}
	if err := cs.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete nodes: %w", err)
	}
	if err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete leases: %w", err)
	}
	return waitGone(ctx, cs)
}

// deleteServices deletes the namespace's Services, 24 requests in flight.
func deleteServices(ctx context.Context, cs kubernetes.Interface) error {
	list, err := cs.CoreV1().Services(Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	return parallel(ctx, len(list.Items), 24, func(ctx context.Context, i int) error {
		err := cs.CoreV1().Services(Namespace).Delete(ctx, list.Items[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete service %s: %w", list.Items[i].Name, err)
		}
		return nil
	})
}

// waitGone waits (at most ten minutes: a namespace of ten thousand
// Services takes minutes to go) until the namespace and the nodes
// are gone, deleting pods stuck in it (other controllers' pods on
// simulated nodes) on the way.
func waitGone(ctx context.Context, cs kubernetes.Interface) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		nodes, nerr := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelSim + "=true"})
		if apierrors.IsNotFound(err) && nerr == nil && len(nodes.Items) == 0 {
			return nil
		}
		_ = cs.CoreV1().Pods(Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}, metav1.ListOptions{})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("namespace %s or simulated nodes still there after 10 minutes", Namespace)
}
