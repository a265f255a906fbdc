package plugin

import (
	"context"
	"fmt"

	"github.com/svccheck/svccheck/plugin/agentjob"

	"github.com/spf13/cobra"

	"github.com/svccheck/svccheck/plugin/cluster"
)

// newCleanupCmd deletes agents left behind (after --keep-agent, or a killed
// run whose deadline has not passed yet), in the agent namespace or, with
// -A, everywhere; --run deletes one run's only. The kubectl flags and -A are
// the root's persistent flags.
func newCleanupCmd(o *command) *cobra.Command {
	var run string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete svccheck agents left in the cluster (by label)",
		Args:  cobra.NoArgs,
		RunE: interruptible(func(c *cobra.Command, _ []string) error {
			if run != "" && !agentjob.ValidRunID(run) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("invalid --run %q: want the 10 hex digits of a run id", run)}
			}
			if err := o.Complete(nil); err != nil {
				return err
			}
			ns := o.agentNamespace()
			// -n on the command line names the namespace, over the
			// SVCCHECK_AGENT_NAMESPACE environment variable.
			if f := c.Flags().Lookup("namespace"); f != nil && f.Changed && !c.Flags().Changed("agent-namespace") {
				ns = o.namespace
			}
			where := fmt.Sprintf("namespace %q", ns)
			if o.AllNamespaces {
				ns, where = "", "all namespaces"
			}
			selector, what := agentjob.AgentSelector, "svccheck agent(s)"
			if run != "" {
				selector, what = agentjob.RunSelector(run), "svccheck agent(s) of run "+run
			}
			var n int
			err := cluster.RetryAPI(c.Context(), func(ctx context.Context) (err error) {
				n, err = agentjob.DeleteAgents(ctx, o.client, ns, selector)
				return err
			})
			if err != nil {
				return cluster.AccessError("delete svccheck agents in "+where, err)
			}
			fmt.Fprintf(o.Out, "deleted %d %s in %s\n", n, what, where)
			return nil
		}),
	}
	addAgentNamespaceFlag(cmd.Flags(), o.Options)
	cmd.Flags().StringVar(&run, "run", "", "delete only the agents of this run (the id a run that could not clean up names)")
	return cmd
}
