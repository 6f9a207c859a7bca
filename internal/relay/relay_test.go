package relay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/metrics"
	"github.com/scilifelab/restaurants/internal/process"
	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
	"github.com/scilifelab/restaurants/internal/upstream"
)

const listJSON = `{"restaurants":[{"identifier":"dufva","name":"Sven Dufva","region":"Uppsala"}]}`

// fixture is a relay served over real HTTP in front of a real HTTP upstream.
type fixture struct {
	t        testing.TB
	upstream *httptest.Server
	calls    atomic.Int64 // requests the upstream received
	handler  atomic.Pointer[http.HandlerFunc]
	relay    *Relay
	server   *httptest.Server
	metrics  *metrics.Metrics
	clock    *clocktest.Clock
}

type options struct {
	ttl, negativeTTL, swr, sie, timeout time.Duration
	maxBody                             int64
	forwardQuery                        bool
	guard                               guard.Config
	backoff                             guard.Backoff
	process                             process.Stage
	tracer                              trace.Tracer
}

func defaults() options {
	return options{ttl: 10 * time.Second, negativeTTL: 5 * time.Second, swr: 30 * time.Second,
		sie: 10 * time.Minute, timeout: 2 * time.Second, maxBody: 1 << 20}
}

func newFixture(t testing.TB, h http.HandlerFunc, o options) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: clocktest.New(time.Date(2026, 11, 23, 11, 30, 0, 0, time.UTC))}
	f.handler.Store(&h)
	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		(*f.handler.Load())(w, r)
	}))
	t.Cleanup(f.upstream.Close)
	base, err := upstream.ParseBase(f.upstream.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	client, err := upstream.New(upstream.Config{Base: base, Timeout: o.timeout, MaxBody: o.maxBody, MaxInflight: 4})
	if err != nil {
		t.Fatal(err)
	}
	f.metrics = metrics.New("test", metrics.Sources{
		CacheEntries:     func() int { return f.relay.Cache().Len() },
		CacheBytes:       func() int { return f.relay.Cache().Bytes() },
		UpstreamInflight: client.Inflight,
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gcfg := o.guard
	gcfg.Now = f.clock.Now
	g, err := guard.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	f.relay, err = New(ctx, Config{
		Client:  client,
		Process: o.process,
		Cache: cache.Config{
			Policy:        cache.Policy{TTL: o.ttl, NegativeTTL: o.negativeTTL, StaleWhileRevalidate: o.swr, StaleIfError: o.sie},
			MaxMB:         16,
			MaxEntryBytes: int(o.maxBody),
			Guard:         g,
			Backoff:       o.backoff,
			Observer:      f.metrics,
			Now:           f.clock.Now,
			Tracer:        o.tracer,
		},
		Metrics:      f.metrics,
		ForwardQuery: o.forwardQuery,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.server = httptest.NewServer(NewRouter(f.relay))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fixture) setUpstream(h http.HandlerFunc) { f.handler.Store(&h) }

// get requests path from the relay and returns the response with its body read.
func (f *fixture) get(path string, header ...string) (*http.Response, string) {
	f.t.Helper()
	return f.do(http.MethodGet, path, header...)
}

func (f *fixture) do(method, path string, header ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(body)
}

func jsonHandler(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func expect(t *testing.T, resp *http.Response, status int, xcache string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d", resp.StatusCode, status)
	}
	if got := resp.Header.Get("X-Cache"); got != xcache {
		t.Fatalf("X-Cache = %q, want %q", got, xcache)
	}
}

// expectError checks a JSON error answer: its status, and the body's shape.
func expectError(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Status != status || e.Error == "" {
		t.Fatalf("error body = %+v, want status %d and a message", e, status)
	}
}

func TestMissThenHit(t *testing.T) {
	var gotPath string
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.RequestURI()
		jsonHandler(200, listJSON)(w, r)
	}, defaults())

	resp, body := f.get("/restaurant")
	expect(t, resp, 200, "MISS")
	if body != listJSON {
		t.Fatalf("body = %q", body)
	}
	if gotPath != "/api/restaurant" {
		t.Fatalf("upstream got %q, want /api/restaurant", gotPath)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("ETag") == "" {
		t.Fatalf("headers = %v", resp.Header)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=10" {
		t.Fatalf("Cache-Control = %q", cc)
	}

	f.clock.Advance(3 * time.Second)
	resp, body = f.get("/restaurant")
	expect(t, resp, 200, "HIT")
	if body != listJSON {
		t.Fatalf("hit body = %q", body)
	}
	if age := resp.Header.Get("Age"); age != "3" {
		t.Fatalf("Age = %q, want 3", age)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=10" {
		t.Fatalf("Cache-Control = %q, want max-age=10 (the TTL; Age tells what is left)", cc)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}

	// Past the TTL and every stale window: a plain miss again.
	f.clock.Advance(11 * time.Minute)
	resp, _ = f.get("/restaurant")
	expect(t, resp, 200, "MISS")
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}

// By default a query is neither forwarded nor part of the key: the API
// takes none, and a loop of ?x=N must not reach it.
func TestQueryIsDroppedByDefault(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
		jsonHandler(200, listJSON)(w, r)
	}, defaults())
	for i := range 50 {
		resp, body := f.get("/restaurant/dufva?x=" + strconv.Itoa(i))
		if resp.StatusCode != 200 || body != listJSON {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("50 queries of one path made %d upstream calls, want 1", n)
	}
	if seen[0] != "/api/restaurant/dufva" {
		t.Fatalf("upstream asked for %q, want the path alone", seen[0])
	}
}

// With ForwardQuery, queries are forwarded and part of the key, in one
// canonical form: the order of the parameters makes no second key.
func TestForwardQueryIsCanonical(t *testing.T) {
	o := defaults()
	o.forwardQuery = true
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		jsonHandler(200, `{"q":"`+r.URL.RawQuery+`"}`)(w, r)
	}, o)
	_, a := f.get("/restaurant?lang=sv&b=2")
	resp, a2 := f.get("/restaurant?b=2&lang=sv")
	_, b := f.get("/restaurant?lang=en")
	if a != `{"q":"b=2&lang=sv"}` || a2 != a || b != `{"q":"lang=en"}` {
		t.Fatalf("bodies = %q %q %q", a, a2, b)
	}
	expect(t, resp, 200, "HIT")
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
	resp, body := f.get("/restaurant?a=%zz")
	expectError(t, resp, body, http.StatusBadRequest)
}

