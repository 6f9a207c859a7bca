package menuapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
)

// sleeps records the delays a handler waits out, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return true
}

// take returns the delays recorded since the last call.
func (s *sleeps) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}

// standIn returns a handler whose delays are recorded, not waited out, on a
// clock standing at noon, Stockholm time, on the given day of the week of
// 2026-11-23.
func standIn(t *testing.T, opts Options, day time.Weekday) (*Handler, *clocktest.Clock, *sleeps) {
	t.Helper()
	clock := clocktest.New(at(t, day)())
	opts.Now = clock.Now
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &sleeps{}
	h.sleep = s.sleep
	return h, clock, s
}

// serve makes one request to h; header holds name, value pairs.
func serve(h http.Handler, method, path, body string, header ...string) response {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return response{w.Code, w.Result().Header, w.Body.Bytes()}
}

// cacheStats is what /-/stats says of the own cache.
type cacheStats struct {
	Computed    int `json:"computed"`
	FromCache   int `json:"from_cache"`
	NotModified int `json:"not_modified"`
}

func statsOf(t *testing.T, h http.Handler) cacheStats {
	t.Helper()
	r := serve(h, http.MethodGet, "/-/stats", "")
	var s cacheStats
	if err := json.Unmarshal(r.body, &s); r.status != 200 || err != nil {
		t.Fatalf("/-/stats: %d %s (%v)", r.status, r.body, err)
	}
	return s
}

