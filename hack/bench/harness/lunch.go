package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// The lunch scenario: the traffic the relay really gets. Sparse users
// (about one a second by default), arriving at random (Poisson), ask for
// the list and the restaurants, a few keys far more often than the rest (Zipf); the API
// takes a second to compute an answer, then keeps it in its own cache and
// says so (max-age = the time left there, a weak ETag, 304 on a matching
// If-None-Match). One seeded schedule is sent to every system at the same
// moments, each in front of its own stand-in: the relay with its defaults,
// nginx's proxy cache as an operator would set it up for this API, and
// the relay with warming on. What counts is how many users waited for the
// upstream and how often the upstream was asked.
const (
	// lunchCompute is how long the stand-in takes to compute an answer.
	lunchCompute = time.Second
	// lunchMenuMaxAge and lunchListMaxAge are the stand-in's lifetimes:
	// short, so that several expire during the run (the real API's are
	// hours).
	lunchMenuMaxAge = 60 * time.Second
	lunchListMaxAge = 120 * time.Second
	// lunchWait is how long an answer must take for its user to count as
	// having waited for the upstream.
	lunchWait = 200 * time.Millisecond
	// lunchFirstMinute is the start of the run that warming may spend
	// filling its cache; after it, the warming relay's goal is no wait.
	lunchFirstMinute = time.Minute
	// lunchTimeout bounds one request.
	lunchTimeout = 10 * time.Second
	// lunchZipfS is the Zipf exponent of the keys' popularity.
	lunchZipfS = 1.0
	// lunchNginxTTL is nginx's proxy_cache_valid for answers that name no
	// lifetime: the relay's default --cache-ttl.
	lunchNginxTTL = 10 * time.Second
	// lunchMaxArrivals bounds the schedule whatever the rate asked for.
	lunchMaxArrivals = 100_000
)

// Systems of the lunch scenario beside the relay and nginx.
const (
	// SystemRelayWarm is the relay with warming on (--warm).
	SystemRelayWarm = "relay + warming"
	// lunchWarmFlag turns the relay's warming on.
	lunchWarmFlag = "--warm"
)

// lunchPlan is the lunch scenario's settings.
type lunchPlan struct {
	rate       float64 // arrivals per second
	duration   time.Duration
	seed       uint64
	zipfS      float64
	compute    time.Duration
	menuMaxAge time.Duration
	listMaxAge time.Duration
	wait       time.Duration
	first      time.Duration
	timeout    time.Duration
}

// lunchPlan is the scenario as make bench runs it.
func (o Options) lunchPlan() lunchPlan {
	return lunchPlan{rate: o.LunchRate, duration: o.LunchDuration, seed: o.LunchSeed, zipfS: lunchZipfS,
		compute: lunchCompute, menuMaxAge: lunchMenuMaxAge, listMaxAge: lunchListMaxAge,
		wait: lunchWait, first: lunchFirstMinute, timeout: lunchTimeout}
}

// standInFlags are the stand-in's flags: its compute time and lifetimes.
func (p lunchPlan) standInFlags() []string {
	return []string{"--compute-latency", p.compute.String(), "--menu-max-age", p.menuMaxAge.String(), "--list-max-age", p.listMaxAge.String()}
}

// lunchKeys are the scenario's keys in order of popularity: the list
// (every visit starts there), then the restaurants in the stand-in's order.
func lunchKeys() []string {
	keys := []string{"/restaurant"}
	for _, id := range restaurantIDs() {
		keys = append(keys, "/restaurant/"+id)
	}
	return keys
}

// lunchArrival is one scheduled request: when, from the run's start, and
// which key (an index into the keys).
type lunchArrival struct {
	At  time.Duration
	Key int
}

// zipf draws ranks 0..n-1 with probability proportional to 1/(rank+1)^s.
type zipf struct {
	cdf []float64
}

func newZipf(n int, s float64) zipf {
	cdf := make([]float64, n)
	var sum float64
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return zipf{cdf: cdf}
}

// draw returns a rank.
func (z zipf) draw(r *rand.Rand) int {
	u := r.Float64()
	return min(sort.SearchFloat64s(z.cdf, u), len(z.cdf)-1)
}