// The headers of a shared cache (RFC 9111): max-age is the TTL, Age the
// time since the fetch, Date the upstream answer's, so that a cache in
// front sees the freshness really left.
func TestFreshnessHeaders(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	resp, _ := f.get("/restaurant")
	date := resp.Header.Get("Date")
	if resp.Header.Get("Age") != "0" || resp.Header.Get("Cache-Control") != "public, max-age=10" {
		t.Fatalf("miss: Age %q Cache-Control %q", resp.Header.Get("Age"), resp.Header.Get("Cache-Control"))
	}
	if want := f.clock.Now().UTC().Format(http.TimeFormat); date != want {
		t.Fatalf("Date = %q, want the fetch time %q", date, want)
	}
	f.clock.Advance(4 * time.Second)
	resp, _ = f.get("/restaurant")
	expect(t, resp, 200, "HIT")
	if resp.Header.Get("Age") != "4" || resp.Header.Get("Cache-Control") != "public, max-age=10" || resp.Header.Get("Date") != date {
		t.Fatalf("hit after 4s: Age %q Cache-Control %q Date %q; want 4, max-age=10 and the fetch's Date",
			resp.Header.Get("Age"), resp.Header.Get("Cache-Control"), resp.Header.Get("Date"))
	}
	f.clock.Advance(8 * time.Second) // stale: Age beyond max-age tells a downstream cache so
	resp, _ = f.get("/restaurant")
	expect(t, resp, 200, "STALE")
	if resp.Header.Get("Age") != "12" || resp.Header.Get("Cache-Control") != "public, max-age=10" {
		t.Fatalf("stale: Age %q Cache-Control %q", resp.Header.Get("Age"), resp.Header.Get("Cache-Control"))
	}
}

