package menuapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// stockholm is the menus' time zone.
func stockholm(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatalf("loading time zone: %v", err)
	}
	return loc
}

// at returns a clock stopped at noon, Stockholm time, on the given day of
// the week of 2026-11-23 (a Monday).
func at(t *testing.T, d time.Weekday) func() time.Time {
	day := 23 + (int(d)+6)%7
	noon := time.Date(2026, time.November, day, 12, 0, 0, 0, stockholm(t))
	if noon.Weekday() != d {
		t.Fatalf("clock: %s is a %s, want %s", noon, noon.Weekday(), d)
	}
	return func() time.Time { return noon }
}

func newServer(t *testing.T, opts Options) (*Handler, *httptest.Server) {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func get(t *testing.T, url string) response { return do(t, http.MethodGet, url) }

// decode decodes a JSON body into a generic value, so that tests see the
// exact member names on the wire.
func decode(t *testing.T, r response) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestListHasTheTwelveRestaurantsInTheAPIsShape(t *testing.T) {
	_, srv := newServer(t, Options{})
	r := get(t, srv.URL+"/api/restaurant")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	body := decode(t, r)
	if got := keys(body); !slices.Equal(got, []string{"restaurants"}) {
		t.Fatalf("members %v, want [restaurants]", got)
	}
	want := map[string][2]string{
		"bikupan": {"Restaurang Bikupan", "Uppsala"}, "dufva": {"Sven Dufva", "Uppsala"},
		"hubben": {"Restaurang Hubben", "Uppsala"}, "rudbeck": {"Bistro Rudbeck", "Uppsala"},
		"tallrik": {"Tallriket", "Uppsala"}, "glada": {"Den Glada Restaurangen", "Solna"},
		"haga": {"Haga gatukök", "Solna"}, "jons": {"Jöns Jacob", "Solna"},
		"jorpes": {"Café Erik Jorpes", "Solna"}, "livet": {"Livet [Restaurant]", "Solna"},
		"nanna": {"Restaurang Nanna Svartz", "Solna"}, "svarta": {"Svarta Räfven", "Solna"},
	}
	list := body["restaurants"].([]any)
	if len(list) != len(want) {
		t.Fatalf("%d restaurants, want %d", len(list), len(want))
	}
	for _, item := range list {
		e := item.(map[string]any)
		if got := keys(e); !slices.Equal(got, []string{"coordinate", "homepage", "identifier", "menuUrl", "name", "osm", "region"}) {
			t.Fatalf("entry members %v", got)
		}
		id := e["identifier"].(string)
		w, ok := want[id]
		if !ok {
			t.Fatalf("unexpected identifier %q", id)
		}
		delete(want, id)
		if e["name"] != w[0] || e["region"] != w[1] {
			t.Errorf("%s: name %q region %q, want %q %q", id, e["name"], e["region"], w[0], w[1])
		}
		coord := e["coordinate"].([]any)
		lat, lon := coord[0].(float64), coord[1].(float64)
		inUppsala := lat > 59.83 && lat < 59.86 && lon > 17.62 && lon < 17.66
		inSolna := lat > 59.34 && lat < 59.36 && lon > 18.01 && lon < 18.04
		if (w[1] == "Uppsala" && !inUppsala) || (w[1] == "Solna" && !inSolna) {
			t.Errorf("%s: coordinate %v is not in %s", id, coord, w[1])
		}
		if !strings.HasPrefix(e["osm"].(string), "https://www.openstreetmap.org/#map=") {
			t.Errorf("%s: osm %q", id, e["osm"])
		}
		for _, k := range []string{"homepage", "menuUrl"} {
			if u := e[k].(string); u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				t.Errorf("%s: %s %q is not a URL", id, k, u)
			}
		}
	}
}

