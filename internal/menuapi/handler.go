// Package menuapi is a stand-in for the lunch-menu API: an http.Handler that
// serves the real API's paths, JSON shapes, status codes and headers from
// embedded data (its eighteen restaurants near SciLifeLab, with dishes that
// change with the weekday), and that can be made slow, failing, rate
// limiting, garbled or oversized, at start or at run time through a control
// endpoint, so that tests, benchmarks, demos and the cluster e2e never need
// the real API.
//
// API paths (like the real one): GET /api, /api/restaurant,
// /api/restaurant/{identifier}, /api/version, /api/openapi.json, /api/docs,
// /api/redoc. As the real API: a trailing slash is redirected (307) to the
// path without it, HEAD and every method but GET get 405, and every answer
// to a request with an Origin allows it (CORS, methods GET).
//
// The cached paths (/api, the list, the version and each menu) go through
// the stand-in's own cache, as the real API's go through fastapi-cache2: an
// answer not in it (the first request, or after its lifetime ran out) is
// computed, which costs Faults.ComputeLatency on top of the latency every
// answer pays, and is kept for Options.ListMaxAge or Options.MenuMaxAge.
// Each answer sends Cache-Control: max-age with the whole seconds its copy
// has left and a weak ETag that changes only with the body; a matching
// If-None-Match gets 304. A request with Cache-Control no-cache or no-store
// skips that cache: computed, not kept, without either header.
//
// Control paths: /-/fault (latency and failure knobs), /-/menu/{identifier}
// (replace a restaurant's menu while running), /-/stats (counters, among
// them computed, from_cache and not_modified), /-/healthz. Main is the
// menu-api command line: flags in, the handler served until its context
// ends.
package menuapi

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
)

// DefaultVersion is the version answered by /api/version unless
// Options.Version says otherwise.
const DefaultVersion = "stand-in"

// Options configure a Handler. The zero value serves the API without faults
// on the wall clock in Europe/Stockholm time.
type Options struct {
	// Now is the clock that picks the weekday's menu and ages the
	// stand-in's own cache (time.Now if nil).
	Now func() time.Time
	// Location is the time zone of the menus (Europe/Stockholm if nil, UTC
	// if that zone is not installed).
	Location *time.Location
	// Version is answered by /api/version (DefaultVersion if empty).
	Version string
	// Faults are the latency and failure knobs at start; /-/fault changes
	// them at run time and DELETE /-/fault returns to them.
	Faults Faults
	// ListMaxAge is how long the stand-in's own cache keeps /api, the list
	// and the version (DefaultListMaxAge if zero).
	ListMaxAge time.Duration
	// MenuMaxAge is how long it keeps a menu (DefaultMenuMaxAge if zero).
	MenuMaxAge time.Duration
	// Seed seeds the handler's own random source (error rate, jitter).
	Seed uint64
	// Logger logs each API request at debug level (nothing if nil).
	Logger *slog.Logger
}

// Handler is the stand-in API. It is safe for concurrent use.
type Handler struct {
	now     func() time.Time
	loc     *time.Location
	log     *slog.Logger
	data    bodies
	cache   *ownCache
	listAge time.Duration
	menuAge time.Duration
	version *answer
	index   *answer
	openAPI []byte
	docs    []byte
	started time.Time

	initial Faults
	faults  atomic.Pointer[Faults]

	rngMu sync.Mutex
	rng   *rand.Rand

	stats stats

	// sleep waits out a delay or the request's end (tests replace it).
	sleep func(context.Context, time.Duration) bool

	// Fixed answers and header values, prepared once.
	notFound, pathNotFound, methodNotAllowed, tooMany, canceled, garbled, filler []byte
	ctJSON, ctText, ctHTML, allowGet, anyOrigin                                  []string
}

