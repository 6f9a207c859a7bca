package cache

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// newFakeClock is the cache's clock in these tests; it moves only when told.
func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC))
}

// origin is a counting fetch function whose answer the test sets, and
// which can be held at a gate until the test lets it go.
type origin struct {
	calls   atomic.Int32
	mu      sync.Mutex
	status  int
	body    string
	err     error
	gate    chan struct{}  // when set, each call waits for it to close
	started chan struct{}  // when set, each call announces itself here
	ctxErrs chan error     // when set, each call reports its ctx.Err() after the gate
	keys    map[string]int // calls per key
	bodies  map[string]string
	// header is sent with every answer; with an ETag in it, a call whose
	// If-None-Match matches it is answered 304.
	header http.Header
	// asked are the validators of each call, in order.
	asked []upstream.Validators
	// panics makes each call panic with it when set.
	panics any
}

func newOrigin(status int, body string) *origin {
	return &origin{status: status, body: body, keys: map[string]int{}, bodies: map[string]string{}}
}

func (u *origin) set(status int, body string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.body, u.err = status, body, err
}

// hold makes the following calls wait until the returned release is called.
func (u *origin) hold() (release func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	gate := make(chan struct{})
	u.gate = gate
	u.started = make(chan struct{}, 16)
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// setHeader sets the header fields of the following answers.
func (u *origin) setHeader(h http.Header) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.header = h
}

// validators returns the validators each call was made with.
func (u *origin) validators() []upstream.Validators {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.asked)
}

