package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/menuapi"
)

// Options configure a benchmark.
type Options struct {
	// RelayBin and MenuAPIBin are the built cmd/restaurants and cmd/menu-api.
	RelayBin, MenuAPIBin string
	// NginxBin is nginx's path; empty looks it up, and nginx is left out when absent.
	NginxBin string
	// NginxWorkers is nginx's worker_processes (the machine's cores).
	NginxWorkers int
	// BareBin and BareArgs start the bare handler: BareBin BareArgs... -serve-bare ADDR -bare-body FILE.
	BareBin  string
	BareArgs []string
	// RelayFlags are extra flags for every relay started (e.g. --upstream-max-inflight=32).
	RelayFlags []string
	// RelayEnv are extra NAME=value environment variables for every relay (e.g. GOMEMLIMIT=96MiB).
	RelayEnv []string
	// RelayB, when set, adds a second relay to every comparison ("relay B"):
	// another build, or other flags or environment, for before/after numbers.
	RelayB *RelayVariant
	// BareHeaders adds to the hot-key scenario the bare handler writing a
	// relay hit's header fields ("net/http bare + relay headers").
	BareHeaders bool
	// Dir holds logs, nginx's prefix and profiles.
	Dir string
	// Scenarios to run, by name (all when empty).
	Scenarios []string
	// Connections is the closed loop's concurrency (20).
	Connections int
	// Duration is the length of one run (10s); Rounds the runs per system (2).
	Duration time.Duration
	Rounds   int
	// TTLDuration is the length of the TTL-1s run (30s).
	TTLDuration time.Duration
	// FloodDuration is the length of one flood run (10s), HangDuration how
	// long the upstream hangs (20s), ClusterDuration the length of one run
	// of the three relays (30s).
	FloodDuration, HangDuration, ClusterDuration time.Duration
	// MemoryDuration is the length of one memory flood (20s); MemoryCacheMB the cache sizes tried.
	MemoryDuration time.Duration
	MemoryCacheMB  []int
	// SweepConnections and SweepKeys are the sweep's values: connections
	// (at the first key count) and distinct keys (at the first connection
	// count); SweepDuration is the length of one of its runs.
	SweepConnections []int
	SweepKeys        []int
	SweepDuration    time.Duration
	// LunchRate is the lunch scenario's arrivals per second (Poisson),
	// LunchDuration its length, LunchSeed the seed of its schedule.
	LunchRate     float64
	LunchDuration time.Duration
	LunchSeed     uint64
	// Profile captures the relay's CPU and allocation profiles during its
	// first hot-key run, into Dir.
	Profile bool
	// Log receives progress lines.
	Log io.Writer

	// starter, when set, starts the stand-ins and relays instead of the
	// binaries: servers in a test's own process.
	starter starter
}

// starter starts the stand-ins and relays of a scenario.
type starter interface {
	standIn(ctx context.Context, e *env, name string, latency time.Duration, extra ...string) (*standIn, error)
	relay(ctx context.Context, e *env, up *standIn, a relayArgs, v relayVariant) (*system, error)
}

// RelayVariant describes the second relay; an empty Bin means RelayBin.
type RelayVariant struct {
	Bin   string
	Flags []string
	Env   []string
}

// Scenario names.
const (
	ScenarioHot     = "hot"
	ScenarioMixed   = "mixed"
	ScenarioTTL     = "ttl1"
	ScenarioSlow    = "slow"
	ScenarioFlood   = "flood"
	ScenarioHang    = "hang"
	ScenarioCluster = "cluster"
	ScenarioLunch   = "lunch"
	ScenarioMemory  = "memory"
	ScenarioSweep   = "sweep"
)

// ScenarioNames lists every scenario in the order they run.
func ScenarioNames() []string {
	return []string{ScenarioHot, ScenarioMixed, ScenarioTTL, ScenarioSlow, ScenarioFlood, ScenarioHang, ScenarioCluster, ScenarioLunch, ScenarioMemory, ScenarioSweep}
}

// DefaultScenarios are the scenarios run when none are asked for.
func DefaultScenarios() []string { return ScenarioNames() }

// Relay flags that scenarios need, each passed only to a relay build that
// knows it (see env.supported).

// noBudget lifts the upstream call budget: nginx has none, so the relay is
// compared without one.
func noBudget() []string { return []string{"--upstream-rate=0"} }

// queryKeys also keeps query strings, forwarded and in the key, for
// scenarios whose distinct keys are ?k=N (nginx keys on the whole URI).
func queryKeys() []string { return []string{"--forward-query", "--upstream-rate=0"} }