func wantStats(t *testing.T, h http.Handler, want cacheStats) {
	t.Helper()
	if got := statsOf(t, h); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

func TestMaxAgeCountsDownAndExpiryRecomputes(t *testing.T) {
	h, clock, _ := standIn(t, Options{ListMaxAge: 100 * time.Second}, time.Tuesday)
	steps := []struct {
		after    time.Duration // since the previous step
		path     string
		cc       string
		computed bool
	}{
		{0, "/api/restaurant", "max-age=100", true},
		{0, "/api/restaurant", "max-age=100", false},
		{30*time.Second + 500*time.Millisecond, "/api/restaurant", "max-age=69", false},
		{0, "/api/version", "max-age=100", true}, // each answer has its own lifetime
		{69 * time.Second, "/api/restaurant", "max-age=0", false},
		{400 * time.Millisecond, "/api/restaurant", "max-age=0", false},
		{100 * time.Millisecond, "/api/restaurant", "max-age=100", true}, // exactly at expiry
		{time.Second, "/api/restaurant", "max-age=99", false},
		{0, "/api/restaurant/dufva", "max-age=10800", true}, // the default menu lifetime
		{3 * time.Hour, "/api/restaurant/dufva", "max-age=10800", true},
		{time.Hour, "/api/restaurant/dufva", "max-age=7200", false},
		{0, "/api", "max-age=100", true},
	}
	want := cacheStats{}
	for i, s := range steps {
		clock.Advance(s.after)
		r := serve(h, http.MethodGet, s.path, "")
		if r.status != 200 || r.header.Get("Cache-Control") != s.cc {
			t.Fatalf("step %d, %s: %d, Cache-Control %q; want 200, %q", i, s.path, r.status, r.header.Get("Cache-Control"), s.cc)
		}
		if s.computed {
			want.Computed++
		} else {
			want.FromCache++
		}
		wantStats(t, h, want)
	}
}

func TestAMenuIsCachedPerRestaurantNotPerDay(t *testing.T) {
	h, clock, _ := standIn(t, Options{}, time.Friday)
	friday := serve(h, http.MethodGet, "/api/restaurant/dufva", "")
	if !strings.Contains(string(friday.body), `"dish"`) {
		t.Fatalf("Friday's menu has no dishes: %s", friday.body)
	}
	clock.Advance(12*time.Hour + time.Minute) // Saturday, past the menu's lifetime
	sat := serve(h, http.MethodGet, "/api/restaurant/dufva", "")
	if sat.header.Get("ETag") == friday.header.Get("ETag") || strings.Contains(string(sat.body), `"dish"`) {
		t.Fatalf("Saturday: %s; want the empty weekend menu", sat.body)
	}

	// Computed at 23:00 on Friday, the copy is served after midnight.
	h, clock, _ = standIn(t, Options{}, time.Friday)
	clock.Advance(11 * time.Hour)
	late := serve(h, http.MethodGet, "/api/restaurant/dufva", "")
	clock.Advance(2 * time.Hour)
	if clock.Now().In(stockholm(t)).Weekday() != time.Saturday {
		t.Fatal("the clock is not on Saturday")
	}
	if after := serve(h, http.MethodGet, "/api/restaurant/dufva", ""); string(after.body) != string(late.body) ||
		after.header.Get("Cache-Control") != "max-age=3600" {
		t.Fatalf("after midnight: %s, Cache-Control %q; want Friday's copy with an hour left", after.body, after.header.Get("Cache-Control"))
	}
}

func TestComputeLatencyIsPaidOnlyWhenComputing(t *testing.T) {
	const latency, compute = time.Millisecond, 7 * time.Second
	h, clock, slept := standIn(t, Options{Faults: Faults{Latency: latency, ComputeLatency: compute}}, time.Wednesday)
	both, base := []time.Duration{latency, compute}, []time.Duration{latency}
	etag := ""
	for i, s := range []struct {
		path   string
		header []string
		status int
		want   []time.Duration
		after  time.Duration // then move the clock
	}{
		{"/api/restaurant/dufva", nil, 200, both, 0},
		{"/api/restaurant/dufva", nil, 200, base, 0},
		{"/api/restaurant/dufva", []string{"If-None-Match", "etag"}, 304, base, 0},
		{"/api/restaurant/dufva", []string{"Cache-Control", "no-cache"}, 200, both, 0},
		{"/api/restaurant/nosuch", nil, 404, base, 0},
		{"/api/openapi.json", nil, 200, base, 3 * time.Hour},
		{"/api/restaurant/dufva", []string{"If-None-Match", "etag"}, 304, both, 0}, // expired: computed again
		{"/api/restaurant", nil, 200, both, 0},
		{"/api/restaurant", nil, 200, base, 0},
	} {
		for j := 1; j < len(s.header); j += 2 {
			if s.header[j] == "etag" {
				s.header[j] = etag
			}
		}
		r := serve(h, http.MethodGet, s.path, "", s.header...)
		if i == 0 {
			etag = r.header.Get("ETag")
		}
		if got := slept.take(); r.status != s.status || !slices.Equal(got, s.want) {
			t.Errorf("request %d, %s %v: %d after delays %v; want %d after %v", i, s.path, s.header, r.status, got, s.status, s.want)
		}
		clock.Advance(s.after)
	}
	wantStats(t, h, cacheStats{Computed: 4, FromCache: 2, NotModified: 2})
}

func TestNotModifiedFromTheCacheWithoutComputing(t *testing.T) {
	h, clock, _ := standIn(t, Options{ListMaxAge: time.Minute}, time.Monday)
	first := serve(h, http.MethodGet, "/api/restaurant", "")
	etag := first.header.Get("ETag")
	clock.Advance(15 * time.Second)
	for range 3 {
		r := serve(h, http.MethodGet, "/api/restaurant", "", "If-None-Match", etag)
		if r.status != 304 || len(r.body) != 0 || r.header.Get("ETag") != etag || r.header.Get("Cache-Control") != "max-age=45" {
			t.Fatalf("If-None-Match %s: %d, %d bytes, ETag %q, Cache-Control %q; want 304 with max-age=45",
				etag, r.status, len(r.body), r.header.Get("ETag"), r.header.Get("Cache-Control"))
		}
	}
	wantStats(t, h, cacheStats{Computed: 1, NotModified: 3})
	if r := serve(h, http.MethodGet, "/api/restaurant", "", "If-None-Match", `W/"other"`); r.status != 200 {
		t.Fatalf("another ETag: %d, want 200", r.status)
	}
	wantStats(t, h, cacheStats{Computed: 1, FromCache: 1, NotModified: 3})
}

func TestETagFollowsTheContentAcrossRecomputes(t *testing.T) {
	h, clock, _ := standIn(t, Options{MenuMaxAge: time.Minute}, time.Thursday)
	const path = "/api/restaurant/dufva"
	old := serve(h, http.MethodGet, path, "")
	etag := old.header.Get("ETag")
	clock.Advance(time.Minute)
	// Recomputed with the same content: the same ETag, so still 304.
	if r := serve(h, http.MethodGet, path, "", "If-None-Match", etag); r.status != 304 || r.header.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("after expiry, same content: %d, Cache-Control %q; want 304, max-age=60", r.status, r.header.Get("Cache-Control"))
	}
	wantStats(t, h, cacheStats{Computed: 2, NotModified: 1})

	// A replaced menu is not seen until the cached copy expires.
	if r := serve(h, http.MethodPut, "/-/menu/dufva", `{"menu":[{"dish":"Pytt i panna"}]}`); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	clock.Advance(59 * time.Second)
	if r := serve(h, http.MethodGet, path, ""); r.header.Get("ETag") != etag || string(r.body) != string(old.body) {
		t.Fatalf("before expiry: ETag %q, body %s; want the cached copy", r.header.Get("ETag"), r.body)
	}
	clock.Advance(time.Second)
	r := serve(h, http.MethodGet, path, "", "If-None-Match", etag)
	if r.status != 200 || r.header.Get("ETag") == etag || !strings.Contains(string(r.body), `"menu":[{"dish":"Pytt i panna"}]`) {
		t.Fatalf("after expiry: %d, ETag %q (old %q), body %s; want the new menu", r.status, r.header.Get("ETag"), etag, r.body)
	}
	if !strings.Contains(string(r.body), `"title":"Sven Dufva","location":"Uppsala"`) {
		t.Errorf("the replaced menu lost the restaurant's details: %s", r.body)
	}
	newTag := r.header.Get("ETag")
	if again := serve(h, http.MethodGet, path, "", "If-None-Match", newTag); again.status != 304 {
		t.Fatalf("the new ETag: %d, want 304", again.status)
	}
	// Back to the built-in menu: back to its ETag.
	if r := serve(h, http.MethodDelete, "/-/menu/dufva?evict=1", ""); r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := serve(h, http.MethodGet, path, ""); r.header.Get("ETag") != etag || string(r.body) != string(old.body) {
		t.Fatalf("after DELETE with evict: ETag %q, body %s; want the built-in menu's %q", r.header.Get("ETag"), r.body, etag)
	}
}