func TestConditionalAndHead(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	resp, _ := f.get("/restaurant")
	etag := resp.Header.Get("ETag")

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		resp, body := f.get("/restaurant", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || body != "" {
			t.Fatalf("If-None-Match %s: status %d body %q, want 304 and no body", inm, resp.StatusCode, body)
		}
		if resp.Header.Get("ETag") != etag {
			t.Fatalf("304 without the ETag: %v", resp.Header)
		}
	}
	resp, body := f.get("/restaurant", "If-None-Match", `"other"`)
	if resp.StatusCode != 200 || body != listJSON {
		t.Fatalf("non-matching tag: status %d", resp.StatusCode)
	}

	resp, body = f.do(http.MethodHead, "/restaurant")
	expect(t, resp, 200, "HIT")
	if body != "" || resp.ContentLength != int64(len(listJSON)) {
		t.Fatalf("HEAD: body %q, length %d", body, resp.ContentLength)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}

	// 304 only where the answer would be a 2xx: a cached 404 is sent whole.
	const notFound = `{"detail":"Restaurant not found"}`
	f.setUpstream(jsonHandler(404, notFound))
	f.get("/restaurant/nope")
	for _, inm := range []string{"*", ETagOfBody(notFound)} {
		resp, body = f.get("/restaurant/nope", "If-None-Match", inm)
		expect(t, resp, 404, "HIT")
		if body != notFound {
			t.Fatalf("If-None-Match %s on a cached 404: body %q, want the 404's", inm, body)
		}
	}
}

// ETagOfBody is the ETag the relay sends for a body.
func ETagOfBody(body string) string { return cache.ETagOf([]byte(body)) }

func TestConcurrentMissesMakeOneUpstreamCall(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		jsonHandler(200, listJSON)(w, r)
	}, defaults())

	const n = 100
	var wg sync.WaitGroup
	bodies := make([]string, n)
	codes := make([]int, n)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Go(func() {
			resp, err := client.Get(f.server.URL + "/restaurant/dufva")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i], codes[i] = string(b), resp.StatusCode
		})
	}
	// Let the requests pile up behind the one upstream call, then answer it.
	deadline := time.Now().Add(5 * time.Second)
	for f.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()

	if got := f.calls.Load(); got != 1 {
		t.Fatalf("upstream calls = %d, want exactly 1 for %d concurrent misses", got, n)
	}
	for i := range n {
		if codes[i] != 200 || bodies[i] != listJSON {
			t.Fatalf("request %d: %d %q", i, codes[i], bodies[i])
		}
	}
	coalesced := counterValue(t, f.metrics, "restaurants_coalesced_waits_total", nil)
	misses := counterValue(t, f.metrics, "restaurants_requests_total", map[string]string{"code": "200", "cache": "miss"})
	hits := counterValue(t, f.metrics, "restaurants_requests_total", map[string]string{"code": "200", "cache": "hit"})
	if misses != 1 || coalesced+hits != n-1 {
		t.Fatalf("misses %v, coalesced %v, hits %v; want 1 miss and %d others", misses, coalesced, hits, n-1)
	}
}

func TestExpiredEntryServedWhileOneRefreshRuns(t *testing.T) {
	f := newFixture(t, jsonHandler(200, `{"v":1}`), defaults())
	f.get("/restaurant")

	release := make(chan struct{})
	refreshing := make(chan struct{}, 1)
	f.setUpstream(func(w http.ResponseWriter, r *http.Request) {
		refreshing <- struct{}{}
		<-release
		jsonHandler(200, `{"v":2}`)(w, r)
	})
	f.clock.Advance(11 * time.Second) // expired, inside stale-while-revalidate

	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, body := f.get("/restaurant")
			if resp.StatusCode != 200 || body != `{"v":1}` || resp.Header.Get("X-Cache") != "STALE" {
				t.Errorf("while refreshing: %d %s %q", resp.StatusCode, resp.Header.Get("X-Cache"), body)
			}
		})
	}
	wg.Wait() // every caller was answered while the refresh is still blocked
	<-refreshing
	close(release)

	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := f.get("/restaurant")
		if body == `{"v":2}` {
			expect(t, resp, 200, "HIT")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refreshed answer never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("upstream calls = %d, want 2 (the first fetch and one refresh)", got)
	}
	if stale := counterValue(t, f.metrics, "restaurants_stale_served_total", map[string]string{"reason": "revalidate"}); stale < n {
		t.Fatalf("stale serves = %v, want at least %d", stale, n)
	}
}

