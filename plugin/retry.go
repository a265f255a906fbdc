package plugin

import (
	"github.com/svccheck/svccheck/plugin/cluster"
)

// retryPolicy is how the run's API calls ride out an unavailable API server:
// cluster.DefaultRetry, for no longer than twice the request timeout (an API
// server that refuses connections with --request-timeout 2s fails the run
// within 4 s; with the default 15 s it gets 30 s).
func (o *command) retryPolicy() cluster.RetryPolicy {
	p := cluster.DefaultRetry()
	if o.restConfig != nil && o.restConfig.Timeout > 0 {
		p.Budget = min(p.Budget, 2*o.restConfig.Timeout)
	}
	return p
}
