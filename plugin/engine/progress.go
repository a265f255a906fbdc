package engine

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/svccheck/svccheck/probe"
)

// progress shows done/total on a terminal while probes run; with no
// terminal it only counts.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	total  int
	n      atomic.Int64
	failed atomic.Int64
	last   time.Time
}

func newProgress(w io.Writer, total int) *progress {
	if total == 0 {
		w = nil
	}
	return &progress{w: w, total: total}
}

func (p *progress) done(_ int, r probe.Result) {
	n := p.n.Add(1)
	if !r.Pass {
		p.failed.Add(1)
	}
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && int(n) != p.total {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\rprobing %d/%d, %d failed ", n, p.total, p.failed.Load())
}

func (p *progress) say(msg string) {
	if p.w != nil {
		fmt.Fprintf(p.w, "\r\033[K%s ", msg)
	}
}

func (p *progress) finish() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