func TestNotFoundIsCachedBriefly(t *testing.T) {
	const notFound = `{"detail":"Restaurant not found"}`
	f := newFixture(t, jsonHandler(404, notFound), defaults())
	resp, body := f.get("/restaurant/nosuch")
	expect(t, resp, 404, "MISS")
	if body != notFound {
		t.Fatalf("body = %q", body)
	}
	resp, _ = f.get("/restaurant/nosuch")
	expect(t, resp, 404, "HIT")
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=5" {
		t.Fatalf("Cache-Control = %q", cc)
	}
	f.clock.Advance(6 * time.Second)
	resp, _ = f.get("/restaurant/nosuch")
	expect(t, resp, 404, "MISS")
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}

func TestUpstreamFailures(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	for _, tc := range []struct {
		name       string
		handler    http.HandlerFunc
		closeUp    bool
		status     int
		retryAfter string
	}{
		{name: "500", handler: jsonHandler(500, `{"detail":"boom"}`), status: 502},
		{name: "503", handler: jsonHandler(503, `{}`), status: 502},
		{name: "timeout", handler: slow, status: 504},
		{name: "refused", closeUp: true, status: 502},
		{name: "429", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, status: 503, retryAfter: "7"},
		{name: "not JSON", handler: jsonHandler(200, `<html>maintenance</html>`), status: 502},
	} {
		t.Run(tc.name+"/no copy", func(t *testing.T) {
			o := defaults()
			o.timeout = 300 * time.Millisecond
			f := newFixture(t, tc.handler, o)
			if tc.closeUp {
				f.upstream.Close()
			}
			resp, body := f.get("/restaurant")
			expectError(t, resp, body, tc.status)
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Fatalf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
		})
		t.Run(tc.name+"/stale copy", func(t *testing.T) {
			o := defaults()
			o.timeout = 300 * time.Millisecond
			f := newFixture(t, jsonHandler(200, listJSON), o)
			f.get("/restaurant")
			if tc.closeUp {
				f.upstream.Close()
			} else {
				f.setUpstream(tc.handler)
			}
			f.clock.Advance(time.Minute) // past the TTL and stale-while-revalidate
			// The copy at once, while the refresh fails in the background;
			// then the copy stands in for the failure.
			start := time.Now()
			resp, body := f.get("/restaurant")
			expect(t, resp, 200, "STALE")
			if body != listJSON {
				t.Fatalf("stale body = %q", body)
			}
			if waited := time.Since(start); waited > 250*time.Millisecond {
				t.Errorf("the stale copy took %s: it waited for the refresh", waited)
			}
			waitFor(t, "the refresh to fail", func() bool {
				return upstreamCalls(t, f.metrics) >= 2 && !f.relay.Cache().Fetching(targetOf("restaurant"))
			})
			resp, _ = f.get("/restaurant")
			expect(t, resp, 200, "STALE")
			if s := counterValue(t, f.metrics, "restaurants_stale_served_total", map[string]string{"reason": "error"}); s != 1 {
				t.Fatalf("stale-on-error serves = %v, want 1", s)
			}

			f.clock.Advance(10 * time.Minute) // past stale-if-error
			resp, body = f.get("/restaurant")
			expectError(t, resp, body, tc.status)
		})
	}
}

func TestRateLimitIsRespected(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
	}, defaults())
	for i := range 5 {
		resp, body := f.get("/restaurant/" + strconv.Itoa(i))
		expectError(t, resp, body, 503)
		if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 29 || ra > 30 {
			t.Fatalf("Retry-After = %q, want about 30", resp.Header.Get("Retry-After"))
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1: the relay must wait out Retry-After", n)
	}
}

