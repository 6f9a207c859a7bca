package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// newTestClient returns a client for the upstream srv, its base at /api/.
func newTestClient(t *testing.T, srv *httptest.Server, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Base:        mustBase(t, srv.URL+"/api/"),
		Timeout:     5 * time.Second,
		MaxBody:     1 << 20,
		MaxInflight: 4,
		UserAgent:   "restaurants-test/1.0",
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func mustTarget(t *testing.T, p, q string) Target {
	t.Helper()
	tg, err := ParseTarget(p, q)
	if err != nil {
		t.Fatalf("ParseTarget(%q, %q): %v", p, q, err)
	}
	return tg
}

// wantError asserts that err is an *Error with the outcome.
func wantError(t *testing.T, resp *Response, err error, outcome Outcome) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("Fetch = %d %q, want a %s error", resp.Status, resp.Body, outcome)
	}
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("Fetch error %T %v is not an *Error", err, err)
	}
	if ue.Outcome != outcome {
		t.Fatalf("Fetch outcome %s (%v), want %s", ue.Outcome, err, outcome)
	}
	if resp != nil {
		t.Errorf("Fetch returned a response %+v beside its error", resp)
	}
	return ue
}

// blockUntilGone blocks a handler until the client leaves or the test ends.
func blockUntilGone(r *http.Request, release <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-release:
	}
}

func TestNewValidates(t *testing.T) {
	base := mustBase(t, testBase)
	good := Config{Base: base, Timeout: time.Second, MaxBody: 1, MaxInflight: 1}
	if _, err := New(good); err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
	for name, mod := range map[string]func(*Config){
		"no base":          func(c *Config) { c.Base = Base{} },
		"zero timeout":     func(c *Config) { c.Timeout = 0 },
		"negative timeout": func(c *Config) { c.Timeout = -time.Second },
		"zero body limit":  func(c *Config) { c.MaxBody = 0 },
		"zero inflight":    func(c *Config) { c.MaxInflight = 0 },
	} {
		cfg := good
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

func TestFetchOK(t *testing.T) {
	const body = `{"restaurant":{"title":"Sven Dufva","menu":[{"dish":"Pannbiff"}]}}`
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Method != http.MethodGet {
			t.Errorf("method %s, want GET", r.Method)
		}
		if r.URL.EscapedPath() != "/api/restaurant/j%C3%B6ns" {
			t.Errorf("path %q, want /api/restaurant/j%%C3%%B6ns", r.URL.EscapedPath())
		}
		if r.URL.RawQuery != "lang=sv&day=m%C3%A5ndag&x=%2F" {
			t.Errorf("query %q not forwarded as sent", r.URL.RawQuery)
		}
		if ua := r.Header.Get("User-Agent"); ua != "restaurants-test/1.0" {
			t.Errorf("User-Agent %q", ua)
		}
		if a := r.Header.Get("Accept"); a != "application/json" {
			t.Errorf("Accept %q, want application/json", a)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, nil)

	resp, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant/j%c3%b6ns", "lang=sv&day=m%C3%A5ndag&x=%2F"), Validators{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != body {
		t.Errorf("Fetch = %d %q, want 200 %q", resp.Status, resp.Body, body)
	}
	if hits.Load() != 1 {
		t.Errorf("upstream hit %d times, want 1", hits.Load())
	}
	if n := c.Inflight(); n != 0 {
		t.Errorf("Inflight after the call = %d, want 0", n)
	}
	if c.Base().String() != srv.URL+"/api/" {
		t.Errorf("Base() = %q", c.Base())
	}
}

func TestFetchClientErrorIsResponse(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusBadRequest, http.StatusGone, http.StatusUnprocessableEntity} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			body := fmt.Sprintf(`{"detail":"status %d"}`, status)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				io.WriteString(w, body)
			}))
			defer srv.Close()
			resp, err := newTestClient(t, srv, nil).Fetch(context.Background(), mustTarget(t, "/restaurant/nope", ""), Validators{})
			if err != nil {
				t.Fatalf("Fetch: %v, want a %d response", err, status)
			}
			if resp.Status != status || string(resp.Body) != body {
				t.Errorf("Fetch = %d %q, want %d %q", resp.Status, resp.Body, status, body)
			}
		})
	}
}

