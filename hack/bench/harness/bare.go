package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// BareHandler answers every request with the same JSON bytes: the fastest a
// Go HTTP server on this machine can answer, the ceiling of the comparison.
func BareHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// BareRelayHeadersHandler is BareHandler writing the header fields of a
// relay's hit, with fixed values: the ceiling for an answer that carries
// them, which tells the cost of the fields from the cost of the relay's
// work.
func BareRelayHeadersHandler(body []byte) http.Handler {
	fields := map[string][]string{
		"Content-Type":                {"application/json"},
		"Etag":                        {`"0123456789ab"`},
		"Date":                        {time.Now().UTC().Format(http.TimeFormat)},
		"Age":                         {"0"},
		"Cache-Control":               {"public, max-age=10"},
		"X-Cache":                     {"HIT"},
		"Cache-Status":                {"restaurants; hit; ttl=10"},
		"Access-Control-Allow-Origin": {"*"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range fields {
			h[k] = v
		}
		_, _ = w.Write(body) // net/http adds the Content-Length, as for the relay's small bodies
	})
}

// ServeBare serves BareHandler (or BareRelayHeadersHandler, with
// relayHeaders) with the body read from bodyFile on addr until ctx ends.
func ServeBare(ctx context.Context, addr, bodyFile string, relayHeaders bool) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}
	h := BareHandler(body)
	if relayHeaders {
		h = BareRelayHeadersHandler(body)
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("bare handler: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("bare handler: %w", err)
		}
		return nil
	}
}