func (u *origin) fetch(ctx context.Context, t upstream.Target, v upstream.Validators) (upstream.Response, error) {
	key := t.Key()
	u.calls.Add(1)
	u.mu.Lock()
	u.keys[key]++
	u.asked = append(u.asked, v)
	gate, started, ctxErrs, panics := u.gate, u.started, u.ctxErrs, u.panics
	u.mu.Unlock()
	if panics != nil {
		panic(panics)
	}
	if started != nil {
		started <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if ctxErrs != nil {
		ctxErrs <- ctx.Err()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return upstream.Response{}, u.err
	}
	body := u.body
	if b, ok := u.bodies[key]; ok {
		body = b
	}
	resp := upstream.Response{Status: u.status, Body: []byte(body), Header: u.header.Clone()}
	if etag := u.header.Get("Etag"); etag != "" && v.ETag == etag {
		resp.Status, resp.Body = http.StatusNotModified, nil
	}
	return resp, nil
}

func (u *origin) callsFor(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.keys[key]
}

// waitingCtx reports each Done call: Get asks for Done only once it waits
// for a fetch, so the test knows when all callers have joined one.
type waitingCtx struct {
	context.Context
	waiting chan<- struct{}
}

func (c waitingCtx) Done() <-chan struct{} {
	c.waiting <- struct{}{}
	return c.Context.Done()
}

func testConfig(clk *clocktest.Clock) Config {
	return Config{
		Policy: Policy{
			TTL:                  10 * time.Second,
			NegativeTTL:          2 * time.Second,
			StaleWhileRevalidate: 30 * time.Second,
			StaleIfError:         10 * time.Minute,
		},
		MaxMB:         8,
		MaxEntryBytes: 256 << 10,
		Now:           clk.Now,
	}
}

func newTestCache(t *testing.T, cfg Config, u *origin) *Cache {
	t.Helper()
	c, err := New(t.Context(), cfg, u.fetch)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// target is the upstream target of a cache key: its path, and a query
// after "?".
func target(key string) upstream.Target {
	path, query, _ := strings.Cut(key, "?")
	return upstream.Target{Path: path, RawQuery: query}
}

func mustGet(t *testing.T, c *Cache, key string) Result {
	t.Helper()
	r, err := c.Get(context.Background(), target(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if r.Entry == nil {
		t.Fatalf("Get(%q) = %+v without an entry", key, r)
	}
	return r
}

func wantResult(t *testing.T, r Result, state State, status int, body string) {
	t.Helper()
	if r.State != state || r.Entry.Status != status || string(r.Entry.Body) != body {
		t.Fatalf("got state %v (%d) %d %q, want state %v (%d) %d %q",
			r.State, r.State, r.Entry.Status, r.Entry.Body, state, state, status, body)
	}
}

// waitHit asks for key until it is a Hit. Each Get on the way joins the
// fetch under way or finds its answer, so it adds no upstream call.
func waitHit(t *testing.T, c *Cache, key string) Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := mustGet(t, c, key)
		if r.State == Hit {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get(%q) still %v after 10s, want a Hit", key, r.State)
		}
		runtime.Gosched()
	}
}

func TestMissThenHit(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"restaurants":[]}`)
	c := newTestCache(t, testConfig(clk), u)

	r := mustGet(t, c, "restaurant")
	wantResult(t, r, Miss, 200, `{"restaurants":[]}`)
	if r.Entry.ETag != ETagOf([]byte(`{"restaurants":[]}`)) || !r.Entry.Stored.Equal(clk.Now()) {
		t.Errorf("entry ETag %s Stored %v", r.Entry.ETag, r.Entry.Stored)
	}
	clk.Advance(9 * time.Second)
	r = mustGet(t, c, "restaurant")
	wantResult(t, r, Hit, 200, `{"restaurants":[]}`)
	if age, maxAge := r.Entry.Age(clk.Now()), r.Entry.MaxAge; age != 9 || maxAge != 10*time.Second {
		t.Errorf("after 9s: Age %d MaxAge %s, want 9 and the TTL", age, maxAge)
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
	if c.Len() != 1 || c.Bytes() <= 0 {
		t.Errorf("Len %d Bytes %d, want 1 entry and some bytes", c.Len(), c.Bytes())
	}

	// Keys are distinct: a query makes another entry.
	wantResult(t, mustGet(t, c, "restaurant?lang=sv"), Miss, 200, `{"restaurants":[]}`)
	if n := u.calls.Load(); n != 2 || c.Len() != 2 {
		t.Errorf("after a second key: %d calls, %d entries; want 2 and 2", n, c.Len())
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	const callers = 100
	clk := newFakeClock()
	u := newOrigin(200, `{"restaurant":{"title":"Sven Dufva"}}`)
	release := u.hold()
	defer release()
	c := newTestCache(t, testConfig(clk), u)

	waiting := make(chan struct{}, callers)
	ctx := waitingCtx{Context: context.Background(), waiting: waiting}
	results := make(chan Result, callers)
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		go func() {
			r, err := c.Get(ctx, target("restaurant/dufva"))
			if err != nil {
				errs <- err
				return
			}
			results <- r
		}()
	}
	for i := 0; i < callers; i++ {
		<-waiting // every caller is now waiting on the one fetch
	}
	release()

	states := map[State]int{}
	for i := 0; i < callers; i++ {
		select {
		case err := <-errs:
			t.Fatalf("Get: %v", err)
		case r := <-results:
			states[r.State]++
			if string(r.Entry.Body) != `{"restaurant":{"title":"Sven Dufva"}}` {
				t.Errorf("caller got %q", r.Entry.Body)
			}
		}
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("%d concurrent misses made %d upstream calls, want 1", callers, n)
	}
	if states[Miss] != 1 || states[Coalesced] != callers-1 || len(states) != 2 {
		t.Errorf("states %v, want 1 miss and %d coalesced", states, callers-1)
	}
	wantResult(t, mustGet(t, c, "restaurant/dufva"), Hit, 200, `{"restaurant":{"title":"Sven Dufva"}}`)
	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	const callers = 100
	clk := newFakeClock()
	u := newOrigin(200, `{"v":1}`)
	c := newTestCache(t, testConfig(clk), u)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{"v":1}`)

	clk.Advance(15 * time.Second) // expired 5s ago; inside the 30s revalidate window
	u.set(200, `{"v":2}`, nil)
	release := u.hold()
	defer release()

	var wg sync.WaitGroup
	results := make(chan Result, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Get(context.Background(), target("restaurant"))
			if err != nil {
				t.Errorf("Get: %v", err)
				return
			}
			results <- r
		}()
	}
	// The refresh is held at the gate: the callers must all be answered
	// while it is.
	allAnswered := make(chan struct{})
	go func() { wg.Wait(); close(allAnswered) }()
	select {
	case <-allAnswered:
	case <-time.After(10 * time.Second):
		t.Fatal("callers of an expired entry waited for its refresh")
	}
	close(results)
	for r := range results {
		wantResult(t, r, Revalidating, 200, `{"v":1}`)
		if r.Err != nil {
			t.Errorf("Revalidating result carries error %v", r.Err)
		}
		if age := r.Entry.Age(clk.Now()); age != 15 {
			t.Errorf("stale entry Age %d, want 15", age)
		}
	}
	<-u.started // the one refresh is under way
	if n := u.calls.Load(); n != 2 {
		t.Fatalf("%d callers of an expired entry made %d refreshes, want 1", callers, n-1)
	}

	release()
	r := waitHit(t, c, "restaurant")
	wantResult(t, r, Hit, 200, `{"v":2}`)
	if age := r.Entry.Age(clk.Now()); age != 0 {
		t.Errorf("refreshed entry Age %d, want 0", age)
	}
	if n := u.calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2: one load, one refresh", n)
	}
}

