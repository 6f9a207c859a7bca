package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/menu"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\trestaurants\nVmPeak:\t  900000 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	got, err := parseVmRSS(bufio.NewScanner(strings.NewReader(status)))
	if err != nil || got != 12345*1024 {
		t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, 12345*1024)
	}
	if _, err := parseVmRSS(bufio.NewScanner(strings.NewReader("Name:\tx\n"))); err == nil {
		t.Error("missing VmRSS accepted")
	}
	if _, err := parseVmRSS(bufio.NewScanner(strings.NewReader("VmRSS:\t12 MB\n"))); err == nil {
		t.Error("unexpected unit accepted")
	}
	// This process's own RSS is a positive number.
	if n, err := rssBytes(os.Getpid()); err != nil || n <= 0 {
		t.Errorf("own RSS %d, %v", n, err)
	}
}

func TestNginxSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1s", 10 * time.Second: "10s", 1500 * time.Millisecond: "2s", 0: "1s", 5 * time.Minute: "300s",
	} {
		if got := nginxSeconds(d); got != want {
			t.Errorf("nginxSeconds(%v) = %q, want %q", d, got, want)
		}
	}
}

func testParams(dir string) nginxParams {
	return nginxParams{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:18081", Workers: 2, CacheMB: 64,
		KeysZoneMB: keysZoneMB(100000), OpenFiles: nginxOpenFiles(), TTL: "10s", NegativeTTL: "5s", UpstreamTimeout: "10s"}
}

