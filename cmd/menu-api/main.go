// Command menu-api is a stand-in for the lunch-menu API: the real API's paths
// and JSON shapes from embedded data, with knobs for latency, random errors
// and failure modes (5xx, slow, 429, garbled, oversized) that can also be
// changed while it runs through /-/fault. Like the real API it keeps its
// answers in its own cache: --compute-latency is what an answer not there
// costs, --list-max-age and --menu-max-age how long one is kept, and
// /-/menu/{identifier} changes a menu while it runs. Every flag has an
// environment variable beside it (MENU_API_ + the flag in upper snake case).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/scilifelab/restaurants/internal/menuapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := menuapi.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
