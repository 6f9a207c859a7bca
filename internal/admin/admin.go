// Package admin serves the relay's operations listener: liveness, readiness,
// Prometheus metrics and, when enabled, pprof.
package admin

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness is whether the relay takes new traffic. It starts not ready.
type Readiness struct{ ready atomic.Bool }

// Set marks the relay ready or not.
func (r *Readiness) Set(ready bool) { r.ready.Store(ready) }

// Ready reports whether the relay is ready.
func (r *Readiness) Ready() bool { return r.ready.Load() }

// Config sets up the admin handler.
type Config struct {
	// Readiness answers /readyz.
	Readiness *Readiness
	// Gatherer answers /metrics.
	Gatherer prometheus.Gatherer
	// Pprof serves /debug/pprof/ when true.
	Pprof bool
}

// NewHandler returns the admin listener's handler:
//
//	/healthz        200 while the process serves
//	/readyz         200 when ready, 503 while starting or draining
//	/metrics        Prometheus text exposition
//	/debug/pprof/   the Go profiler, when enabled
func NewHandler(cfg Config) http.Handler {
	m := mux.NewRouter()
	m.Methods(http.MethodGet, http.MethodHead).Path("/healthz").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	m.Methods(http.MethodGet, http.MethodHead).Path("/readyz").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if cfg.Readiness.Ready() {
			writeStatus(w, http.StatusOK, "ready")
			return
		}
		writeStatus(w, http.StatusServiceUnavailable, "not ready")
	})
	m.Methods(http.MethodGet).Path("/metrics").Handler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		m.HandleFunc("/debug/pprof/profile", pprof.Profile)
		m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		m.HandleFunc("/debug/pprof/trace", pprof.Trace)
		m.PathPrefix("/debug/pprof/").HandlerFunc(pprof.Index)
	}
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusNotFound, "not found")
	})
	return m
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"status":"` + status + `"}` + "\n"))
}
