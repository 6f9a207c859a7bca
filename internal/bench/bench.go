package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	// MemoryDuration is the length of one memory flood (20s); MemoryCacheMB the cache sizes tried.
	MemoryDuration time.Duration
	MemoryCacheMB  []int
	// Profile captures the relay's CPU and allocation profiles during its
	// first hot-key run, into Dir.
	Profile bool
	// Log receives progress lines.
	Log io.Writer
}

// RelayVariant describes the second relay; an empty Bin means RelayBin.
type RelayVariant struct {
	Bin   string
	Flags []string
	Env   []string
}

// Scenario names.
const (
	ScenarioHot    = "hot"
	ScenarioMixed  = "mixed"
	ScenarioTTL    = "ttl1"
	ScenarioSlow   = "slow"
	ScenarioMemory = "memory"
)

// ScenarioNames lists every scenario in the order they run.
func ScenarioNames() []string {
	return []string{ScenarioHot, ScenarioMixed, ScenarioTTL, ScenarioSlow, ScenarioMemory}
}

// restaurantIDs are the stand-in's restaurants, read from its own data so
// that the scenarios follow it.
func restaurantIDs() []string { return menuapi.Identifiers() }

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
}

func hotTargets(base string) []loadtest.Target {
	return []loadtest.Target{{URL: base + "/restaurant/dufva", Weight: 1}}
}

func allTargets(base string) []loadtest.Target {
	ts := []loadtest.Target{{URL: base + "/restaurant", Weight: 1}}
	for _, id := range restaurantIDs() {
		ts = append(ts, loadtest.Target{URL: base + "/restaurant/" + id, Weight: 1})
	}
	return ts
}

func mixedTargets(base string) []loadtest.Target {
	ts := []loadtest.Target{{URL: base + "/restaurant", Weight: 10}}
	for _, id := range restaurantIDs() {
		ts = append(ts, loadtest.Target{URL: base + "/restaurant/" + id, Weight: 5})
	}
	return append(ts, loadtest.Target{URL: base + "/restaurant/unknown-{rand}", Weight: 1})
}

