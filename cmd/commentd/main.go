// Command commentd is the comment moderation server: a gRPC API for sites and moderators, with
// Redis as its store. See the README for set-up and the flags (commentd -h). "commentd reseal"
// is the one other command: it seals stored emails and IPs again after an encryption key rotation.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/config"
)

func main() {
	// go-redis reports connection trouble through a package-level logger; route it into JSON on
	// stderr like the rest of our log. It is set here, once, because it is process-wide state; run
	// sets its level from -log-level (redisLogLevel).
	redis.SetLogger(newRedisLogger(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: redisLogLevel})), redisLogEvery))
	// The first SIGINT or SIGTERM ends ctx: the graceful shutdown. run reads the ones after it
	// from stop, once ctx has ended: a second ends the shutdown at once. (signal.NotifyContext
	// would swallow it, and the operator who presses Ctrl-C again would wait out
	// -shutdown-delay and -shutdown-timeout all the same.)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	// SIGHUP reloads the keys file, the TLS certificate and the config file's abuse controls
	// (without this it would end the process).
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ(), nil, reload, stop)
	switch {
	case err == nil:
	case errors.Is(err, config.ErrHelp):
		// The usage was asked for and printed: not a failure (as with Go's flag package).
	default:
		fmt.Fprintln(os.Stderr, "commentd:", err)
		os.Exit(1)
	}
}
