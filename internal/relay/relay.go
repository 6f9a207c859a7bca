// Package relay is the relay's HTTP surface: it answers GET and HEAD for any
// path below the upstream's base from the cache, and every failure with a
// JSON error and the status that fits it.
package relay

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/metrics"
	"github.com/scilifelab/restaurants/internal/process"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// Config sets up a Relay.
type Config struct {
	// Client calls the upstream.
	Client *upstream.Client
	// Process runs on every upstream body before it is cached; nil means
	// process.ValidJSON.
	Process process.Stage
	// Cache is configured by New, which supplies its fetch function.
	Cache cache.Config
	// Metrics counts requests and upstream calls.
	Metrics *metrics.Metrics
	// Logger logs upstream failures; requests are not logged one by one.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Relay answers requests from the cache and the upstream.
type Relay struct {
	client  *upstream.Client
	cache   *cache.Cache
	process process.Stage
	metrics *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
	hdr     headers
}

// New creates a Relay and its cache. Cancelling ctx stops the cache's
// background cleaning; Close frees it.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	r := &Relay{
		client:  cfg.Client,
		process: cfg.Process,
		metrics: cfg.Metrics,
		log:     cfg.Logger,
		now:     cfg.Now,
	}
	if r.process == nil {
		r.process = process.ValidJSON
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	cc := cfg.Cache
	cc.Fetch = r.fetch
	cc.Now = r.now
	cc.Logger = r.log
	c, err := cache.New(ctx, cc)
	if err != nil {
		return nil, err
	}
	r.cache = c
	r.hdr = newHeaders(cc.TTL, max(cc.TTL, cc.NegativeTTL)+max(cc.StaleIfError, cc.StaleWhileRevalidate))
	return r, nil
}

// Cache returns the relay's cache, for its gauges.
func (r *Relay) Cache() *cache.Cache { return r.cache }

// Close frees the cache.
func (r *Relay) Close() error { return r.cache.Close() }

// ServeHTTP answers a GET or HEAD request.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	t, err := upstream.ParseTarget(req.URL.EscapedPath(), req.URL.RawQuery)
	if err != nil {
		r.writeError(w, http.StatusBadRequest, err.Error(), 0)
		return
	}
	res, err := r.cache.Get(req.Context(), t.Key())
	if err != nil {
		r.fail(w, req, err)
		return
	}
	var result metrics.CacheResult
	switch res.State {
	case cache.Hit:
		result = metrics.Hit
	case cache.Miss:
		result = metrics.Miss
	case cache.Coalesced:
		result = metrics.Coalesced
		r.metrics.Coalesced()
	case cache.Revalidating, cache.StaleOnError:
		result = metrics.Stale
		r.metrics.StaleServed(res.State == cache.StaleOnError)
	}
	code := r.write(w, req, res)
	r.metrics.Request(code, result)
}

// write sends a cached entry, or 304 when the client holds it already, and
// returns the status sent.
func (r *Relay) write(w http.ResponseWriter, req *http.Request, res cache.Result) int {
	e, now := res.Entry, res.At
	h := w.Header()
	// One allocation holds both per-entry values.
	vals := []string{e.ETag, e.Length}
	h["Content-Type"] = r.hdr.contentType
	h["Etag"] = vals[0:1:1]
	h["Age"] = r.hdr.seconds(e.Age(now))
	switch res.State {
	case cache.Hit:
		h["X-Cache"] = r.hdr.hit
		h["Cache-Control"] = r.hdr.maxAge(e.MaxAge(now))
	case cache.Miss, cache.Coalesced:
		h["X-Cache"] = r.hdr.miss
		h["Cache-Control"] = r.hdr.maxAge(e.MaxAge(now))
	default:
		h["X-Cache"] = r.hdr.stale
		h["Cache-Control"] = r.hdr.maxAge(0)
	}
	if inm := req.Header["If-None-Match"]; len(inm) > 0 && etagMatch(inm, e.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	h["Content-Length"] = vals[1:2:2]
	w.WriteHeader(e.Status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(e.Body)
	}
	return e.Status
}

// fetch is the cache's fetch function: one upstream call, processed.
func (r *Relay) fetch(ctx context.Context, key string) (int, []byte, error) {
	path, query, _ := strings.Cut(key, "?")
	t := upstream.Target{Path: path, RawQuery: query}
	start := time.Now()
	resp, err := r.client.Fetch(ctx, t)
	if err != nil {
		var ue *upstream.Error
		if errors.As(err, &ue) && ue.Outcome != upstream.Busy {
			r.metrics.Upstream(string(ue.Outcome), time.Since(start))
		}
		r.log.Warn("upstream call failed", "path", key, "err", err)
		return 0, nil, err
	}
	body, err := r.process(ctx, resp.Status, resp.Body)
	if err != nil {
		r.metrics.Upstream(string(upstream.Invalid), time.Since(start))
		r.log.Warn("upstream answer refused", "path", key, "status", resp.Status, "err", err)
		return 0, nil, &upstream.Error{Outcome: upstream.Invalid, Status: resp.Status, Err: err}
	}
	outcome := upstream.OK
	if resp.Status != http.StatusOK {
		outcome = upstream.NotFound
	}
	r.metrics.Upstream(string(outcome), time.Since(start))
	return resp.Status, body, nil
}

// fail answers a request that the cache could not: the upstream failed and
// no copy stands in, or the client left.
func (r *Relay) fail(w http.ResponseWriter, req *http.Request, err error) {
	if req.Context().Err() != nil {
		// The client is gone; nobody reads an answer. Counted as nginx does.
		r.metrics.Request(499, metrics.None)
		return
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		r.writeError(w, http.StatusBadGateway, "upstream failed", 0)
		return
	}
	switch ue.Outcome {
	case upstream.Timeout:
		r.writeError(w, http.StatusGatewayTimeout, "upstream timed out", 0)
	case upstream.RateLimited:
		r.writeError(w, http.StatusServiceUnavailable, "upstream is rate limiting; retry later", ue.RetryAfter)
	case upstream.Busy:
		r.writeError(w, http.StatusServiceUnavailable, "too many upstream calls under way; retry later", time.Second)
	case upstream.TooLarge:
		r.writeError(w, http.StatusBadGateway, "upstream answer too large", 0)
	case upstream.Invalid:
		r.writeError(w, http.StatusBadGateway, "upstream answer is not valid JSON", 0)
	case upstream.Refused:
		r.writeError(w, http.StatusBadGateway, "upstream unreachable", 0)
	default:
		if ue.Status != 0 {
			r.writeError(w, http.StatusBadGateway, "upstream answered "+strconv.Itoa(ue.Status), 0)
			return
		}
		r.writeError(w, http.StatusBadGateway, "upstream failed", 0)
	}
}
