// Package relaytest serves, in the test's process on loopback ports, the
// relay with its real command line and wiring (internal/app) and the
// stand-in API (internal/menuapi), both stopped when the test ends.
package relaytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/menuapi"
)

// StandIn serves the stand-in API with opts until the test ends. Its
// routes are under the server's URL + "/api/".
func StandIn(t testing.TB, opts menuapi.Options) (*menuapi.Handler, *httptest.Server) {
	t.Helper()
	h, err := menuapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// Relay is a relay serving in this process.
type Relay struct {
	// URL is the relay's base, http://127.0.0.1:PORT.
	URL string
	// AdminURL is the base of its admin listener (/healthz, /readyz,
	// /metrics).
	AdminURL string

	cancel context.CancelFunc
	served chan error
	once   sync.Once
	err    error
}

// Start parses args as the relay's command line, with no environment,
// and serves the relay as StartConfig does.
func Start(t testing.TB, args ...string) *Relay {
	t.Helper()
	cfg, err := app.ParseFlags(args, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return StartConfig(t, cfg)
}

// StartConfig serves the relay built from cfg until the test ends, and
// fails the test if it does not then shut down cleanly.
func StartConfig(t testing.TB, cfg app.Config) *Relay {
	t.Helper()
	r, err := Serve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	return r
}

// Serve builds the relay from cfg and serves it, its logs discarded, on
// two new listeners on 127.0.0.1 (cfg's listen addresses are not used)
// until Stop.
func Serve(cfg app.Config) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay listener: %w", err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		ln.Close()
		adminLn.Close()
		return nil, err
	}
	r := &Relay{URL: "http://" + ln.Addr().String(), AdminURL: "http://" + adminLn.Addr().String(), cancel: cancel, served: make(chan error, 1)}
	go func() { r.served <- a.Serve(ctx, ln, adminLn) }()
	return r, nil
}

// Stop ends the relay as SIGTERM does and returns what its Serve
// returned: nil after a clean shutdown. Later calls return the same.
func (r *Relay) Stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.served
	})
	return r.err
}