// relayFlagsNote says so in the results.
func relayFlagsNote() string {
	return "relay flags per scenario: --upstream-rate=0 everywhere (nginx has no call budget) but in flood, which is about the budget and runs the defaults written out (--upstream-rate=5 --upstream-burst=20); " +
		"--forward-query too for query-string keys (memory, sweep); --stale-while-revalidate=1s --upstream-timeout=5s in hang; --shared-cache in cluster; each only where the relay build has the flag"
}

// restaurantIDs are the stand-in's restaurants, read from its own data so
// that the scenarios follow it.
func restaurantIDs() []string { return menuapi.Identifiers() }

// hotID is the restaurant of the hot-key scenario.
const hotID = "dufva"

// scenario is one load pattern, run against each system in turn.
type scenario struct {
	name     string
	title    string
	latency  time.Duration // stand-in latency
	ttl      time.Duration
	duration time.Duration
	rounds   int
	systems  []string
	keys     int // distinct cacheable keys (0: unbounded)
	targets  func(base string) []loadtest.Target
	flags    []string // relay flags (see noBudget)
}

func hotTargets(base string) []loadtest.Target {
	return []loadtest.Target{{URL: base + "/restaurant/" + hotID, Weight: 1}}
}

// allTargets are the list and every restaurant, equally often.
func allTargets(base string) []loadtest.Target {
	ts := []loadtest.Target{{URL: base + "/restaurant", Weight: 1}}
	for _, id := range restaurantIDs() {
		ts = append(ts, loadtest.Target{URL: base + "/restaurant/" + id, Weight: 1})
	}
	return ts
}

// mixedTargets are the list, the restaurants and random unknown paths.
func mixedTargets(base string) []loadtest.Target {
	ts := []loadtest.Target{{URL: base + "/restaurant", Weight: 10}}
	for _, id := range restaurantIDs() {
		ts = append(ts, loadtest.Target{URL: base + "/restaurant/" + id, Weight: 5})
	}
	return append(ts, loadtest.Target{URL: base + "/restaurant/unknown-{rand}", Weight: 1})
}

// scenarios are the load patterns, over the stand-in's restaurants.
func (o Options) scenarios() []scenario {
	all := []string{SystemNginx, SystemRelay, SystemBare}
	proxies := []string{SystemNginx, SystemRelay}
	if o.RelayB != nil {
		all = []string{SystemNginx, SystemRelay, SystemRelayB, SystemBare}
		proxies = []string{SystemNginx, SystemRelay, SystemRelayB}
	}
	hot := all
	if o.BareHeaders {
		hot = append(slices.Clone(all), SystemBareHeaders)
	}
	n := len(restaurantIDs())
	return []scenario{
		{name: ScenarioHot, title: fmt.Sprintf("one hot key, c=%d, TTL 10s, upstream 50 ms", o.Connections),
			latency: 50 * time.Millisecond, ttl: 10 * time.Second, duration: o.Duration, rounds: o.Rounds, systems: hot, keys: 1, targets: hotTargets, flags: noBudget()},
		{name: ScenarioMixed, title: fmt.Sprintf("list + %d restaurants + %.1f%% random unknown paths, c=%d, TTL 10s, upstream 50 ms", n, 100/float64(10+5*n+1), o.Connections),
			latency: 50 * time.Millisecond, ttl: 10 * time.Second, duration: o.Duration, rounds: o.Rounds, systems: all, targets: mixedTargets, flags: noBudget()},
		{name: ScenarioTTL, title: fmt.Sprintf("list + %d restaurants, TTL 1s for %v, c=%d, upstream 50 ms", n, o.TTLDuration, o.Connections),
			latency: 50 * time.Millisecond, ttl: time.Second, duration: o.TTLDuration, rounds: 1, systems: proxies, keys: n + 1, targets: allTargets, flags: noBudget()},
		{name: ScenarioSlow, title: fmt.Sprintf("list + %d restaurants, slow upstream (2 s), TTL 5s, c=%d", n, o.Connections),
			latency: 2 * time.Second, ttl: 5 * time.Second, duration: o.Duration, rounds: o.Rounds, systems: proxies, keys: n + 1, targets: allTargets, flags: noBudget()},
	}
}