func TestReplacingAMenuWithEvictChangesTheNextAnswer(t *testing.T) {
	h, _, _ := standIn(t, Options{}, time.Saturday) // a menu replaced counts on weekends too
	before := serve(h, http.MethodGet, "/api/restaurant/elma", "")
	r := serve(h, http.MethodPut, "/-/menu/elma?evict=1", `{"menu":[{"dish":"Ärtsoppa"},{"dish":"Pannkakor"}]}`)
	var state struct {
		Identifier string
		Replaced   bool
		Menu       []struct{ Dish string }
		Evicted    bool
	}
	if err := json.Unmarshal(r.body, &state); err != nil || r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("PUT: %d %q %s (%v)", r.status, r.header.Get("Content-Type"), r.body, err)
	}
	if state.Identifier != "elma" || !state.Replaced || !state.Evicted || len(state.Menu) != 2 || state.Menu[1].Dish != "Pannkakor" {
		t.Fatalf("PUT answered %+v", state)
	}
	after := serve(h, http.MethodGet, "/api/restaurant/elma", "")
	if after.header.Get("ETag") == before.header.Get("ETag") ||
		!strings.Contains(string(after.body), `"menu":[{"dish":"Ärtsoppa"},{"dish":"Pannkakor"}]`) {
		t.Fatalf("after PUT with evict: %s", after.body)
	}
	// Other menus keep their cached copies; an empty menu is a menu.
	if r := serve(h, http.MethodPut, "/-/menu/elma?evict=true", `{"menu":[]}`); r.status != 200 {
		t.Fatalf("PUT of an empty menu: %d %s", r.status, r.body)
	}
	if r := serve(h, http.MethodGet, "/api/restaurant/elma", ""); !strings.Contains(string(r.body), `"menu":[]`) {
		t.Fatalf("after the empty menu: %s", r.body)
	}
	if r := serve(h, http.MethodGet, "/-/menu/elma", ""); !strings.Contains(string(r.body), `"replaced":true,"menu":[],"evicted":false`) {
		t.Fatalf("GET /-/menu/elma: %s", r.body)
	}
	if r := serve(h, http.MethodDelete, "/-/menu/elma", ""); r.status != 200 || !strings.Contains(string(r.body), `"replaced":false,"menu":null`) {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	// Without evict, the empty copy stays until it expires.
	if r := serve(h, http.MethodGet, "/api/restaurant/elma", ""); !strings.Contains(string(r.body), `"menu":[]`) {
		t.Fatalf("after DELETE without evict: %s; want the cached copy", r.body)
	}
	wantStats(t, h, cacheStats{Computed: 3, FromCache: 1})
}