func TestRenderNginx(t *testing.T) {
	conf, err := renderNginx(testParams("/var/empty/x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"daemon off;", "listen 127.0.0.1:18080 backlog=4096;", "keys_zone=menu:26m", "worker_rlimit_nofile ", "server 127.0.0.1:18081;", "keepalive 32;",
		"proxy_pass http://menu_api/api/;", "proxy_cache_valid 200 10s;", "proxy_cache_valid 404 5s;",
		"proxy_cache_lock on;", "proxy_ignore_headers Cache-Control Expires;", "proxy_cache_background_update on;", "proxy_cache_use_stale updating",
		"proxy_set_header Connection \"\";", "pid /var/empty/x/nginx.pid;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if strings.Contains(conf, "user ") {
		t.Error("user directive without a user")
	}
}

// nginx itself checks the configuration when it is installed.
func TestNginxAcceptsConfig(t *testing.T) {
	bin, err := findNginx("")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	p := testParams(dir)
	if os.Geteuid() == 0 {
		p.User = "root"
	}
	conf, err := renderNginx(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

func TestBareHandler(t *testing.T) {
	srv := httptest.NewServer(BareHandler([]byte(`{"restaurants":[]}`)))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/any/path")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != `{"restaurants":[]}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("bare answered %q %q", b, resp.Header.Get("Content-Type"))
	}
}

func reportOf(rps, p50, p99, p999, max float64, errs int64) *loadtest.Report {
	return &loadtest.Report{RequestsPerSecond: rps, TransportErrors: errs,
		Latency: loadtest.Latency{P50: p50, P99: p99, P999: p999, Max: max}}
}

func TestSummariesAndTable(t *testing.T) {
	sr := &ScenarioResult{Name: ScenarioHot, Title: "hot", TTLSeconds: 10, DurationSeconds: 10, Rounds: 3, Keys: 1, Runs: []LoadRun{
		{System: SystemNginx, Round: 1, Report: reportOf(100, 1, 2, 4, 9, 0), UpstreamCalls: 1},
		{System: SystemRelay, Round: 1, Report: reportOf(300, 1, 1, 2, 5, 1), UpstreamCalls: 2},
		{System: SystemNginx, Round: 2, Report: reportOf(200, 1, 4, 8, 7, 0), UpstreamCalls: 1},
		{System: SystemRelay, Round: 2, Report: reportOf(100, 1, 3, 6, 4, 0), UpstreamCalls: 0},
		{System: SystemNginx, Round: 3, Report: reportOf(150, 1, 3, 6, 8, 0), UpstreamCalls: 1},
		{System: SystemRelay, Round: 3, Report: reportOf(200, 1, 2, 4, 6, 0), UpstreamCalls: 1},
	}}
	sums := sr.summaries()
	if len(sums) != 2 || sums[0].System != SystemNginx || sums[1].System != SystemRelay {
		t.Fatalf("summaries %+v", sums)
	}
	n, r := sums[0], sums[1]
	if n.RPS != 150 || n.P99 != 3 || n.P999 != 6 || n.Max != 9 || n.UpstreamCalls != 1 {
		t.Errorf("nginx summary %+v: want medians 150/3/6, worst max 9, 1 call per run", n)
	}
	if r.RPS != 200 || r.P99 != 2 || r.Errors != 1 || r.UpstreamCalls != 1 {
		t.Errorf("relay summary %+v", r)
	}
	var b strings.Builder
	sr.writeTable(&b, nil)
	for _, want := range []string{
		"| nginx | 150 | 1.000 | 3.000 | 6.000 | 9.000 | 0 | 1.0 | 0.0 | 1.00 | 1.00 | 1.00 | - |",
		"| relay | 200 | 1.000 | 2.000 | 4.000 | 6.000 | 1 | 1.0 | 0.0 | 1.33 | 0.67 | 0.67 | - |",
		"relay: 1.00 upstream calls per key per TTL",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
}

func TestRunRefusesUnboundedOrUnknown(t *testing.T) {
	if _, err := Run(context.Background(), Options{}, io.Discard); err == nil {
		t.Error("zero durations accepted")
	}
	o := Options{Connections: 1, Duration: time.Second, Rounds: 1, TTLDuration: time.Second, MemoryDuration: time.Second, Scenarios: []string{"nope"}}
	if _, err := Run(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Errorf("unknown scenario: %v", err)
	}
}

func TestCPUOf(t *testing.T) {
	line := "1234 (nginx: worker (x)) S 1200 1200 1200 0 -1 4194624 100 0 0 0 250 30 0 0 20 0 1 0 100 1000 100"
	ppid, cpu, err := cpuOf(line)
	if err != nil || ppid != 1200 || cpu != 2800*time.Millisecond {
		t.Fatalf("cpuOf = %d, %v, %v; want 1200, 2.8s", ppid, cpu, err)
	}
	if _, _, err := cpuOf("garbage"); err == nil {
		t.Error("garbage parsed")
	}
	if _, err := treeCPU(os.Getpid()); err != nil {
		t.Errorf("own CPU time: %v", err)
	}
}

func TestRelayVariant(t *testing.T) {
	e := &env{opts: Options{RelayBin: "/bin/relay", RelayFlags: []string{"--a"}, RelayB: &RelayVariant{Env: []string{"GOGC=400"}}}}
	a, b := e.variant(SystemRelay), e.variant(SystemRelayB)
	if a.bin != "/bin/relay" || len(a.flags) != 1 || a.name != SystemRelay {
		t.Errorf("relay A %+v", a)
	}
	if b.bin != "/bin/relay" || len(b.flags) != 0 || b.env[0] != "GOGC=400" || b.name != SystemRelayB {
		t.Errorf("relay B %+v: same build by default, its own flags and environment", b)
	}
	sc := e.opts.scenarios()
	if got := sc[0].systems; len(got) != 4 || got[2] != SystemRelayB {
		t.Errorf("systems with relay B: %v", got)
	}
	for _, s := range sc {
		if len(s.flags) == 0 || s.flags[0] != "--upstream-rate=0" {
			t.Errorf("%s: relay flags %v, want no call budget (nginx has none)", s.name, s.flags)
		}
	}
}

func TestFindNginxExplicitPath(t *testing.T) {
	if _, err := findNginx(filepath.Join(t.TempDir(), "no-nginx-here")); err == nil {
		t.Error("a missing explicit nginx path was accepted")
	}
	o := Options{Connections: 1, Duration: time.Second, Rounds: 1, TTLDuration: time.Second, MemoryDuration: time.Second,
		NginxBin: "/nonexistent/nginx", Scenarios: []string{ScenarioHot}}
	if _, err := Run(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Errorf("Run with a missing explicit nginx: %v", err)
	}
}

// TestScenariosFollowTheStandInsData: the scenarios that ask for every
// menu ask for the list and each restaurant the stand-in serves, and their
// key counts (the bound on upstream calls) match.
func TestScenariosFollowTheStandInsData(t *testing.T) {
	_, srv := relaytest.StandIn(t, menuapi.Options{})
	base := srv.URL + "/api"
	resp, err := http.Get(base + "/restaurant")
	if err != nil {
		t.Fatal(err)
	}
	var list menu.RestaurantList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Connections: 20, Duration: time.Second, Rounds: 1, TTLDuration: time.Second, MemoryDuration: time.Second}
	for _, sc := range o.scenarios() {
		targets := sc.targets(base)
		if sc.keys > 0 && len(targets) != sc.keys {
			t.Errorf("%s: %d targets, %d keys", sc.name, len(targets), sc.keys)
		}
		if sc.name == ScenarioTTL || sc.name == ScenarioSlow {
			if want := 1 + len(list.Restaurants); len(targets) != want {
				t.Errorf("%s: %d targets, want the list and %d restaurants", sc.name, len(targets), len(list.Restaurants))
			}
			if !strings.Contains(sc.title, fmt.Sprintf("list + %d restaurants", len(list.Restaurants))) {
				t.Errorf("%s: title %q", sc.name, sc.title)
			}
		}
		for _, tg := range targets {
			if strings.Contains(tg.URL, "{") {
				continue // a random unknown path
			}
			resp, err := http.Get(tg.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %s answers %d", sc.name, tg.URL, resp.StatusCode)
			}
		}
	}
}
