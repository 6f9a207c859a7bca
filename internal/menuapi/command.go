package menuapi

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // menus follow Europe/Stockholm time, even in a scratch image

	"github.com/scilifelab/restaurants/internal/envflag"
)

// Main is the menu-api command line: it reads the flags from args (without
// the program name) and the environment (lookup, variables MENU_API_ + the
// flag in upper snake case), serves the stand-in API until ctx is cancelled
// (the caller turns SIGINT and SIGTERM into that), then shuts down
// gracefully. --help prints the usage to stdout; logs go to stderr, and so
// does an error, as one line. It returns the exit status: 0 after a clean
// shutdown or --help, 2 when the settings are bad or serving fails.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	if err := run(ctx, args, stdout, stderr, lookup, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "menu-api: %v\n", err)
		return 2
	}
	return 0
}

// run parses the flags, serves until ctx is done, then shuts down
// gracefully. If ready is not nil it receives the listening address.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool), ready chan<- string) error {
	fs := flag.NewFlagSet("menu-api", flag.ContinueOnError)
	fs.SetOutput(stdout)
	modes := make([]string, 0, 6)
	for _, m := range Modes() {
		modes = append(modes, string(m))
	}
	var (
		listen          = fs.String("listen", ":8080", "address to listen on")
		latency         = fs.Duration("latency", 0, "delay added to every API answer")
		computeLatency  = fs.Duration("compute-latency", 0, "delay added, on top of --latency, to an answer computed: not in the stand-in's own cache, or asked for with no-cache")
		listMaxAge      = fs.Duration("list-max-age", DefaultListMaxAge, "lifetime of /api, the list and the version in the stand-in's own cache (Cache-Control max-age)")
		menuMaxAge      = fs.Duration("menu-max-age", DefaultMenuMaxAge, "lifetime of a menu in the stand-in's own cache (Cache-Control max-age)")
		jitter          = fs.Duration("jitter", 0, "random extra delay in [0, jitter)")
		errorRate       = fs.Float64("error-rate", 0, "probability (0 to 1) of a random 500")
		fault           = fs.String("fault", "none", "failure mode: "+strings.Join(modes, ", "))
		slowDelay       = fs.Duration("slow-delay", DefaultSlowDelay, "delay of the slow failure mode")
		retryAfter      = fs.Duration("retry-after", DefaultRetryAfter, "Retry-After of the 429 failure mode")
		oversizeBytes   = fs.Int64("oversize-bytes", DefaultOversizeBytes, "body size in bytes of the oversized failure mode")
		seed            = fs.Uint64("seed", 1, "seed of the random source (error rate, jitter)")
		version         = fs.String("api-version", DefaultVersion, "version answered by /api/version")
		logLevel        = fs.String("log-level", "info", "log level: debug (logs every request), info, warn, error")
		shutdownTimeout = fs.Duration("shutdown-timeout", 10*time.Second, "how long to wait for in-flight requests at shutdown")
	)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: menu-api [flags]

A stand-in for the lunch-menu API, serving /api/restaurant, /api/restaurant/{identifier},
/api/version and /api. Like the real API it keeps each answer in its own cache: an answer
not there (or asked for with Cache-Control: no-cache) is computed, paying --compute-latency,
and kept for --list-max-age or --menu-max-age; Cache-Control: max-age tells the seconds left.
Run-time control: /-/fault (knobs), /-/menu/{identifier} (PUT {"menu":[{"dish":"..."}]}
replaces a menu, DELETE restores it, ?evict=1 also drops the cached copy), /-/stats
(counters: computed, from_cache, not_modified, ...) and /-/healthz.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := envflag.Parse(fs, "MENU_API", args, lookup); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (menu-api takes only flags; see --help)", fs.Arg(0))
	}
	if *listMaxAge <= 0 || *menuMaxAge <= 0 {
		return fmt.Errorf("--list-max-age and --menu-max-age must be positive, got %s and %s", *listMaxAge, *menuMaxAge)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	mode, err := ParseMode(*fault)
	if err != nil {
		return fmt.Errorf("--fault: %w", err)
	}
	faults := Faults{
		Mode: mode, Latency: *latency, ComputeLatency: *computeLatency, Jitter: *jitter, ErrorRate: *errorRate,
		SlowDelay: *slowDelay, RetryAfter: *retryAfter, OversizeBytes: *oversizeBytes,
	}
	h, err := New(Options{Faults: faults, ListMaxAge: *listMaxAge, MenuMaxAge: *menuMaxAge, Seed: *seed, Version: *version, Logger: log})
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
		"latency", f.Latency, "compute_latency", f.ComputeLatency, "jitter", f.Jitter, "error_rate", f.ErrorRate,
		"list_max_age", *listMaxAge, "menu_max_age", *menuMaxAge)
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
