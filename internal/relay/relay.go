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
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/guard"
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
	// Cache configures the relay's cache; its clock and logger serve the
	// relay too.
	Cache cache.Config
	// Metrics counts requests and upstream calls.
	Metrics *metrics.Metrics
	// ForwardQuery keeps query strings: forwarded to the upstream in
	// canonical form and part of the cache key. Without it a query is
	// neither (the lunch-menu API takes none).
	ForwardQuery bool
}

// Relay answers requests from the cache and the upstream.
type Relay struct {
	client       *upstream.Client
	cache        *cache.Cache
	process      process.Stage
	metrics      *metrics.Metrics
	log          *slog.Logger
	now          func() time.Time
	forwardQuery bool
	hdr          headers
	traced       bool // the cache has a tracer: requests' spans get the cache's attributes
}

// New creates a Relay and its cache. Cancelling ctx stops the cache's
// background cleaning; Close frees it.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	r := &Relay{
		client:       cfg.Client,
		process:      cfg.Process,
		metrics:      cfg.Metrics,
		log:          cfg.Cache.Logger,
		now:          cfg.Cache.Now,
		forwardQuery: cfg.ForwardQuery,
		traced:       cfg.Cache.Tracer != nil,
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
	c, err := cache.New(ctx, cfg.Cache, r.fetch)
	if err != nil {
		return nil, err
	}
	r.cache = c
	r.hdr = newHeaders(cfg.Cache.Policy)
	return r, nil
}

// Cache returns the relay's cache, for its gauges.
func (r *Relay) Cache() *cache.Cache { return r.cache }

// Close frees the cache.
func (r *Relay) Close() error { return r.cache.Close() }

// ServeHTTP answers a GET or HEAD request.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// A query is checked either way, and kept only when asked for.
	query := req.URL.RawQuery
	if query != "" {
		q, err := upstream.CanonicalQuery(query)
		if err != nil {
			r.writeError(w, http.StatusBadRequest, err.Error(), 0)
			return
		}
		query = q
		if !r.forwardQuery {
			query = ""
		}
	}
	t, err := upstream.ParseTarget(req.URL.EscapedPath(), query)
	if err != nil {
		r.writeError(w, http.StatusBadRequest, err.Error(), 0)
		return
	}
	res, err := r.cache.Get(req.Context(), t)
	if r.traced {
		annotate(req.Context(), t, res, err)
	}
	if err != nil {
		r.fail(w, req, err)
		return
	}
	r.metrics.Request(r.write(w, req, res), res.State)
}

// autoLengthMax is the largest body whose Content-Length net/http sends by
// itself: a handler that writes no more than its chunking buffer (2 KiB)
// before it returns gets the length of what it wrote, set without a header
// map entry to copy, sort and write. A longer body, or a HEAD answer, needs
// the header.
const autoLengthMax = 2048