func TestNoCacheSkipsTheOwnCache(t *testing.T) {
	h, _, slept := standIn(t, Options{Faults: Faults{ComputeLatency: time.Second}}, time.Tuesday)
	const path = "/api/restaurant/dufva"
	for _, cc := range []string{"no-cache", "no-store", "max-age=0, No-Cache"} {
		r := serve(h, http.MethodGet, path, "", "Cache-Control", cc)
		if r.status != 200 || r.header.Get("ETag") != "" || r.header.Get("Cache-Control") != "" {
			t.Fatalf("%s: %d, ETag %q, Cache-Control %q", cc, r.status, r.header.Get("ETag"), r.header.Get("Cache-Control"))
		}
	}
	if got := slept.take(); !slices.Equal(got, []time.Duration{time.Second, time.Second, time.Second}) {
		t.Fatalf("delays %v, want the compute latency each time", got)
	}
	wantStats(t, h, cacheStats{Computed: 3})
	// Nothing was kept: the next plain request computes.
	cached := serve(h, http.MethodGet, path, "")
	wantStats(t, h, cacheStats{Computed: 4})
	// A request skipping the cache sees a replaced menu at once; the cache
	// keeps its copy.
	serve(h, http.MethodPut, "/-/menu/dufva", `{"menu":[{"dish":"Kroppkakor"}]}`)
	if r := serve(h, http.MethodGet, path, "", "Cache-Control", "no-cache"); !strings.Contains(string(r.body), "Kroppkakor") {
		t.Fatalf("no-cache after PUT: %s", r.body)
	}
	if r := serve(h, http.MethodGet, path, ""); string(r.body) != string(cached.body) {
		t.Fatalf("plain after PUT: %s; want the cached copy", r.body)
	}
	wantStats(t, h, cacheStats{Computed: 5, FromCache: 1})
}

func TestMenuControlErrors(t *testing.T) {
	h, _, _ := standIn(t, Options{}, time.Tuesday)
	big := `{"menu":[{"dish":"` + strings.Repeat("x", maxMenuBody) + `"}]}`
	for _, c := range []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"PUT", "/-/menu/nosuch", `{"menu":[]}`, 404, `no restaurant \"nosuch\"`},
		{"DELETE", "/-/menu/nosuch", "", 404, "no restaurant"},
		{"PUT", "/-/menu/", `{"menu":[]}`, 404, "no restaurant"},
		{"PUT", "/-/menu/dufva/x", `{"menu":[]}`, 404, "no restaurant"},
		{"PUT", "/-/menu/dufva", `{"menu":[{"dish":"x"}`, 400, "reading the menu"},
		{"PUT", "/-/menu/dufva", ``, 400, "reading the menu"},
		{"PUT", "/-/menu/dufva", `{"menu":"soup"}`, 400, "reading the menu"},
		{"PUT", "/-/menu/dufva", `{"dishes":[]}`, 400, "unknown field"},
		{"PUT", "/-/menu/dufva", `{}`, 400, "no menu member"},
		{"PUT", "/-/menu/dufva", `{"menu":null}`, 400, "no menu member"},
		{"PUT", "/-/menu/dufva", `{"menu":[{"dish":""}]}`, 400, "dish 0 is empty"},
		{"PUT", "/-/menu/dufva", `{"menu":[{"name":"x"}]}`, 400, "unknown field"},
		{"PUT", "/-/menu/dufva", `{"menu":[]} {"menu":[]}`, 400, "more after the JSON object"},
		{"PUT", "/-/menu/dufva?evict=maybe", `{"menu":[]}`, 400, "evict"},
		{"PUT", "/-/menu/dufva?purge=1", `{"menu":[]}`, 400, `unknown parameter \"purge\"`},
		{"GET", "/-/menu/dufva?evict=1", ``, 400, "with PUT or DELETE"},
		{"PUT", "/-/menu/dufva", big, 413, "too large"},
		{"POST", "/-/menu/dufva", `{"menu":[]}`, 405, "method not allowed"},
	} {
		r := serve(h, c.method, c.path, c.body)
		if r.status != c.status || r.header.Get("Content-Type") != "application/json" || !json.Valid(r.body) || !strings.Contains(string(r.body), c.says) {
			t.Errorf("%s %s %.40q: %d %q %s; want %d, JSON saying %q", c.method, c.path, c.body, r.status, r.header.Get("Content-Type"), r.body, c.status, c.says)
		}
	}
	if r := serve(h, http.MethodPost, "/-/menu/dufva", ""); r.header.Get("Allow") != "GET, HEAD, PUT, DELETE" {
		t.Errorf("405 with Allow %q", r.header.Get("Allow"))
	}
	if r := serve(h, http.MethodGet, "/-/menu/dufva", ""); r.status != 200 || !strings.Contains(string(r.body), `"replaced":false`) {
		t.Fatalf("bad requests replaced the menu: %d %s", r.status, r.body)
	}
}

