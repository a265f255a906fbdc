package engine

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// TestEvidenceCountsPortsThatAnsweredElsewhere: a timeout on a NodePort is
// evidence against a node only when that NodePort answered on another node.
func TestEvidenceCountsPortsThatAnsweredElsewhere(t *testing.T) {
	k := &knocks{addrs: make([]plan.NodeAddress, 2), answered: []bool{false, true}, silent: [][]int32{{30080, 31000}, {30080}},
		outcome: []probe.Outcome{probe.Timeout, probe.Timeout}, alive: map[int32]bool{}}
	if k.evidence(0) != 0 {
		t.Errorf("timing out on ports that answered nowhere is no evidence against a node")
	}
	k.alive[31000] = true
	if k.evidence(0) != 1 {
		t.Errorf("timing out on a port that answered elsewhere is")
	}
}
