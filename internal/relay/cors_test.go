package relay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serveWith serves the fixture's relay again, under another CORS policy.
func (f *fixture) serveWith(c CORS) *httptest.Server {
	f.t.Helper()
	srv := httptest.NewServer(NewRouter(f.relay, WithCORS(c)))
	f.t.Cleanup(srv.Close)
	return srv
}

func request(t *testing.T, method, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCORSOnEveryAnswer(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	f.get("/restaurant") // a miss that fills the cache
	cases := []struct {
		name, method, path string
		upstream           http.HandlerFunc
		status             int
	}{
		{"hit", http.MethodGet, "/restaurant", nil, 200},
		{"head", http.MethodHead, "/restaurant", nil, 200},
		{"upstream 404", http.MethodGet, "/restaurant/nosuch", jsonHandler(404, `{"detail":"Restaurant not found"}`), 404},
		{"upstream 500", http.MethodGet, "/restaurant/broken", jsonHandler(500, `{}`), 502},
		{"upstream not JSON", http.MethodGet, "/restaurant/garbled", jsonHandler(200, `<html>`), 502},
		{"bad path", http.MethodGet, "/restaurant/..%2f..%2fetc", nil, 400},
		{"method", http.MethodPost, "/restaurant", nil, 405},
		{"method", http.MethodDelete, "/restaurant", nil, 405},
	}
	for _, c := range cases {
		if c.upstream != nil {
			f.setUpstream(c.upstream)
		}
		resp, body := f.do(c.method, c.path, "Origin", "http://page.example")
		if resp.StatusCode != c.status {
			t.Fatalf("%s: status %d, want %d (%s)", c.name, resp.StatusCode, c.status, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want *", c.name, got)
		}
		if c.status >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: an error without JSON: %q", c.name, resp.Header.Get("Content-Type"))
		}
	}
	// The policy "*" needs no Origin in the request: the answer is the same
	// for every client, so that shared caches may keep one copy.
	resp, _ := f.get("/restaurant")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("without Origin: Access-Control-Allow-Origin = %q, want *", got)
	}
	if v := resp.Header.Values("Vary"); len(v) != 0 {
		t.Errorf("policy *: Vary = %q, want none", v)
	}
}

func TestPreflightNeedsNoCacheNorUpstream(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	for _, path := range []string{"/restaurant", "/restaurant/dufva", "/", "/restaurant/..%2fsecret"} {
		resp, body := f.do(http.MethodOptions, path,
			"Origin", "http://page.example",
			"Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "if-none-match, x-requested-with")
		if resp.StatusCode != http.StatusNoContent || body != "" {
			t.Fatalf("OPTIONS %s: %d %q, want 204 without a body", path, resp.StatusCode, body)
		}
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET, HEAD",
			"Access-Control-Allow-Headers": "if-none-match, x-requested-with",
			"Access-Control-Max-Age":       corsMaxAge,
			"Allow":                        "GET, HEAD, OPTIONS",
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("OPTIONS %s: %s = %q, want %q", path, name, got, want)
			}
		}
		if got := resp.Header.Get("X-Cache"); got != "" {
			t.Errorf("OPTIONS %s: X-Cache = %q: the cache was consulted", path, got)
		}
	}
	// A header list that is not one is not echoed; the usual names are offered.
	resp, _ := f.do(http.MethodOptions, "/restaurant", "Origin", "http://page.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-a, bad header")
	if got := resp.Header.Get("Access-Control-Allow-Headers"); strings.Contains(got, "bad") || !strings.Contains(got, "If-None-Match") {
		t.Errorf("a malformed request header list: Access-Control-Allow-Headers = %q", got)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("upstream calls = %d after preflights, want 0", n)
	}
	if n := f.relay.Cache().Len(); n != 0 {
		t.Errorf("cache entries = %d after preflights, want 0", n)
	}
	if got := counterValue(t, f.metrics, "restaurants_requests_total", map[string]string{"code": "204", "cache": "none"}); got != 5 {
		t.Errorf("requests_total{code=204,cache=none} = %v, want 5", got)
	}
}

