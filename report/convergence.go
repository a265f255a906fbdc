package report

import (
	"fmt"
	"io"
	"time"
)

// writeConvergence lists, under the table, each Service whose paths did not
// all agree on the first pass: when they converged, that they did not, or
// that they were not waited on.
func writeConvergence(w io.Writer, r *Report) {
	header := false
	for i := range r.Services {
		s := &r.Services[i]
		c := s.Convergence
		if c == nil || c.State == ConvergeAgreed {
			continue
		}
		if !header {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "CONVERGENCE")
			header = true
		}
		fmt.Fprintf(w, "  %s: %s\n", s.Key(), convergenceText(c, r.Metadata.GeneratedAt))
	}
}

func convergenceText(c *Convergence, at time.Time) string {
	paths := Count(len(c.Probes), "path")
	switch c.State {
	case ConvergeConverged:
		msg := fmt.Sprintf("converged %s after the first pass (%s re-probed, %s)", ms(c.WaitedMs), paths, Count(c.Reprobes, "re-probe"))
		if c.SinceChangeMs != nil {
			msg += fmt.Sprintf("; %s after its last change", ms(*c.SinceChangeMs))
		}
		return msg
	case ConvergeNotConverged:
		return fmt.Sprintf("not converged after waiting %s (%s, %s): the failures stand", ms(c.WaitedMs), paths, Count(c.Reprobes, "re-probe"))
	case ConvergeNotWaited:
		if c.LastChange == nil {
			return "failures not waited on: no recent change recorded"
		}
		return fmt.Sprintf("failures not waited on: last changed %s before the run", ms(at.Sub(*c.LastChange).Milliseconds()))
	}
	return c.State
}

// ms formats milliseconds as a duration rounded for reading: 850ms, 3.2s, 2m5s.
func ms(n int64) string {
	d := time.Duration(n) * time.Millisecond
	switch {
	case d < time.Second:
		return d.String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