func TestFetchServerErrors(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504, http.StatusCreated, http.StatusNoContent, http.StatusNotModified} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				if status >= 500 {
					io.WriteString(w, `{"detail":"broken"}`)
				}
			}))
			defer srv.Close()
			resp, err := newTestClient(t, srv, nil).Fetch(context.Background(), mustTarget(t, "/restaurant", ""), Validators{})
			ue := wantError(t, resp, err, HTTPError)
			if ue.Status != status {
				t.Errorf("Status = %d, want %d", ue.Status, status)
			}
			if !strings.Contains(ue.Error(), strconv.Itoa(status)) {
				t.Errorf("error %q does not name the status", ue.Error())
			}
		})
	}
}

func TestFetchRateLimited(t *testing.T) {
	tests := []struct {
		name   string
		header func(now time.Time) string
		want   time.Duration
	}{
		{"seconds", func(time.Time) string { return "30" }, 30 * time.Second},
		{"http date", func(now time.Time) string { return now.Add(90 * time.Second).Format(http.TimeFormat) }, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC))
			var hits atomic.Int32
			var limited atomic.Bool
			limited.Store(true)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if limited.Load() {
					w.Header().Set("Retry-After", tt.header(clk.Now()))
					w.WriteHeader(http.StatusTooManyRequests)
					io.WriteString(w, `{"detail":"slow down"}`)
					return
				}
				io.WriteString(w, `{"ok":true}`)
			}))
			defer srv.Close()
			c := newTestClient(t, srv, func(cfg *Config) { cfg.Now = clk.Now })
			tg := mustTarget(t, "/restaurant", "")

			resp, err := c.Fetch(context.Background(), tg, Validators{})
			ue := wantError(t, resp, err, RateLimited)
			if ue.Status != http.StatusTooManyRequests || ue.RetryAfter != tt.want {
				t.Fatalf("first 429: Status %d RetryAfter %v, want 429 and %v", ue.Status, ue.RetryAfter, tt.want)
			}
			// The client reports the wait; the pause is the guard's (package
			// guard), so the next call asks the upstream again.
			limited.Store(false)
			resp, err = c.Fetch(context.Background(), tg, Validators{})
			if err != nil {
				t.Fatalf("after the 429: %v", err)
			}
			if resp.Status != http.StatusOK || hits.Load() != 2 {
				t.Errorf("after the 429: status %d, %d hits; want 200 and 2 hits", resp.Status, hits.Load())
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Second},
		{"5", 5 * time.Second},
		{"0", time.Second},
		{"-3", time.Second},
		{"soon", time.Second},
		{"1.5", time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), time.Second},
		{now.Add(10 * time.Minute).Format(http.TimeFormat), 10 * time.Minute},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
		{"3600", time.Hour},
		{"7200", time.Hour},
		{"10000000000", time.Hour},          // ten billion seconds: overflows a Duration in nanoseconds
		{"99999999999999999999", time.Hour}, // more seconds than an int64 holds
		{"-99999999999999999999", time.Second},
		{"-9223372036", time.Second}, // overflows a Duration the other way
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow-body") {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, `{"restaurants":[`)
			w.(http.Flusher).Flush()
		}
		blockUntilGone(r, release)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })

	for _, p := range []string{"/slow-headers", "/slow-body"} {
		start := time.Now()
		resp, err := c.Fetch(context.Background(), mustTarget(t, p, ""), Validators{})
		ue := wantError(t, resp, err, Timeout)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: Fetch took %v with a timeout of 200ms", p, d)
		}
		if p == "/slow-body" && ue.Status != http.StatusOK {
			t.Errorf("%s: Status %d, want the 200 that arrived", p, ue.Status)
		}
	}
}

func TestFetchRefused(t *testing.T) {
	addr := proctest.ClosedAddr(t)
	c, err := New(Config{Base: mustBase(t, "http://"+addr+"/api/"), Timeout: 5 * time.Second, MaxBody: 1 << 20, MaxInflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant", ""), Validators{})
	wantError(t, resp, err, Refused)
}

func TestFetchCanceled(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		blockUntilGone(r, release)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	resp, err := c.Fetch(ctx, mustTarget(t, "/restaurant", ""), Validators{})
	wantError(t, resp, err, Canceled)
}

func TestFetchTooLargeByContentLength(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 64<<10))
		w.(http.Flusher).Flush()
		// The rest of the gigabyte never comes: a client that reads on
		// would wait for its timeout.
		blockUntilGone(r, release)
		close(gone)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(cfg *Config) { cfg.Timeout = 10 * time.Second })

	start := time.Now()
	resp, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant", ""), Validators{})
	ue := wantError(t, resp, err, TooLarge)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("TooLarge after %v: the body was read, not refused by its length", d)
	}
	if ue.Status != http.StatusOK {
		t.Errorf("Status %d, want 200", ue.Status)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the client kept the connection to the oversized body open")
	}
}

