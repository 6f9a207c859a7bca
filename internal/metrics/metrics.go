// Package metrics defines the relay's Prometheus metrics on a registry of its
// own. Counters on the request path are resolved once, and the request
// counter is striped over cache lines, so that counting a request costs one
// atomic add on a line that other cores seldom write.
package metrics

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/guard"
)

// outcomes are the outcomes of upstream calls whose counters are resolved
// ahead, so that each appears, at zero, from the start.
func outcomes() []string {
	return []string{"ok", "not_found", "client_error", "http_error", "timeout", "refused", "rate_limited", "invalid", "too_large", "canceled", "not_modified", "panic"}
}

// skipReasons are the reasons an upstream call is not made: the guard's
// (budget, rate_limited, backoff) and no free upstream slot (busy).
func skipReasons() []string {
	return []string{string(guard.Budget), string(guard.RateLimited), string(guard.Failing), "busy"}
}

// Sources give the values of gauges read at scrape time.
type Sources struct {
	CacheEntries     func() int
	CacheBytes       func() int
	UpstreamInflight func() int64
	// Shared tells that a shared cache tier is configured: its metrics
	// are registered only then.
	Shared bool
}

// byLabel resolves the counters of vec, a vector of one label, for each of
// values, so that each appears, at zero, from the start.
func byLabel(vec *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(values))
	for _, v := range values {
		m[v] = vec.WithLabelValues(v)
	}
	return m
}

// connPhases are the phases of a client connection whose time can run out.
func connPhases() []string { return []string{"header", "idle", "answer"} }

// ConnectionTimedOut counts one client connection closed because its phase
// (header, idle or answer) took too long.
func (m *Metrics) ConnectionTimedOut(phase string) {
	if c, ok := m.connsClosed[phase]; ok {
		c.Inc()
	}
}

// sharedOps are the operations of the shared tier whose failures are counted.
func sharedOps() []string {
	return []string{"get", "set", "lease", "release", "ping", "purge"}
}

// sharedResults are the results of reads of the shared tier.
func sharedResults() []string { return []string{"hit", "stale", "miss", "error"} }

// Metrics counts what the relay does.
type Metrics struct {
	// Registry holds every metric of the relay, the Go runtime's and the process's.
	Registry *prometheus.Registry

	requests    *requestCounts
	upstream    *prometheus.CounterVec
	byOutcome   map[string]prometheus.Counter
	skipped     map[string]prometheus.Counter
	latency     prometheus.Histogram
	coalesced   prometheus.Counter
	staleServed [2]prometheus.Counter
	connsClosed map[string]prometheus.Counter
	purges      map[string]prometheus.Counter
	panics      prometheus.Counter

	sharedUp      prometheus.Gauge
	sharedLookups map[string]prometheus.Counter
	sharedErrors  map[string]prometheus.Counter
	sharedRejects map[string]prometheus.Counter
	leaseWaits    prometheus.Counter
	leasesLost    prometheus.Counter
}

