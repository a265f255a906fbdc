package plugin

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// BenchmarkScaleLoopback runs the whole --from local check of a simulated
// cluster of 1,000 nodes and 200 NodePort Services (5 pods each) against a
// simulated dataplane on loopback: node i is 127.1.x.y (or 127.2.x.y, whose
// packets are dropped, for the unreachable case), every NodePort a listener
// that names one of its Service's pods at random. It needs root: it runs
// itself again in a network namespace of its own, where binding every
// address of 127.0.0.0/8 touches nothing else. Reported: wall time, probes,
// peak RSS of the process (svccheck and the little dataplane both).
func BenchmarkScaleLoopback(b *testing.B) {
	if os.Getenv("SVCCHECK_BENCH_NETNS") == "" {
		reexecInNetns(b)
		return
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		b.Fatalf("lo up: %v", err)
	}
	const nodes, services, pods = 1000, 200, 5
	stop := loopbackDataplane(b, services, pods)
	defer stop()
	if err := exec.Command("iptables", "-A", "INPUT", "-d", "127.2.0.0/16", "-j", "DROP").Run(); err != nil {
		b.Fatalf("iptables: %v", err)
	}
	for _, sc := range []struct {
		name string
		net  int
		args []string
	}{
		{"healthy", 1, nil},
		{"unreachable", 2, nil},
		{"exhaustive", 1, []string{"--exhaustive"}}, // 2.3M connections: minutes
	} {
		b.Run(sc.name, func(b *testing.B) {
			for b.Loop() {
				objs := simCluster(nodes, services, pods, sc.net)
				runtimeGC()
				resetPeakRSS()
				start := time.Now()
				n, code := runSim(b, objs, sc.args...)
				b.ReportMetric(time.Since(start).Seconds(), "wall-s")
				b.ReportMetric(float64(n), "report-bytes")
				b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
				if want := map[int]int{1: ExitOK, 2: ExitFailed}[sc.net]; code != want {
					b.Errorf("exit %d, want %d", code, want)
				}
			}
		})
	}
}

// reexecInNetns runs the test binary again, for the same benchmarks, in a
// new network namespace; it skips unless root.
func reexecInNetns(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (a network namespace of its own)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench="+flag.Lookup("test.bench").Value.String(), "-test.benchtime=1x", "-test.benchmem")
	cmd.Env = append(os.Environ(), "SVCCHECK_BENCH_NETNS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	b.SkipNow() // the child reported
}

// loopbackDataplane listens on the NodePorts 30000.. of every address and
// answers like a hostname pod chosen at random among the Service's.
func loopbackDataplane(b *testing.B, services, pods int) func() {
	var ls []net.Listener
	for s := 0; s < services; s++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(30000+s))
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					r := bufio.NewReader(c)
					for line, err := r.ReadString('\n'); err == nil && line != "\r\n"; line, err = r.ReadString('\n') {
					}
					body := fmt.Sprintf("sim-%05d-%d\n", s, rand.IntN(pods))
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
				}()
			}
		}()
	}
	return func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}
}

// simCluster is the simulated cluster's objects; node addresses in
// 127.<net>.0.0/16.
func simCluster(nodes, services, pods, netOctet int) []kruntime.Object {
	var objs []kruntime.Object
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sim"}})
	node := func(i int) string { return fmt.Sprintf("lab-sim-%04d", i) }
	for i := 0; i < nodes; i++ {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node(i)}, Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("127.%d.%d.%d", netOctet, i/250, i%250+1)}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	}
	for s := 0; s < services; s++ {
		name := fmt.Sprintf("sim-%05d", s)
		objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sim"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: fmt.Sprintf("10.96.%d.%d", s/250, s%250+1), ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", s/250, s%250+1)},
			Selector: map[string]string{"app": name}, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: int32(30000 + s)}}}})
		sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sim", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}}}
		for j := 0; j < pods; j++ {
			pod := fmt.Sprintf("%s-%d", name, j)
			ip := fmt.Sprintf("10.244.%d.%d", (s*pods+j)/250, (s*pods+j)%250+1)
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To(node((s*pods + j) % nodes)),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "sim", Name: pod}})
			objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "sim", Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{NodeName: node((s*pods + j) % nodes), Containers: []corev1.Container{{Name: "hostname",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
		}
		objs = append(objs, sl)
	}
	return objs
}

// countingWriter counts what the report weighs.
type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// runSim runs svccheck -n sim -o json on objs with real sockets.
func runSim(b *testing.B, objs []kruntime.Object, args ...string) (int, int) {
	var out countingWriter
	o := newCommand(NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: io.Discard}))
	cs := fake.NewClientset(objs...)
	o.client, o.namespace = cs, "sim"
	cmd := newCmd(o)
	cmd.SetArgs(append([]string{"-n", "sim", "-o", "json"}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.n, ExitCode(err)
}

func runtimeGC() {
	runtime.GC()
	debug.FreeOSMemory()
}

// resetPeakRSS makes the kernel's peak RSS (VmHWM) start again from now.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