// TestFetchTooLargeStreaming streams a 64 MiB chunked body, generated as it
// goes, against a 1 MiB limit: the client must refuse it having held little
// more than the limit.
func TestFetchTooLargeStreaming(t *testing.T) {
	const total = 64 << 20
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		chunk := []byte(strings.Repeat(`{"dish":"Pannbiff med lök"},`, 1<<10))
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(cfg *Config) { cfg.MaxBody = 1 << 20 })

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant", ""), Validators{})
	runtime.ReadMemStats(&after)
	wantError(t, resp, err, TooLarge)

	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream kept writing: the client did not close the oversized body")
	}
	// Buffering the whole body would take at least 64 MiB. Reading up to the
	// limit into a doubling buffer takes about four times the limit, and
	// twice that under the race detector, which defeats append's in-place
	// growth; 12 MiB leaves room for that and the connection's own buffers.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 12<<20 {
		t.Errorf("allocated %d bytes while refusing a streamed body over a 1 MiB limit, want < 12 MiB", alloc)
	}
	if n := written.Load(); n >= total {
		t.Errorf("the upstream wrote all %d bytes: the client read the whole body", n)
	}
}

func TestFetchConcurrencyLimit(t *testing.T) {
	const calls = 10
	var cur, peak, hits atomic.Int32
	arrived := make(chan struct{}, calls)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		hits.Add(1)
		arrived <- struct{}{}
		<-release
		cur.Add(-1)
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(cfg *Config) { cfg.MaxInflight = 2 })

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant/"+strconv.Itoa(i), ""), Validators{})
			errs <- err
		}()
	}
	<-arrived
	<-arrived
	if n := c.Inflight(); n != 2 {
		t.Errorf("Inflight with two calls at the upstream = %d, want 2", n)
	}
	for i := 0; i < calls; i++ {
		release <- struct{}{} // one call finishes; a waiting one may start
		if i+2 < calls {
			<-arrived
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Fetch: %v", err)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("the upstream saw %d calls at once, want at most (and, here, exactly) 2", p)
	}
	if n := hits.Load(); n != calls {
		t.Errorf("upstream hit %d times, want %d", n, calls)
	}
}

func TestFetchBusy(t *testing.T) {
	var hits atomic.Int32
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		arrived <- struct{}{}
		<-release
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(cfg *Config) { cfg.MaxInflight = 1 })
	tg := mustTarget(t, "/restaurant", "")

	first := make(chan error, 1)
	go func() {
		_, err := c.Fetch(context.Background(), tg, Validators{})
		first <- err
	}()
	<-arrived

	// The only slot is taken; this caller's deadline passes while it waits.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp, err := c.Fetch(ctx, tg, Validators{})
	ue := wantError(t, resp, err, Busy)
	if !errors.Is(ue, context.DeadlineExceeded) {
		t.Errorf("Busy error %v does not wrap the deadline", ue)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("upstream hit %d times, want 1: a Busy call must not reach it", n)
	}

	close(release)
	if err := <-first; err != nil {
		t.Errorf("the call holding the slot: %v", err)
	}
}

// TestFetchBusyClientTimeout fills the only slot with a call that outlives
// the client's own timeout: a second caller waits no longer than that.
func TestFetchBusyClientTimeout(t *testing.T) {
	var hits atomic.Int32
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		arrived <- struct{}{}
		blockUntilGone(r, release)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(cfg *Config) { cfg.MaxInflight = 1; cfg.Timeout = 300 * time.Millisecond })

	// A long-lived caller context does not extend the client's timeout,
	// so the first call gives up its slot at 300ms...
	first := make(chan error, 1)
	go func() {
		_, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant", ""), Validators{})
		first <- err
	}()
	<-arrived
	// ...and a second caller, arriving later, waits at most its own 300ms:
	// it either finds the slot freed (then times out at the upstream) or
	// gives up waiting as Busy. It never waits past its timeout.
	start := time.Now()
	resp, err := c.Fetch(context.Background(), mustTarget(t, "/restaurant", ""), Validators{})
	if err == nil {
		t.Fatalf("second Fetch = %+v, want an error", resp)
	}
	var ue *Error
	if !errors.As(err, &ue) || (ue.Outcome != Busy && ue.Outcome != Timeout) {
		t.Fatalf("second Fetch: %v, want busy or timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("second Fetch took %v with a timeout of 300ms", d)
	}
	wantError(t, nil, <-first, Timeout)
}

