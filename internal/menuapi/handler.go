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
// path without it, HEAD and every method but GET get 405, the cached paths
// send Cache-Control and a weak ETag (304 on a matching If-None-Match), and
// every answer to a request with an Origin allows it (CORS, methods GET).
// Control paths: /-/fault, /-/stats, /-/healthz. Main is the menu-api
// command line: flags in, the handler served until its context ends.
package menuapi

import (
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
	// Now is the clock that picks the weekday's menu (time.Now if nil).
	Now func() time.Time
	// Location is the time zone of the menus (Europe/Stockholm if nil, UTC
	// if that zone is not installed).
	Location *time.Location
	// Version is answered by /api/version (DefaultVersion if empty).
	Version string
	// Faults are the latency and failure knobs at start; /-/fault changes
	// them at run time and DELETE /-/fault returns to them.
	Faults Faults
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

	// Fixed answers and header values, prepared once.
	notFound, pathNotFound, methodNotAllowed, tooMany, canceled, garbled, filler []byte
	ctJSON, ctText, ctHTML, allowGet, anyOrigin, listMaxAge, menuMaxAge          []string
}

// The API's cache lifetimes, as Cache-Control sends them.
const (
	listMaxAge = "max-age=360000" // /api, the list and the version
	menuMaxAge = "max-age=10800"  // a menu
)

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
	h := &Handler{
		now:     opts.Now,
		loc:     opts.Location,
		log:     opts.Logger,
		data:    buildBodies(entries),
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
		listMaxAge:       []string{listMaxAge},
		menuMaxAge:       []string{menuMaxAge},
	}
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
	if delay > 0 && !sleep(r.Context(), delay) {
		// The client left or the server is shutting down: say so to
		// whoever may still listen rather than an empty 200.
		h.write(w, http.StatusServiceUnavailable, h.ctJSON, h.canceled)
		return 0
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
	case routeIndex:
		return h.cached(w, r, h.index, h.listMaxAge)
	case routeList:
		return h.cached(w, r, h.data.list, h.listMaxAge)
	case routeVersion:
		return h.cached(w, r, h.version, h.listMaxAge)
	case routeOpenAPI:
		return h.write(w, http.StatusOK, h.ctJSON, h.openAPI)
	case routeDocs:
		return h.write(w, http.StatusOK, h.ctHTML, h.docs)
	case routeMenu:
		week, ok := h.data.menus[id]
		if !ok {
			return h.write(w, http.StatusNotFound, h.ctJSON, h.notFound)
		}
		return h.cached(w, r, week[h.now().In(h.loc).Weekday()], h.menuMaxAge)
	}
	return h.write(w, http.StatusNotFound, h.ctJSON, h.pathNotFound)
}

// cached answers from the API's own cache: Cache-Control and a weak ETag,
// and 304 when If-None-Match is that ETag (compared as the API does, as a
// whole string). A request with Cache-Control no-cache or no-store skips
// that cache and gets the body without either header.
func (h *Handler) cached(w http.ResponseWriter, r *http.Request, a *answer, maxAge []string) int {
	if !skipsCache(r.Header["Cache-Control"]) {
		hdr := w.Header()
		hdr["Cache-Control"] = maxAge
		hdr["Etag"] = a.etag
		if inm := r.Header["If-None-Match"]; len(inm) == 1 && inm[0] == a.etag[0] {
			w.WriteHeader(http.StatusNotModified)
			return http.StatusNotModified
		}
	}
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