// waitIdle waits until no fetch of key is under way.
func waitIdle(t *testing.T, c *Cache, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		ks := c.keys[key]
		busy := ks != nil && ks.flight != nil
		c.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a fetch of %q still under way after 10s", key)
		}
		time.Sleep(time.Millisecond)
	}
}

// Past the revalidate window but inside stale-if-error, a copy is served
// at once while one refresh runs; once the refresh has failed, the copy is
// stale on error and the key backs off instead of calling again.
func TestStaleIfError(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"v":1}`)
	cfg := testConfig(clk)
	cfg.StaleWhileRevalidate = 5 * time.Second
	cfg.StaleIfError = 20 * time.Second
	cfg.Backoff = guard.Backoff{Min: 4 * time.Second, Max: time.Minute}
	c := newTestCache(t, cfg, u)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{"v":1}`)

	broken := errors.New("upstream 503")
	u.set(0, "", broken)
	release := u.hold()

	// Past the revalidate window (15s after storing), inside stale-if-error:
	// the copy at once, while the refresh hangs.
	clk.Advance(16 * time.Second)
	for range 20 {
		wantResult(t, mustGet(t, c, "restaurant"), Revalidating, 200, `{"v":1}`)
	}
	<-u.started
	release()
	waitIdle(t, c, "restaurant")
	if n := u.calls.Load(); n != 2 {
		t.Fatalf("upstream called %d times, want 2: the load and one refresh", n)
	}

	// The refresh failed: stale on error, no call during the back-off.
	r := mustGet(t, c, "restaurant")
	wantResult(t, r, StaleOnError, 200, `{"v":1}`)
	if !errors.Is(r.Err, broken) {
		t.Errorf("StaleOnError Err = %v, want the upstream failure", r.Err)
	}
	clk.Advance(3 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), StaleOnError, 200, `{"v":1}`)
	if n := u.calls.Load(); n != 2 {
		t.Fatalf("upstream called %d times during the back-off, want 2", n)
	}
	// Back-off over: one more refresh, which fails too; the next pause is longer.
	clk.Advance(2 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), StaleOnError, 200, `{"v":1}`)
	waitIdle(t, c, "restaurant")
	clk.Advance(5 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), StaleOnError, 200, `{"v":1}`)
	if n := u.calls.Load(); n != 3 {
		t.Fatalf("upstream called %d times, want 3: the second back-off (8s) is not over", n)
	}

	// The third refresh (at 29s, the copy usable until 30s) fails: the key
	// backs off 16s. Past stale-if-error the copy is gone, and the key
	// still backs off, so the answer is a refusal naming the failure.
	clk.Advance(3 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), StaleOnError, 200, `{"v":1}`)
	waitIdle(t, c, "restaurant")
	clk.Advance(2 * time.Second)
	r, err := c.Get(context.Background(), target("restaurant"))
	var ref *guard.Refusal
	if !errors.As(err, &ref) || ref.Reason != guard.Failing || !errors.Is(err, broken) {
		t.Fatalf("past stale-if-error while backing off: Get = %+v, %v; want a back-off refusal with the failure", r, err)
	}
	if r.Entry != nil {
		t.Errorf("an error came with entry %+v", r.Entry)
	}

	// The upstream recovers: after the back-off, a fresh answer replaces the
	// old one and the key's failures are forgotten.
	if n := u.calls.Load(); n != 4 {
		t.Fatalf("upstream called %d times, want 4", n)
	}
	u.set(200, `{"v":2}`, nil)
	clk.Advance(14 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{"v":2}`)
	wantResult(t, mustGet(t, c, "restaurant"), Hit, 200, `{"v":2}`)
	c.mu.Lock()
	left := len(c.keys)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("%d keys remembered after the recovery, want none", left)
	}
}

// A key with no copy whose fetch failed is not asked again on every
// request: it backs off, and the refusal says how long.
func TestFailedMissBacksOff(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(0, "")
	broken := &upstream.Error{Outcome: upstream.Timeout, Err: errors.New("no answer")}
	u.set(0, "", broken)
	cfg := testConfig(clk)
	cfg.Backoff = guard.Backoff{Min: 2 * time.Second, Max: time.Minute}
	c := newTestCache(t, cfg, u)
	if _, err := c.Get(context.Background(), target("restaurant")); !errors.Is(err, broken) {
		t.Fatalf("first Get: %v, want the failure", err)
	}
	for range 10 {
		_, err := c.Get(context.Background(), target("restaurant"))
		var ref *guard.Refusal
		if !errors.As(err, &ref) || ref.Reason != guard.Failing || ref.RetryAfter != 2*time.Second || !errors.Is(err, broken) {
			t.Fatalf("Get while backing off: %v, want a 2s back-off refusal wrapping the failure", err)
		}
	}
	if n := u.calls.Load(); n != 1 {
		t.Fatalf("upstream called %d times, want 1", n)
	}
	// Other keys are not held back by this one.
	u.set(200, `{}`, nil)
	wantResult(t, mustGet(t, c, "restaurant/dufva"), Miss, 200, `{}`)
	clk.Advance(2 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{}`)
}