func TestFetchRedirects(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		io.WriteString(w, `{"from":"elsewhere"}`)
	}))
	defer other.Close()

	var mu sync.Mutex
	var seen []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.EscapedPath())
		mu.Unlock()
		switch r.URL.EscapedPath() {
		case "/api/old":
			http.Redirect(w, r, "/api/new?x=1", http.StatusFound)
		case "/api/relative":
			http.Redirect(w, r, "new", http.StatusMovedPermanently)
		case "/api/new":
			io.WriteString(w, `{"from":"new"}`)
		case "/api/other-host":
			http.Redirect(w, r, other.URL+"/api/new", http.StatusFound)
		case "/api/other-port":
			_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
			http.Redirect(w, r, "http://127.0.0.1:"+port+"/api/new", http.StatusTemporaryRedirect)
		case "/api/localhost":
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			http.Redirect(w, r, "http://localhost:"+port+"/api/new", http.StatusFound)
		case "/api/https":
			http.Redirect(w, r, "https://"+r.Host+"/api/new", http.StatusFound)
		case "/api/outside":
			http.Redirect(w, r, "/secret", http.StatusFound)
		case "/api/prefix-lookalike":
			http.Redirect(w, r, "/apisecret", http.StatusFound)
		case "/api/dotdot":
			w.Header().Set("Location", "/api/../secret")
			w.WriteHeader(http.StatusFound)
		case "/api/encoded-dotdot":
			w.Header().Set("Location", "/api/%2e%2e/secret")
			w.WriteHeader(http.StatusFound)
		case "/api/user":
			w.Header().Set("Location", "http://user:pass@"+r.Host+"/api/new")
			w.WriteHeader(http.StatusFound)
		case "/api/loop":
			http.Redirect(w, r, "/api/loop", http.StatusFound)
		default:
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, `{"detail":"should not be asked"}`)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv, nil)

	for _, p := range []string{"/old", "/relative"} {
		resp, err := c.Fetch(context.Background(), mustTarget(t, p, ""), Validators{})
		if err != nil {
			t.Fatalf("%s: redirect within the base: %v", p, err)
		}
		if resp.Status != http.StatusOK || string(resp.Body) != `{"from":"new"}` {
			t.Errorf("%s: redirect within the base = %d %q", p, resp.Status, resp.Body)
		}
	}

	for _, p := range []string{"/other-host", "/other-port", "/localhost", "/https", "/outside", "/prefix-lookalike", "/dotdot", "/encoded-dotdot", "/user", "/loop"} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		resp, err := c.Fetch(context.Background(), mustTarget(t, p, ""), Validators{})
		ue := wantError(t, resp, err, HTTPError)
		if p != "/loop" && !strings.Contains(ue.Error(), "leaves the upstream base") {
			t.Errorf("%s: error %q does not say the redirect leaves the base", p, ue.Error())
		}
		mu.Lock()
		for _, s := range seen {
			if !strings.HasPrefix(s, "/api/") || strings.Contains(s, "%2e") {
				t.Errorf("%s: the upstream was asked for %q outside the base", p, s)
			}
		}
		mu.Unlock()
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("a host outside the base was asked %d times", n)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Outcome: HTTPError, Status: 503, Err: errors.New("unexpected status")}
	if got := e.Error(); got != "upstream http_error (status 503): unexpected status" {
		t.Errorf("Error() = %q", got)
	}
	e = &Error{Outcome: Refused, Err: errors.New("connection refused")}
	if got := e.Error(); got != "upstream refused: connection refused" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(&Error{Outcome: Timeout, Err: context.DeadlineExceeded}, context.DeadlineExceeded) {
		t.Error("Error does not unwrap")
	}
}