// lunchSchedule draws the requests of a run from one generator seeded with
// seed: exponential gaps of mean 1/rate (Poisson arrivals) and a Zipf rank
// of exponent s over keys for each, until d. The same seed gives the same
// schedule.
func lunchSchedule(seed uint64, rate float64, d time.Duration, keys int, s float64) []lunchArrival {
	if rate <= 0 || d <= 0 || keys <= 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 0x6c756e6368)) // "lunch"
	z := newZipf(keys, s)
	var out []lunchArrival
	t := 0.0
	for len(out) < lunchMaxArrivals {
		t += r.ExpFloat64() / rate
		at := time.Duration(t * float64(time.Second))
		if at >= d {
			break
		}
		out = append(out, lunchArrival{At: at, Key: z.draw(r)})
	}
	return out
}

// LunchResult is the lunch scenario: its settings, and what each system did
// with the same schedule.
type LunchResult struct {
	RatePerSecond         float64       `json:"rate_per_second"`
	DurationSeconds       float64       `json:"duration_seconds"`
	Seed                  uint64        `json:"seed"`
	ZipfS                 float64       `json:"zipf_s"`
	Keys                  []string      `json:"keys"`
	ComputeSeconds        float64       `json:"compute_seconds"`
	MenuMaxAgeSeconds     float64       `json:"menu_max_age_seconds"`
	ListMaxAgeSeconds     float64       `json:"list_max_age_seconds"`
	WaitMillis            float64       `json:"wait_ms"`
	FirstMinuteSeconds    float64       `json:"first_minute_seconds"`
	TimeoutSeconds        float64       `json:"timeout_seconds"`
	NginxTTLSeconds       float64       `json:"nginx_ttl_seconds"`
	Scheduled             int           `json:"scheduled"`
	Systems               []LunchSystem `json:"systems"`
	StandInFlags          []string      `json:"stand_in_flags"`
	ScheduleLagMaxSeconds float64       `json:"schedule_lag_max_seconds"`
}

// LunchSystem is one system's run of the schedule.
type LunchSystem struct {
	System string `json:"system"`
	// Unavailable says why the system did not run (empty: it ran).
	Unavailable string `json:"unavailable,omitempty"`
	// Flags are the relay's flags beyond the addresses and the log level.
	Flags    []string       `json:"relay_flags,omitempty"`
	Requests []LunchRequest `json:"requests,omitempty"`
	// Upstream is what the system's stand-in counted from its start to
	// the end of the run; UpstreamOverTime its readings every second.
	Upstream         LunchUpstream   `json:"upstream"`
	UpstreamOverTime []LunchUpstream `json:"upstream_over_time,omitempty"`
}

