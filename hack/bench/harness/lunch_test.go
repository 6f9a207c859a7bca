package harness

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/report"
	"github.com/scilifelab/restaurants/internal/report/reporttest"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

func TestLunchScheduleIsSeeded(t *testing.T) {
	a := lunchSchedule(7, 1, 10*time.Minute, 19, 1)
	b := lunchSchedule(7, 1, 10*time.Minute, 19, 1)
	c := lunchSchedule(8, 1, 10*time.Minute, 19, 1)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("the same seed gave two schedules (%d and %d requests)", len(a), len(b))
	}
	if slices.Equal(a, c) {
		t.Error("seeds 7 and 8 gave the same schedule")
	}
	for i, x := range a {
		if x.At < 0 || x.At >= 10*time.Minute || x.Key < 0 || x.Key >= 19 || (i > 0 && x.At < a[i-1].At) {
			t.Fatalf("arrival %d %+v: want ordered moments within the run and keys within the 19", i, x)
		}
	}
	if lunchSchedule(1, 0, time.Minute, 19, 1) != nil || lunchSchedule(1, 1, 0, 19, 1) != nil {
		t.Error("a schedule without a rate or a duration")
	}
	if n := len(lunchSchedule(1, 1e9, time.Hour, 19, 1)); n != lunchMaxArrivals {
		t.Errorf("a huge rate gave %d arrivals, want the bound %d", n, lunchMaxArrivals)
	}
}

// Arrivals are a Poisson process: as many as rate x time, and gaps
// exponential (their standard deviation equal to their mean).
func TestLunchSchedulePoisson(t *testing.T) {
	for _, rate := range []float64{1, 0.25, 5} {
		d := time.Duration(20000/rate) * time.Second // 20,000 expected arrivals: sd 141, 0.7 %
		s := lunchSchedule(3, rate, d, 19, 1)
		want := rate * d.Seconds()
		if n := float64(len(s)); math.Abs(n-want)/want > 0.03 {
			t.Errorf("rate %g: %d arrivals in %v, want %.0f within 3 %%", rate, len(s), d, want)
		}
		var sum, sq float64
		prev := time.Duration(0)
		for _, x := range s {
			g := (x.At - prev).Seconds()
			sum, sq, prev = sum+g, sq+g*g, x.At
		}
		mean := sum / float64(len(s))
		sd := math.Sqrt(sq/float64(len(s)) - mean*mean)
		if math.Abs(mean*rate-1) > 0.03 || math.Abs(sd/mean-1) > 0.05 {
			t.Errorf("rate %g: gaps mean %.3f s, sd %.3f s: want mean 1/rate and sd = mean (exponential)", rate, mean, sd)
		}
	}
}

// Keys follow Zipf's law: rank k is asked for in proportion to 1/k^s.
func TestLunchScheduleZipf(t *testing.T) {
	for _, s := range []float64{1, 1.5} {
		sched := lunchSchedule(5, 100, 2000*time.Second, 19, s) // about 200,000 requests
		counts := make([]float64, 19)
		for _, x := range sched {
			counts[x.Key]++
		}
		var h float64
		for k := 1; k <= 19; k++ {
			h += 1 / math.Pow(float64(k), s)
		}
		for k, c := range counts {
			want := float64(len(sched)) / math.Pow(float64(k+1), s) / h
			if math.Abs(c-want) > 5*math.Sqrt(want)+1 {
				t.Errorf("s=%g rank %d: %.0f requests, want %.0f (Zipf)", s, k+1, c, want)
			}
		}
		if counts[0] < 1.9*counts[1] || counts[1] < counts[2] || counts[2] < counts[18] {
			t.Errorf("s=%g: counts %v: want the list first, and fewer for each rank down", s, counts)
		}
	}
}

func TestLunchKeys(t *testing.T) {
	keys := lunchKeys()
	ids := menuapi.Identifiers()
	if len(keys) != 19 || len(ids) != 18 || keys[0] != "/restaurant" {
		t.Fatalf("keys %v: want the list and the 18 restaurants", keys)
	}
	for i, id := range ids {
		if keys[i+1] != "/restaurant/"+id {
			t.Errorf("key %d is %q, want /restaurant/%s", i+1, keys[i+1], id)
		}
	}
}