// New returns a stand-in API configured by opts.
func New(opts Options) (*Handler, error) {
	entries, err := loadData(restaurantsJSON)
	if err != nil {
		return nil, err
	}
	f := opts.Faults.withDefaults()
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	if opts.ListMaxAge < 0 || opts.MenuMaxAge < 0 {
		return nil, fmt.Errorf("cache lifetimes must not be negative, got list %s, menu %s", opts.ListMaxAge, opts.MenuMaxAge)
	}
	h := &Handler{
		now:     opts.Now,
		loc:     opts.Location,
		log:     opts.Logger,
		data:    buildBodies(entries),
		listAge: cmp.Or(opts.ListMaxAge, DefaultListMaxAge),
		menuAge: cmp.Or(opts.MenuMaxAge, DefaultMenuMaxAge),
		sleep:   sleep,
		initial: f,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),

		notFound:         marshal(menu.ErrorBody{Detail: menu.DetailNotFound}),
		pathNotFound:     marshal(menu.ErrorBody{Detail: "Not Found"}),
		methodNotAllowed: marshal(menu.ErrorBody{Detail: "Method Not Allowed"}),
		tooMany:          marshal(menu.ErrorBody{Detail: "Rate limit exceeded"}),
		canceled:         marshal(menu.ErrorBody{Detail: "Request canceled"}),
		garbled:          []byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"),
		filler:           []byte(strings.Repeat("x", 32<<10)),
		ctJSON:           []string{"application/json"},
		ctText:           []string{"text/plain; charset=utf-8"},
		ctHTML:           []string{"text/html; charset=utf-8"},
		allowGet:         []string{"GET"},
		anyOrigin:        []string{"*"},
	}
	h.cache = newOwnCache(h.data.about)
	if h.now == nil {
		h.now = time.Now
	}
	if h.loc == nil {
		if h.loc, err = time.LoadLocation("Europe/Stockholm"); err != nil {
			h.loc = time.UTC
		}
	}
	version := opts.Version
	if version == "" {
		version = DefaultVersion
	}
	h.version = newAnswer(marshal(menu.Version{Version: version}))
	h.openAPI = openAPIJSON
	if h.docs, err = renderDocs(openAPIJSON); err != nil {
		return nil, err
	}
	h.index = newAnswer(marshal(menu.Index{DocumentationSwagger: "/api/docs", DocumentationRedoc: "/api/redoc", OpenAPI: "/api/openapi.json"}))
	h.started = time.Now()
	h.stats.init()
	h.faults.Store(&f)
	return h, nil
}

// Faults returns the knobs in force.
func (h *Handler) Faults() Faults { return *h.faults.Load() }

// SetFaults changes the knobs at run time (zero fields get their defaults).
func (h *Handler) SetFaults(f Faults) error {
	f = f.withDefaults()
	if err := f.Validate(); err != nil {
		return err
	}
	h.faults.Store(&f)
	return nil
}

// Requests returns how many API requests (paths outside /-/) arrived.
func (h *Handler) Requests() uint64 { return h.stats.requests.Load() }

// ServeHTTP serves the API and the control endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/-/") {
		h.serveControl(w, r)
		return
	}
	h.serveAPI(w, r)
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	h.stats.requests.Add(1)
	f := h.faults.Load()
	status := h.answer(w, r, f)
	h.stats.count(status)
	if h.log != nil && h.log.Enabled(r.Context(), slog.LevelDebug) {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("mode", string(f.Mode)))
	}
}

// route is what a path names in the API.
type route int

const (
	routeNone route = iota // no such path: 404 Not Found
	routeIndex
	routeList
	routeMenu
	routeVersion
	routeOpenAPI
	routeDocs
)

// resolve returns the route of a path, and the identifier of a menu.
func resolve(p string) (route, string) {
	switch p {
	case "/api":
		return routeIndex, ""
	case "/api/restaurant":
		return routeList, ""
	case "/api/version":
		return routeVersion, ""
	case "/api/openapi.json":
		return routeOpenAPI, ""
	case "/api/docs", "/api/redoc":
		return routeDocs, ""
	}
	if id, ok := strings.CutPrefix(p, "/api/restaurant/"); ok && id != "" && !strings.Contains(id, "/") {
		return routeMenu, id
	}
	return routeNone, ""
}

