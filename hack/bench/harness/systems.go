package harness

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// Names of the systems under comparison.
const (
	SystemNginx = "nginx"
	SystemRelay = "relay"
	// SystemRelayB is a second relay (another build, flags or environment), for before/after comparisons.
	SystemRelayB = "relay B"
	SystemBare   = "net/http bare"
	// SystemBareHeaders is the bare handler writing a relay hit's header fields.
	SystemBareHeaders = "net/http bare + relay headers"
)

// system is one server under load, with its own stand-in upstream.
type system struct {
	name       string
	base       string   // http://127.0.0.1:PORT
	upstream   *standIn // nil for the bare handler
	metricsURL string   // relay only
	adminURL   string   // relay only
	flags      []string // the relay's flags beyond the defaults
	pid        int      // the server's process (0: in this process)
	// cpu reads the CPU time the server has used so far (nil: not measured).
	cpu func() (time.Duration, error)
	// check tells whether the server is still running (nil: always).
	check func() error
}

// alive tells whether the server is still running.
func (s *system) alive() error {
	if s.check == nil {
		return nil
	}
	return s.check()
}

// processSystem fills a system's CPU reading and liveness from its process.
func processSystem(s *system, p *process) *system {
	s.pid = p.pid()
	s.cpu = func() (time.Duration, error) { return treeCPU(p.pid()) }
	s.check = func() error {
		if p.exited() {
			return fmt.Errorf("%s died during the run: %v\n%s", s.name, p.err, p.tail(10))
		}
		return nil
	}
	return s
}

// standIn is a stand-in upstream (cmd/menu-api) at addr.
type standIn struct {
	addr string
}