func TestMenuHasTheAPIsShape(t *testing.T) {
	_, srv := newServer(t, Options{Now: at(t, time.Wednesday)})
	var list struct {
		Restaurants []struct{ Identifier, Name, Region, Homepage, OSM string }
	}
	if err := json.Unmarshal(get(t, srv.URL+"/api/restaurant").body, &list); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Restaurants {
		r := get(t, srv.URL+"/api/restaurant/"+e.Identifier)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", e.Identifier, r.status)
		}
		body := decode(t, r)
		if got := keys(body); !slices.Equal(got, []string{"restaurant"}) {
			t.Fatalf("%s: members %v", e.Identifier, got)
		}
		m := body["restaurant"].(map[string]any)
		if got := keys(m); !slices.Equal(got, []string{"location", "map_url", "menu", "title", "url"}) {
			t.Fatalf("%s: restaurant members %v", e.Identifier, got)
		}
		if m["title"] != e.Name || m["location"] != e.Region || m["url"] != e.Homepage || m["map_url"] != e.OSM {
			t.Errorf("%s: detail %v does not match list entry %+v", e.Identifier, m, e)
		}
		for _, d := range m["menu"].([]any) {
			if got := keys(d.(map[string]any)); !slices.Equal(got, []string{"dish"}) {
				t.Errorf("%s: dish members %v", e.Identifier, got)
			}
		}
	}
}

// dishes returns the dishes served for id.
func dishes(t *testing.T, base, id string) []string {
	t.Helper()
	r := get(t, base+"/api/restaurant/"+id)
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", id, r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"menu":[`) {
		t.Fatalf("%s: menu is not a JSON array: %s", id, r.body)
	}
	var m struct {
		Restaurant struct{ Menu []struct{ Dish string } }
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, d := range m.Restaurant.Menu {
		out = append(out, d.Dish)
	}
	return out
}

func TestDishesChangeWithTheWeekday(t *testing.T) {
	ids := []string{"bikupan", "dufva", "hubben", "rudbeck", "tallrik", "haga", "jons", "jorpes", "livet", "nanna", "svarta"}
	week := map[time.Weekday]map[string][]string{}
	for d := time.Monday; d <= time.Friday; d++ {
		_, srv := newServer(t, Options{Now: at(t, d)})
		week[d] = map[string][]string{}
		for _, id := range ids {
			week[d][id] = dishes(t, srv.URL, id)
			if len(week[d][id]) == 0 {
				t.Errorf("%s: no dishes on %s", id, d)
			}
		}
	}
	for _, id := range ids {
		for d := time.Tuesday; d <= time.Friday; d++ {
			if slices.Equal(week[d][id], week[d-1][id]) {
				t.Errorf("%s: same menu on %s and %s: %q", id, d-1, d, week[d][id])
			}
		}
	}
	for _, d := range []time.Weekday{time.Saturday, time.Sunday} {
		_, srv := newServer(t, Options{Now: at(t, d)})
		for _, id := range ids {
			if got := dishes(t, srv.URL, id); len(got) != 0 {
				t.Errorf("%s on %s: %q, want an empty menu", id, d, got)
			}
		}
	}
}

func TestWeekdayFollowsStockholmTime(t *testing.T) {
	// Sunday 23:30 UTC is Monday 00:30 in Stockholm (UTC+1 in November).
	sundayNightUTC := time.Date(2026, time.November, 29, 23, 30, 0, 0, time.UTC)
	_, srv := newServer(t, Options{Now: func() time.Time { return sundayNightUTC }, Location: stockholm(t)})
	_, monday := newServer(t, Options{Now: at(t, time.Monday)})
	got, want := dishes(t, srv.URL, "dufva"), dishes(t, monday.URL, "dufva")
	if len(got) == 0 || !slices.Equal(got, want) {
		t.Fatalf("got %q, want Monday's %q", got, want)
	}
}

func TestOneRestaurantIsAlwaysClosed(t *testing.T) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		_, srv := newServer(t, Options{Now: at(t, d)})
		if got := dishes(t, srv.URL, "glada"); len(got) != 0 {
			t.Errorf("glada on %s: %q, want closed", d, got)
		}
	}
}

func TestSomeDishesAreEmptyStrings(t *testing.T) {
	_, srv := newServer(t, Options{Now: at(t, time.Monday)})
	if got := dishes(t, srv.URL, "bikupan"); !slices.Contains(got, "") {
		t.Fatalf("bikupan on Monday: %q, want an empty dish among them", got)
	}
}

