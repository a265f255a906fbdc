package plugin

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/svccheck/svccheck/probe/agent"
)

// newAgentCmd is the hidden in-pod side: "agent wait" idles as the pod's main
// process; "agent run" reads an agent.Request on stdin and writes one Result
// per probe as JSON lines on stdout as they complete.
func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Hidden: true, Short: "in-cluster agent (runs inside the agent pod)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "wait",
		Short: "idle until terminated",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			defer signal.Stop(sig)
			select {
			case <-sig:
			case <-c.Context().Done():
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "run",
		Short: "run the probes read on stdin",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := agent.Serve(c.Context(), c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			return nil
		},
	})
	return cmd
}