// New registers the relay's metrics on a new registry.
func New(version string, src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: newRequestCounts(),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "restaurants_upstream_requests_total",
			Help: "Calls to the upstream API, by outcome.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "restaurants_upstream_request_duration_seconds",
			Help:    "Duration of calls to the upstream API.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "restaurants_coalesced_waits_total",
			Help: "Requests that waited for another request's upstream call instead of making their own.",
		}),
	}
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_client_connections_timed_out_total",
		Help: "Client connections the relay closed because a phase took too long: header (a request header slower than 10 s), idle (no request for 2 min), answer (a request not answered and read within --upstream-timeout + 5 s).",
	}, []string{"phase"})
	m.connsClosed = byLabel(closed, connPhases())
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_upstream_skipped_total",
		Help: "Upstream calls not made, by reason: budget (over --upstream-rate), rate_limited (a 429's Retry-After in force), backoff (the key failed recently), busy (every upstream slot taken).",
	}, []string{"reason"})
	m.skipped = byLabel(skipped, skipReasons())
	stale := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_stale_served_total",
		Help: "Expired answers served: while one refresh runs (revalidate) or for a failed upstream (error).",
	}, []string{"reason"})
	m.staleServed = [2]prometheus.Counter{stale.WithLabelValues("revalidate"), stale.WithLabelValues("error")}
	m.byOutcome = byLabel(m.upstream, outcomes())
	purges := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_purges_total",
		Help: "Purges asked of this relay on its admin listener, by scope: key (one path) or all.",
	}, []string{"scope"})
	m.purges = byLabel(purges, []string{"key", "all"})
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "restaurants_panics_total",
		Help: "Upstream fetches or processing stages that panicked; each failed its key's waiters, and the relay served on.",
	})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "restaurants_build_info",
		Help: "The relay's version and Go version; always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)

	reg.MustRegister(
		m.requests, m.upstream, skipped, m.latency, m.coalesced, stale, closed, build, purges, m.panics,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "restaurants_cache_entries",
			Help: "Entries held in the cache.",
		}, func() float64 { return float64(src.CacheEntries()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "restaurants_cache_bytes",
			Help: "Memory taken by the cache's entries, in bytes.",
		}, func() float64 { return float64(src.CacheBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "restaurants_upstream_inflight",
			Help: "Calls to the upstream under way.",
		}, func() float64 { return float64(src.UpstreamInflight()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if src.Shared {
		m.registerShared(reg)
	}
	return m
}

func (m *Metrics) registerShared(reg *prometheus.Registry) {
	m.sharedUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "restaurants_shared_cache_up",
		Help: "1 while the shared cache tier (Valkey/Redis) answers, 0 while each relay works alone.",
	})
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_shared_cache_lookups_total",
		Help: "Reads of the shared cache tier, by result: hit (fresh), stale, miss, error.",
	}, []string{"result"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_shared_cache_errors_total",
		Help: "Failed operations on the shared cache tier, by operation: get, set, lease, release, ping.",
	}, []string{"op"})
	m.leaseWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "restaurants_shared_cache_lease_waits_total",
		Help: "Fetches that waited for another relay holding the key's lease instead of calling the upstream.",
	})
	m.leasesLost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "restaurants_shared_cache_leases_lost_total",
		Help: "Fetches whose lease ran out before their answer was stored.",
	})
	m.sharedLookups = byLabel(lookups, sharedResults())
	rejects := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "restaurants_shared_cache_rejected_total",
		Help: "Entries read from the shared cache tier and not served, each a miss, by reason: bad_mac (not signed with the relays' key), malformed, future.",
	}, []string{"reason"})
	m.sharedErrors = byLabel(errs, sharedOps())
	m.sharedRejects = byLabel(rejects, []string{"bad_mac", "malformed", "future"})
	reg.MustRegister(m.sharedUp, lookups, errs, m.leaseWaits, m.leasesLost, rejects)
}

// Request counts one answered request by its status code and how the cache
// answered it; a coalesced wait and a stale answer are also counted on
// their own. The counters of common codes are looked up once, on first
// use, so that only label pairs that occur appear.
func (m *Metrics) Request(code int, s cache.State) {
	switch s {
	case cache.Coalesced:
		m.coalesced.Inc()
	case cache.Revalidating:
		m.staleServed[0].Inc()
	case cache.StaleOnError:
		m.staleServed[1].Inc()
	}
	if s < 0 || s >= cache.NumStates {
		s = cache.None
	}
	m.requests.add(code, s)
}

// Purged counts one purge of the given scope: key or all.
func (m *Metrics) Purged(scope string) {
	if c, ok := m.purges[scope]; ok {
		c.Inc()
	}
}

// Panicked counts one fetch or processing stage that panicked.
func (m *Metrics) Panicked() { m.panics.Inc() }

// Upstream counts one upstream call with its outcome and duration.
func (m *Metrics) Upstream(outcome string, d time.Duration) {
	c, ok := m.byOutcome[outcome]
	if !ok {
		c = m.upstream.WithLabelValues(outcome)
	}
	c.Inc()
	m.latency.Observe(d.Seconds())
}

// Skipped counts an upstream call not made, by reason (see skipReasons).
func (m *Metrics) Skipped(reason guard.Reason) {
	c, ok := m.skipped[string(reason)]
	if !ok {
		return
	}
	c.Inc()
}

// SharedLookup counts a read of the shared tier by result.
func (m *Metrics) SharedLookup(result string) {
	if c, ok := m.sharedLookups[result]; ok {
		c.Inc()
	}
}

// SharedError counts a failed operation on the shared tier.
func (m *Metrics) SharedError(op string) {
	if c, ok := m.sharedErrors[op]; ok {
		c.Inc()
	}
}

// SharedRejected counts an entry of the shared tier that was not served.
func (m *Metrics) SharedRejected(reason string) {
	if c, ok := m.sharedRejects[reason]; ok {
		c.Inc()
	}
}

// SharedLeaseWait counts a wait for another relay's fetch.
func (m *Metrics) SharedLeaseWait() {
	if m.leaseWaits != nil {
		m.leaseWaits.Inc()
	}
}

// SharedLeaseLost counts a lease that ran out before its answer was stored.
func (m *Metrics) SharedLeaseLost() {
	if m.leasesLost != nil {
		m.leasesLost.Inc()
	}
}

// SharedUp records whether the shared tier answers.
func (m *Metrics) SharedUp(up bool) {
	if m.sharedUp == nil {
		return
	}
	if up {
		m.sharedUp.Set(1)
		return
	}
	m.sharedUp.Set(0)
}