func TestErrorsAndOtherPaths(t *testing.T) {
	_, srv := newServer(t, Options{Version: "1.2.3"})
	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/api/restaurant/nosuch", 404, `{"detail":"Restaurant not found"}`},
		{"GET", "/api/restaurant/", 404, `{"detail":"Not Found"}`},
		{"GET", "/api/restaurant/dufva/extra", 404, `{"detail":"Not Found"}`},
		{"GET", "/api/nosuch", 404, `{"detail":"Not Found"}`},
		{"GET", "/", 404, `{"detail":"Not Found"}`},
		{"GET", "/api/version", 200, `{"version":"1.2.3"}`},
		{"GET", "/api", 200, `{"documentation_swagger":"/api/docs","documentation_redoc":"/api/redoc","openapi":"/api/openapi.json"}`},
		{"POST", "/api/restaurant", 405, `{"detail":"Method Not Allowed"}`},
		{"DELETE", "/api/restaurant/dufva", 405, `{"detail":"Method Not Allowed"}`},
	}
	for _, c := range cases {
		r := do(t, c.method, srv.URL+c.path)
		if r.status != c.status || string(r.body) != c.body {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.status, r.body, c.status, c.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
		if c.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, r.header.Get("Allow"))
		}
	}
	spec := decode(t, get(t, srv.URL+"/api/openapi.json"))
	paths, _ := spec["paths"].(map[string]any)
	for _, p := range []string{"/api", "/api/restaurant", "/api/restaurant/{identifier}", "/api/version"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	if r := do(t, "HEAD", srv.URL+"/api/restaurant"); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d with %d body bytes", r.status, len(r.body))
	}
}

func TestFault5xx(t *testing.T) {
	_, srv := newServer(t, Options{Faults: Faults{Mode: Mode5xx}})
	r := get(t, srv.URL+"/api/restaurant")
	if r.status != http.StatusInternalServerError || string(r.body) != "Internal Server Error" {
		t.Fatalf("%d %q", r.status, r.body)
	}
}

func TestFault429HasRetryAfter(t *testing.T) {
	_, srv := newServer(t, Options{Faults: Faults{Mode: Mode429, RetryAfter: 1500 * time.Millisecond}})
	r := get(t, srv.URL+"/api/restaurant/dufva")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	decode(t, r)
}

func TestFaultGarbled(t *testing.T) {
	_, srv := newServer(t, Options{Faults: Faults{Mode: ModeGarbled}})
	r := get(t, srv.URL+"/api/restaurant")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", r.status, r.header.Get("Content-Type"))
	}
	if len(r.body) == 0 || json.Valid(r.body) {
		t.Fatalf("body %q, want non-empty and not JSON", r.body)
	}
}

func TestFaultOversizedStreamsExactlyTheSize(t *testing.T) {
	const size = 64 << 20
	_, srv := newServer(t, Options{Faults: Faults{Mode: ModeOversized, OversizeBytes: size}})
	resp, err := http.Get(srv.URL + "/api/restaurant")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength %d, want -1 (streamed)", resp.ContentLength)
	}
	// Read the whole body, keeping only its ends, to check it is JSON.
	head := make([]byte, 32)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if total := n + int64(len(head)); total != size {
		t.Fatalf("body of %d bytes, want %d", total, size)
	}
	if !strings.HasPrefix(string(head), `{"restaurants":[],"padding":"xx`) {
		t.Fatalf("body starts %q", head)
	}
}

func TestFaultOversizedSmallBodyIsValidJSON(t *testing.T) {
	_, srv := newServer(t, Options{Faults: Faults{Mode: ModeOversized, OversizeBytes: 100 << 10}})
	r := get(t, srv.URL+"/api/restaurant")
	if len(r.body) != 100<<10 || !json.Valid(r.body) {
		t.Fatalf("%d bytes, valid JSON %v", len(r.body), json.Valid(r.body))
	}
}

