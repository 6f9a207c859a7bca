package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	var ready Readiness
	reg := prometheus.NewRegistry()
	h := NewHandler(Config{Readiness: &ready, Gatherer: reg})

	if code, body := get(t, h, "/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, h, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before ready = %d, want 503", code)
	}
	ready.Set(true)
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("/readyz when ready = %d, want 200", code)
	}
	ready.Set(false)
	if code, _ := get(t, h, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining = %d, want 503", code)
	}
}

func TestMetricsAndPprof(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "admin_test_total", Help: "a test counter"})
	c.Add(3)
	reg.MustRegister(c)

	off := NewHandler(Config{Readiness: new(Readiness), Gatherer: reg})
	if code, body := get(t, off, "/metrics"); code != 200 || !strings.Contains(body, "admin_test_total 3") {
		t.Fatalf("/metrics = %d %q", code, body)
	}
	if code, body := get(t, off, "/debug/pprof/"); code != http.StatusNotFound || !strings.Contains(body, "not found") {
		t.Fatalf("/debug/pprof/ without pprof = %d %q, want a JSON 404", code, body)
	}

	on := NewHandler(Config{Readiness: new(Readiness), Gatherer: reg, Pprof: true})
	if code, _ := get(t, on, "/debug/pprof/"); code != 200 {
		t.Fatalf("/debug/pprof/ with pprof = %d", code)
	}
	if code, _ := get(t, on, "/debug/pprof/cmdline"); code != 200 {
		t.Fatalf("/debug/pprof/cmdline with pprof = %d", code)
	}
}