// Run runs the selected scenarios and writes the tables to out.
func Run(ctx context.Context, o Options, out io.Writer) (*Results, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Connections <= 0 || o.Duration <= 0 || o.Rounds <= 0 || o.TTLDuration <= 0 || o.MemoryDuration <= 0 {
		return nil, errors.New("connections, durations and rounds must be > 0: the benchmark is always bounded in time")
	}
	want := o.Scenarios
	if len(want) == 0 {
		want = DefaultScenarios()
	}
	if slices.Contains(want, ScenarioSweep) {
		if o.SweepDuration <= 0 || len(o.SweepConnections) == 0 || len(o.SweepKeys) == 0 ||
			slices.ContainsFunc(o.SweepConnections, func(n int) bool { return n <= 0 }) || slices.ContainsFunc(o.SweepKeys, func(n int) bool { return n <= 0 }) {
			return nil, errors.New("the sweep needs a duration > 0 and connection and key counts > 0")
		}
	}
	for _, name := range want {
		if !slices.Contains(ScenarioNames(), name) {
			return nil, fmt.Errorf("unknown scenario %q (have %v)", name, ScenarioNames())
		}
	}
	if slices.Contains(want, ScenarioLunch) && (o.LunchRate <= 0 || o.LunchDuration <= 0) {
		return nil, errors.New("scenario lunch needs a rate > 0 and a duration > 0")
	}
	for name, d := range map[string]time.Duration{ScenarioFlood: o.FloodDuration, ScenarioHang: o.HangDuration, ScenarioCluster: o.ClusterDuration} {
		if slices.Contains(want, name) && d <= 0 {
			return nil, fmt.Errorf("scenario %s needs a duration > 0", name)
		}
	}
	nginx, err := findNginx(o.NginxBin)
	switch {
	case err != nil && o.NginxBin != "":
		return nil, err
	case err != nil:
		fmt.Fprintf(o.Log, "bench: %v\n", err)
	}
	o.NginxBin = nginx
	res := &Results{Started: time.Now().UTC(), Notes: []string{relayFlagsNote()}}
	for _, sc := range o.scenarios() {
		if !slices.Contains(want, sc.name) {
			continue
		}
		if nginx == "" {
			sc.systems = slices.DeleteFunc(slices.Clone(sc.systems), func(s string) bool { return s == SystemNginx })
		}
		sr, err := runScenario(ctx, o, sc)
		if err != nil {
			return res, fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		res.Scenarios = append(res.Scenarios, *sr)
		sr.writeTable(out, res.steadyP99())
	}
	if err := runGuards(ctx, o, want, nginx != "", res, out); err != nil {
		return res, err
	}
	if slices.Contains(want, ScenarioLunch) {
		lr, err := runLunch(ctx, o, o.lunchPlan(), nginx != "")
		if err != nil {
			return res, fmt.Errorf("scenario %s: %w", ScenarioLunch, err)
		}
		res.Lunch = lr
		lr.writeTable(out)
	}
	if slices.Contains(want, ScenarioMemory) {
		mr, err := runMemory(ctx, o)
		if err != nil {
			return res, fmt.Errorf("scenario memory: %w", err)
		}
		res.Memory = mr
		mr.writeTable(out)
	}
	if slices.Contains(want, ScenarioSweep) {
		sw, err := runSweep(ctx, o, nginx != "")
		if sw != nil {
			res.Sweep = sw
			sw.writeTables(out)
		}
		if err != nil {
			return res, fmt.Errorf("scenario sweep: %w", err)
		}
	}
	res.Finished = time.Now().UTC()
	return res, nil
}

// runScenario starts every system of a scenario, loads them alternately and stops them.
func runScenario(ctx context.Context, o Options, sc scenario) (*ScenarioResult, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	fmt.Fprintf(o.Log, "== %s: %s\n", sc.name, sc.title)
	args := relayArgs{ttl: sc.ttl, negativeTTL: 5 * time.Second, cacheMB: 64, keys: max(sc.keys, 1000), flags: sc.flags}
	var systems []*system
	for _, name := range sc.systems {
		s, err := e.startSystem(ctx, name, sc.latency, args, sc.targets("")[0].URL)
		if err != nil {
			return nil, err
		}
		systems = append(systems, s)
	}
	return loadScenario(ctx, o, sc, systems)
}

// startSystem starts one system, with its own stand-in upstream of the
// given latency; the bare handler answers with the bytes the proxies serve
// for path.
func (e *env) startSystem(ctx context.Context, name string, latency time.Duration, args relayArgs, path string) (*system, error) {
	switch name {
	case SystemRelay, SystemRelayB, SystemNginx:
		up, err := e.startStandIn(ctx, "menu-api-for-"+strings.ReplaceAll(name, " ", "-"), latency)
		if err != nil {
			return nil, err
		}
		if name != SystemNginx {
			return e.startRelay(ctx, up, args, e.variant(name))
		}
		return e.startNginx(ctx, up, args)
	case SystemBare, SystemBareHeaders:
		up, err := e.startStandIn(ctx, "menu-api-for-body", 0)
		if err != nil {
			return nil, err
		}
		body, gerr := get(ctx, "http://"+up.addr+"/api"+path)
		e.stopLast()
		if gerr != nil {
			return nil, gerr
		}
		return e.startBare(ctx, name, body)
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

// loadScenario runs the scenario's rounds against systems, alternating.
func loadScenario(ctx context.Context, o Options, sc scenario, systems []*system) (*ScenarioResult, error) {
	sr := &ScenarioResult{Name: sc.name, Title: sc.title, TTLSeconds: sc.ttl.Seconds(), DurationSeconds: sc.duration.Seconds(),
		Rounds: sc.rounds, Keys: sc.keys, Connections: o.Connections, RelayFlags: map[string][]string{}}
	for _, s := range systems {
		if s.metricsURL != "" {
			sr.RelayFlags[s.name] = s.flags
		}
	}
	for round := 1; round <= sc.rounds; round++ {
		for _, s := range systems {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			profile := o.Profile && round == 1 && s.name == SystemRelay && sc.name == ScenarioHot
			run, err := loadOnce(ctx, o, s, loadSpec{targets: sc.targets(s.base), connections: o.Connections, duration: sc.duration}, profile)
			if err != nil {
				return nil, fmt.Errorf("%s round %d: %w", s.name, round, err)
			}
			run.Round = round
			fmt.Fprintf(o.Log, "   %-14s round %d: %s\n", s.name, round, run.line())
			sr.Runs = append(sr.Runs, *run)
		}
	}
	return sr, nil
}

// line is a run's numbers for the progress log.
func (run *LoadRun) line() string {
	l := run.Report.Latency
	return fmt.Sprintf("%8.0f req/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f ms  errors %d  upstream calls %s  CPU %.1f µs/req",
		run.Report.RequestsPerSecond, l.P50, l.P99, l.P999, run.Report.Errors(), callsText(run.UpstreamCalls), run.CPUMicrosPerRequest)
}

func callsText(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// loadSpec is one load run's shape.
type loadSpec struct {
	targets     []loadtest.Target
	connections int
	duration    time.Duration
}

// upstreamProbe reads the stand-in's count of answered API requests.
func upstreamProbe(up *standIn) loadtest.Probe {
	return loadtest.Probe{Name: "upstream calls", Counter: true, Read: func(ctx context.Context) (float64, error) {
		n, err := up.requests(ctx)
		return float64(n), err
	}}
}

// loadOnce runs one load against one system: the report, with its
// timeline and the stand-in's calls read every second, the upstream calls
// and the server's CPU time during the run.
func loadOnce(ctx context.Context, o Options, s *system, l loadSpec, profile bool) (*LoadRun, error) {
	var before int64 = -1
	if s.upstream != nil {
		n, err := s.upstream.requests(ctx)
		if err != nil {
			return nil, err
		}
		before = n
	}
	var cpuBefore time.Duration
	if s.cpu != nil {
		var err error
		if cpuBefore, err = s.cpu(); err != nil {
			return nil, err
		}
	}
	cfg := loadtest.Config{
		Targets:     l.targets,
		Connections: l.connections,
		Duration:    l.duration,
		Timeout:     10 * time.Second,
		MetricsURL:  s.metricsURL,
	}
	if s.upstream != nil {
		cfg.Probes = []loadtest.Probe{upstreamProbe(s.upstream)}
	}
	var profErr chan error
	if profile {
		profErr = make(chan error, 1)
		secs := max(1, int(l.duration.Seconds())-2)
		go func() {
			profErr <- fetchTo(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.adminURL, secs), filepath.Join(o.Dir, "relay-hot.cpu.pprof"))
		}()
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if profErr != nil {
		if err := <-profErr; err != nil {
			fmt.Fprintf(o.Log, "bench: CPU profile: %v\n", err)
		}
		if err := fetchTo(ctx, s.adminURL+"/debug/pprof/allocs", filepath.Join(o.Dir, "relay-hot.allocs.pprof")); err != nil {
			fmt.Fprintf(o.Log, "bench: allocation profile: %v\n", err)
		}
		fmt.Fprintf(o.Log, "   profiles: go tool pprof -top %s %s\n", o.RelayBin, filepath.Join(o.Dir, "relay-hot.cpu.pprof"))
	}
	if s.check != nil {
		if err := s.check(); err != nil {
			return nil, err
		}
	}
	run := &LoadRun{System: s.name, Report: rep, UpstreamCalls: -1}
	if s.cpu != nil && rep.Requests > 0 {
		if cpuAfter, err := s.cpu(); err == nil {
			run.CPUSeconds = (cpuAfter - cpuBefore).Seconds()
			run.CPUMicrosPerRequest = run.CPUSeconds * 1e6 / float64(rep.Requests)
		}
	}
	if s.upstream != nil {
		after, err := s.upstream.requests(ctx)
		if err != nil {
			return nil, err
		}
		run.UpstreamCalls = after - before
	}
	return run, nil
}

// fetchTo saves a URL's body into a file.
func fetchTo(ctx context.Context, url, path string) error {
	b, err := get(ctx, url)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return nil
}