// write sends a cached entry, or 304 when the client holds it already, and
// returns the status sent. The headers are those of a shared cache (RFC
// 9111): the Date of the upstream's answer, its Age, and a max-age of the
// answer's whole lifetime, so that a cache in front of the relay sees
// exactly the freshness that is left; Cache-Status (RFC 9211) says how
// the relay answered.
func (r *Relay) write(w http.ResponseWriter, req *http.Request, res cache.Result) int {
	e := res.Entry
	h := w.Header()
	h["Content-Type"] = r.hdr.contentType
	h["Etag"] = e.ETagHeader()
	h["Date"] = e.DateHeader()
	h["Cache-Control"] = e.CacheControlHeader()
	if res.State == cache.Hit {
		sv := r.hdr.hit(e, res.At)
		h["Age"], h["Cache-Status"] = sv.Age, sv.Status
	} else {
		h["Age"] = r.hdr.age(e.Age(res.At))
		h["Cache-Status"] = []string{cacheStatus(res)}
	}
	h["X-Cache"] = r.hdr.xcache(res.State)
	// A conditional GET is answered 304 only where the answer would be a
	// 2xx (RFC 9110, 13.1.2): a cached 404 is sent whole.
	if inm := req.Header["If-None-Match"]; len(inm) > 0 && e.Status/100 == 2 && etagMatch(inm, e.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	if len(e.Body) > autoLengthMax || req.Method == http.MethodHead {
		h["Content-Length"] = e.LengthHeader()
	}
	w.WriteHeader(e.Status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(e.Body)
	}
	return e.Status
}

// fetch is the cache's fetch function: one upstream call, conditional when
// v holds a validator, its body processed; a 304 has no body to process.
func (r *Relay) fetch(ctx context.Context, t upstream.Target, v upstream.Validators) (upstream.Response, error) {
	start := time.Now()
	resp, err := r.client.Fetch(ctx, t, v)
	if err != nil {
		var ue *upstream.Error
		switch {
		case errors.As(err, &ue) && ue.Outcome == upstream.Busy:
			r.metrics.Skipped("busy")
		case errors.As(err, &ue):
			r.metrics.Upstream(string(ue.Outcome), time.Since(start))
		}
		return upstream.Response{}, err
	}
	if resp.Status == http.StatusNotModified {
		r.metrics.Upstream(string(upstream.NotModified), time.Since(start))
		return *resp, nil
	}
	body, err := r.process(ctx, resp.Status, resp.Body)
	if err != nil {
		r.metrics.Upstream(string(upstream.Invalid), time.Since(start))
		return upstream.Response{}, &upstream.Error{Outcome: upstream.Invalid, Status: resp.Status, Err: err}
	}
	outcome := upstream.OK
	switch {
	case resp.Status == http.StatusNotFound:
		outcome = upstream.NotFound
	case resp.Status != http.StatusOK:
		outcome = upstream.ClientError
	}
	r.metrics.Upstream(string(outcome), time.Since(start))
	resp.Body = body
	return *resp, nil
}

// fail answers a request that the cache could not: the upstream failed, or
// no call was allowed, and no copy stands in; or the client left.
func (r *Relay) fail(w http.ResponseWriter, req *http.Request, err error) {
	if req.Context().Err() != nil {
		// The client is gone; nobody reads an answer. Counted as nginx does.
		r.metrics.Request(499, cache.None)
		return
	}
	w.Header()["Cache-Status"] = []string{failureStatus(err)}
	var ref *guard.Refusal
	if errors.As(err, &ref) {
		switch ref.Reason {
		case guard.Budget:
			r.writeError(w, http.StatusServiceUnavailable, "upstream call budget spent; retry later", ref.RetryAfter)
		case guard.RateLimited:
			r.writeError(w, http.StatusServiceUnavailable, "upstream is rate limiting; retry later", ref.RetryAfter)
		default:
			// The key failed recently: the status of that failure, and when
			// the relay will try again.
			status, msg := failure(ref.Cause)
			r.writeError(w, status, msg+"; not retried for "+strconv.Itoa(seconds(ref.RetryAfter))+"s", ref.RetryAfter)
		}
		return
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		switch ue.Outcome {
		case upstream.Busy:
			r.writeError(w, http.StatusServiceUnavailable, "too many upstream calls under way; retry later", time.Second)
			return
		case upstream.RateLimited:
			r.writeError(w, http.StatusServiceUnavailable, "upstream is rate limiting; retry later", ue.RetryAfter)
			return
		}
	}
	status, msg := failure(err)
	r.writeError(w, status, msg, 0)
}

// failure is the status and message of a failed upstream call.
func failure(err error) (int, string) {
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		return http.StatusBadGateway, "upstream failed"
	}
	switch ue.Outcome {
	case upstream.Timeout:
		return http.StatusGatewayTimeout, "upstream timed out"
	case upstream.TooLarge:
		return http.StatusBadGateway, "upstream answer too large"
	case upstream.Invalid:
		return http.StatusBadGateway, "upstream answer is not valid JSON"
	case upstream.Refused:
		return http.StatusBadGateway, "upstream unreachable"
	default:
		if ue.Status != 0 {
			return http.StatusBadGateway, "upstream answered " + strconv.Itoa(ue.Status)
		}
		return http.StatusBadGateway, "upstream failed"
	}
}

// annotate tells the request's span (the server's, from otelhttp) how the
// cache answered: its state and key, and the error when it could not.
func annotate(ctx context.Context, t upstream.Target, res cache.Result, err error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	state := res.State
	if err != nil {
		state = cache.None
	}
	span.SetAttributes(cache.AttrKey.String(t.Key()), cache.AttrState.String(state.String()))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else if res.Err != nil {
		span.SetAttributes(attribute.String("cache.stale_because", res.Err.Error()))
	}
}
