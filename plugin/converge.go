package plugin

import (
	"fmt"

	"github.com/spf13/pflag"
)

// addConvergeFlags adds --wait-converged and --converge-window.
func (o *Options) addConvergeFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.WaitConverged, "wait-converged", 0, "after the first pass, probe again the paths that disagree with their expectation, "+
		"with backoff (0.5s doubling to 8s), for up to this long, for Services that changed recently (0: off); each Service's convergence is reported")
	f.DurationVar(&o.ConvergeWindow, "converge-window", 0, "with --wait-converged: only Services the cluster changed within this long before the run "+
		"(creation, EndpointSlice change, endpoint pod readiness) are waited on; others' failures are final at once (default: the --wait-converged bound)")
}

func (o *Options) validateConverge() error {
	switch {
	case o.WaitConverged < 0:
		return fmt.Errorf("--wait-converged must not be negative")
	case o.ConvergeWindow < 0:
		return fmt.Errorf("--converge-window must not be negative")
	case o.ConvergeWindow > 0 && o.WaitConverged == 0:
		return fmt.Errorf("--converge-window needs --wait-converged")
	}
	return nil
}