func TestFaultSlowHonorsTheRequestContext(t *testing.T) {
	h, srv := newServer(t, Options{Faults: Faults{Mode: ModeSlow, SlowDelay: time.Minute}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/restaurant", nil)
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want the client to give up", resp.StatusCode)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("client waited %s", time.Since(start))
	}
	// The handler sees the cancellation and stops waiting.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, by := h.stats.snapshot()
		if by["canceled"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler still waiting: stats %v", by)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFaultSlowAndLatencyDelayThenAnswer(t *testing.T) {
	_, srv := newServer(t, Options{Faults: Faults{Mode: ModeSlow, SlowDelay: 80 * time.Millisecond, Latency: 40 * time.Millisecond, Jitter: time.Millisecond}})
	start := time.Now()
	r := get(t, srv.URL+"/api/restaurant")
	if took := time.Since(start); took < 120*time.Millisecond {
		t.Fatalf("answered after %s, want at least 120ms", took)
	}
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
}

func TestErrorRateIsSeededPerHandler(t *testing.T) {
	count := func(seed uint64) (fails int, pattern []int) {
		_, srv := newServer(t, Options{Seed: seed, Faults: Faults{ErrorRate: 0.5}})
		for range 200 {
			s := get(t, srv.URL+"/api/version").status
			pattern = append(pattern, s)
			if s == http.StatusInternalServerError {
				fails++
			} else if s != http.StatusOK {
				t.Fatalf("status %d", s)
			}
		}
		return fails, pattern
	}
	f1, p1 := count(7)
	f2, p2 := count(7)
	if !slices.Equal(p1, p2) {
		t.Fatal("the same seed gave different error patterns")
	}
	if f1 < 60 || f1 > 140 || f1 != f2 {
		t.Fatalf("%d and %d failures of 200 at rate 0.5", f1, f2)
	}
	_, srv := newServer(t, Options{Faults: Faults{ErrorRate: 1}})
	if s := get(t, srv.URL+"/api/version").status; s != 500 {
		t.Fatalf("rate 1: status %d", s)
	}
}

func TestControlEndpointChangesFaultsAtRunTime(t *testing.T) {
	h, srv := newServer(t, Options{Faults: Faults{Latency: time.Millisecond}})
	if r := get(t, srv.URL+"/api/restaurant"); r.status != 200 {
		t.Fatalf("before: %d", r.status)
	}
	r := do(t, http.MethodPut, srv.URL+"/-/fault?mode=429&latency=2ms&error-rate=0.25&retry-after=3s")
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	f := decode(t, r)
	if f["mode"] != "429" || f["latency"] != "2ms" || f["error_rate"] != 0.25 || f["retry_after"] != "3s" {
		t.Fatalf("PUT answered %v", f)
	}
	if got := h.Faults(); got.Mode != Mode429 || got.Latency != 2*time.Millisecond {
		t.Fatalf("Faults() = %+v", got)
	}
	if r := decode(t, get(t, srv.URL+"/-/fault")); r["mode"] != "429" {
		t.Fatalf("GET: %v", r)
	}
	if r := get(t, srv.URL+"/api/restaurant"); r.status != 429 && r.status != 500 {
		t.Fatalf("during 429: %d", r.status)
	}
	// A form body works too, and only the given knobs change.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/-/fault", strings.NewReader("mode=garbled&error-rate=0"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := h.Faults(); got.Mode != ModeGarbled || got.Latency != 2*time.Millisecond || got.ErrorRate != 0 {
		t.Fatalf("after POST: %+v", got)
	}
	// DELETE returns to the knobs given at start.
	if r := decode(t, do(t, http.MethodDelete, srv.URL+"/-/fault")); r["mode"] != "none" || r["latency"] != "1ms" {
		t.Fatalf("DELETE: %v", r)
	}
	if r := get(t, srv.URL+"/api/restaurant"); r.status != 200 {
		t.Fatalf("after DELETE: %d", r.status)
	}
	for _, q := range []string{"mode=teapot", "latency=soon", "error-rate=2", "latency=-1s", "color=red", "oversize-bytes=-5"} {
		r := do(t, http.MethodPut, srv.URL+"/-/fault?"+q)
		if r.status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", q, r.status)
		}
		if e := decode(t, r); e["error"] == "" {
			t.Errorf("PUT %s: no error message", q)
		}
	}
	if got := h.Faults(); got.Mode != ModeNone {
		t.Fatalf("a bad PUT changed the faults: %+v", got)
	}
}