// answer writes the answer to an API request under the faults f and returns
// its status (0 if the request was canceled while delayed). What the API
// decides before its endpoints run (CORS, the trailing-slash redirect, 405)
// is answered at once; everything else waits out the latency and faults.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, f *Faults) int {
	if len(r.Header["Origin"]) > 0 {
		if r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0 {
			return h.preflight(w, r)
		}
		w.Header()["Access-Control-Allow-Origin"] = h.anyOrigin
	}
	rt, id := resolve(r.URL.Path)
	if rt == routeNone && len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
		if to := strings.TrimRight(r.URL.Path, "/"); to != "" {
			if rt, _ := resolve(to); rt != routeNone {
				return h.redirect(w, r, to)
			}
		}
	}
	if rt != routeNone && r.Method != http.MethodGet {
		w.Header()["Allow"] = h.allowGet
		return h.write(w, http.StatusMethodNotAllowed, h.ctJSON, h.methodNotAllowed)
	}
	delay := f.Latency
	if f.Jitter > 0 {
		delay += h.randDuration(f.Jitter)
	}
	if f.Mode == ModeSlow {
		delay += f.SlowDelay
	}
	if delay > 0 && !h.sleep(r.Context(), delay) {
		return h.gone(w)
	}
	if f.ErrorRate > 0 && h.randFloat() < f.ErrorRate {
		return h.write(w, http.StatusInternalServerError, h.ctText, []byte("Internal Server Error"))
	}
	switch f.Mode {
	case Mode5xx:
		return h.write(w, http.StatusInternalServerError, h.ctText, []byte("Internal Server Error"))
	case Mode429:
		w.Header().Set("Retry-After", f.retryAfterSeconds())
		return h.write(w, http.StatusTooManyRequests, h.ctJSON, h.tooMany)
	case ModeGarbled:
		return h.write(w, http.StatusOK, h.ctJSON, h.garbled)
	case ModeOversized:
		return h.stream(w, r, f.OversizeBytes)
	}
	switch rt {
	case routeIndex, routeList, routeVersion:
		return h.cached(w, r, f, cacheKey{route: rt}, h.listAge)
	case routeOpenAPI:
		return h.write(w, http.StatusOK, h.ctJSON, h.openAPI)
	case routeDocs:
		return h.write(w, http.StatusOK, h.ctHTML, h.docs)
	case routeMenu:
		if _, ok := h.data.menus[id]; !ok {
			// The real API's endpoint finds no such restaurant at once and
			// caches nothing: no compute latency, not counted as computed.
			return h.write(w, http.StatusNotFound, h.ctJSON, h.notFound)
		}
		return h.cached(w, r, f, cacheKey{route: rt, id: id}, h.menuAge)
	}
	return h.write(w, http.StatusNotFound, h.ctJSON, h.pathNotFound)
}

// gone answers a request whose client left or whose server is shutting down
// while it was delayed: it says so to whoever may still listen rather than
// an empty 200, and returns 0 (counted as canceled).
func (h *Handler) gone(w http.ResponseWriter) int {
	h.write(w, http.StatusServiceUnavailable, h.ctJSON, h.canceled)
	return 0
}

// cached answers k through the API's own cache, which keeps a computed
// answer for lifetime. A copy still fresh is answered at once; otherwise the
// answer is computed (Faults.ComputeLatency, then the content in force) and
// kept. Either way the answer carries Cache-Control: max-age with the whole
// seconds its copy has left (the full lifetime when just computed) and its
// weak ETag, and is 304 when If-None-Match is that ETag, compared as the API
// does, as a whole string. fastapi-cache2 itself checks If-None-Match only
// on a hit; the stand-in also answers 304 when a recomputed body has the
// ETag asked about, so that revalidation across the API's own expiry can be
// tested. A request with Cache-Control no-cache or no-store skips that
// cache: always computed, never kept, and without either header.
func (h *Handler) cached(w http.ResponseWriter, r *http.Request, f *Faults, k cacheKey, lifetime time.Duration) int {
	if skipsCache(r.Header["Cache-Control"]) {
		if f.ComputeLatency > 0 && !h.sleep(r.Context(), f.ComputeLatency) {
			return h.gone(w)
		}
		e, _ := h.cache.compute(k, h.now, 0, h.builtIn(k))
		h.stats.computed.Add(1)
		return h.body(w, e.a)
	}
	now := h.now()
	e, hit := h.cache.lookup(k, now)
	if !hit {
		if f.ComputeLatency > 0 && !h.sleep(r.Context(), f.ComputeLatency) {
			return h.gone(w)
		}
		e, now = h.cache.compute(k, h.now, lifetime, h.builtIn(k))
		h.stats.computed.Add(1)
	}
	hdr := w.Header()
	hdr["Cache-Control"] = maxAge(e.expires.Sub(now))
	hdr["Etag"] = e.a.etag
	if inm := r.Header["If-None-Match"]; len(inm) == 1 && inm[0] == e.a.etag[0] {
		h.stats.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	if hit {
		h.stats.fromCache.Add(1)
	}
	return h.body(w, e.a)
}

// builtIn returns the function that picks k's built-in answer at the
// instant of a compute: for a menu, that day's.
func (h *Handler) builtIn(k cacheKey) func(time.Time) *answer {
	switch k.route {
	case routeIndex:
		return func(time.Time) *answer { return h.index }
	case routeList:
		return func(time.Time) *answer { return h.data.list }
	case routeVersion:
		return func(time.Time) *answer { return h.version }
	}
	week := h.data.menus[k.id]
	return func(t time.Time) *answer { return week[t.In(h.loc).Weekday()] }
}

// body writes a 200 with a cached answer's body.
func (h *Handler) body(w http.ResponseWriter, a *answer) int {
	hdr := w.Header()
	hdr["Content-Type"] = h.ctJSON
	hdr["Content-Length"] = a.length
	w.WriteHeader(http.StatusOK)
	w.Write(a.body) //nolint:errcheck // the client may be gone; nothing to do
	return http.StatusOK
}

func skipsCache(values []string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			if d = strings.ToLower(strings.TrimSpace(d)); d == "no-cache" || d == "no-store" {
				return true
			}
		}
	}
	return false
}