func TestCORSOriginList(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	c, err := ParseCORSOrigins("https://lunch.example, http://127.0.0.1:8081")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.serveWith(c)
	for _, tc := range []struct {
		origin, want string
	}{
		{"https://lunch.example", "https://lunch.example"},
		{"http://127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"http://127.0.0.1:8082", ""},
		{"https://lunch.example.evil", ""},
		{"null", ""},
		{"", ""},
	} {
		var header []string
		if tc.origin != "" {
			header = []string{"Origin", tc.origin}
		}
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
			resp := request(t, method, srv.URL+"/restaurant", header...)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("%s from %q: Access-Control-Allow-Origin = %q, want %q", method, tc.origin, got, tc.want)
			}
			if got := resp.Header.Get("Vary"); got != "Origin" {
				t.Errorf("%s from %q: Vary = %q, want Origin", method, tc.origin, got)
			}
		}
	}
}

func TestCORSOff(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	srv := f.serveWith(CORS{})
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
		resp := request(t, method, srv.URL+"/restaurant", "Origin", "http://page.example", "Access-Control-Request-Method", "GET")
		for name := range resp.Header {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Errorf("%s with CORS off: %s = %q", method, name, resp.Header.Get(name))
			}
		}
		if method == http.MethodOptions && (resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS") {
			t.Errorf("OPTIONS with CORS off: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestParseCORSOrigins(t *testing.T) {
	for _, tc := range []struct {
		in      string
		origins []string // nil: every origin ("*") or off
		any     bool
		enabled bool
	}{
		{in: "", enabled: false},
		{in: "  ", enabled: false},
		{in: "*", any: true, enabled: true},
		{in: "https://a.example", origins: []string{"https://a.example"}, enabled: true},
		{in: "HTTPS://A.Example:8443/, http://b.example,", origins: []string{"https://a.example:8443", "http://b.example"}, enabled: true},
	} {
		c, err := ParseCORSOrigins(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if c.enabled != tc.enabled || (c.any != nil) != tc.any || len(c.origins) != len(tc.origins) {
			t.Errorf("%q: got enabled=%v any=%v origins=%v", tc.in, c.enabled, c.any, c.origins)
		}
		for _, o := range tc.origins {
			if got := c.origins[o]; len(got) != 1 || got[0] != o {
				t.Errorf("%q: origin %q missing: %v", tc.in, o, c.origins)
			}
		}
	}
	for _, bad := range []string{"a.example", "ftp://a.example", "https://a.example/path", "https://a.example?x=1",
		"https://user@a.example", "*, https://a.example", "https://", ",", "http://a.example#f"} {
		if _, err := ParseCORSOrigins(bad); err == nil {
			t.Errorf("%q: accepted, want an error", bad)
		}
	}
}

// TestCORSCostsNoAllocation holds the hit path to the allocations it has
// without CORS: the headers are prepared once, for every policy. A list of
// origins sends two fields (Vary and the echoed origin) where every origin
// sends one; with the relay's own seven, the ninth field makes Go's header
// map grow, which is the one cost a list may add: it is measured against
// two fields of prepared values set before the same router.
func TestCORSCostsNoAllocation(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	list, err := ParseCORSOrigins("https://lunch.example")
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(h http.Handler, origin string) float64 {
		req := httptest.NewRequest(http.MethodGet, "/restaurant/dufva", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := &discard{h: make(http.Header)}
		h.ServeHTTP(w, req)
		return testing.AllocsPerRun(200, func() {
			// A new header map each time, as net/http gives every
			// request: a map that must grow costs allocations too.
			w.h = make(http.Header)
			h.ServeHTTP(w, req)
			if w.code != 200 {
				t.Fatalf("status %d", w.code)
			}
		})
	}
	off := NewRouter(f.relay, WithCORS(CORS{}))
	base := allocs(off, "")
	two := []string{"x"}
	twoFields := allocs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-One"], w.Header()["X-Two"] = two, two
		off.ServeHTTP(w, r)
	}), "")
	for _, tc := range []struct {
		name   string
		c      CORS
		origin string
		limit  float64
	}{
		{"*", AllowAllOrigins(), "https://lunch.example", base},
		{"list, origin refused", list, "https://other.example", base},
		{"list, origin allowed", list, "https://lunch.example", twoFields},
	} {
		if got := allocs(NewRouter(f.relay, WithCORS(tc.c)), tc.origin); got > tc.limit {
			t.Errorf("a hit with CORS %s: %v allocations, at most %v (without CORS %v)", tc.name, got, tc.limit, base)
		}
	}
}