// A 429 pauses every key for its Retry-After, and makes no key back off.
func TestRateLimitPausesEveryKey(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(0, "")
	u.set(0, "", &upstream.Error{Outcome: upstream.RateLimited, Status: 429, RetryAfter: 30 * time.Second, Err: errors.New("rate limited")})
	cfg := testConfig(clk)
	cfg.Backoff = guard.Backoff{Min: time.Minute, Max: time.Hour}
	g, err := guard.New(guard.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Guard = g
	obs := &countingObserver{}
	cfg.Observer = obs
	c := newTestCache(t, cfg, u)
	if _, err := c.Get(context.Background(), target("restaurant")); err == nil {
		t.Fatal("a 429 gave an answer")
	}
	for _, key := range []string{"restaurant", "restaurant/dufva", "restaurant/jorpes"} {
		_, err := c.Get(context.Background(), target(key))
		var ref *guard.Refusal
		if !errors.As(err, &ref) || ref.Reason != guard.RateLimited || ref.RetryAfter != 30*time.Second {
			t.Fatalf("Get(%s) during the pause: %v, want a 30s rate-limit refusal", key, err)
		}
	}
	if n := u.calls.Load(); n != 1 || obs.count(guard.RateLimited) != 3 {
		t.Fatalf("%d upstream calls, %d counted refusals; want 1 and 3", n, obs.count(guard.RateLimited))
	}
	u.set(200, `{}`, nil)
	clk.Advance(30 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{}`)
}

// Over budget, a key with a copy is served stale and a key without one is
// refused with the wait; refreshes of known keys come first.
func TestBudget(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{}`)
	cfg := testConfig(clk)
	g, err := guard.New(guard.Config{Rate: 1, Burst: 4, Now: clk.Now}) // reserve 1 for refreshes
	if err != nil {
		t.Fatal(err)
	}
	cfg.Guard = g
	obs := &countingObserver{}
	cfg.Observer = obs
	c := newTestCache(t, cfg, u)
	for _, key := range []string{"a", "b", "c"} {
		wantResult(t, mustGet(t, c, key), Miss, 200, `{}`)
	}
	_, err = c.Get(context.Background(), target("junk"))
	var ref *guard.Refusal
	if !errors.As(err, &ref) || ref.Reason != guard.Budget || ref.RetryAfter < time.Second {
		t.Fatalf("a first-time key over budget: %v, want a budget refusal", err)
	}
	// The reserve is for refreshes: a known key renews with it.
	clk.Advance(15 * time.Second) // every copy stale, the budget full again (4)
	for _, key := range []string{"j1", "j2", "j3"} {
		wantResult(t, mustGet(t, c, key), Miss, 200, `{}`)
	}
	if _, err := c.Get(context.Background(), target("j4")); err == nil {
		t.Fatal("a first-time key took the reserve")
	}
	wantResult(t, mustGet(t, c, "a"), Revalidating, 200, `{}`)
	waitIdle(t, c, "a")
	// The budget is spent: b's refresh is refused, and b is served stale
	// on error until the budget has a call again.
	wantResult(t, mustGet(t, c, "b"), Revalidating, 200, `{}`)
	waitIdle(t, c, "b")
	r := mustGet(t, c, "b")
	wantResult(t, r, StaleOnError, 200, `{}`)
	if !errors.As(r.Err, &ref) || ref.Reason != guard.Budget {
		t.Fatalf("stale for lack of budget: Err %v, want the budget refusal", r.Err)
	}
	if n := u.calls.Load(); n != 7 {
		t.Errorf("upstream called %d times, want 7", n)
	}
	if obs.count(guard.Budget) != 3 {
		t.Errorf("budget refusals counted %d, want 3", obs.count(guard.Budget))
	}
}

type countingObserver struct {
	mu     sync.Mutex
	n      map[guard.Reason]int
	purges map[string]int
	panics int
}

func (o *countingObserver) Purged(scope string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.purges == nil {
		o.purges = map[string]int{}
	}
	o.purges[scope]++
}

// counts returns the purges by scope and the panics counted.
func (o *countingObserver) counts() (purges map[string]int, panics int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.purges), o.panics
}

