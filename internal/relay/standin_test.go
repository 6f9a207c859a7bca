package relay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/metrics"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// standIn is the relay in front of the stand-in API, which behaves as the
// real one does: 307 for a trailing slash, 405 for HEAD, its own
// Cache-Control, weak ETag and CORS headers.
type standIn struct {
	api    *menuapi.Handler
	apiURL string
	relay  *httptest.Server
}

func newStandIn(t *testing.T, opts ...RouterOption) *standIn {
	t.Helper()
	api, err := menuapi.New(menuapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	base, err := upstream.ParseBase(apiSrv.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	client, err := upstream.New(upstream.Config{Base: base, Timeout: 5 * time.Second, MaxBody: 1 << 20, MaxInflight: 4})
	if err != nil {
		t.Fatal(err)
	}
	var r *Relay
	m := metrics.New("test", metrics.Sources{
		CacheEntries:     func() int { return r.Cache().Len() },
		CacheBytes:       func() int { return r.Cache().Bytes() },
		UpstreamInflight: client.Inflight,
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err = New(ctx, Config{
		Client: client,
		Cache: cache.Config{
			Policy: cache.Policy{TTL: 10 * time.Second, NegativeTTL: 5 * time.Second, StaleWhileRevalidate: 30 * time.Second, StaleIfError: time.Minute},
			MaxMB:  16, MaxEntryBytes: 1 << 20,
		},
		Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(NewRouter(r, opts...))
	t.Cleanup(srv.Close)
	return &standIn{api: api, apiURL: apiSrv.URL, relay: srv}
}

func (s *standIn) do(t *testing.T, method, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.relay.URL+path, nil)
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
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// apiStats reads the stand-in's count of answers by status.
func (s *standIn) apiStats(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(s.apiURL + "/-/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		ByStatus map[string]int `json:"by_status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.ByStatus
}

func TestRootFollowsTheAPIsRedirect(t *testing.T) {
	s := newStandIn(t)
	for _, path := range []string{"/", "/restaurant/"} {
		resp, body := s.do(t, http.MethodGet, path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s, want 200 through the API's 307", path, resp.StatusCode, body)
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("GET %s: %s", path, body)
		}
	}
	if _, body := s.do(t, http.MethodGet, "/"); !strings.Contains(body, `"openapi":"/api/openapi.json"`) {
		t.Errorf("GET /: %s, want the API's index", body)
	}
	if st := s.apiStats(t); st["307"] != 2 || st["200"] != 2 {
		t.Errorf("the API answered %v, want two redirects, each followed once", st)
	}
}

func TestHeadWorksThoughTheAPIRefusesHead(t *testing.T) {
	s := newStandIn(t)
	for _, path := range []string{"/restaurant", "/restaurant/dufva", "/version"} {
		head, body := s.do(t, http.MethodHead, path)
		if head.StatusCode != 200 || body != "" {
			t.Fatalf("HEAD %s: %d with %d body bytes, want 200 without a body", path, head.StatusCode, len(body))
		}
		get, getBody := s.do(t, http.MethodGet, path)
		if head.Header.Get("Content-Length") != strconv.Itoa(len(getBody)) || get.Header.Get("ETag") != head.Header.Get("ETag") {
			t.Errorf("HEAD %s: Content-Length %s, ETag %s; GET: %d bytes, ETag %s", path,
				head.Header.Get("Content-Length"), head.Header.Get("ETag"), len(getBody), get.Header.Get("ETag"))
		}
	}
	if st := s.apiStats(t); st["405"] != 0 || st["200"] != 3 {
		t.Errorf("the API answered %v: the relay must ask with GET, once per key", st)
	}
}

func TestTheAPIsCacheHeadersDoNotLeak(t *testing.T) {
	s := newStandIn(t, WithCORS(mustCORS(t, "https://lunch.example")))
	apiResp, err := http.Get(s.apiURL + "/api/restaurant")
	if err != nil {
		t.Fatal(err)
	}
	apiResp.Body.Close()
	apiETag := apiResp.Header.Get("ETag")
	if apiResp.Header.Get("Cache-Control") != "max-age=360000" || !strings.HasPrefix(apiETag, "W/") {
		t.Fatalf("the stand-in sends Cache-Control %q, ETag %q; want the API's", apiResp.Header.Get("Cache-Control"), apiETag)
	}
	for i := range 2 {
		resp, _ := s.do(t, http.MethodGet, "/restaurant", "Origin", "https://lunch.example")
		cc := resp.Header.Values("Cache-Control")
		if len(cc) != 1 || !strings.HasPrefix(cc[0], "public, max-age=") {
			t.Fatalf("request %d: Cache-Control %q, want the relay's one value", i, cc)
		}
		// The relay's own value, with the lifetime the API declared (its
		// cache's time left, a second or so less than its full 360000 s).
		if n, err := strconv.Atoi(strings.TrimPrefix(cc[0], "public, max-age=")); err != nil || n > 360000 || n < 360000-5 {
			t.Errorf("request %d: Cache-Control %q: want the API's lifetime of about 360000 s", i, cc[0])
		}
		if etags := resp.Header.Values("ETag"); len(etags) != 1 || etags[0] == apiETag {
			t.Errorf("request %d: ETag %q; want the relay's own, not the API's %q", i, etags, apiETag)
		}
		if acao := resp.Header.Values("Access-Control-Allow-Origin"); len(acao) != 1 || acao[0] != "https://lunch.example" {
			t.Errorf("request %d: Access-Control-Allow-Origin %q, want the relay's policy alone", i, acao)
		}
	}
	// The API's ETag means nothing to the relay; the relay's own gives 304.
	if resp, _ := s.do(t, http.MethodGet, "/restaurant", "If-None-Match", apiETag); resp.StatusCode != 200 {
		t.Errorf("If-None-Match with the API's ETag: %d, want 200", resp.StatusCode)
	}
	first, _ := s.do(t, http.MethodGet, "/restaurant")
	if resp, _ := s.do(t, http.MethodGet, "/restaurant", "If-None-Match", first.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the relay's ETag: %d, want 304", resp.StatusCode)
	}
	if st := s.apiStats(t); st["200"] != 2 || st["304"] != 0 {
		t.Errorf("the API answered %v: one call from this test, one from the relay; never a 304", st)
	}
}

func TestUnknownRestaurantThroughTheRelay(t *testing.T) {
	s := newStandIn(t)
	resp, body := s.do(t, http.MethodGet, "/restaurant/nosuch", "Origin", "http://page.example")
	if resp.StatusCode != 404 || body != `{"detail":"Restaurant not found"}` || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET /restaurant/nosuch: %d %s, Access-Control-Allow-Origin %q", resp.StatusCode, body, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func mustCORS(t *testing.T, s string) CORS {
	t.Helper()
	c, err := ParseCORSOrigins(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
