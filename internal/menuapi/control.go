package menuapi

import (
	"net/http"
	"strings"
	"time"
)

// serveControl serves the control endpoints, outside the API's paths:
//
//	GET    /-/healthz  {"status":"ok"}
//	GET    /-/stats    API requests counted since start (or the last reset)
//	DELETE /-/stats    reset the counters
//	GET    /-/fault    the knobs in force
//	PUT    /-/fault?mode=429&latency=2s&error-rate=0.1   change some knobs
//	DELETE /-/fault    back to the knobs given at start
//	GET    /-/menu/{identifier}   whether its menu is replaced, and by what
//	PUT    /-/menu/{identifier}[?evict=1]  {"menu":[{"dish":"..."}]} replaces it
//	DELETE /-/menu/{identifier}[?evict=1]  back to the built-in menu
//
// PUT (or POST) of /-/fault takes the parameters from the query or a form
// body.
func (h *Handler) serveControl(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/-/menu/"); ok {
		h.serveMenu(w, r, id)
		return
	}
	switch r.URL.Path {
	case "/-/healthz":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.writeValue(w, http.StatusOK, map[string]string{"status": "ok"})
	case "/-/stats":
		if !allow(w, r, http.MethodGet, http.MethodHead, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodDelete {
			h.stats.reset()
		}
		n, by := h.stats.snapshot()
		computed, fromCache, notModified := h.stats.cacheCounts()
		h.writeValue(w, http.StatusOK, statsJSON{
			Requests: n, ByStatus: by, Computed: computed, FromCache: fromCache, NotModified: notModified,
			Uptime: time.Since(h.started).Round(time.Millisecond).String(),
		})
	case "/-/fault":
		if !allow(w, r, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodPut, http.MethodPost:
			if err := r.ParseForm(); err != nil {
				h.writeValue(w, http.StatusBadRequest, errorJSON{Error: "reading parameters: " + err.Error()})
				return
			}
			f, err := h.Faults().apply(r.Form)
			if err != nil {
				h.writeValue(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
				return
			}
			h.faults.Store(&f)
		case http.MethodDelete:
			f := h.initial
			h.faults.Store(&f)
		}
		h.writeValue(w, http.StatusOK, h.Faults().view())
	default:
		h.writeValue(w, http.StatusNotFound, errorJSON{Error: "no such control endpoint (want /-/fault, /-/menu/{identifier}, /-/stats or /-/healthz)"})
	}
}

// statsJSON is the body of /-/stats. Computed counts answers the stand-in
// computed (not in its own cache, or the request skipped it), FromCache the
// 200s it served from its own cache, NotModified its 304s.
type statsJSON struct {
	Requests    uint64            `json:"requests"`
	ByStatus    map[string]uint64 `json:"by_status"`
	Computed    uint64            `json:"computed"`
	FromCache   uint64            `json:"from_cache"`
	NotModified uint64            `json:"not_modified"`
	Uptime      string            `json:"uptime"`
}

// errorJSON is the body of a control endpoint's error.
type errorJSON struct {
	Error string `json:"error"`
}

func (h *Handler) writeValue(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	h.write(w, status, h.ctJSON, append(marshal(v), '\n'))
}

// allow answers 405 with an Allow header unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allowed := ""
	for i, m := range methods {
		if i > 0 {
			allowed += ", "
		}
		allowed += m
	}
	w.Header().Set("Allow", allowed)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMethodNotAllowed)
	w.Write([]byte(`{"error":"method not allowed"}` + "\n")) //nolint:errcheck
	return false
}