func (o Options) scenarios() []scenario {
	all := []string{SystemNginx, SystemRelay, SystemBare}
	proxies := []string{SystemNginx, SystemRelay}
	if o.RelayB != nil {
		all = []string{SystemNginx, SystemRelay, SystemRelayB, SystemBare}
		proxies = []string{SystemNginx, SystemRelay, SystemRelayB}
	}
	n := len(restaurantIDs())
	return []scenario{
		{name: ScenarioHot, title: fmt.Sprintf("one hot key, c=%d, TTL 10s, upstream 50 ms", o.Connections),
			latency: 50 * time.Millisecond, ttl: 10 * time.Second, duration: o.Duration, rounds: o.Rounds, systems: all, keys: 1, targets: hotTargets},
		{name: ScenarioMixed, title: fmt.Sprintf("list + %d restaurants + %.1f%% random unknown paths, c=%d, TTL 10s, upstream 50 ms", n, 100/float64(10+5*n+1), o.Connections),
			latency: 50 * time.Millisecond, ttl: 10 * time.Second, duration: o.Duration, rounds: o.Rounds, systems: all, targets: mixedTargets},
		{name: ScenarioTTL, title: fmt.Sprintf("list + %d restaurants, TTL 1s for %v, c=%d, upstream 50 ms", n, o.TTLDuration, o.Connections),
			latency: 50 * time.Millisecond, ttl: time.Second, duration: o.TTLDuration, rounds: 1, systems: proxies, keys: n + 1, targets: allTargets},
		{name: ScenarioSlow, title: fmt.Sprintf("list + %d restaurants, slow upstream (2 s), TTL 5s, c=%d", n, o.Connections),
			latency: 2 * time.Second, ttl: 5 * time.Second, duration: o.Duration, rounds: o.Rounds, systems: proxies, keys: n + 1, targets: allTargets},
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
		want = ScenarioNames()
	}
	for _, name := range want {
		if !slices.Contains(ScenarioNames(), name) {
			return nil, fmt.Errorf("unknown scenario %q (have %v)", name, ScenarioNames())
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
	res := &Results{Started: time.Now().UTC()}
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
	if slices.Contains(want, ScenarioMemory) {
		mr, err := runMemory(ctx, o)
		if err != nil {
			return res, fmt.Errorf("scenario memory: %w", err)
		}
		res.Memory = mr
		mr.writeTable(out)
	}
	return res, nil
}

// runScenario starts every system of a scenario, loads them alternately and stops them.
func runScenario(ctx context.Context, o Options, sc scenario) (*ScenarioResult, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	fmt.Fprintf(o.Log, "== %s: %s\n", sc.name, sc.title)
	args := relayArgs{ttl: sc.ttl, negativeTTL: 5 * time.Second, cacheMB: 64}
	var systems []*system
	for _, name := range sc.systems {
		var (
			s   *system
			err error
		)
		switch name {
		case SystemRelay, SystemRelayB, SystemNginx:
			up, uerr := e.startStandIn(ctx, "menu-api-for-"+name, sc.latency)
			if uerr != nil {
				return nil, uerr
			}
			if name != SystemNginx {
				s, err = e.startRelay(ctx, up, args, e.variant(name))
			} else {
				s, err = e.startNginx(ctx, up, args)
			}
		case SystemBare:
			// The ceiling answers with the bytes the proxies serve for the first target.
			up, uerr := e.startStandIn(ctx, "menu-api-for-body", 0)
			if uerr != nil {
				return nil, uerr
			}
			path := sc.targets("")[0].URL
			body, gerr := get(ctx, "http://"+up.addr+"/api"+path)
			up.proc.stop(5 * time.Second)
			if gerr != nil {
				return nil, gerr
			}
			s, err = e.startBare(ctx, body)
		}
		if err != nil {
			return nil, err
		}
		systems = append(systems, s)
	}
	sr := &ScenarioResult{Name: sc.name, Title: sc.title, TTLSeconds: sc.ttl.Seconds(), DurationSeconds: sc.duration.Seconds(),
		Rounds: sc.rounds, Keys: sc.keys, Connections: o.Connections}
	for round := 1; round <= sc.rounds; round++ {
		for _, s := range systems {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			profile := o.Profile && round == 1 && s.name == SystemRelay && sc.name == ScenarioHot
			run, err := loadOnce(ctx, o, sc, s, profile)
			if err != nil {
				return nil, fmt.Errorf("%s round %d: %w", s.name, round, err)
			}
			run.Round = round
			fmt.Fprintf(o.Log, "   %-14s round %d: %8.0f req/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f ms  errors %d  upstream calls %s  CPU %.1f µs/req\n",
				s.name, round, run.Report.RequestsPerSecond, run.Report.Latency.P50, run.Report.Latency.P99, run.Report.Latency.P999,
				run.Report.Errors(), callsText(run.UpstreamCalls), run.CPUMicrosPerRequest)
			sr.Runs = append(sr.Runs, *run)
		}
	}
	return sr, nil
}

func callsText(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// loadOnce runs the scenario's load once against one system.
func loadOnce(ctx context.Context, o Options, sc scenario, s *system, profile bool) (*LoadRun, error) {
	var before int64 = -1
	if s.upstream != nil {
		n, err := s.upstream.requests(ctx)
		if err != nil {
			return nil, err
		}
		before = n
	}
	cpuBefore, err := treeCPU(s.proc.pid())
	if err != nil {
		return nil, err
	}
	cfg := loadtest.Config{
		Targets:     sc.targets(s.base),
		Connections: o.Connections,
		Duration:    sc.duration,
		Timeout:     10 * time.Second,
		MetricsURL:  s.metricsURL,
	}
	var profErr chan error
	if profile {
		profErr = make(chan error, 1)
		secs := max(1, int(sc.duration.Seconds())-2)
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
	if s.proc.exited() {
		return nil, fmt.Errorf("%s died during the run: %v\n%s", s.name, s.proc.err, s.proc.tail(10))
	}
	run := &LoadRun{System: s.name, Report: rep, UpstreamCalls: -1}
	if cpuAfter, err := treeCPU(s.proc.pid()); err == nil && rep.Requests > 0 {
		run.CPUSeconds = (cpuAfter - cpuBefore).Seconds()
		run.CPUMicrosPerRequest = run.CPUSeconds * 1e6 / float64(rep.Requests)
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
