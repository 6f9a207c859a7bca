package charts

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// relayMarker, set to 1 in its environment, makes the test binary run the
// relay (app.Main with its arguments) instead of the tests, so that the
// Prometheus test can start, kill and restart relays as processes of their
// own, each with its own process_start_time_seconds.
const relayMarker = "RESTAURANTS_CHARTS_TEST_RELAY"

func TestMain(m *testing.M) { proctest.Main(m, relayMarker, relayMain) }

func relayMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, "test", os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
