package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/scilifelab/restaurants/internal/upstream"
)

// Purger drops cached answers: from this relay, the shared tier and every
// other relay. An error wrapping upstream.ErrUnsafePath means the path was
// not one the relay would cache.
type Purger interface {
	// Purge drops the answer of one relay path, e.g. "/restaurant/dufva"
	// for GET /restaurant/dufva.
	Purge(ctx context.Context, path string) error
	// PurgeAll drops every cached answer.
	PurgeAll(ctx context.Context) error
}

// purgeHandler serves DELETE /cache (everything) and DELETE /cache/{path...}
// (one relay path).
func purgeHandler(p Purger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete {
			w.Header().Set("Allow", http.MethodDelete)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; use DELETE")
			return
		}
		rest, _ := strings.CutPrefix(r.URL.EscapedPath(), "/cache")
		var err error
		purged := "*"
		if rest == "" {
			err = p.PurgeAll(r.Context())
		} else {
			purged = rest
			err = p.Purge(r.Context(), rest)
		}
		switch {
		case errors.Is(err, upstream.ErrUnsafePath):
			writeError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, context.DeadlineExceeded):
			writeError(w, http.StatusGatewayTimeout, "purge timed out: "+err.Error())
		case err != nil:
			writeError(w, http.StatusBadGateway, "purge failed: "+err.Error())
		default:
			writeJSON(w, http.StatusOK, map[string]string{"purged": purged})
		}
	})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{msg, code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
