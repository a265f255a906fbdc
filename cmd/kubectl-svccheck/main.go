// Command kubectl-svccheck proves that Kubernetes Services reach their pods by
// every path a client can take. Installed on PATH it runs as "kubectl svccheck".
package main

import (
	"context"
	"errors"
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
	var ee *plugin.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.Err != nil) {
		fmt.Fprintln(os.Stderr, "error:", err) // ee.Err == nil: the report already said it
	}
	os.Exit(plugin.ExitCode(err))
}