func (o *countingObserver) Panicked() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.panics++
}

func (o *countingObserver) Skipped(r guard.Reason) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[guard.Reason]int{}
	}
	o.n[r]++
}

func (o *countingObserver) count(r guard.Reason) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[r]
}

// A stale request leaves nothing behind: a refresh that hangs while many
// stale answers are served holds one flight, not one record per caller.
func TestStaleServesDoNotPileUp(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"v":1}`)
	c := newTestCache(t, testConfig(clk), u)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{"v":1}`)
	release := u.hold()
	defer release()
	clk.Advance(11 * time.Second)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 20000
	for range n {
		if r := mustGet(t, c, "restaurant"); r.State != Revalidating {
			t.Fatalf("state %v, want Revalidating", r.State)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := u.calls.Load(); n != 2 {
		t.Fatalf("upstream called %d times, want 2", n)
	}
	// The old singleflight path kept a channel per stale caller: about a
	// hundred bytes each, 2 MB here.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 256<<10 {
		t.Errorf("heap grew %d bytes over %d stale answers, want it flat", grown, n)
	}
}

func TestStaleIfErrorZero(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"v":1}`)
	cfg := testConfig(clk)
	cfg.StaleWhileRevalidate = 0
	cfg.StaleIfError = 0
	c := newTestCache(t, cfg, u)
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{"v":1}`)

	broken := errors.New("upstream timeout")
	u.set(0, "", broken)
	clk.Advance(10 * time.Second)
	if _, err := c.Get(context.Background(), target("restaurant")); !errors.Is(err, broken) {
		t.Fatalf("no stale windows: Get error %v, want the upstream failure", err)
	}
}

func TestMissErrorNotCached(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(0, "")
	broken := errors.New("connection refused")
	u.set(0, "", broken)
	c := newTestCache(t, testConfig(clk), u)
	for i := 1; i <= 2; i++ {
		if _, err := c.Get(context.Background(), target("restaurant")); !errors.Is(err, broken) {
			t.Fatalf("Get %d: error %v, want the upstream failure", i, err)
		}
		if n := u.calls.Load(); n != int32(i) {
			t.Fatalf("after %d failed Gets: %d calls; a failure must not be cached", i, n)
		}
	}
	if c.Len() != 0 {
		t.Errorf("a failure left %d entries", c.Len())
	}
}

