package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/hack/bench/harness"
	"github.com/scilifelab/restaurants/internal/loadtest"
)

func TestParseInts(t *testing.T) {
	got, err := parseInts(" 16, 64")
	if err != nil || len(got) != 2 || got[0] != 16 || got[1] != 64 {
		t.Fatalf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "16,", "0", "-1", "x"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-mem-cache-mb", "lots"},
		{"-sweep-c", "20,many"},
		{"-sweep-keys", "0"},
		{"-rounds", "many"},
		{"-bin", t.TempDir()}, // no binaries there
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code == 0 {
			t.Errorf("%v: exit 0, want an error (%s)", args, errOut.String())
		}
		if errOut.Len() == 0 || !strings.HasPrefix(errOut.String(), "bench: ") {
			t.Errorf("%v: stderr %q, want a one-line reason", args, errOut.String())
		}
	}
}

// -replot draws the report of a recorded bench.json again.
func TestReplot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Millisecond)
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	rep, err := loadtest.Run(context.Background(), loadtest.Config{Targets: []loadtest.Target{{URL: srv.URL, Weight: 1}}, Connections: 2, Duration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res := harness.Results{Scenarios: []harness.ScenarioResult{{Name: harness.ScenarioHot, Title: "hot", Rounds: 1, DurationSeconds: 1.5,
		Runs: []harness.LoadRun{{System: harness.SystemBare, Round: 1, Report: rep, UpstreamCalls: -1}}}}}
	dir := t.TempDir()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-replot", path, "-out", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	html, err := os.ReadFile(filepath.Join(dir, "bench.html"))
	if err != nil || !strings.Contains(string(html), `data-chart="hot-spectrum" data-series="1"`) || !strings.Contains(string(html), `data-chart="hot-throughput"`) {
		t.Errorf("replotted page: %v\n%.400s", err, html)
	}
	if code := run(context.Background(), []string{"-replot", path}, &out, &errOut); code == 0 {
		t.Error("-replot without -out accepted")
	}
}