func lunchTestParams(dir string) nginxParams {
	p := lunchNginxParams(1)
	p.Dir, p.Listen, p.Upstream = dir, "127.0.0.1:18090", "127.0.0.1:18091"
	return p
}

// The lunch scenario's nginx is set up as an operator would for this API:
// it follows the API's lifetimes and revalidates, and its own TTL is only
// for answers that name none.
func TestLunchNginxConfig(t *testing.T) {
	conf, err := renderNginx(lunchTestParams("/var/empty/lunch"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"proxy_cache_revalidate on;", "proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;",
		"proxy_cache_background_update on;", "proxy_cache_lock on;", "proxy_cache_valid 200 10s;",
		"listen 127.0.0.1:18090;", "server 127.0.0.1:18091;", "proxy_pass http://menu_api/api/;", "pid /var/empty/lunch/nginx.pid;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	for _, bad := range []string{"proxy_ignore_headers", "proxy_cache_valid any", "proxy_cache_valid 404"} {
		if strings.Contains(conf, bad) {
			t.Errorf("nginx.conf has %q: nginx would not follow the API's lifetimes, or keep what the operator did not ask for", bad)
		}
	}
	if n := strings.Count(conf, "proxy_cache_valid"); n != 1 {
		t.Errorf("%d proxy_cache_valid lines, want one", n)
	}
	def, err := renderNginx(testParams("/var/empty/x"))
	if err != nil || !strings.Contains(def, "proxy_ignore_headers Cache-Control Expires;") {
		t.Errorf("the other scenarios' nginx changed: %v\n%s", err, def)
	}

	bin := tooltest.Require(t, tooltest.Nginx)
	dir := t.TempDir()
	p := lunchTestParams(dir)
	if os.Geteuid() == 0 {
		p.User = "root"
	}
	if conf, err = renderNginx(p); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

func TestDecodeCounters(t *testing.T) {
	c, err := decodeCounters(strings.NewReader(`{"requests":12,"by_status":{"200":9,"304":3},"computed":4,"from_cache":5,"not_modified":3}`))
	if err != nil || c != (LunchUpstream{Requests: 12, Computed: 4, FromCache: 5, NotModified: 3}) {
		t.Errorf("counters %+v, %v", c, err)
	}
	c, err = decodeCounters(strings.NewReader(`{"requests":7}`))
	if err != nil || c != (LunchUpstream{Requests: 7, Computed: -1, FromCache: -1, NotModified: -1}) {
		t.Errorf("a stand-in without the cache counters: %+v, %v; want -1 for each", c, err)
	}
	if _, err := decodeCounters(strings.NewReader(`<html>`)); err == nil {
		t.Error("garbage accepted")
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]float64{50: 5, 90: 9, 99: 10, 100: 10, 0: 1, 10: 1, 11: 2} {
		if got := percentile(xs, p); got != want {
			t.Errorf("p%g = %g, want %g (nearest rank)", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
}

// lunchRequests are answers of the given latencies (ms), one a second from
// 0; a negative latency is a transport error after that many ms.
func lunchRequests(ms ...float64) []LunchRequest {
	out := make([]LunchRequest, len(ms))
	for i, m := range ms {
		out[i] = LunchRequest{AtSeconds: float64(i) * 30, Key: "/restaurant", Millis: math.Abs(m), Status: 200, Cache: "HIT"}
		if m < 0 {
			out[i].Status, out[i].Error, out[i].Cache = 0, "timeout", ""
		}
	}
	return out
}

func lunchTestResult() *LunchResult {
	return &LunchResult{RatePerSecond: 1, DurationSeconds: 180, Seed: 1, ZipfS: 1, Keys: lunchKeys(), ComputeSeconds: 1,
		MenuMaxAgeSeconds: 60, ListMaxAgeSeconds: 120, WaitMillis: 200, FirstMinuteSeconds: 60, TimeoutSeconds: 10, NginxTTLSeconds: 10,
		Scheduled: 6, StandInFlags: []string{"--compute-latency", "1s"},
		Systems: []LunchSystem{
			// at 0, 30, 60, 90, 120, 150 s
			{System: SystemRelay, Requests: lunchRequests(1000, 1, 1005, 2, -10000, 1),
				Upstream:         LunchUpstream{Requests: 9, Computed: 5, FromCache: 4, NotModified: 0},
				UpstreamOverTime: []LunchUpstream{{Seconds: 0}, {Seconds: 90, Requests: 5}, {Seconds: 181, Requests: 9}}},
			{System: SystemNginx, Requests: lunchRequests(1000, 1000, 1, 2, 3, 4),
				Upstream:         LunchUpstream{Requests: 6, Computed: 3, FromCache: 1, NotModified: 2},
				UpstreamOverTime: []LunchUpstream{{Seconds: 0}, {Seconds: 181, Requests: 6}}},
			{System: SystemRelayWarm, Unavailable: "this relay build has no --warm flag"},
		}}
}

// The table and the goals count waits (over the threshold, errors
// included), those after the first minute, errors and percentiles, and
// compare the relay with nginx of the same run.
func TestLunchSummaryAndGoals(t *testing.T) {
	lr := lunchTestResult()
	s := lr.Systems[0].summary(lr.wait(), lr.first())
	if s.Requests != 6 || s.Waits != 3 || s.LateRequests != 4 || s.LateWaits != 2 || s.Errors != 1 ||
		s.P50 != 2 || s.P90 != 10000 || s.Max != 10000 || s.Cache["HIT"] != 5 {
		t.Errorf("relay summary %+v", s)
	}
	var b strings.Builder
	lr.writeTable(&b)
	md := b.String()
	for _, want := range []string{
		"| relay | 6 | 3 | 50.0 % | 2 of 4 | 9 | 5 | 4 | 0 | 2.0 | 10000.0 | 10000.0 | 10000.0 | 1 |",
		"| nginx | 6 | 2 | 33.3 % | 0 of 4 | 6 | 3 | 1 | 2 | 3.0 | 1000.0 | 1000.0 | 1000.0 | 0 |",
		"| relay + warming (not available) | - |",
		"relay waits 3 <= nginx's 2: NOT held; relay upstream requests 9 <= nginx's 6: NOT held; both: NOT held",
		"goal with warming: not measured, relay + warming not available (this relay build has no --warm flag)",
		"seed 1", "--compute-latency 1s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}

	// The relay at most nginx's waits and calls; the warming relay nobody
	// waiting after the first minute.
	lr.Systems[0].Requests = lunchRequests(1000, 1, 1005, 2, 3, 1)
	lr.Systems[0].Upstream.Requests = 6
	lr.Systems[2] = LunchSystem{System: SystemRelayWarm, Requests: lunchRequests(1000, 1000, 2, 2, 2, 2)}
	goals := strings.Join(lr.goals(), "\n")
	for _, want := range []string{"relay waits 2 <= nginx's 2: held; relay upstream requests 6 <= nginx's 6: held; both: held",
		"goal with warming: waits after the first 60s 0 of 4, goal 0: held"} {
		if !strings.Contains(goals, want) {
			t.Errorf("goals lack %q:\n%s", want, goals)
		}
	}
	lr.Systems[2].Requests[3].Millis = 250
	if goals := strings.Join(lr.goals(), "\n"); !strings.Contains(goals, "waits after the first 60s 1 of 4, goal 0: NOT held") {
		t.Errorf("a wait at 90 s with warming:\n%s", goals)
	}
}

func TestLunchCharts(t *testing.T) {
	lr := lunchTestResult()
	sl := lr.Systems[1].slowest(lunchWindow)
	if len(sl.Points) != 6 || sl.Points[0] != (report.Point{X: 10, Y: 1000}) || sl.Points[2] != (report.Point{X: 70, Y: 1}) {
		t.Errorf("slowest per window %+v", sl.Points)
	}
	w := lr.Systems[0].waitsSoFar(lr.wait(), 180)
	want := []report.Point{{X: 0, Y: 0}, {X: 0, Y: 0}, {X: 0, Y: 1}, {X: 60, Y: 1}, {X: 60, Y: 2}, {X: 120, Y: 2}, {X: 120, Y: 3}, {X: 180, Y: 3}}
	if !slices.Equal(w.Points, want) {
		t.Errorf("waits so far %+v, want %+v: a rise at each wait's moment", w.Points, want)
	}
	sec := lr.section()
	var ids []string
	for _, c := range sec.Charts {
		ids = append(ids, c.ID)
		for _, s := range c.Series {
			if s.Name == SystemRelayWarm {
				t.Errorf("chart %s has a series for the system that did not run", c.ID)
			}
		}
	}
	if !slices.Equal(ids, []string{"lunch-slowest", "lunch-waits", "lunch-upstream"}) || len(sec.Tables) != 1 || sec.ID != ScenarioLunch {
		t.Errorf("section: charts %v, %d tables", ids, len(sec.Tables))
	}
	res := &Results{Started: time.Now(), Finished: time.Now(), Lunch: lr}
	var html strings.Builder
	if err := res.Page("bench", "lunch").WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `id="lunch"`) {
		t.Error("the page has no lunch section")
	}
}

// The replay sends each request at its moment whatever earlier ones are
// doing, bounds each by the timeout, and reads the stand-in's counters.
func TestLunchReplay(t *testing.T) {
	var stats atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("X-Cache", "MISS")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Cache", "HIT") })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/-/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"requests":%d,"computed":1,"from_cache":0,"not_modified":0}`, stats.Add(1))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	up := &standIn{addr: srv.Listener.Addr().String()}
	keys := []string{"/slow", "/fast", "/hang"}
	schedule := []lunchArrival{{0, 0}, {50 * time.Millisecond, 1}, {100 * time.Millisecond, 2}, {1200 * time.Millisecond, 1}}
	a, b := &LunchSystem{System: "a"}, &LunchSystem{System: "b"}
	runners := []lunchRunner{{sys: &system{name: "a", base: srv.URL, upstream: up}, out: a}, {sys: &system{name: "b", base: srv.URL, upstream: up}, out: b}}
	lr := &LunchResult{}
	began := time.Now()
	if err := lunchReplay(context.Background(), runners, schedule, keys, 500*time.Millisecond, lr); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 1200*time.Millisecond || took > 3*time.Second {
		t.Errorf("the replay took %v: want the schedule's 1.2 s and the last answer", took)
	}
	for _, s := range []*LunchSystem{a, b} {
		q := s.Requests
		if len(q) != 4 {
			t.Fatalf("%s: %d requests", s.System, len(q))
		}
		if q[0].Millis < 300 || q[0].Status != 200 || q[0].Cache != "MISS" {
			t.Errorf("%s: slow answer %+v", s.System, q[0])
		}
		// Sent at 50 ms while the slow one was still out, answered at once.
		if q[1].Millis > 100 || q[1].LagMillis > 40 || q[1].AtSeconds != 0.05 || q[1].Key != "/fast" || q[1].failed() {
			t.Errorf("%s: the request after a slow one %+v: want it sent on time and answered at once", s.System, q[1])
		}
		if q[2].Error == "" || !q[2].failed() || q[2].Millis < 500 || q[2].Millis > 1500 {
			t.Errorf("%s: hanging request %+v: want an error at the 500 ms timeout", s.System, q[2])
		}
		if q[3].LagMillis > 40 || q[3].failed() {
			t.Errorf("%s: last request %+v", s.System, q[3])
		}
		if len(s.UpstreamOverTime) < 2 || s.UpstreamOverTime[len(s.UpstreamOverTime)-1].Seconds < 1.2 {
			t.Errorf("%s: counters read %+v: want a reading at the start, every second and at the end", s.System, s.UpstreamOverTime)
		}
	}
	if lr.ScheduleLagMaxSeconds > 0.04 {
		t.Errorf("schedule kept within %.3f s", lr.ScheduleLagMaxSeconds)
	}
}

// lunchInProcess starts the stand-ins and relays of the lunch scenario in
// the test's process: the stand-in with its own cache, the relay with its
// defaults and the flags it knows.
type lunchInProcess struct{}

func (lunchInProcess) standIn(_ context.Context, e *env, _ string, latency time.Duration, extra ...string) (*standIn, error) {
	o := menuapi.Options{Faults: menuapi.Faults{Latency: latency}}
	for i := 0; i+1 < len(extra); i += 2 {
		d, err := time.ParseDuration(extra[i+1])
		if err != nil {
			return nil, err
		}
		switch extra[i] {
		case "--compute-latency":
			o.Faults.ComputeLatency = d
		case "--menu-max-age":
			o.MenuMaxAge = d
		case "--list-max-age":
			o.ListMaxAge = d
		default:
			return nil, fmt.Errorf("in-process stand-in: flag %s", extra[i])
		}
	}
	h, err := menuapi.New(o)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(h)
	e.onStop(srv.Close)
	return &standIn{addr: srv.Listener.Addr().String()}, nil
}

func (l lunchInProcess) relay(_ context.Context, e *env, up *standIn, a relayArgs, _ relayVariant) (*system, error) {
	args := []string{"--upstream", "http://" + up.addr + "/api/", "--drain-delay=0", "--log-level=warn"}
	for _, f := range a.flags {
		if !l.knows(flagName(f)) {
			return nil, fmt.Errorf("in-process relay: no flag %s", f)
		}
	}
	cfg, err := app.ParseFlags(append(args, a.flags...), func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		return nil, err
	}
	r, err := relaytest.Serve(cfg)
	if err != nil {
		return nil, err
	}
	e.onStop(func() { _ = r.Stop() })
	return &system{name: SystemRelay, base: r.URL, upstream: up, flags: a.flags, metricsURL: r.AdminURL + "/metrics", adminURL: r.AdminURL}, nil
}

func (lunchInProcess) knows(flag string) bool {
	var usage strings.Builder
	_, _ = app.ParseFlags([]string{"-help"}, func(string) (string, bool) { return "", false }, &usage)
	return parseFlagList(usage.String())[flag]
}

// A short lunch against the relays in this process and a real nginx, each
// on its own stand-in with its own cache: every user gets a menu, the
// counters are read, cold keys make users wait, and the report draws
// every system's lines.
func TestLunchScenario(t *testing.T) {
	nginx := tooltest.Require(t, tooltest.Nginx)
	dir := t.TempDir()
	o := Options{NginxBin: nginx, NginxWorkers: 1, Dir: dir, Log: io.Discard, starter: lunchInProcess{}}
	p := lunchPlan{rate: 8, duration: 4 * time.Second, seed: 1, zipfS: 1, compute: 300 * time.Millisecond,
		menuMaxAge: time.Second, listMaxAge: 2 * time.Second, wait: 200 * time.Millisecond, first: 2 * time.Second, timeout: 5 * time.Second}
	lr, err := runLunch(context.Background(), o, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if lr.Scheduled < 15 || len(lr.Systems) != 3 {
		t.Fatalf("%d requests scheduled, systems %d", lr.Scheduled, len(lr.Systems))
	}
	warm := lunchInProcess{}.knows("warm")
	for _, s := range lr.Systems {
		if s.System == SystemRelayWarm && !warm {
			if s.Unavailable == "" || len(s.Requests) != 0 {
				t.Errorf("%s: this build has no --warm, yet it ran (%q)", s.System, s.Unavailable)
			}
			continue
		}
		if s.Unavailable != "" {
			t.Errorf("%s: not available: %s", s.System, s.Unavailable)
			continue
		}
		sum := s.summary(p.wait, p.first)
		if sum.Requests != lr.Scheduled || sum.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors: want all %d answered 200", s.System, sum.Requests, sum.Errors, lr.Scheduled)
		}
		u := s.Upstream
		// A request is a 200 computed, a 200 from the stand-in's cache, a
		// 304 (which may have been computed too), or one whose client left.
		if u.Computed < 1 || u.FromCache < 0 || u.NotModified < 0 || u.Requests < u.FromCache+u.NotModified {
			t.Errorf("%s: upstream counters %+v", s.System, u)
		}
		// Nothing warms the relay and nginx: their first users wait for
		// the computation.
		if s.System != SystemRelayWarm && (sum.Waits == 0 || sum.Max < 300) {
			t.Errorf("%s: %d waits, slowest %.0f ms: want the cold keys' users to wait", s.System, sum.Waits, sum.Max)
		}
		if len(s.UpstreamOverTime) < 4 {
			t.Errorf("%s: %d counter readings in 4 s", s.System, len(s.UpstreamOverTime))
		}
	}
	path := filepath.Join(dir, "bench.html")
	res := &Results{Started: time.Now(), Finished: time.Now(), Lunch: lr}
	if err := res.Page("bench", "a short lunch").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	ran := []string{SystemRelay, SystemNginx}
	if warm {
		ran = append(ran, SystemRelayWarm)
	}
	reporttest.Check(t, path, []reporttest.Want{{ID: "lunch-slowest", Series: ran}, {ID: "lunch-waits", Series: ran}, {ID: "lunch-upstream", Series: ran}})
}