// redirect answers as the API's router does for a path that exists without
// its trailing slash: 307 to the absolute URL of that path, query kept.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, path string) int {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: path, RawQuery: r.URL.RawQuery}
	w.Header().Set("Location", u.String())
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusTemporaryRedirect)
	return http.StatusTemporaryRedirect
}

// corsSafelisted are the request headers the API's CORS middleware allows
// a preflight to ask for (it allows no others).
func corsSafelisted(name string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "accept", "accept-language", "content-language", "content-type", "":
		return true
	}
	return false
}

// preflight answers a CORS preflight as the API's middleware does: 200 "OK"
// for GET with safelisted headers, else 400 naming what is refused.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) int {
	hdr := w.Header()
	hdr["Access-Control-Allow-Origin"] = h.anyOrigin
	hdr["Access-Control-Allow-Methods"] = h.allowGet
	hdr.Set("Access-Control-Allow-Headers", "Accept, Accept-Language, Content-Language, Content-Type")
	hdr.Set("Access-Control-Max-Age", "600")
	var refused []string
	if r.Header.Get("Access-Control-Request-Method") != http.MethodGet {
		refused = append(refused, "method")
	}
	for _, name := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if !corsSafelisted(name) {
			refused = append(refused, "headers")
			break
		}
	}
	if len(refused) > 0 {
		return h.write(w, http.StatusBadRequest, h.ctText, []byte("Disallowed CORS "+strings.Join(refused, ", ")))
	}
	return h.write(w, http.StatusOK, h.ctText, []byte("OK"))
}

func (h *Handler) write(w http.ResponseWriter, status int, ct []string, body []byte) int {
	hdr := w.Header()
	hdr["Content-Type"] = ct
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client may be gone; nothing to do
	return status
}

// stream writes a valid JSON body of size bytes without holding it in
// memory, stopping early if the client goes away.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, size int64) int {
	const prefix, suffix = `{"restaurants":[],"padding":"`, `"}`
	w.Header()["Content-Type"] = h.ctJSON
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return http.StatusOK
	}
	if _, err := w.Write([]byte(prefix)); err != nil {
		return http.StatusOK
	}
	ctx := r.Context()
	for left := size - int64(len(prefix)+len(suffix)); left > 0; {
		n := min(left, int64(len(h.filler)))
		if ctx.Err() != nil {
			return http.StatusOK
		}
		if _, err := w.Write(h.filler[:n]); err != nil {
			return http.StatusOK
		}
		left -= n
	}
	w.Write([]byte(suffix)) //nolint:errcheck // the client may be gone
	return http.StatusOK
}

func (h *Handler) randFloat() float64 {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.Float64()
}

func (h *Handler) randDuration(max time.Duration) time.Duration {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return time.Duration(h.rng.Int64N(int64(max)))
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
