package plugin

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/svccheck/svccheck/plugin/cluster"
)

// newCleanupCmd deletes agents left behind (after --keep-agent, or a killed
// run whose deadline has not passed yet), in the agent namespace or, with
// -A, everywhere. The kubectl flags and -A are the root's persistent flags.
func newCleanupCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete svccheck agents left in the cluster (by label)",
		Args:  cobra.NoArgs,
		RunE: interruptible(func(c *cobra.Command, _ []string) error {
			if err := o.Complete(nil); err != nil {
				return err
			}
			ns := o.agentNamespace()
			where := fmt.Sprintf("namespace %q", ns)
			if o.AllNamespaces {
				ns, where = "", "all namespaces"
			}
			n, err := cluster.DeleteAgents(c.Context(), o.client, ns, cluster.AgentSelector)
			if err != nil {
				return cluster.AccessError("delete svccheck agents in "+where, err)
			}
			fmt.Fprintf(o.Out, "deleted %d svccheck agent(s) in %s\n", n, where)
			return nil
		}),
	}
	addAgentNamespaceFlag(cmd.Flags(), o)
	return cmd
}
