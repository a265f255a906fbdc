package probe

import (
	"context"
	"net"
	"runtime"
	"testing"

	"golang.org/x/sync/errgroup"
)

// BenchmarkBuildPlan plans 10k Services (1 in 50 a NodePort) over 1k nodes and
// 50k endpoints from both vantage points. Targets: < 2 s and < 300 MiB per op.
func BenchmarkBuildPlan(b *testing.B) {
	inv := syntheticInventory(10000, 1000, 50000)
	opts := PlanOptions{From: []From{FromLocal, FromPod}, HTTP: true}
	b.ReportAllocs()
	var probes int
	for b.Loop() {
		probes = len(BuildPlan(inv, opts).Probes)
	}
	b.ReportMetric(float64(probes), "probes")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
}

func TestEstimateIsExact(t *testing.T) {
	inv := syntheticInventory(300, 20, 900)
	inv.Services[0].HealthCheckNodePort = 32000
	inv.Services[1].Type, inv.Services[1].LoadBalancerIngress = TypeLoadBalancer, []string{"192.0.2.1"}
	inv.Nodes[3].Ready = false
	opts := PlanOptions{From: []From{FromLocal, FromPod, FromNodes}, AddressTypes: []string{"InternalIP", "ExternalIP"}}
	// An endpoint on a node address gets no exposure probe: the estimate must know.
	for i := range inv.Services[2].Endpoints {
		inv.Services[2].Endpoints[i].Address = inv.Nodes[5+i].Addresses["InternalIP"][0]
	}
	b := newPlanner(inv, opts, opts.AddressTypes, "cluster.local")
	if est, got := b.estimate(inv), len(BuildPlan(inv, opts).Probes); est != got {
		t.Errorf("estimate %d, plan has %d probes", est, got)
	}
}

const benchConcurrency = 64

// BenchmarkRunLoopback measures the runner with the Local prober: one TCP
// connect per op at concurrency 64. Compare with BenchmarkDialLoop (target:
// at least 0.8x its throughput).
func BenchmarkRunLoopback(b *testing.B) {
	addr := acceptingListener(b).Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	var pn int
	for _, c := range port {
		pn = pn*10 + int(c-'0')
	}
	probes := make([]Probe, b.N)
	for i := range probes {
		probes[i] = Probe{ID: "p", From: FromLocal, Host: host, TargetPort: int32(pn), Attempts: 1, Expect: Expectation{Want: Reach}}
	}
	b.ResetTimer()
	res := Run(context.Background(), probes, map[From]Prober{FromLocal: &Local{}}, benchConcurrency, nil)
	b.StopTimer()
	for _, r := range res {
		if r.Outcome != OK {
			b.Fatalf("probe failed: %+v", r)
		}
	}
}

// BenchmarkDialLoop is the floor: bare dials at the same concurrency.
func BenchmarkDialLoop(b *testing.B) {
	addr := acceptingListener(b).Addr().String()
	var g errgroup.Group
	g.SetLimit(benchConcurrency)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Go(func() error {
			var d net.Dialer
			c, err := d.DialContext(context.Background(), "tcp", addr)
			if err != nil {
				return err
			}
			return c.Close()
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}
