package menuapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// start runs the stand-in on a free loopback port until the test ends.
func start(t *testing.T, vars map[string]string, args ...string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), io.Discard, io.Discard, env(vars), ready)
	}()
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("not listening after 10s")
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("still running 10s after cancel")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return base, stop
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServesAndStops(t *testing.T) {
	base, stop := start(t, nil)
	if s := status(t, base+"/api/restaurant"); s != 200 {
		t.Fatalf("status %d", s)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	base, _ := start(t, map[string]string{"MENU_API_FAULT": "429", "MENU_API_RETRY_AFTER": "9s"})
	resp, err := http.Get(base + "/api/restaurant")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "9" {
		t.Fatalf("%d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The flag wins over the environment.
	base, _ = start(t, map[string]string{"MENU_API_FAULT": "429"}, "--fault", "5xx", "--api-version", "x.y")
	if s := status(t, base+"/api/version"); s != 500 {
		t.Fatalf("status %d, want the flag's 5xx", s)
	}
	resp, err = http.Get(base + "/-/fault")
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	if f["mode"] != "5xx" {
		t.Fatalf("faults %v", f)
	}
}

// getTimed makes a GET and returns its Cache-Control and how long it took.
func getTimed(t *testing.T, url string) (cacheControl string, took time.Duration) {
	t.Helper()
	began := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return resp.Header.Get("Cache-Control"), time.Since(began)
}

func cacheCounters(t *testing.T, base string) (computed, fromCache int) {
	t.Helper()
	resp, err := http.Get(base + "/-/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Computed  int `json:"computed"`
		FromCache int `json:"from_cache"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Computed, s.FromCache
}

func TestOwnCacheFlagsAndEnvironment(t *testing.T) {
	const compute = 300 * time.Millisecond
	base, _ := start(t, map[string]string{"MENU_API_MENU_MAX_AGE": "90s", "MENU_API_COMPUTE_LATENCY": "1h"},
		"--compute-latency", compute.String(), "--list-max-age", "5s")
	cc, took := getTimed(t, base+"/api/restaurant/dufva")
	if cc != "max-age=90" || took < compute {
		t.Fatalf("first menu: Cache-Control %q after %s; want max-age=90 after at least %s", cc, took, compute)
	}
	if cc, _ := getTimed(t, base+"/api/restaurant"); cc != "max-age=5" {
		t.Fatalf("list: Cache-Control %q, want max-age=5", cc)
	}
	// Answered from the stand-in's cache: nothing computed, so no compute
	// latency (told by the counters, not by a clock).
	getTimed(t, base+"/api/restaurant/dufva")
	if computed, fromCache := cacheCounters(t, base); computed != 2 || fromCache != 1 {
		t.Fatalf("computed %d, from_cache %d; want 2 and 1", computed, fromCache)
	}
}

func TestBadSettingsFailWithOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		vars map[string]string
		want string
	}{
		{[]string{"--fault", "teapot"}, nil, `unknown fault mode "teapot"`},
		{[]string{"--error-rate", "2"}, nil, "error rate must be between 0 and 1"},
		{[]string{"--latency", "-1s"}, nil, "latency must not be negative"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{nil, map[string]string{"MENU_API_JITTER": "lots"}, "MENU_API_JITTER"},
		{nil, map[string]string{"MENU_API_COMPUTE_LATENCY": "-1s"}, "compute latency must not be negative"},
		{nil, map[string]string{"MENU_API_MENU_MAX_AGE": "soon"}, "MENU_API_MENU_MAX_AGE"},
		{[]string{"--menu-max-age", "0s"}, nil, "must be positive"},
		{[]string{"--list-max-age", "-1s"}, nil, "must be positive"},
		{[]string{"--listen", "127.0.0.1:-1"}, nil, "listening on"},
	} {
		err := run(context.Background(), c.args, io.Discard, io.Discard, env(c.vars), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: err = %v, want one line with %q", c.args, c.vars, err, c.want)
		}
	}
}

func TestShutdownEndsSlowRequests(t *testing.T) {
	base, stop := start(t, nil, "--fault", "slow", "--slow-delay", "1m")
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/api/restaurant")
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	// Wait until the slow request has arrived.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(base + "/-/stats")
		if err != nil {
			t.Fatal(err)
		}
		var s struct{ Requests int }
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if s.Requests == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow request never arrived")
		}
	}
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("shutdown took %s with a slow request in flight", took)
	}
	if s := <-answered; s != http.StatusServiceUnavailable {
		t.Fatalf("the slow request got %d, want 503", s)
	}
}

func TestMainExitStatus(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := Main(context.Background(), []string{"--help"}, &stdout, &stderr, env(nil)); code != 0 ||
		!strings.Contains(stdout.String(), "Usage: menu-api") || !strings.Contains(stdout.String(), "MENU_API_FAULT") ||
		!strings.Contains(stdout.String(), "MENU_API_COMPUTE_LATENCY") || !strings.Contains(stdout.String(), "/-/menu/{identifier}") || stderr.Len() > 0 {
		t.Errorf("--help: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := Main(context.Background(), []string{"--fault", "teapot"}, &stdout, &stderr, env(nil)); code != 2 ||
		!strings.HasPrefix(stderr.String(), `menu-api: --fault: unknown fault mode "teapot"`) || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("bad fault: exit %d, stderr %q; want 2 and one line", code, stderr.String())
	}
}
