package relay

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
)

// errorBody is the JSON of every error the relay answers itself.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// writeError answers with a JSON error; retryAfter, when positive, becomes a
// Retry-After header in whole seconds, rounded up.
func (r *Relay) writeError(w http.ResponseWriter, status int, msg string, retryAfter time.Duration) {
	writeError(w, status, msg, retryAfter)
	r.metrics.Request(status, cache.None)
}

func writeError(w http.ResponseWriter, status int, msg string, retryAfter time.Duration) {
	body, _ := json.Marshal(errorBody{Error: msg, Status: status})
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(seconds(retryAfter)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
