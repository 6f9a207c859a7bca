package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/report/reporttest"
	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// inProcess starts the stand-ins and relays in the test's process.
type inProcess struct{}

func (inProcess) standIn(_ context.Context, e *env, _ string, latency time.Duration, extra ...string) (*standIn, error) {
	f := menuapi.Faults{Latency: latency}
	for i := 0; i < len(extra); i += 2 {
		if extra[i] != "--slow-delay" || i+1 >= len(extra) {
			return nil, fmt.Errorf("in-process stand-in: flags %v", extra)
		}
		d, err := time.ParseDuration(extra[i+1])
		if err != nil {
			return nil, err
		}
		f.SlowDelay = d
	}
	h, err := menuapi.New(menuapi.Options{Faults: f})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(h)
	e.onStop(srv.Close)
	return &standIn{addr: srv.Listener.Addr().String()}, nil
}

func (inProcess) relay(_ context.Context, e *env, up *standIn, a relayArgs, v relayVariant) (*system, error) {
	s, stop, err := startInProcessRelay(up, relayArgs{ttl: a.ttl, negativeTTL: a.negativeTTL, upstreamTimeout: a.upstreamTimeout,
		flags: append(append([]string{}, a.flags...), v.flags...)})
	if err != nil {
		return nil, err
	}
	e.onStop(func() { _ = stop() })
	return s, nil
}