func TestStatsCountAPIRequestsOnly(t *testing.T) {
	_, srv := newServer(t, Options{})
	get(t, srv.URL+"/api/restaurant")
	get(t, srv.URL+"/api/restaurant/nosuch")
	get(t, srv.URL+"/-/healthz")
	get(t, srv.URL+"/-/fault")
	s := decode(t, get(t, srv.URL+"/-/stats"))
	by := s["by_status"].(map[string]any)
	if s["requests"] != 2.0 || by["200"] != 1.0 || by["404"] != 1.0 {
		t.Fatalf("stats %v, want 2 requests: one 200, one 404", s)
	}
	s = decode(t, do(t, http.MethodDelete, srv.URL+"/-/stats"))
	if s["requests"] != 0.0 {
		t.Fatalf("after reset: %v", s)
	}
}

func TestControlPaths(t *testing.T) {
	_, srv := newServer(t, Options{})
	if r := decode(t, get(t, srv.URL+"/-/healthz")); r["status"] != "ok" {
		t.Fatalf("healthz: %v", r)
	}
	if r := do(t, http.MethodPost, srv.URL+"/-/healthz"); r.status != 405 || r.header.Get("Allow") == "" {
		t.Fatalf("POST healthz: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	if r := get(t, srv.URL+"/-/nosuch"); r.status != 404 {
		t.Fatalf("unknown control path: %d", r.status)
	}
}

func TestConcurrentRequestsWhileFaultsChange(t *testing.T) {
	h, srv := newServer(t, Options{Faults: Faults{ErrorRate: 0.1, Jitter: time.Millisecond}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				resp, err := http.Get(srv.URL + "/api/restaurant/dufva")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			mode := []string{"none", "429", "5xx", "garbled"}[i%4]
			resp, err := http.Post(srv.URL+"/-/fault?mode="+mode, "", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}
	})
	wg.Wait()
	if n := h.Requests(); n != 200 {
		t.Fatalf("counted %d API requests, want 200", n)
	}
}

func TestNewRejectsBadFaults(t *testing.T) {
	for _, f := range []Faults{{Mode: "teapot"}, {ErrorRate: 1.5}, {Latency: -time.Second}, {Jitter: -1}} {
		if _, err := New(Options{Faults: f}); err == nil {
			t.Errorf("New(%+v) succeeded", f)
		}
	}
}

func TestLoadDataChecksTheData(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":     `{"restaurants":[]}`,
		"duplicate": `{"restaurants":[{"identifier":"a","name":"A","region":"Solna"},{"identifier":"a","name":"B","region":"Solna"}]}`,
		"weekend":   `{"restaurants":[{"identifier":"a","name":"A","region":"Solna","week":{"saturday":["x"]}}]}`,
		"unknown":   `{"restaurants":[{"identifier":"a","name":"A","region":"Solna","price":3}]}`,
		"no name":   `{"restaurants":[{"identifier":"a","region":"Solna"}]}`,
	} {
		if _, err := loadData([]byte(raw)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := loadData(restaurantsJSON); err != nil {
		t.Fatalf("embedded data: %v", err)
	}
}

// countingWriter is a ResponseWriter that keeps only a byte count.
type countingWriter struct {
	h http.Header
	n int64
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) WriteHeader(int)             {}
func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestFaultOversizedDoesNotHoldTheBody(t *testing.T) {
	const size = 64 << 20
	h, err := New(Options{Faults: Faults{Mode: ModeOversized, OversizeBytes: size}})
	if err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{h: http.Header{}}
	req := httptest.NewRequest(http.MethodGet, "/api/restaurant", nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.n != size {
		t.Fatalf("wrote %d bytes, want %d", w.n, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("allocated %d bytes to stream %d", alloc, size)
	}
}

func TestSetFaults(t *testing.T) {
	h, srv := newServer(t, Options{})
	if err := h.SetFaults(Faults{Mode: Mode5xx}); err != nil {
		t.Fatal(err)
	}
	if s := get(t, srv.URL+"/api/restaurant").status; s != 500 {
		t.Fatalf("status %d, want 500", s)
	}
	if got := h.Faults(); got.SlowDelay != DefaultSlowDelay || got.OversizeBytes != DefaultOversizeBytes {
		t.Fatalf("defaults not filled: %+v", got)
	}
	if err := h.SetFaults(Faults{ErrorRate: -1}); err == nil || h.Faults().Mode != Mode5xx {
		t.Fatalf("bad faults: err %v, faults %+v", err, h.Faults())
	}
}
