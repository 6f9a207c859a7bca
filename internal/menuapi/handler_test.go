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
		"osm":       `{"restaurants":[{"identifier":"a","name":"A","region":"Solna","osm":"https://www.openstreetmap.org/"}]}`,
		"slash":     `{"restaurants":[{"identifier":"a/b","name":"A","region":"Solna"}]}`,
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