func TestStatsResetClearsTheCacheCounters(t *testing.T) {
	h, _, _ := standIn(t, Options{}, time.Tuesday)
	first := serve(h, http.MethodGet, "/api/version", "")
	serve(h, http.MethodGet, "/api/version", "")
	serve(h, http.MethodGet, "/api/version", "", "If-None-Match", first.header.Get("ETag"))
	r := serve(h, http.MethodGet, "/-/stats", "")
	var all map[string]any
	if err := json.Unmarshal(r.body, &all); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"requests": 3, "computed": 1, "from_cache": 1, "not_modified": 1} {
		if all[k] != want {
			t.Errorf("/-/stats %s = %v, want %v (all: %s)", k, all[k], want, r.body)
		}
	}
	if by := all["by_status"].(map[string]any); by["200"] != 2.0 || by["304"] != 1.0 {
		t.Errorf("by_status %v", by)
	}
	serve(h, http.MethodDelete, "/-/stats", "")
	wantStats(t, h, cacheStats{})
	// The reset leaves the cache itself alone.
	serve(h, http.MethodGet, "/api/version", "")
	wantStats(t, h, cacheStats{FromCache: 1})
}

func TestComputeLatencyAtRunTime(t *testing.T) {
	h, _, slept := standIn(t, Options{}, time.Tuesday)
	r := serve(h, http.MethodPut, "/-/fault?compute-latency=250ms", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"compute_latency":"250ms"`) {
		t.Fatalf("PUT /-/fault: %d %s", r.status, r.body)
	}
	serve(h, http.MethodGet, "/api", "")
	if got := slept.take(); !slices.Equal(got, []time.Duration{250 * time.Millisecond}) {
		t.Fatalf("delays %v, want the compute latency set at run time", got)
	}
	if r := serve(h, http.MethodPut, "/-/fault?compute-latency=-1s", ""); r.status != 400 {
		t.Fatalf("negative compute latency: %d", r.status)
	}
	if r := serve(h, http.MethodDelete, "/-/fault", ""); !strings.Contains(string(r.body), `"compute_latency":"0s"`) {
		t.Fatalf("DELETE /-/fault: %s", r.body)
	}
}

func TestComputeCanceledWhileWaiting(t *testing.T) {
	h, err := New(Options{Faults: Faults{ComputeLatency: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/restaurant", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", w.Code)
	}
	_, by := h.stats.snapshot()
	if by["canceled"] != 1 {
		t.Fatalf("stats %v, want one canceled", by)
	}
	wantStats(t, h, cacheStats{})
}

func TestNewRejectsNegativeLifetimes(t *testing.T) {
	for _, o := range []Options{{ListMaxAge: -time.Second}, {MenuMaxAge: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// TestCacheUnderConcurrentChanges runs reads, replacements and evictions at
// once, for the race detector, and checks every answer is one of the
// menus in play.
func TestCacheUnderConcurrentChanges(t *testing.T) {
	h, clock, _ := standIn(t, Options{MenuMaxAge: time.Second}, time.Tuesday)
	built := string(serve(h, http.MethodGet, "/api/restaurant/dufva", "").body)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				r := serve(h, http.MethodGet, "/api/restaurant/dufva", "")
				if b := string(r.body); r.status != 200 || (b != built && !strings.Contains(b, "Gravlax")) {
					t.Errorf("%d %s", r.status, b)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			if i%2 == 0 {
				serve(h, http.MethodPut, "/-/menu/dufva?evict=1", `{"menu":[{"dish":"Gravlax"}]}`)
			} else {
				serve(h, http.MethodDelete, "/-/menu/dufva", "")
			}
			clock.Advance(300 * time.Millisecond)
		}
	})
	wg.Wait()
	// How many answers were computed depends on how the readers and the
	// writer interleave; that every one was answered, from the cache or
	// computed, does not.
	s := statsOf(t, h)
	if s.Computed+s.FromCache != 401 || s.Computed < 1 {
		t.Fatalf("stats %+v: want 401 answers, at least the first computed", s)
	}
	// After the changes, an evicting change is computed on the next request.
	serve(h, http.MethodPut, "/-/menu/dufva?evict=1", `{"menu":[{"dish":"Gravlax"}]}`)
	if r := serve(h, http.MethodGet, "/api/restaurant/dufva", ""); !strings.Contains(string(r.body), "Gravlax") {
		t.Fatalf("after an evicting change: %s", r.body)
	}
	if after := statsOf(t, h); after.Computed != s.Computed+1 {
		t.Fatalf("stats %+v after an evicting change, want one more computed than %+v", after, s)
	}
}
