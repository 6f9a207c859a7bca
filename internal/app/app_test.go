package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/connguard"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGracefulShutdownDrainsAndFinishesInFlightRequests(t *testing.T) {
	slowStarted := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/slow" {
			close(slowStarted)
			time.Sleep(700 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`"}`)
	}))
	defer up.Close()

	// The drain delay is long enough for the checks made within it (readiness
	// turning false, a new request still served) on a loaded machine.
	const drain = 2 * time.Second
	cfg, err := ParseFlags([]string{"--upstream", up.URL + "/api/", "--drain-delay", drain.String(), "--shutdown-timeout", "5s"},
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, adminLn := listen(t), listen(t)
	relayURL, adminURL := "http://"+ln.Addr().String(), "http://"+adminLn.Addr().String()
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, adminLn) }()

	if code, _ := get(t, adminURL+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d before shutdown, want 200", code)
	}
	if code, _ := get(t, adminURL+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d, want 200", code)
	}

	type result struct {
		code int
		body string
		err  error
	}
	inFlight := make(chan result, 1)
	go func() {
		// Not get: a test may fail only from its own goroutine.
		resp, err := http.Get(relayURL + "/slow")
		if err != nil {
			inFlight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- result{resp.StatusCode, string(b), err}
	}()
	<-slowStarted
	start := time.Now()
	cancel() // as SIGTERM does

	deadline := start.Add(drain)
	for {
		code, _ := get(t, adminURL+"/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never turned 503 while draining")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := get(t, relayURL+"/fast"); code != 200 || body != `{"path":"/api/fast"}` {
		t.Fatalf("during the drain delay: %d %q, want the relay still serving", code, body)
	}

	r := <-inFlight
	if r.err != nil || r.code != 200 || r.body != `{"path":"/api/slow"}` {
		t.Fatalf("in-flight request: %d %q %v, want it finished", r.code, r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(drain + 10*time.Second):
		t.Fatal("Serve did not return after the shutdown")
	}
	if d := time.Since(start); d < drain {
		t.Fatalf("shut down after %v, before the drain delay", d)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("the relay still accepts connections after Serve returned")
	}
}

// serveApp serves the relay of flags, its settings then edited by change
// when not nil, in front of an upstream that answers {} to everything,
// until the test ends, and returns the addresses of its two listeners.
func serveApp(t *testing.T, change func(*Config), flags ...string) (relayAddr, adminAddr string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(up.Close)
	return serveAppOf(t, up.URL, change, flags...)
}

// serveAppOf serves the relay of flags in front of the upstream at up (its
// API under /api/), its settings then edited by change when not nil, until
// the test ends, and returns the addresses of its two listeners.
func serveAppOf(t *testing.T, up string, change func(*Config), flags ...string) (relayAddr, adminAddr string) {
	t.Helper()
	cfg, err := ParseFlags(append([]string{"--upstream", up + "/api/", "--drain-delay", "0s"}, flags...),
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, adminLn := listen(t), listen(t)
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, adminLn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("relay did not stop")
		}
	})
	return ln.Addr().String(), adminLn.Addr().String()
}

func TestMetricsAreServed(t *testing.T) {
	relayAddr, adminAddr := serveApp(t, nil, "--pprof")
	get(t, "http://"+relayAddr+"/restaurant")
	code, body := get(t, "http://"+adminAddr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`restaurants_requests_total{cache="miss",code="200"} 1`,
		`restaurants_upstream_requests_total{outcome="ok"} 1`,
		`restaurants_cache_entries 1`,
		`restaurants_build_info{goversion=`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(t, "http://"+adminAddr+"/debug/pprof/"); code != 200 {
		t.Fatalf("/debug/pprof/ = %d with --pprof", code)
	}
}

// sendRaw opens a connection to addr, closed when the test ends, and
// writes raw on it.
func sendRaw(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlowClientsAreCutOffAndCounted(t *testing.T) {
	const header, idle = 200 * time.Millisecond, 300 * time.Millisecond
	relayAddr, adminAddr := serveApp(t, func(c *Config) { c.ClientTimeouts = connguard.Timeouts{Header: header, Idle: idle} })

	// One client sends half a request header and stops; another asks once
	// and then keeps its connection open without a word. Their times start
	// before either reaches the relay.
	start := time.Now()
	slow := sendRaw(t, relayAddr, "GET /restaurant HTTP/1.1\r\nHost: x\r\n")
	quiet := sendRaw(t, relayAddr, "GET /restaurant HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, c := range []struct {
		conn  net.Conn
		limit time.Duration
	}{{slow, header}, {quiet, idle}} {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c.conn); err != nil {
			t.Fatalf("the relay left a stalled connection open: %v", err)
		}
		if took := time.Since(start); took < c.limit {
			t.Fatalf("closed after %s, before its timeout %s", took, c.limit)
		}
	}
	_, body := get(t, "http://"+adminAddr+"/metrics")
	for _, want := range []string{
		`restaurants_client_connections_timed_out_total{phase="header"} 1`,
		`restaurants_client_connections_timed_out_total{phase="idle"} 1`,
		`restaurants_client_connections_timed_out_total{phase="answer"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