// requests reads how many API requests the stand-in has served (its /-/stats).
func (s *standIn) requests(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/-/stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading stand-in stats: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		Requests int64 `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("reading stand-in stats: %w", err)
	}
	return v.Requests, nil
}

// get fetches a URL's body (at most 16 MiB).
func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	return b, nil
}

// env is what starting the systems needs.
type env struct {
	opts  Options
	dir   string
	all   []*process
	known map[string]map[string]bool // flags each relay binary knows
	// stops are the stop functions of servers started in this process (tests).
	stops []func()
}

// onStop runs f when the env stops its processes.
func (e *env) onStop(f func()) { e.stops = append(e.stops, f) }

func (e *env) track(p *process, err error) (*process, error) {
	if p != nil {
		e.all = append(e.all, p)
	}
	return p, err
}

// stopLast stops the newest process started.
func (e *env) stopLast() {
	if n := len(e.all); n > 0 {
		e.all[n-1].stop(5 * time.Second)
		e.all = e.all[:n-1]
	}
}

// stopAll stops every process started, newest first.
func (e *env) stopAll() {
	for i := len(e.all) - 1; i >= 0; i-- {
		e.all[i].stop(5 * time.Second)
	}
	e.all = nil
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
	e.stops = nil
}

// startStandIn starts a stand-in upstream with the given latency and
// extra flags (e.g. --slow-delay).
func (e *env) startStandIn(ctx context.Context, name string, latency time.Duration, extra ...string) (*standIn, error) {
	if e.opts.starter != nil {
		return e.opts.starter.standIn(ctx, e, name, latency, extra...)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--listen", addr, "--latency", latency.String(), "--log-level", "warn"}, extra...)
	p, err := e.track(start(e.dir, name, e.opts.MenuAPIBin, args...))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+addr+"/-/healthz", 10*time.Second); err != nil {
		return nil, err
	}
	return &standIn{addr: addr}, nil
}

// relayArgs are the relay's (and nginx's) settings in a scenario.
type relayArgs struct {
	ttl         time.Duration
	negativeTTL time.Duration
	cacheMB     int
	keys        int // distinct keys the caches must hold (nginx's key zone)
	// upstreamTimeout bounds one upstream call (the relay's
	// --upstream-timeout, nginx's read and lock timeouts); 0 is 10 s.
	upstreamTimeout time.Duration
	// flags are the scenario's extra relay flags, each passed only to a
	// relay that knows it (see knownFlags).
	flags []string
}

// relayVariant is how one relay is started: binary, extra flags and environment.
type relayVariant struct {
	name  string
	bin   string
	flags []string
	env   []string
}

func (e *env) variant(name string) relayVariant {
	if name == SystemRelayB {
		b := relayVariant{name: name, bin: e.opts.RelayB.Bin, flags: e.opts.RelayB.Flags, env: e.opts.RelayB.Env}
		if b.bin == "" {
			b.bin = e.opts.RelayBin
		}
		return b
	}
	return relayVariant{name: SystemRelay, bin: e.opts.RelayBin, flags: e.opts.RelayFlags, env: e.opts.RelayEnv}
}

func (e *env) startRelay(ctx context.Context, up *standIn, a relayArgs, v relayVariant) (*system, error) {
	if e.opts.starter != nil {
		return e.opts.starter.relay(ctx, e, up, a, v)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--listen", addr, "--admin-listen", admin,
		"--upstream", "http://" + up.addr + "/api/",
		"--cache-ttl", a.ttl.String(), "--negative-ttl", a.negativeTTL.String(),
		"--cache-max-mb", strconv.Itoa(a.cacheMB),
		"--log-level", "warn", "--pprof",
	}
	if a.upstreamTimeout > 0 {
		args = append(args, "--upstream-timeout", a.upstreamTimeout.String())
	}
	// The scenarios count upstream calls per TTL, and nginx beside the
	// relay ignores the stand-in's Cache-Control: the relay does too.
	extra, err := e.supported(ctx, v, append([]string{"--fixed-ttl"}, a.flags...))
	if err != nil {
		return nil, err
	}
	extra = append(extra, v.flags...)
	args = append(args, extra...)
	p, err := e.track(startEnv(e.dir, "relay-"+addr[len("127.0.0.1:"):], v.env, v.bin, args...))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+admin+"/readyz", 10*time.Second); err != nil {
		return nil, err
	}
	return processSystem(&system{name: v.name, base: "http://" + addr, upstream: up, flags: extra,
		metricsURL: "http://" + admin + "/metrics", adminURL: "http://" + admin}, p), nil
}

// supported returns the flags the relay binary knows, from its --help, and
// logs the ones it does not: an older build (relay B) may predate a flag
// such as --forward-query.
func (e *env) supported(ctx context.Context, v relayVariant, flags []string) ([]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	known, ok := e.known[v.bin]
	if !ok {
		var err error
		if known, err = knownFlags(ctx, v.bin); err != nil {
			return nil, err
		}
		if e.known == nil {
			e.known = map[string]map[string]bool{}
		}
		e.known[v.bin] = known
	}
	var out, missing []string
	for _, f := range flags {
		if known[flagName(f)] {
			out = append(out, f)
		} else {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(e.opts.Log, "bench: %s (%s) has no %s: left out\n", v.name, v.bin, strings.Join(missing, ", "))
	}
	return out, nil
}

func (e *env) startNginx(ctx context.Context, up *standIn, a relayArgs) (*system, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := e.track(startNginx(e.opts.NginxBin, e.dir, nginxParams{
		Listen: addr, Upstream: up.addr, Workers: e.opts.NginxWorkers, CacheMB: max(a.cacheMB, 16),
		KeysZoneMB: keysZoneMB(a.keys), OpenFiles: nginxOpenFiles(),
		TTL: nginxSeconds(a.ttl), NegativeTTL: nginxSeconds(a.negativeTTL), UpstreamTimeout: nginxSeconds(cmp.Or(a.upstreamTimeout, 10*time.Second)),
	}))
	if err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, p, addr, 10*time.Second); err != nil {
		return nil, err
	}
	return processSystem(&system{name: SystemNginx, base: "http://" + addr, upstream: up}, p), nil
}

// startBare runs the fixed-bytes handler (the ceiling) as its own process,
// serving body for every path, as system name: SystemBare, or
// SystemBareHeaders for the one writing a relay hit's header fields.
func (e *env) startBare(ctx context.Context, name string, body []byte) (*system, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	bodyFile := filepath.Join(e.dir, "bare-body.json")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return nil, fmt.Errorf("writing the bare handler's body: %w", err)
	}
	args := append(slices.Clone(e.opts.BareArgs), "-serve-bare", addr, "-bare-body", bodyFile)
	if name == SystemBareHeaders {
		args = append(args, "-bare-relay-headers")
	}
	p, err := e.track(start(e.dir, "bare-"+addr[len("127.0.0.1:"):], e.opts.BareBin, args...))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+addr+"/", 10*time.Second); err != nil {
		return nil, err
	}
	return processSystem(&system{name: name, base: "http://" + addr}, p), nil
}

// setFault switches the stand-in's failure mode (PUT /-/fault?mode=...).
func (s *standIn) setFault(ctx context.Context, mode string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+s.addr+"/-/fault?mode="+mode, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("switching the stand-in to %s: %w", mode, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("switching the stand-in to %s: %s", mode, resp.Status)
	}
	return nil
}

// warm asks a caching system for each URL until it answers 200, so that
// every key has a copy before a run is measured. A relay over its call
// budget answers 503 for a while; warm waits and asks again, for a
// minute at most.
func warm(ctx context.Context, urls []string) error {
	client := &http.Client{Timeout: 15 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("warming %s: no 200 within a minute (status %d, %v)", u, status, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// urlsOf returns the targets' URLs.
func urlsOf(ts []loadtest.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.URL
	}
	return out
}

// metricsClient scrapes the relays' admin /metrics.
func metricsClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// relayMetrics scrapes the system's /metrics: nil for a system that has
// none (nginx, the bare handler).
func (s *system) relayMetrics(ctx context.Context, client *http.Client) (*loadtest.MetricsSample, error) {
	if s.metricsURL == "" {
		return nil, nil
	}
	return loadtest.ScrapeMetrics(ctx, client, s.metricsURL)
}

// relaySince scrapes the system's /metrics again and returns what they
// counted since before, and the upstream calls the relay skipped by
// reason; nothing when before is nil.
func (s *system) relaySince(ctx context.Context, client *http.Client, before *loadtest.MetricsSample) (*loadtest.MetricsDelta, map[string]float64, error) {
	if before == nil {
		return nil, nil, nil
	}
	after, err := loadtest.ScrapeMetrics(ctx, client, s.metricsURL)
	if err != nil {
		return nil, nil, err
	}
	return loadtest.DiffMetrics(before, after), diffByLabel(before, after, metricUpstreamSkipped, "reason"), nil
}