func TestNegativeCaching(t *testing.T) {
	clk := newFakeClock()
	const notFound = `{"detail":"Restaurant not found"}`
	u := newOrigin(404, notFound)
	c := newTestCache(t, testConfig(clk), u) // NegativeTTL 2s, TTL 10s, long stale windows

	r := mustGet(t, c, "restaurant/nope")
	wantResult(t, r, Miss, 404, notFound)
	if got, want := r.Entry.FreshUntil, clk.Now().Add(2*time.Second); !got.Equal(want) {
		t.Errorf("404 fresh until %v, want %v (the negative TTL)", got, want)
	}
	clk.Advance(1500 * time.Millisecond)
	wantResult(t, mustGet(t, c, "restaurant/nope"), Hit, 404, notFound)
	if n := u.calls.Load(); n != 1 {
		t.Fatalf("upstream called %d times within the negative TTL, want 1", n)
	}

	// Expired, well inside what would be a 200's revalidate window: asked
	// again at once, not served stale.
	clk.Advance(time.Second)
	u.set(404, `{"detail":"still not found"}`, nil)
	wantResult(t, mustGet(t, c, "restaurant/nope"), Miss, 404, `{"detail":"still not found"}`)

	// Expired and the upstream fails: the 404 does not stand in for it.
	clk.Advance(3 * time.Second)
	broken := errors.New("upstream 502")
	u.set(0, "", broken)
	r, err := c.Get(context.Background(), target("restaurant/nope"))
	if !errors.Is(err, broken) {
		t.Fatalf("expired 404 with a failing upstream: Get = %v %+v, %v; want the failure", r.State, r.Entry, err)
	}
	if n := u.calls.Load(); n != 3 {
		t.Errorf("upstream called %d times, want 3", n)
	}
}

func TestNegativeTTLZero(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(404, `{"detail":"Restaurant not found"}`)
	cfg := testConfig(clk)
	cfg.NegativeTTL = 0
	c := newTestCache(t, cfg, u)
	for i := 1; i <= 3; i++ {
		wantResult(t, mustGet(t, c, "restaurant/nope"), Miss, 404, `{"detail":"Restaurant not found"}`)
		if n := u.calls.Load(); n != int32(i) {
			t.Fatalf("Get %d: %d upstream calls; with no negative TTL every 404 is asked again", i, n)
		}
	}
	if c.Len() != 0 {
		t.Errorf("store holds %d entries, want none", c.Len())
	}
}

func TestCallerLeavesWhileWaiting(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"v":1}`)
	release := u.hold()
	defer release()
	u.ctxErrs = make(chan error, 1)
	c := newTestCache(t, testConfig(clk), u)

	// The first caller starts the fetch and then leaves.
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, target("restaurant"))
		left <- err
	}()
	<-u.started

	// A second caller joins the same fetch.
	waiting := make(chan struct{}, 1)
	second := make(chan Result, 1)
	go func() {
		r, err := c.Get(waitingCtx{Context: context.Background(), waiting: waiting}, target("restaurant"))
		if err != nil {
			t.Errorf("second caller: %v", err)
		}
		second <- r
	}()
	<-waiting

	cancel()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the caller who left got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller kept waiting for the fetch")
	}

	release()
	if err := <-u.ctxErrs; err != nil {
		t.Errorf("the fetch saw its context end (%v) when its first caller left", err)
	}
	wantResult(t, <-second, Coalesced, 200, `{"v":1}`)
	wantResult(t, waitHit(t, c, "restaurant"), Hit, 200, `{"v":1}`)
	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}

func TestOversizedAnswerServedNotCached(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"small":true}`)
	cfg := testConfig(clk)
	cfg.MaxMB = 1
	cfg.MaxEntryBytes = 300 << 10 // the store then keeps a single shard
	c := newTestCache(t, cfg, u)

	wantResult(t, mustGet(t, c, "small"), Miss, 200, `{"small":true}`)
	huge := `"` + strings.Repeat("x", 2<<20) + `"`
	u.mu.Lock()
	u.bodies["huge"] = huge
	u.mu.Unlock()

	for i := 1; i <= 2; i++ {
		r := mustGet(t, c, "huge")
		if r.State != Miss || len(r.Entry.Body) != len(huge) || !bytes.Equal(r.Entry.Body, []byte(huge)) {
			t.Fatalf("Get %d of a 2 MiB answer: state %v, %d bytes; want a Miss with the whole body", i, r.State, len(r.Entry.Body))
		}
		if n := u.callsFor("huge"); n != i {
			t.Fatalf("Get %d of a 2 MiB answer: %d upstream calls, want %d (not cached)", i, n, i)
		}
	}
	// The answer that could not be stored must not have pushed out others.
	wantResult(t, mustGet(t, c, "small"), Hit, 200, `{"small":true}`)
	if n := u.callsFor("small"); n != 1 {
		t.Errorf("small answer fetched %d times, want 1", n)
	}
}

