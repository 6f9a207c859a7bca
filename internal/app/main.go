package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scilifelab/restaurants/internal/sharedcache"
	"github.com/scilifelab/restaurants/internal/tracing"
)

// Main is the relay's command line: it reads the settings from args (without
// the program name) and the environment (lookup), tunes the garbage
// collector, listens, and serves until ctx is cancelled (the caller turns
// SIGINT and SIGTERM into that), then drains and shuts down. version is
// what --version prints and the metrics report. Usage goes to stderr, logs
// to stderr, --version to stdout. It returns the exit status: 0 after a
// clean shutdown or --help, 1 when listening or serving fails, 2 for bad
// settings.
func Main(ctx context.Context, version string, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cfg, err := ParseFlags(args, lookup, stderr)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "restaurants:", err)
		return 2
	}
	if cfg.Version {
		fmt.Fprintln(stdout, "restaurants", version)
		return 0
	}
	log := cfg.Logger(stderr)
	// go-redis's own messages (a failed dial several times a second while
	// the engine is gone) at debug level: the tier logs each change once.
	redis.SetLogger(sharedcache.NewLibraryLogger(log))
	mem := TuneMemory(cfg, lookup, os.DirFS("/sys/fs/cgroup"))
	log.Debug("garbage collector", "gc_percent", mem.GCPercent, "memory_limit_bytes", mem.Limit, "container_limit_bytes", mem.Container)
	if !mem.Fits {
		log.Warn("the cache and the upstream bodies in flight do not fit the container's memory limit; lower --cache-max-mb or raise the limit",
			"need_bytes", MemoryLimit(cfg), "container_limit_bytes", mem.Container)
	}

	// Tracing from the standard OTEL_* environment, off without an OTLP
	// endpoint; its buffered spans are flushed on the way out.
	tr, err := tracing.FromEnv(ctx, version, lookup)
	if err != nil {
		fmt.Fprintln(stderr, "restaurants:", err)
		return 2
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(flushCtx); err != nil {
			log.Warn("traces not flushed", "err", err)
		}
	}()
	if tr.On() {
		cfg.Tracing = tr.Provider
		log.Info("tracing on", "protocol", tr.Protocol)
	}

	a, err := New(ctx, cfg, version, log)
	if err != nil {
		fmt.Fprintln(stderr, "restaurants:", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.Close()
		fmt.Fprintln(stderr, "restaurants:", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		a.Close()
		fmt.Fprintln(stderr, "restaurants:", err)
		return 1
	}
	if err := a.Serve(ctx, ln, adminLn); err != nil {
		log.Error("relay stopped", "err", err)
		return 1
	}
	return 0
}
