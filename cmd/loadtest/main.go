// Command loadtest sends HTTP load to one or more URLs for a bounded time and
// reports throughput, latency percentiles, status codes and errors; given the
// relay's admin /metrics URL it also reports what the relay did meanwhile
// (upstream calls, hit ratio, coalesced waits, stale serves).
//
// Usage:
//
//	loadtest [flags] URL ["URL WEIGHT" ...]
//	loadtest [flags] -file targets.txt
//
// Every flag has an environment variable beside it (LOADTEST_ + upper snake case).
// --report FILE.html also writes the run as a page of charts (this command
// only: the image's multi-call binary leaves the charts out to stay small).
// Exit status: 0 done, 1 more errors than --max-errors (or the metrics could not
// be read), 2 bad usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadtest.Command{WriteHTML: loadchart.WriteRunPage}.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
