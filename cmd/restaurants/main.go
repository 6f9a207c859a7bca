// Command restaurants is a caching relay for the lunch-menu API of the
// restaurants near SciLifeLab in Uppsala and Solna: GET /URI is answered
// from <upstream>/URI, cached in process.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/scilifelab/restaurants/internal/app"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := app.ParseFlags(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, app.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "restaurants:", err)
		return 2
	}
	if cfg.Version {
		fmt.Println("restaurants", version)
		return 0
	}
	log := cfg.Logger(os.Stderr)
	mem := app.TuneMemory(cfg, os.LookupEnv)
	log.Debug("garbage collector", "gc_percent", mem.GCPercent, "memory_limit_bytes", mem.Limit)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, version, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restaurants:", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restaurants:", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restaurants:", err)
		return 1
	}
	if err := a.Serve(ctx, ln, adminLn); err != nil {
		log.Error("relay stopped", "err", err)
		return 1
	}
	return 0
}
