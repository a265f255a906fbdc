// Command kubectl-svccheck proves that Kubernetes Services reach their pods by
// every path a client can take. Installed on PATH it runs as "kubectl svccheck".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/svccheck/svccheck/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := plugin.NewCmd(streams).ExecuteContext(ctx)
	stop()
	code := plugin.ExitCode(err)
	if err != nil && err.Error() != "" {
		if ee, ok := err.(*plugin.ExitError); !ok || ee.Err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
	}
	os.Exit(code)
}