func TestBadBodiesAreNotCached(t *testing.T) {
	o := defaults()
	o.maxBody = 64 << 10
	f := newFixture(t, jsonHandler(200, `not json`), o)
	for range 2 {
		resp, body := f.get("/restaurant")
		expectError(t, resp, body, 502)
	}
	f.setUpstream(jsonHandler(200, `{"big":"`+strings.Repeat("x", 128<<10)+`"}`))
	for range 2 {
		resp, body := f.get("/restaurant/big")
		expectError(t, resp, body, 502)
	}
	if n := f.calls.Load(); n != 4 {
		t.Fatalf("upstream calls = %d, want 4: failed answers must not be cached", n)
	}
	if n := f.relay.Cache().Len(); n != 0 {
		t.Fatalf("cache holds %d entries, want 0", n)
	}
}

func TestMethodsOtherThanGetAndHead(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		resp, body := f.do(m, "/restaurant")
		expectError(t, resp, body, http.StatusMethodNotAllowed)
		if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Fatalf("%s: Allow = %q", m, allow)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("upstream calls = %d, want 0", n)
	}
}

func TestMetricsCount(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	f.get("/restaurant")
	f.get("/restaurant")
	f.get("/restaurant")
	f.setUpstream(jsonHandler(404, `{"detail":"Restaurant not found"}`))
	f.get("/restaurant/nosuch")
	f.do(http.MethodPost, "/restaurant")

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"restaurants_requests_total", map[string]string{"code": "200", "cache": "miss"}, 1},
		{"restaurants_requests_total", map[string]string{"code": "200", "cache": "hit"}, 2},
		{"restaurants_requests_total", map[string]string{"code": "404", "cache": "miss"}, 1},
		{"restaurants_requests_total", map[string]string{"code": "405", "cache": "none"}, 1},
		{"restaurants_upstream_requests_total", map[string]string{"outcome": "ok"}, 1},
		{"restaurants_upstream_requests_total", map[string]string{"outcome": "not_found"}, 1},
		{"restaurants_upstream_request_duration_seconds", nil, 2},
		{"restaurants_cache_entries", nil, 2},
	} {
		if got := counterValue(t, f.metrics, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// targetOf is the upstream target of a relay path below the base.
func targetOf(path string) upstream.Target { return upstream.Target{Path: path} }

// upstreamCalls sums the upstream calls of every outcome.
func upstreamCalls(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, fam := range families {
		if fam.GetName() == "restaurants_upstream_requests_total" {
			for _, mt := range fam.GetMetric() {
				n += mt.GetCounter().GetValue()
			}
		}
	}
	return n
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counterValue reads a counter, gauge or histogram count from the registry.
func counterValue(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	metric:
		for _, mt := range fam.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			switch {
			case mt.Counter != nil:
				return mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				return mt.GetGauge().GetValue()
			case mt.Histogram != nil:
				return float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func TestEveryAnswerCarriesItsLengthNeverChunked(t *testing.T) {
	for _, size := range []int{2, autoLengthMax - 20, autoLengthMax, autoLengthMax + 1, 64 << 10} {
		body := `"` + strings.Repeat("a", size-2) + `"`
		f := newFixture(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		}, defaults())
		for _, method := range []string{http.MethodGet, http.MethodGet, http.MethodHead} {
			resp, got := f.do(method, "/restaurant")
			if resp.ContentLength != int64(size) || len(resp.TransferEncoding) != 0 {
				t.Fatalf("%d-byte %s: Content-Length %d, Transfer-Encoding %v; want %d, none", size, method, resp.ContentLength, resp.TransferEncoding, size)
			}
			if want := body; method == http.MethodHead {
				if got != "" {
					t.Fatalf("HEAD answered with a body of %d bytes", len(got))
				}
			} else if got != want {
				t.Fatalf("%d-byte GET: body of %d bytes", size, len(got))
			}
		}
	}
}
