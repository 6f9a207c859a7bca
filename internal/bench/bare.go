package bench

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

// ServeBare serves BareHandler with the body read from bodyFile on addr until ctx ends.
func ServeBare(ctx context.Context, addr, bodyFile string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}
	srv := &http.Server{Addr: addr, Handler: BareHandler(body), ReadHeaderTimeout: 5 * time.Second}
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