// TestLargestEntryIsCached fills a single-shard store as tightly as New
// allows: an answer of MaxEntryBytes, under a long key, is still stored.
func TestLargestEntryIsCached(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, "")
	cfg := testConfig(clk)
	cfg.MaxMB = 1
	cfg.MaxEntryBytes = (1<<20)/2 - headerSize - 1024
	c := newTestCache(t, cfg, u)
	body := strings.Repeat("y", cfg.MaxEntryBytes)
	key := strings.Repeat("k", 900)
	u.set(200, body, nil)
	wantResult(t, mustGet(t, c, key), Miss, 200, body)
	wantResult(t, mustGet(t, c, key), Hit, 200, body)
	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}

func TestETagFollowsBody(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"menu":[]}`)
	u.bodies["c"] = `{"menu":[{"dish":"Soppa"}]}`
	c := newTestCache(t, testConfig(clk), u)
	a, b, d := mustGet(t, c, "a"), mustGet(t, c, "b"), mustGet(t, c, "c")
	if a.Entry.ETag != b.Entry.ETag {
		t.Errorf("equal bodies got ETags %s and %s", a.Entry.ETag, b.Entry.ETag)
	}
	if a.Entry.ETag == d.Entry.ETag {
		t.Errorf("different bodies share ETag %s", a.Entry.ETag)
	}
	if hit := mustGet(t, c, "a"); hit.State != Hit || hit.Entry.ETag != a.Entry.ETag {
		t.Errorf("ETag changed from %s to %s when read from the store", a.Entry.ETag, hit.Entry.ETag)
	}
}

func TestUnreadableEntryRefetched(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"v":1}`)
	c := newTestCache(t, testConfig(clk), u)
	if err := c.store.Set("restaurant", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	wantResult(t, mustGet(t, c, "restaurant"), Miss, 200, `{"v":1}`)
	wantResult(t, mustGet(t, c, "restaurant"), Hit, 200, `{"v":1}`)
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Hit: "hit", Miss: "miss", Coalesced: "coalesced", Revalidating: "stale", StaleOnError: "stale", None: "none"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{}`)
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"zero TTL", func(c *Config) { c.TTL = 0 }, "TTL"},
		{"negative negative TTL", func(c *Config) { c.NegativeTTL = -time.Second }, "negative"},
		{"negative revalidate", func(c *Config) { c.StaleWhileRevalidate = -time.Second }, "negative"},
		{"negative stale-if-error", func(c *Config) { c.StaleIfError = -time.Second }, "negative"},
		{"zero size", func(c *Config) { c.MaxMB = 0 }, "size"},
		{"zero entry size", func(c *Config) { c.MaxEntryBytes = 0 }, "size"},
		{"entry too large for the store", func(c *Config) { c.MaxMB = 1; c.MaxEntryBytes = 1 << 20 }, "cannot hold"},
		{"entry half the store", func(c *Config) { c.MaxMB = 2; c.MaxEntryBytes = 1 << 20 }, "cannot hold"},
	}
	for _, tt := range tests {
		cfg := testConfig(clk)
		tt.mod(&cfg)
		c, err := New(t.Context(), cfg, u.fetch)
		if err == nil {
			c.Close()
			t.Errorf("%s: New succeeded, want an error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(t.Context(), testConfig(clk), nil); err == nil || !strings.Contains(err.Error(), "fetch") {
		t.Errorf("New without a fetch function: %v, want an error naming it", err)
	}
	cfg := testConfig(clk)
	cfg.MaxMB, cfg.MaxEntryBytes = 1, 256<<10
	c, err := New(t.Context(), cfg, u.fetch)
	if err != nil {
		t.Fatalf("New with room for two entries: %v", err)
	}
	c.Close()
}
