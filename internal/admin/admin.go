// Package admin serves the relay's operations listener: liveness, readiness,
// Prometheus metrics and, when enabled, pprof and the purge API. What
// changes state or exposes internals answers only to loopback peers or to
// the admin token; health, readiness and metrics stay open.
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
	// Token, when set, lets a request bearing "Authorization: Bearer
	// <Token>" reach pprof and the purge API from any peer; without it only
	// loopback peers can.
	Token string
	// Purger, when set, serves DELETE /cache and DELETE /cache/{path...}.
	Purger Purger
}

// NewHandler returns the admin listener's handler:
//
//	/healthz        200 while the process serves
//	/readyz         200 when ready, 503 while starting or draining
//	/metrics        Prometheus text exposition
//	/debug/pprof/   the Go profiler, when enabled (loopback or token)
//	/cache[/path]   DELETE purges one path or everything, with a Purger (loopback or token)
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
		only := func(h http.HandlerFunc) http.Handler { return restricted(cfg.Token, h) }
		m.Handle("/debug/pprof/cmdline", only(pprof.Cmdline))
		m.Handle("/debug/pprof/profile", only(pprof.Profile))
		m.Handle("/debug/pprof/symbol", only(pprof.Symbol))
		m.Handle("/debug/pprof/trace", only(pprof.Trace))
		m.PathPrefix("/debug/pprof/").Handler(only(pprof.Index))
	}
	if cfg.Purger != nil {
		purge := restricted(cfg.Token, purgeHandler(cfg.Purger))
		m.Path("/cache").Handler(purge)
		m.PathPrefix("/cache/").Handler(purge)
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
