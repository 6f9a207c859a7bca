// Command menu-api is a stand-in for the lunch-menu API: the real API's paths
// and JSON shapes from embedded data, with knobs for latency, random errors
// and failure modes (5xx, slow, 429, garbled, oversized) that can also be
// changed while it runs through /-/fault. Every flag has an environment
// variable beside it (MENU_API_ + the flag in upper snake case).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // menus follow Europe/Stockholm time, even in a scratch image

	"github.com/scilifelab/restaurants/internal/envflag"
	"github.com/scilifelab/restaurants/internal/menuapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "menu-api: %v\n", err)
		os.Exit(2)
	}
}

// run parses the flags, serves until ctx is done, then shuts down
// gracefully. If ready is not nil it receives the listening address.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool), ready chan<- string) error {
	fs := flag.NewFlagSet("menu-api", flag.ContinueOnError)
	fs.SetOutput(stdout)
	modes := make([]string, 0, 6)
	for _, m := range menuapi.Modes() {
		modes = append(modes, string(m))
	}
	var (
		listen          = fs.String("listen", ":8080", "address to listen on")
		latency         = fs.Duration("latency", 0, "delay added to every API answer")
		jitter          = fs.Duration("jitter", 0, "random extra delay in [0, jitter)")
		errorRate       = fs.Float64("error-rate", 0, "probability (0 to 1) of a random 500")
		fault           = fs.String("fault", "none", "failure mode: "+strings.Join(modes, ", "))
		slowDelay       = fs.Duration("slow-delay", menuapi.DefaultSlowDelay, "delay of the slow failure mode")
		retryAfter      = fs.Duration("retry-after", menuapi.DefaultRetryAfter, "Retry-After of the 429 failure mode")
		oversizeBytes   = fs.Int64("oversize-bytes", menuapi.DefaultOversizeBytes, "body size in bytes of the oversized failure mode")
		seed            = fs.Uint64("seed", 1, "seed of the random source (error rate, jitter)")
		version         = fs.String("api-version", menuapi.DefaultVersion, "version answered by /api/version")
		logLevel        = fs.String("log-level", "info", "log level: debug (logs every request), info, warn, error")
		shutdownTimeout = fs.Duration("shutdown-timeout", 10*time.Second, "how long to wait for in-flight requests at shutdown")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: menu-api [flags]\n\nA stand-in for the lunch-menu API, serving /api/restaurant, /api/restaurant/{identifier},\n/api/version and /api, with run-time control at /-/fault, /-/stats and /-/healthz.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := envflag.Parse(fs, "MENU_API", args, lookup); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (menu-api takes only flags; see --help)", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	mode, err := menuapi.ParseMode(*fault)
	if err != nil {
		return fmt.Errorf("--fault: %w", err)
	}
	faults := menuapi.Faults{
		Mode: mode, Latency: *latency, Jitter: *jitter, ErrorRate: *errorRate,
		SlowDelay: *slowDelay, RetryAfter: *retryAfter, OversizeBytes: *oversizeBytes,
	}
	h, err := menuapi.New(menuapi.Options{Faults: faults, Seed: *seed, Version: *version, Logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	// Delayed answers end when the server shuts down instead of holding it.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(cancelBase)

	f := h.Faults()
	log.Info("serving the stand-in lunch-menu API", "addr", ln.Addr().String(), "fault", f.Mode,
		"latency", f.Latency, "jitter", f.Jitter, "error_rate", f.ErrorRate)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "requests", h.Requests())
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