// LunchRequest is one user's request and its answer.
type LunchRequest struct {
	// AtSeconds is when it was scheduled, from the run's start; LagMillis
	// how late it was sent.
	AtSeconds float64 `json:"at_s"`
	LagMillis float64 `json:"lag_ms"`
	Key       string  `json:"key"`
	Millis    float64 `json:"ms"`
	Status    int     `json:"status"`
	Cache     string  `json:"x_cache,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// failed reports whether the user got no menu.
func (q LunchRequest) failed() bool { return q.Error != "" || q.Status != http.StatusOK }

// LunchUpstream are a stand-in's counters: requests it received, split
// into answers it computed, served from its own cache, and 304s; -1 where
// the stand-in does not count it.
type LunchUpstream struct {
	Seconds     float64 `json:"s,omitempty"`
	Requests    int64   `json:"requests"`
	Computed    int64   `json:"computed"`
	FromCache   int64   `json:"from_cache"`
	NotModified int64   `json:"not_modified"`
}

// readCounters reads the stand-in's /-/stats.
func (s *standIn) readCounters(ctx context.Context) (LunchUpstream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/-/stats", nil)
	if err != nil {
		return LunchUpstream{}, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return LunchUpstream{}, fmt.Errorf("reading stand-in stats: %w", err)
	}
	defer resp.Body.Close()
	return decodeCounters(resp.Body)
}

// decodeCounters reads the counters of a /-/stats body; a counter the
// stand-in does not report is -1.
func decodeCounters(r io.Reader) (LunchUpstream, error) {
	var v struct {
		Requests    int64  `json:"requests"`
		Computed    *int64 `json:"computed"`
		FromCache   *int64 `json:"from_cache"`
		NotModified *int64 `json:"not_modified"`
	}
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		return LunchUpstream{}, fmt.Errorf("reading stand-in stats: %w", err)
	}
	or := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}
	return LunchUpstream{Requests: v.Requests, Computed: or(v.Computed), FromCache: or(v.FromCache), NotModified: or(v.NotModified)}, nil
}

// lunchSystems are the systems of the lunch scenario, in the table's order.
func lunchSystems(withNginx bool) []string {
	if withNginx {
		return []string{SystemRelay, SystemNginx, SystemRelayWarm}
	}
	return []string{SystemRelay, SystemRelayWarm}
}

// lunchRunner is one started system of the scenario.
type lunchRunner struct {
	sys *system
	out *LunchSystem
}

// runLunch starts every system, each with its own stand-in, sends them the
// schedule at the same moments, and reads the stand-ins' counters at the end.
func runLunch(ctx context.Context, o Options, p lunchPlan, withNginx bool) (*LunchResult, error) {
	if p.rate <= 0 || p.duration <= 0 {
		return nil, fmt.Errorf("the lunch scenario needs a rate > 0 and a duration > 0 (have %g/s, %v)", p.rate, p.duration)
	}
	keys := lunchKeys()
	schedule := lunchSchedule(p.seed, p.rate, p.duration, len(keys), p.zipfS)
	lr := &LunchResult{RatePerSecond: p.rate, DurationSeconds: p.duration.Seconds(), Seed: p.seed, ZipfS: p.zipfS, Keys: keys,
		ComputeSeconds: p.compute.Seconds(), MenuMaxAgeSeconds: p.menuMaxAge.Seconds(), ListMaxAgeSeconds: p.listMaxAge.Seconds(),
		WaitMillis: float64(p.wait.Milliseconds()), FirstMinuteSeconds: p.first.Seconds(), TimeoutSeconds: p.timeout.Seconds(),
		NginxTTLSeconds: lunchNginxTTL.Seconds(), Scheduled: len(schedule), StandInFlags: p.standInFlags()}
	fmt.Fprintf(o.Log, "== %s: %s\n", ScenarioLunch, lr.title())
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	if err := e.standInKnows(ctx, p.standInFlags()); err != nil {
		return lr, err
	}
	started := map[int]*system{} // by index into lr.Systems
	for _, name := range lunchSystems(withNginx) {
		ls := LunchSystem{System: name, Upstream: LunchUpstream{Requests: -1, Computed: -1, FromCache: -1, NotModified: -1}}
		s, why, err := e.startLunchSystem(ctx, name, p)
		if err != nil {
			return lr, fmt.Errorf("%s: %w", name, err)
		}
		if why != "" {
			ls.Unavailable = why
			fmt.Fprintf(o.Log, "   %-16s not available: %s\n", name, why)
		} else {
			ls.Flags = s.flags
			started[len(lr.Systems)] = s
		}
		lr.Systems = append(lr.Systems, ls)
	}
	var runners []lunchRunner
	for i := range lr.Systems {
		if s := started[i]; s != nil {
			runners = append(runners, lunchRunner{sys: s, out: &lr.Systems[i]})
		}
	}
	if err := lunchReplay(ctx, runners, schedule, keys, p.timeout, lr); err != nil {
		return lr, err
	}
	for _, r := range runners {
		if err := r.sys.alive(); err != nil {
			return lr, err
		}
		c, err := r.sys.upstream.readCounters(ctx)
		if err != nil {
			return lr, fmt.Errorf("%s: %w", r.sys.name, err)
		}
		r.out.Upstream = c
		fmt.Fprintf(o.Log, "   %-16s %s\n", r.sys.name+":", r.out.line(lr))
	}
	return lr, nil
}

// standInKnows checks that the stand-in binary has the flags the scenario
// needs (a stand-in started in this process is the package's own).
func (e *env) standInKnows(ctx context.Context, flags []string) error {
	if e.opts.starter != nil {
		return nil
	}
	known, err := knownFlags(ctx, e.opts.MenuAPIBin)
	if err != nil {
		return err
	}
	var missing []string
	for _, f := range flags {
		if strings.HasPrefix(f, "-") && !known[flagName(f)] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the stand-in (%s) has no %s: the scenario needs a stand-in that keeps its answers in its own cache", e.opts.MenuAPIBin, strings.Join(missing, ", "))
	}
	return nil
}

// startLunchSystem starts a system and its stand-in; a relay build without
// warming makes that system unavailable (why says so) rather than failing.
func (e *env) startLunchSystem(ctx context.Context, name string, p lunchPlan) (s *system, why string, err error) {
	var extra []string
	if name == SystemRelayWarm {
		ok, err := e.relayKnows(ctx, lunchWarmFlag)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "this relay build has no " + lunchWarmFlag + " flag", nil
		}
		extra = []string{lunchWarmFlag}
	}
	up, err := e.startStandIn(ctx, "menu-api-lunch-"+strings.NewReplacer(" ", "-", "+", "").Replace(name), 0, p.standInFlags()...)
	if err != nil {
		return nil, "", err
	}
	if name == SystemNginx {
		s, err = e.startLunchNginx(ctx, up)
	} else {
		s, err = e.startLunchRelay(ctx, up, name, extra)
	}
	return s, "", err
}

// flagKnower is a starter that tells which flags its relays know.
type flagKnower interface {
	knows(flag string) bool
}

// relayKnows tells whether the relay (its --help, or the starter) knows flag.
func (e *env) relayKnows(ctx context.Context, flag string) (bool, error) {
	if k, ok := e.opts.starter.(flagKnower); ok {
		return k.knows(flagName(flag)), nil
	}
	known, err := e.supported(ctx, e.variant(SystemRelay), []string{flag})
	return len(known) > 0, err
}

// startLunchRelay starts the relay with its defaults: only its addresses,
// the upstream, the log level, extra and the relay flags the user gave.
func (e *env) startLunchRelay(ctx context.Context, up *standIn, name string, extra []string) (*system, error) {
	v := e.variant(SystemRelay)
	flags := append(append([]string{}, extra...), v.flags...)
	if e.opts.starter != nil {
		s, err := e.opts.starter.relay(ctx, e, up, relayArgs{flags: flags}, v)
		if s != nil {
			s.name = name
		}
		return s, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--listen", addr, "--admin-listen", admin, "--upstream", "http://" + up.addr + "/api/", "--log-level", "warn"}, flags...)
	p, err := e.track(startEnv(e.dir, "relay-lunch-"+addr[len("127.0.0.1:"):], v.env, v.bin, args...))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+admin+"/readyz", 10*time.Second); err != nil {
		return nil, err
	}
	return processSystem(&system{name: name, base: "http://" + addr, upstream: up, flags: flags,
		metricsURL: "http://" + admin + "/metrics", adminURL: "http://" + admin}, p), nil
}

// lunchReplay sends the schedule to every runner at once: each request at
// its moment, without waiting for earlier ones, bounded by timeout; the
// stand-ins' counters are read every second meanwhile.
func lunchReplay(ctx context.Context, runners []lunchRunner, schedule []lunchArrival, keys []string, timeout time.Duration, lr *LunchResult) error {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}} // each user on a connection of their own
	for _, r := range runners {
		r.out.Requests = make([]LunchRequest, len(schedule))
	}
	start := time.Now()
	stopProbe := probeCounters(ctx, runners, start)
	var wg sync.WaitGroup
	var lag time.Duration
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i, a := range schedule {
		timer.Reset(time.Until(start.Add(a.At)))
		select {
		case <-ctx.Done():
			wg.Wait()
			stopProbe()
			return ctx.Err()
		case <-timer.C:
		}
		lag = max(lag, time.Since(start)-a.At)
		for _, r := range runners {
			wg.Go(func() {
				r.out.Requests[i] = lunchGet(ctx, client, r.sys.base+keys[a.Key], start, a, keys[a.Key])
			})
		}
	}
	wg.Wait()
	stopProbe()
	lr.ScheduleLagMaxSeconds = lag.Seconds()
	return nil
}

// lunchGet sends one request and reads its answer.
func lunchGet(ctx context.Context, client *http.Client, url string, start time.Time, a lunchArrival, key string) LunchRequest {
	sent := time.Now()
	q := LunchRequest{AtSeconds: a.At.Seconds(), LagMillis: float64(sent.Sub(start)-a.At) / 1e6, Key: key}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		q.Error = err.Error()
		return q
	}
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		q.Status, q.Cache = resp.StatusCode, resp.Header.Get("X-Cache")
	}
	q.Millis = float64(time.Since(sent)) / 1e6
	if err != nil {
		q.Error = err.Error()
	}
	return q
}

// probeCounters reads each runner's stand-in counters every second until
// stop is called, which takes a last reading.
func probeCounters(parent context.Context, runners []lunchRunner, start time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	read := func(ctx context.Context) {
		for _, r := range runners {
			c, err := r.sys.upstream.readCounters(ctx)
			if err != nil {
				continue // a missed reading leaves a gap in the chart, nothing more
			}
			c.Seconds = time.Since(start).Seconds()
			r.out.UpstreamOverTime = append(r.out.UpstreamOverTime, c)
		}
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		read(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				read(ctx)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		read(context.WithoutCancel(parent))
	}
}
