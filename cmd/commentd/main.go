// Command commentd is the comment moderation server: a gRPC API for sites and moderators, with
// Redis as its store. See the README for set-up and the flags (commentd -h).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/commentd/commentd/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, nil)
	switch {
	case err == nil:
	case errors.Is(err, config.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "commentd:", err)
		os.Exit(1)
	}
}
