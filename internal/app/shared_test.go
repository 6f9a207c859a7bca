package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

// relayMainMarker makes the test binary run the relay's Main, for the test
// that kills a relay process in the middle of a fetch.
const relayMainMarker = "TEST_APP_RELAY_MAIN"

func TestMain(m *testing.M) {
	proctest.Main(m, relayMainMarker, func() {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		// "doomed": the version in its User-Agent tells its calls apart.
		code := Main(ctx, "doomed", os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
		stop()
		os.Exit(code)
	})
}

// origin is the upstream of the shared-tier tests: it counts calls per
// path, and its answer can be changed or held while a test runs.
type origin struct {
	srv     *httptest.Server
	calls   atomic.Int64
	mu      sync.Mutex
	perPath map[string]int
	handler http.HandlerFunc
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{perPath: map[string]int{}}
	o.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.calls.Add(1)
		o.mu.Lock()
		o.perPath[r.URL.Path]++
		h := o.handler
		o.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) set(h http.HandlerFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handler = h
}

func (o *origin) callsFor(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.perPath[path]
}

// peer is one relay of a test cluster, serving in process.
type peer struct {
	url     string
	admin   string // the admin listener's base URL
	app     *App
	metrics prometheus.Gatherer
	logs    *proctest.Buffer
	stop    context.CancelFunc
	served  chan error
}

// startRelay starts a relay in front of up with the shared tier at rURL and
// the extra flags. Its shared-tier timeout is a second, not the default
// 50ms: on a loaded test machine an operation can take longer, and the
// relay would then rightly fetch alone, which these tests count as a
// second call.
func startRelay(t *testing.T, up *origin, rURL string, flags ...string) *peer {
	t.Helper()
	args := append([]string{"--upstream", up.srv.URL + "/api/", "--shared-cache", rURL, "--shared-cache-signing-key", testSigningKey, "--drain-delay", "0s",
		"--upstream-timeout", "2s", "--shared-cache-timeout", "1s", "--log-level", "debug"}, flags...)
	cfg, err := ParseFlags(args, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &proctest.Buffer{}
	a, err := New(ctx, cfg, "test", slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, adminLn := listen(t), listen(t)
	r := &peer{url: "http://" + ln.Addr().String(), admin: "http://" + adminLn.Addr().String(), app: a, logs: logs, stop: cancel, served: make(chan error, 1)}
	r.metrics = a.metrics.Registry
	go func() { r.served <- a.Serve(ctx, ln, adminLn) }()
	t.Cleanup(func() {
		cancel()
		<-r.served
	})
	return r
}

// get asks the relay for path and returns the status, X-Cache and body.
func (r *peer) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Errorf("GET %s%s: %v", r.url, path, err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), string(b)
}

// counter reads one series of a metric from the relay's registry.
func (r *peer) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := r.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Three relays share one engine: 50 concurrent misses spread over them
// make exactly one upstream call, and all 50 get its answer.
func TestSharedTierOneCallForTheCluster(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	release := make(chan struct{})
	up.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"restaurant":{"title":"Sven Dufva"}}`)
	})
	relays := []*peer{startRelay(t, up, rs.URL()), startRelay(t, up, rs.URL()), startRelay(t, up, rs.URL())}
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open) // runs first: held calls end before the relays stop

	const n = 50
	var wg sync.WaitGroup
	codes, bodies := make([]int, n), make([]string, n)
	for i := range n {
		wg.Go(func() { codes[i], _, bodies[i] = relays[i%3].get(t, "/restaurant/dufva") })
	}
	waitUntil(t, "the first upstream call", 20*time.Second, func() bool { return up.calls.Load() == 1 })
	// Let the others arrive: those on the holder's relay join its flight,
	// those on the other relays wait for its lease.
	waitUntil(t, "both other relays to wait for the lease", 20*time.Second, func() bool {
		return relays[0].counter(t, "restaurants_shared_cache_lease_waits_total")+
			relays[1].counter(t, "restaurants_shared_cache_lease_waits_total")+
			relays[2].counter(t, "restaurants_shared_cache_lease_waits_total") >= 2
	})
	open()
	wg.Wait()
	if got := up.calls.Load(); got != 1 {
		t.Fatalf("%d misses over three relays made %d upstream calls, want 1", n, got)
	}
	for i := range n {
		if codes[i] != 200 || bodies[i] != `{"restaurant":{"title":"Sven Dufva"}}` {
			t.Fatalf("request %d: %d %q", i, codes[i], bodies[i])
		}
	}
	// Each relay now answers from its own cache.
	for _, r := range relays {
		if code, xc, _ := r.get(t, "/restaurant/dufva"); code != 200 || xc != "HIT" {
			t.Errorf("after the fill: %d %s, want a HIT", code, xc)
		}
	}
	if got := up.calls.Load(); got != 1 {
		t.Fatalf("upstream calls = %d after the hits, want 1", got)
	}
}

// An expiry seen by all three relays makes one refresh for the cluster,
// and a new relay starts warm: its first answer is the tier's.
func TestSharedTierExpiryOneRefresh(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	flags := []string{"--cache-ttl", "1s", "--stale-while-revalidate", "30s"}
	relays := []*peer{startRelay(t, up, rs.URL(), flags...), startRelay(t, up, rs.URL(), flags...), startRelay(t, up, rs.URL(), flags...)}
	for _, r := range relays {
		if code, _, _ := r.get(t, "/restaurant"); code != 200 {
			t.Fatalf("first fill: %d", code)
		}
	}
	if got := up.callsFor("/api/restaurant"); got != 1 {
		t.Fatalf("three relays filling one key made %d calls, want 1", got)
	}
	if hits := relays[1].counter(t, "restaurants_requests_total", "cache", "shared_hit") + relays[2].counter(t, "restaurants_requests_total", "cache", "shared_hit"); hits != 2 {
		t.Errorf("shared hits on the two others = %v, want 2", hits)
	}
	time.Sleep(1200 * time.Millisecond) // every copy expired, inside stale-while-revalidate
	var wg sync.WaitGroup
	for range 5 {
		for _, r := range relays {
			wg.Go(func() {
				if code, xc, _ := r.get(t, "/restaurant"); code != 200 || (xc != "STALE" && xc != "HIT") {
					t.Errorf("after expiry: %d %s", code, xc)
				}
			})
		}
	}
	wg.Wait()
	waitUntil(t, "the refresh to reach every relay", 20*time.Second, func() bool {
		for _, r := range relays {
			if _, xc, _ := r.get(t, "/restaurant"); xc != "HIT" {
				return false
			}
		}
		return true
	})
	if got := up.callsFor("/api/restaurant"); got != 2 {
		t.Fatalf("an expiry seen by three relays made %d refreshes, want 1 (calls %d)", got-1, got)
	}

	// A new relay (a new pod, an upgrade) starts warm from the tier.
	fresh := startRelay(t, up, rs.URL(), flags...)
	if code, xc, _ := fresh.get(t, "/restaurant"); code != 200 || xc != "HIT" {
		t.Fatalf("a new relay's first answer: %d %s, want a HIT from the shared tier", code, xc)
	}
	if got := up.callsFor("/api/restaurant"); got != 2 {
		t.Fatalf("a new relay made an upstream call for a key fresh in the tier (calls %d)", got)
	}
}

// A 429 seen by one relay pauses every relay until its Retry-After is over.
func TestSharedTierRateLimitPausesTheCluster(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	up.set(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	a, b, c := startRelay(t, up, rs.URL()), startRelay(t, up, rs.URL()), startRelay(t, up, rs.URL())
	if code, _, _ := a.get(t, "/restaurant/dufva"); code != http.StatusServiceUnavailable {
		t.Fatalf("the 429: %d, want 503", code)
	}
	for i, r := range []*peer{b, c, b, c} {
		if code, _, body := r.get(t, "/restaurant/other"+strconv.Itoa(i)); code != http.StatusServiceUnavailable || !strings.Contains(body, "rate limiting") {
			t.Fatalf("another relay during the pause: %d %s, want 503 for the rate limit", code, body)
		}
	}
	if got := up.calls.Load(); got != 1 {
		t.Fatalf("upstream calls = %d, want 1: the other relays must wait out Retry-After", got)
	}
	if n := b.counter(t, "restaurants_upstream_skipped_total", "reason", "rate_limited"); n < 1 {
		t.Errorf("relay b counted %v rate-limited skips", n)
	}
}

// The upstream budget is counted for the cluster: a flood of new keys over
// two relays costs the budget once, not once per relay.
func TestSharedTierBudgetIsTheCluster(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	flags := []string{"--upstream-rate", "0.01", "--upstream-burst", "4"} // reserve 1: three first-time keys
	a, b := startRelay(t, up, rs.URL(), flags...), startRelay(t, up, rs.URL(), flags...)
	refused := 0
	for i := range 20 {
		r := a
		if i%2 == 1 {
			r = b
		}
		code, _, _ := r.get(t, "/restaurant/junk"+strconv.Itoa(i))
		if code == http.StatusServiceUnavailable {
			refused++
		}
	}
	if got := up.calls.Load(); got != 3 {
		t.Fatalf("20 new keys over two relays made %d upstream calls, want 3 (one cluster budget of 4, less the refresh reserve)", got)
	}
	if refused != 17 {
		t.Errorf("refused %d, want 17", refused)
	}
}

// A brand-new relay serves the cluster's stale copy while the upstream is
// down, at once.
func TestSharedTierNewRelayServesStaleWhileUpstreamIsDown(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	flags := []string{"--cache-ttl", "1s", "--stale-while-revalidate", "0s", "--stale-if-error", "10m"}
	a := startRelay(t, up, rs.URL(), flags...)
	if code, _, _ := a.get(t, "/restaurant/jorpes"); code != 200 {
		t.Fatal("fill failed")
	}
	up.set(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	time.Sleep(1100 * time.Millisecond)
	b := startRelay(t, up, rs.URL(), flags...)
	start := time.Now()
	code, xc, body := b.get(t, "/restaurant/jorpes")
	if code != 200 || xc != "STALE" || body != `{"path":"/api/restaurant/jorpes"}` {
		t.Fatalf("new relay, upstream down: %d %s %q; want the stale copy", code, xc, body)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the stale copy took %s", took)
	}
}

// The engine killed under load: no request fails, each relay works alone;
// restarted, the tier is used again without a restart of the relays.
func TestSharedTierEngineKilledAndRestarted(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	// Unlimited budget: the new keys of the load are misses the upstream
	// answers, so that a failure could only come from the shared tier.
	a, b := startRelay(t, up, rs.URL(), "--upstream-rate", "0"), startRelay(t, up, rs.URL(), "--upstream-rate", "0")
	var failed, total atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			r := a
			if w%2 == 1 {
				r = b
			}
			for i := 0; ctx.Err() == nil; i++ {
				// the list, a menu, and a new key now and then (a miss)
				path := []string{"/restaurant", "/restaurant/dufva", "/restaurant/k" + strconv.Itoa(w*100000+i)}[i%3]
				resp, err := client.Get(r.url + path)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	time.Sleep(time.Second)
	rs.Kill()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed while the engine was killed", n, total.Load())
	}
	if v := a.counter(t, "restaurants_shared_cache_up"); v != 0 {
		t.Errorf("restaurants_shared_cache_up = %v with the engine dead", v)
	}
	if !strings.Contains(a.logs.String(), "shared cache down") {
		t.Errorf("no log line says the shared cache is down:\n%s", a.logs.String())
	}
	t.Logf("%d requests, none failed, engine killed after 1s", total.Load())

	rs.Restart()
	waitUntil(t, "both relays to find the engine again", 20*time.Second, func() bool {
		return a.counter(t, "restaurants_shared_cache_up") == 1 && b.counter(t, "restaurants_shared_cache_up") == 1
	})
	before := up.callsFor("/api/restaurant/after-restart")
	if code, xc, _ := a.get(t, "/restaurant/after-restart"); code != 200 || xc != "MISS" {
		t.Fatalf("after the restart: %d %s", code, xc)
	}
	if code, xc, _ := b.get(t, "/restaurant/after-restart"); code != 200 || xc != "HIT" {
		t.Fatalf("the other relay after the restart: %d %s, want a HIT from the tier", code, xc)
	}
	if got := up.callsFor("/api/restaurant/after-restart") - before; got != 1 {
		t.Fatalf("after the restart two relays made %d calls for one key, want 1", got)
	}
	if strings.Count(a.logs.String(), "shared cache down") != 1 {
		t.Errorf("the engine going down was logged %d times, want once:\n%s", strings.Count(a.logs.String(), "shared cache down"), a.logs.String())
	}
}

// A bad URL or an unreachable engine at start is a clear log line, and the
// relay serves all the same.
func TestSharedTierBadURLOrUnreachable(t *testing.T) {
	up := newOrigin(t)
	for _, tc := range []struct {
		url, log string
	}{
		{"redis://127.0.0.1:notaport", "shared cache disabled"},
		{"memcached://127.0.0.1:11211", "shared cache disabled"},
		{"redis://" + proctest.ClosedAddr(t), "not answering at start"},
	} {
		r := startRelay(t, up, tc.url)
		if code, _, _ := r.get(t, "/restaurant"); code != 200 {
			t.Errorf("%s: the relay answered %d, want 200", tc.url, code)
		}
		if !strings.Contains(r.logs.String(), tc.log) {
			t.Errorf("%s: logs lack %q:\n%s", tc.url, tc.log, r.logs.String())
		}
		if v := r.counter(t, "restaurants_shared_cache_up"); v != 0 {
			t.Errorf("%s: restaurants_shared_cache_up = %v", tc.url, v)
		}
	}
}

// The holder of a key's lease is killed in the middle of its fetch: another
// relay fetches the key once the lease has run out.
func TestSharedTierLeaseHolderKilled(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	holding := make(chan struct{}, 1)
	up.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "restaurants/doomed" {
			holding <- struct{}{}
			<-r.Context().Done() // never answers the relay that will be killed
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})

	// The doomed relay runs as a process of its own, so that it can die
	// for real (SIGKILL) while it holds the lease.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := proctest.ClosedAddr(t)
	cmd := exec.Command(exe, "--upstream", up.srv.URL+"/api/", "--shared-cache", rs.URL(), "--shared-cache-signing-key", testSigningKey, "--listen", addr,
		"--admin-listen", "127.0.0.1:0", "--upstream-timeout", "3s", "--drain-delay", "0s", "--shared-cache-timeout", "1s")
	cmd.Env = append(os.Environ(), relayMainMarker+"=1", "GOGC=100", "GOMEMLIMIT=off")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	serving := make(chan struct{})
	doomedLogs := &proctest.Buffer{}
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(doomedLogs, sc.Text())
			if strings.Contains(sc.Text(), "serving") {
				once.Do(func() { close(serving) })
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the killed relay's log:\n%s", doomedLogs.String())
		}
	})
	select {
	case <-serving:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay process did not start serving")
	}
	go func() {
		client := &http.Client{Timeout: 10 * time.Second}
		if resp, err := client.Get("http://" + addr + "/restaurant/hubben"); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the doomed relay never called the upstream")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	// The lease is held for the doomed relay's upstream timeout and a
	// margin (3s + 2s): the survivor waits that out, then fetches.
	survivor := startRelay(t, up, rs.URL(), "--upstream-timeout", "3s")
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get(survivor.url + "/restaurant/hubben")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("survivor: %d %q", resp.StatusCode, body)
	}
	if took := time.Since(killed); took > 12*time.Second {
		t.Errorf("the survivor answered %s after the holder died, more than its lease allows", took)
	}
	if got := up.callsFor("/api/restaurant/hubben"); got != 2 {
		t.Fatalf("upstream calls for the key = %d, want 2 (the dead holder's and the survivor's)", got)
	}
	if n := survivor.counter(t, "restaurants_shared_cache_lease_waits_total"); n < 1 {
		t.Errorf("the survivor did not wait for the lease (%v waits); its log:\n%s", n, survivor.logs.String())
	}
}

// A relay that is draining after a SIGTERM (not ready, still serving) is
// still one of the cluster: a wait for another relay's fetch ends with that
// fetch's wake-up, not with the end of the lease, so it costs neither a
// second upstream call nor the lease's seconds.
func TestSharedTierWhileDraining(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	up.set(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Second)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	// Leases last the upstream timeout and a margin: 5s + 2s.
	holder := startRelay(t, up, rs.URL(), "--upstream-timeout", "5s")
	draining := startRelay(t, up, rs.URL(), "--upstream-timeout", "5s", "--drain-delay", "4s")
	draining.stop() // as SIGTERM does
	waitUntil(t, "the relay to start draining", 5*time.Second, func() bool {
		return strings.Contains(draining.logs.String(), "draining")
	})

	go holder.get(t, "/restaurant/hubben")
	waitUntil(t, "the holder's upstream call", 5*time.Second, func() bool { return up.callsFor("/api/restaurant/hubben") == 1 })
	begin := time.Now()
	code, xc, body := draining.get(t, "/restaurant/hubben")
	took := time.Since(begin)
	if code != 200 || body != `{"ok":true}` {
		t.Fatalf("draining relay: %d %s %q", code, xc, body)
	}
	if got := up.callsFor("/api/restaurant/hubben"); got != 1 {
		t.Errorf("upstream calls = %d, want 1: the draining relay fetched for itself", got)
	}
	if took > 3*time.Second {
		t.Errorf("the draining relay answered after %s: it waited for the lease to run out, not for the holder's wake-up", took.Round(time.Millisecond))
	}
	if waits := draining.counter(t, "restaurants_shared_cache_lease_waits_total"); waits != 1 {
		t.Errorf("lease waits of the draining relay = %v, want 1", waits)
	}
}

// One shared-tier operation that times out (the engine busy for a moment)
// while a stale copy stands in puts the refresh off for a second instead of
// calling the upstream beside the cluster; the refresh then goes through
// the tier as usual.
func TestSharedTierBlipPutsARefreshOff(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	r := startRelay(t, up, rs.URL(), "--cache-ttl", "1s", "--stale-while-revalidate", "30s", "--shared-cache-timeout", "50ms")
	if code, _, _ := r.get(t, "/restaurant"); code != 200 {
		t.Fatalf("first fill: %d", code)
	}
	time.Sleep(1100 * time.Millisecond) // stale, inside stale-while-revalidate
	// The engine answers no client for 200 ms: longer than the relay's
	// 50 ms per operation, shorter than its 250 ms ping.
	if out, err := rs.Do("CLIENT", "PAUSE", "200", "ALL"); err != nil || out != "+OK" {
		t.Fatalf("CLIENT PAUSE: %q %v", out, err)
	}
	if code, xc, _ := r.get(t, "/restaurant"); code != 200 || xc != "STALE" {
		t.Fatalf("while the engine is paused: %d %s, want the stale copy", code, xc)
	}
	waitUntil(t, "the failed lookup", 2*time.Second, func() bool {
		return r.counter(t, "restaurants_shared_cache_errors_total", "op", "get") == 1
	})
	time.Sleep(300 * time.Millisecond)
	if got := up.callsFor("/api/restaurant"); got != 1 {
		t.Fatalf("upstream calls = %d after one failed lookup, want 1: the refresh went to the upstream beside the cluster", got)
	}
	if up := r.counter(t, "restaurants_shared_cache_up"); up != 1 {
		t.Fatalf("restaurants_shared_cache_up = %v after one failed lookup, want 1", up)
	}
	waitUntil(t, "the refresh after the pause", 5*time.Second, func() bool {
		_, xc, _ := r.get(t, "/restaurant")
		return xc == "HIT"
	})
	if got := up.callsFor("/api/restaurant"); got != 2 {
		t.Fatalf("upstream calls = %d, want 2 (the fill and one refresh)", got)
	}
}
