package plan

import (
	"runtime"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

// BenchmarkBuildPlan plans 10k Services (1 in 50 a NodePort) over 1k nodes and
// 50k endpoints from both vantage points. Targets: < 2 s and < 300 MiB per op.
func BenchmarkBuild(b *testing.B) {
	inv := testinv.Synthetic(10000, 1000, 50000)
	opts := Options{From: []probe.From{probe.FromLocal, probe.FromPod}, HTTP: true}
	b.ReportAllocs()
	var probes int
	for b.Loop() {
		probes = len(Build(inv, opts).Probes)
	}
	b.ReportMetric(float64(probes), "probes")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
}