// The scenarios of the upstream's protection, in short runs against
// relays in this process and a real redis-server: what the relay
// guarantees whatever the machine's speed, and a report that draws every
// chart.
func TestGuardScenarios(t *testing.T) {
	tooltest.Require(t, tooltest.RedisServer)
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Dir: dir, Connections: 4, Duration: 2 * time.Second, Rounds: 1, FloodDuration: 2 * time.Second,
		ClusterDuration: 2 * time.Second, Log: io.Discard, starter: inProcess{}}
	res := &Results{Started: time.Now()}

	t.Run("flood", func(t *testing.T) {
		run, err := floodOnce(ctx, o, SystemRelay, true)
		if err != nil {
			t.Fatal(err)
		}
		res.Flood = &FloodResult{DurationSeconds: 2, TTLSeconds: floodTTL.Seconds(), Connections: 4, FloodConnections: floodConnections,
			Keys: len(allTargets("")), Runs: []FloodRun{*run}}
		// The budget is a token bucket: no more calls than the burst and
		// the rate allow, at any moment.
		if run.BudgetRate != floodRate || run.BudgetBurst != floodBurst || !run.Held() {
			t.Errorf("%d upstream calls in %.1f s, budget %g/s burst %d: want within the bound %.0f", run.UpstreamCalls, run.WindowSeconds,
				run.BudgetRate, run.BudgetBurst, run.Bound())
		}
		if at, calls, over := run.overBound(); over {
			t.Errorf("%.0f upstream calls by %.1f s: over the bound", calls, at)
		}
		// Every reader's key has a copy: refreshes over budget serve it stale,
		// never a 503, never a wait for a miss.
		if r := run.Readers; r.ServerErrors != 0 || r.StatusCodes["200"] != r.Responses || r.HeaderValues["HIT"]+r.HeaderValues["STALE"] != r.Responses {
			t.Errorf("readers: status %v, X-Cache %v: want every answer a 200 from a copy", r.StatusCodes, r.HeaderValues)
		}
		for code := range run.Flooder.StatusCodes {
			if code != "200" && code != "404" && code != "503" {
				t.Errorf("the flooding client got %s (%v): want 200 (a query string dropped), 404 (a junk name) or 503 (over budget)", code, run.Flooder.StatusCodes)
			}
		}
		if run.Metrics == nil || run.Metrics.RequestsByCache["miss"] == 0 {
			t.Errorf("relay metrics %+v: want the junk names' misses", run.Metrics)
		}
	})

	t.Run("hang", func(t *testing.T) {
		plan := hangPlan{ttl: 500 * time.Millisecond, swr: 250 * time.Millisecond, timeout: time.Second, slowDelay: 30 * time.Second,
			warmLoad: 300 * time.Millisecond, steady: time.Second, hang: 3 * time.Second, after: time.Second}
		run, err := hangOnce(ctx, o, SystemRelay, plan)
		if err != nil {
			t.Fatal(err)
		}
		res.Hang = &HangResult{TTLSeconds: 0.5, SWRSeconds: 0.25, UpstreamTimeoutSeconds: 1, SlowDelaySeconds: 30, SteadySeconds: 1, HangSeconds: 3,
			RecoverySeconds: 1, Connections: 4, Keys: len(allTargets("")), Runs: []HangRun{*run}}
		if len(run.Phases) != 3 {
			t.Fatalf("phases %d, want steady, hang, recovery", len(run.Phases))
		}
		h := run.phase(phaseHang)
		// A copy for every key: while the upstream hangs, every answer is
		// that copy, at once; the refreshes go out, and time out.
		if r := h.Report; r.Responses == 0 || r.StatusCodes["200"] != r.Responses || r.HeaderValues["HIT"]+r.HeaderValues["STALE"] != r.Responses || r.HeaderValues["STALE"] == 0 {
			t.Errorf("during the hang: status %v, X-Cache %v: want 200s from the copies, stale ones among them", r.StatusCodes, r.HeaderValues)
		}
		if h.UpstreamCalls == 0 {
			t.Error("no upstream call during the hang: the expired copies were never refreshed")
		}
		timeouts := h.Metrics.UpstreamByOutcome["timeout"] + run.phase(phaseRecovery).Metrics.UpstreamByOutcome["timeout"]
		if timeouts == 0 {
			t.Errorf("upstream outcomes %v then %v: want the hung calls timed out", h.Metrics.UpstreamByOutcome, run.phase(phaseRecovery).Metrics.UpstreamByOutcome)
		}
		if len(run.RSS) < 3 || run.RSSSteady() <= 0 || run.RSSPeak() <= 0 {
			t.Errorf("RSS samples %v: want one a second, before and during the hang", run.RSS)
		}
		if s, a := run.phase(phaseSteady), run.phase(phaseRecovery); s.StartSeconds > h.StartSeconds || h.StartSeconds > a.StartSeconds {
			t.Errorf("phases start at %.2f, %.2f, %.2f s: want them in order", s.StartSeconds, h.StartSeconds, a.StartSeconds)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		cr, err := runCluster(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		res.Cluster = cr
		if cr.Skipped != "" || len(cr.Runs) != 4 {
			t.Fatalf("cluster: skipped %q, %d runs", cr.Skipped, len(cr.Runs))
		}
		for _, r := range cr.Runs {
			if r.Report.ServerErrors != 0 || r.Report.Responses == 0 {
				t.Errorf("%s: %d answers, status %v", r.Name, r.Report.Responses, r.Report.StatusCodes)
			}
			// Every key starts cold, in every relay and in the tier: each is
			// fetched at least once.
			if r.UpstreamCalls < int64(r.Keys) {
				t.Errorf("%s: %d upstream calls for %d cold keys", r.Name, r.UpstreamCalls, r.Keys)
			}
			var lookups float64
			for _, v := range r.SharedLookups {
				lookups += v
			}
			if r.Shared != (lookups > 0) {
				t.Errorf("%s: shared tier lookups %v", r.Name, r.SharedLookups)
			}
			if want := map[bool]int{true: clusterRelays, false: 1}[strings.HasPrefix(r.Name, "3")]; r.Relays != want {
				t.Errorf("%s: %d relays", r.Name, r.Relays)
			}
		}
		var md strings.Builder
		cr.writeTable(&md)
		for _, want := range []string{"| 3 relays + shared tier | 3 |", "| 1 relay, hot key | 1 |", "upstream calls per key per TTL: "} {
			if !strings.Contains(md.String(), want) {
				t.Errorf("cluster table lacks %q:\n%s", want, md.String())
			}
		}
	})

	if t.Failed() || res.Flood == nil || res.Hang == nil || res.Cluster == nil {
		return
	}
	res.Finished = time.Now()
	path := filepath.Join(dir, "bench.html")
	if err := res.Page("bench", "the guards' scenarios, short").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	flood := []string{"relay + flood"}
	hang := []string{SystemRelay}
	cluster := []string{clusterAlone, clusterShared}
	reporttest.Check(t, path, []reporttest.Want{
		{ID: "flood-upstream", Series: append(flood, "relay: budget bound")},
		{ID: "flood-spectrum", Series: flood},
		{ID: "flood-throughput", Series: flood},
		{ID: "hang-p99", Series: hang},
		{ID: "hang-throughput", Series: hang},
		{ID: "hang-rss", Series: hang},
		{ID: "hang-upstream", Series: hang},
		{ID: "hang-spectrum", Series: []string{"relay, steady", "relay, hang"}},
		{ID: "cluster-upstream", Series: cluster},
		{ID: "cluster-spectrum", Series: append(cluster, hotAlone, hotShared)},
		{ID: "cluster-throughput", Series: cluster},
	})
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"the budget&#39;s bound is 5/s", "the steady p99 of the same run", "with the shared tier"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func TestBudgetOf(t *testing.T) {
	for _, c := range []struct {
		flags []string
		rate  float64
		burst int
		ok    bool
	}{
		{floodBudget(), floodRate, floodBurst, true},
		{[]string{"--upstream-rate=5", "--upstream-burst=20", "--upstream-rate=8"}, 8, 20, true},
		{[]string{"--upstream-rate=0"}, 0, floodBurst, false},
		{[]string{"--forward-query"}, 0, floodBurst, false},
	} {
		rate, burst, ok := budgetOf(c.flags)
		if rate != c.rate || burst != c.burst || ok != c.ok {
			t.Errorf("budgetOf(%v) = %v, %v, %v; want %v, %v, %v", c.flags, rate, burst, ok, c.rate, c.burst, c.ok)
		}
	}
	r := FloodRun{BudgetRate: 5, BudgetBurst: 20, WindowSeconds: 10, UpstreamCalls: 70, Readers: &loadtest.Report{Probes: []loadtest.ProbeSeries{{
		Name: "upstream calls", Counter: true, Samples: []loadtest.Sample{{Seconds: 0, Value: 100}, {Seconds: 1, Value: 126}, {Seconds: 10, Value: 170}}}}}}
	if r.Bound() != 70 || !r.Held() {
		t.Errorf("bound %v held %v, want 70 and held", r.Bound(), r.Held())
	}
	if at, calls, over := r.overBound(); !over || at != 1 || calls != 26 {
		t.Errorf("overBound = %v, %v, %v: want 26 calls by 1 s over its bound of 25", at, calls, over)
	}
	r.UpstreamCalls = 71
	if r.Held() {
		t.Error("71 calls held a bound of 70")
	}
	if (&FloodRun{}).Bound() != -1 || (&FloodRun{}).Held() {
		t.Error("a run without a budget has a bound")
	}
}

func TestRSSSamples(t *testing.T) {
	own, err := rssBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tree, err := treeRSS(os.Getpid()); err != nil || tree < own {
		t.Errorf("treeRSS = %d, %v; want at least the process's own %d", tree, err, own)
	}
	s := sampleRSS(func() (int64, error) { return rssBytes(os.Getpid()) }, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	samples, err := s.finish()
	if err != nil || len(samples) < 2 || samples[0].Seconds > 1 {
		t.Fatalf("samples %v, %v: want a first one at once and more", samples, err)
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].Seconds < samples[i-1].Seconds || samples[i].Bytes <= 0 {
			t.Errorf("samples %v", samples)
		}
	}
	if _, err := sampleRSS(func() (int64, error) { return 0, os.ErrNotExist }, time.Hour).finish(); err == nil {
		t.Error("a sampler that never read reported no failure")
	}
	pts := []RSSSample{{0, 10}, {1, 30}, {2, 20}, {3, 50}, {4, 40}}
	if peakRSS(pts, 0, 2) != 30 || peakRSS(pts, 2, 99) != 50 || peakRSS(pts, 9, 10) != 0 {
		t.Error("peakRSS")
	}
	run := HangRun{RSS: pts, Phases: []HangPhase{{Name: phaseSteady, StartSeconds: 0, Report: reportOf(1, 1, 2, 3, 4, 0)},
		{Name: phaseHang, StartSeconds: 2, Report: reportOf(1, 1, 3, 3, 4, 0)}, {Name: phaseRecovery, StartSeconds: 4, Report: reportOf(1, 1, 2, 3, 4, 0)}}}
	if run.RSSSteady() != 30 || run.RSSPeak() != 50 || run.P99Ratio() != 1.5 {
		t.Errorf("steady %d peak %d p99 ratio %v, want 30, 50, 1.5", run.RSSSteady(), run.RSSPeak(), run.P99Ratio())
	}
}

// waitsOf counts the answers that took a second or more, and the share of
// the connections' time they held.
func TestWaitsOf(t *testing.T) {
	srv := httptest.NewServer(httpSleep(map[string]time.Duration{"/slow": 1100 * time.Millisecond}))
	defer srv.Close()
	rep, err := loadtest.Run(context.Background(), loadtest.Config{Targets: []loadtest.Target{{URL: srv.URL + "/slow", Weight: 1}},
		Connections: 2, Duration: time.Minute, MaxRequests: 2})
	if err != nil {
		t.Fatal(err)
	}
	n, share := waitsOf(rep, time.Second)
	if n != 2 || share <= 0 || share > 1.01 {
		t.Errorf("waits %d share %v, want 2 and most of the run's connection time", n, share)
	}
	if n, _ := waitsOf(rep, time.Minute); n != 0 {
		t.Errorf("%d waits of a minute", n)
	}
}

func TestClusterTable(t *testing.T) {
	mk := func(name string, relays, keys int, ttl, rps, p99 float64, calls int64, shared bool) ClusterRun {
		rep := reportOf(rps, 1, p99, p99*2, p99*3, 0)
		rep.DurationSeconds = min(30, ttl/2)
		if relays > 1 {
			rep.DurationSeconds = 30
		}
		return ClusterRun{Name: name, Round: 1, Relays: relays, Keys: keys, TTLSeconds: ttl, Shared: shared, Report: rep, UpstreamCalls: calls,
			Metrics: &loadtest.MetricsDelta{RequestsByCache: map[string]float64{"shared_hit": 3}}, CPUMicrosPerRequest: 10}
	}
	cr := &ClusterResult{Relays: 3, TTLSeconds: 1, DurationSeconds: 30, Keys: 19, Connections: 20, HotTTLSeconds: 10, HotSeconds: 5, HotRounds: 1, Runs: []ClusterRun{
		mk(clusterAlone, 3, 19, 1, 1000, 4, 1710, false), mk(clusterShared, 3, 19, 1, 1100, 2, 570, true),
		mk(hotAlone, 1, 1, 10, 2000, 1, 1, false), mk(hotShared, 1, 1, 10, 2000, 1, 1, true)}}
	var md strings.Builder
	cr.writeTable(&md)
	for _, want := range []string{
		"| 3 relays | 3 | 1000 | 1.000 | 4.000 | 8.000 | 0 | 1710.0 | 3.00 | 3 | 10.0 | - | - | - | 0.50 | 4.00 |",
		"| 3 relays + shared tier | 3 | 1100 | 1.000 | 2.000 | 4.000 | 0 | 570.0 | 1.00 | 3 | 10.0 | 1.10 | 0.50 | 1.00 | 0.55 | 2.00 |",
		"| 1 relay, hot key + shared tier | 1 | 2000 | 1.000 | 1.000 | 2.000 | 0 | 1.0 | - | 3 | 10.0 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |",
		"upstream calls per key per TTL: 1.00 with the shared tier, 3.00 without it",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
	skipped := &ClusterResult{Relays: 3, Skipped: "skipped: " + errNoRedis.Error()}
	md.Reset()
	skipped.writeTable(&md)
	if !strings.Contains(md.String(), "- skipped: redis-server is not installed") || strings.Contains(md.String(), "| run |") {
		t.Errorf("skipped scenario:\n%s", md.String())
	}
	if sec := skipped.section(); len(sec.Charts) != 0 || len(sec.Items) != 1 {
		t.Errorf("skipped section %+v", sec)
	}
}

// httpSleep answers each path after its delay.
func httpSleep(delays map[string]time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delays[r.URL.Path])
	})
}
