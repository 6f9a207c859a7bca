package harness

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/report/reporttest"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// inProcessStandIn is the stand-in upstream served by this process.
func inProcessStandIn(t *testing.T) *standIn {
	t.Helper()
	_, srv := relaytest.StandIn(t, menuapi.Options{})
	return &standIn{addr: srv.Listener.Addr().String()}
}

// inProcessRelay serves the relay in this process in front of up, with
// the flags it knows of want (as the benchmark passes them).
func inProcessRelay(t *testing.T, up *standIn, ttl time.Duration, want []string) *system {
	t.Helper()
	s, stop, err := startInProcessRelay(up, relayArgs{ttl: ttl, flags: want})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	return s
}

// startInProcessRelay serves the relay in this process with a's settings
// and the flags of a.flags it knows; stop ends it.
func startInProcessRelay(up *standIn, a relayArgs) (s *system, stop func() error, err error) {
	var usage strings.Builder
	none := func(string) (string, bool) { return "", false }
	_, _ = app.ParseFlags([]string{"-help"}, none, &usage)
	known := parseFlagList(usage.String())
	// As startRelay: a fixed TTL, which the scenarios count calls by.
	args := []string{"--upstream", "http://" + up.addr + "/api/", "--cache-ttl", a.ttl.String(), "--fixed-ttl", "--drain-delay=0", "--log-level=warn"}
	if a.negativeTTL > 0 {
		args = append(args, "--negative-ttl", a.negativeTTL.String())
	}
	if a.upstreamTimeout > 0 {
		args = append(args, "--upstream-timeout", a.upstreamTimeout.String())
	}
	var extra []string
	for _, f := range a.flags {
		if known[flagName(f)] {
			extra = append(extra, f)
		}
	}
	cfg, err := app.ParseFlags(append(args, extra...), none, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	r, err := relaytest.Serve(cfg)
	if err != nil {
		return nil, nil, err
	}
	return &system{name: SystemRelay, base: r.URL, upstream: up, flags: extra,
		metricsURL: r.AdminURL + "/metrics", adminURL: r.AdminURL, pid: os.Getpid()}, r.Stop, nil
}

// The benchmark's report from a small real run: a short hot-key scenario
// and a small sweep against the relay and the bare handler in this process
// and a real nginx, each proxy with its own stand-in. A real browser must
// find every chart drawn, with every system's line.
func TestReportOfASmallRun(t *testing.T) {
	nginx := tooltest.Require(t, tooltest.Nginx)
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{NginxBin: nginx, NginxWorkers: 1, Dir: dir, Connections: 4, Log: io.Discard,
		SweepConnections: []int{2, 8}, SweepKeys: []int{13, 300}, SweepDuration: time.Second}
	e := &env{opts: o, dir: dir}
	defer e.stopAll()
	// The systems, with a TTL of ttl: 2 s for the hot key, an hour for the
	// sweep, whose keys must stay cached.
	systems := func(ttl time.Duration) []*system {
		ng, err := e.startNginx(ctx, inProcessStandIn(t), relayArgs{ttl: ttl, negativeTTL: 5 * time.Second, cacheMB: 16, keys: 300})
		if err != nil {
			t.Fatal(err)
		}
		up := inProcessStandIn(t)
		body, err := get(ctx, "http://"+up.addr+"/api/restaurant/dufva")
		if err != nil {
			t.Fatal(err)
		}
		bare := httptest.NewServer(BareHandler(body))
		t.Cleanup(bare.Close)
		return []*system{ng, inProcessRelay(t, up, ttl, queryKeys()), {name: SystemBare, base: bare.URL}}
	}

	sc := scenario{name: ScenarioHot, title: "one hot key, c=4, TTL 1s", ttl: time.Second, duration: 3 * time.Second,
		rounds: 1, keys: 1, targets: hotTargets}
	sr, err := loadScenario(ctx, o, sc, systems(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sw := &SweepResult{DurationSeconds: 1, Path: sweepPath + "{key}", BaseConnections: 2, BaseKeys: 13}
	if err := sweepSystems(ctx, o, sw, o.sweepPoints(), systems(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res := &Results{Started: time.Now(), Finished: time.Now(), Scenarios: []ScenarioResult{*sr}, Sweep: sw}

	for _, r := range sr.Runs {
		if tl := r.Report.Timeline; tl == nil || len(tl.Buckets) < 2 {
			t.Errorf("%s: timeline %+v, want a bucket a second", r.System, tl)
		}
		ps, ok := r.Report.Probe("upstream calls")
		if (r.System == SystemBare) == ok {
			t.Errorf("%s: upstream probe %v, want one for the proxies only", r.System, ok)
		}
		if ok && (len(ps.Samples) < 3 || ps.Total() != float64(r.UpstreamCalls)) {
			t.Errorf("%s: probe %+v, the run counted %d upstream calls", r.System, ps, r.UpstreamCalls)
		}
		// Both proxies keep the key for the scenario's TTL, not for the
		// hours of the API's own Cache-Control, and so refresh it.
		if r.System != SystemBare && r.UpstreamCalls < 2 {
			t.Errorf("%s: %d upstream calls in 3 s at TTL 1 s, want the first and a refresh", r.System, r.UpstreamCalls)
		}
	}
	for _, pt := range sw.Points {
		for _, r := range pt.Runs {
			if r.UpstreamCalls > 0 || r.Report.Errors() > 0 || r.Report.StatusCodes["200"] == 0 {
				t.Errorf("sweep c=%d keys=%d %s: %d upstream calls, %d errors, answers %v: want hits only",
					pt.Connections, pt.Keys, r.System, r.UpstreamCalls, r.Report.Errors(), r.Report.StatusCodes)
			}
		}
	}

	path := filepath.Join(dir, "bench.html")
	if err := res.Page("bench", "a small run").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	all := []string{SystemNginx, SystemRelay, SystemBare}
	want := []reporttest.Want{
		{ID: "hot-spectrum", Series: all},
		{ID: "hot-throughput", Series: all},
		{ID: "hot-upstream", Series: []string{SystemNginx, SystemRelay}},
	}
	for _, dim := range []string{"connections", "keys"} {
		for _, m := range []string{"rps", "p99", "cpu"} {
			want = append(want, reporttest.Want{ID: "sweep-" + dim + "-" + m, Series: all})
		}
	}
	reporttest.Check(t, path, want)

	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"by connections, 13 keys", "by distinct keys, c=2", "upstream calls per key per TTL"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("page lacks %q", s)
		}
	}
	var md strings.Builder
	sw.writeTables(&md)
	if !strings.Contains(md.String(), "| 300 | relay |") || !strings.Contains(md.String(), "| 8 | nginx |") {
		t.Errorf("sweep tables lack the points:\n%s", md.String())
	}
}

func TestSweepPoints(t *testing.T) {
	o := Options{SweepConnections: []int{2000, 20, 200, 20}, SweepKeys: []int{100000, 13, 1000}}
	var got []string
	for _, p := range o.sweepPoints() {
		got = append(got, strconv.Itoa(p.Connections)+"/"+strconv.Itoa(p.Keys))
	}
	if strings.Join(got, " ") != "20/13 200/13 2000/13 20/1000 20/100000" {
		t.Errorf("points %v: connections at the fewest keys, then keys at the fewest connections, each once", got)
	}
	if got := cacheMBFor(100000, 5000); got < 1100 || got > 1200 {
		t.Errorf("cache for 100,000 bodies of 5 kB: %d MiB", got)
	}
	if msg := tooManyConnections(1 << 30); !strings.Contains(msg, "ulimit -n") {
		t.Errorf("a billion connections: %q", msg)
	}
}

func TestParseFlagList(t *testing.T) {
	usage := "Usage of restaurants:\n  -admin-listen string\n    \taddress (default \":9090\")\n  -pprof\n    \tserve pprof\n"
	got := parseFlagList(usage)
	if len(got) != 2 || !got["admin-listen"] || !got["pprof"] {
		t.Errorf("flags %v", got)
	}
	if flagName("--upstream-rate=0") != "upstream-rate" || flagName("-pprof") != "pprof" {
		t.Error("flagName")
	}
}
