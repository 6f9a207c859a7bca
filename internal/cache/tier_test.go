package cache

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/sharedcache"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// fakeTier is a Tier in memory whose claims the test scripts: each Claim
// takes the next grant of claims (Granted once they run out).
type fakeTier struct {
	mu        sync.Mutex
	down      bool
	getErr    error
	claimErr  error
	entries   map[string]sharedcache.Stored
	claims    []sharedcache.Claim
	stored    []sharedcache.Stored
	abandoned []sharedcache.Failure
	purged    []string
	drop      func(string)
	waiters   map[string]chan struct{}
	// onHeld runs when a claim is answered Held, as another relay's fetch.
	onHeld func()
}

func newFakeTier() *fakeTier {
	return &fakeTier{entries: map[string]sharedcache.Stored{}, waiters: map[string]chan struct{}{}}
}

// record returns copies of what the tier was asked to keep, abandon and
// purge.
func (f *fakeTier) record() (stored []sharedcache.Stored, abandoned []sharedcache.Failure, purged []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stored), slices.Clone(f.abandoned), slices.Clone(f.purged)
}

func (f *fakeTier) Available() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.down
}

func (f *fakeTier) Get(_ context.Context, key string) (sharedcache.Stored, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return sharedcache.Stored{}, false, f.getErr
	}
	s, ok := f.entries[key]
	return s, ok, nil
}

func (f *fakeTier) Wait(key string) (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.waiters[key] = ch
	return ch, func() {}
}

// wake stores s for key as another relay would, and wakes the waiter.
func (f *fakeTier) wake(key string, s sharedcache.Stored) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[key] = s
	if ch := f.waiters[key]; ch != nil {
		close(ch)
		delete(f.waiters, key)
	}
}

func (f *fakeTier) Claim(_ context.Context, _ string, _ sharedcache.ClaimRequest) (sharedcache.Claim, error) {
	f.mu.Lock()
	if f.claimErr != nil {
		defer f.mu.Unlock()
		return sharedcache.Claim{}, f.claimErr
	}
	c := sharedcache.Claim{Grant: sharedcache.Granted}
	if len(f.claims) > 0 {
		c, f.claims = f.claims[0], f.claims[1:]
	}
	onHeld := f.onHeld
	f.mu.Unlock()
	if c.Grant == sharedcache.Held && onHeld != nil {
		go onHeld()
	}
	return c, nil
}

func (f *fakeTier) Store(_ context.Context, key string, _ sharedcache.Claim, s sharedcache.Stored, life time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stored = append(f.stored, s)
	if life > 0 {
		f.entries[key] = s
	}
	return nil
}

func (f *fakeTier) Abandon(_ context.Context, _ string, _ sharedcache.Claim, fl sharedcache.Failure) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.abandoned = append(f.abandoned, fl)
	return 0, nil
}

func (f *fakeTier) Purge(_ context.Context, key string) error {
	f.mu.Lock()
	f.purged = append(f.purged, key)
	drop := f.drop
	f.mu.Unlock()
	if drop != nil {
		drop(key) // every relay, this one included, is told
	}
	return nil
}

func (f *fakeTier) OnPurge(drop func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop = drop
}

func newTierCache(t *testing.T, clk interface{ Now() time.Time }, u *origin, tier *fakeTier) *Cache {
	t.Helper()
	cfg := tierConfig(clk, tier)
	cfg.Backoff = guard.Backoff{Min: time.Second, Max: time.Minute}
	return newTestCache(t, cfg, u)
}

// tierConfig is the settings of the tier tests' caches: a 10 s TTL, stale
// windows, and tier (when not nil) as the shared tier with a 1 s lease.
func tierConfig(clk interface{ Now() time.Time }, tier *fakeTier) Config {
	cfg := Config{
		Policy:        Policy{TTL: 10 * time.Second, NegativeTTL: 2 * time.Second, StaleWhileRevalidate: 30 * time.Second, StaleIfError: 10 * time.Minute},
		MaxMB:         8,
		MaxEntryBytes: 256 << 10,
		Now:           clk.Now,
		Lease:         time.Second,
	}
	if tier != nil {
		cfg.Shared = tier
	}
	return cfg
}

func TestTierFreshAnswerIsASharedHit(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	tier.entries["restaurant/a"] = sharedcache.Stored{Status: 200, Body: []byte(`{"a":1}`), At: clk.Now(), Header: header("Cache-Control", "max-age=60")}
	u := newOrigin(200, `{"a":2}`)
	c := newTierCache(t, clk, u, tier)
	wantResult(t, mustGet(t, c, "restaurant/a"), SharedHit, 200, `{"a":1}`)
	wantResult(t, mustGet(t, c, "restaurant/a"), Hit, 200, `{"a":1}`)
	if n := u.calls.Load(); n != 0 {
		t.Errorf("upstream called %d times, want 0", n)
	}
}

func TestTierGrantedFetchIsStoredForTheCluster(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	u := newOrigin(200, `{"a":1}`)
	u.setHeader(header("Cache-Control", "max-age=60", "Etag", `W/"x"`))
	c := newTierCache(t, clk, u, tier)
	wantResult(t, mustGet(t, c, "restaurant/a"), Miss, 200, `{"a":1}`)
	stored, _, _ := tier.record()
	if len(stored) != 1 {
		t.Fatalf("stored %d answers in the tier, want 1", len(stored))
	}
	s := stored[0]
	if !s.FreshUntil.Equal(clk.Now().Add(time.Minute)) || s.Header.Get("Etag") != `W/"x"` || string(s.Body) != `{"a":1}` {
		t.Errorf("stored %+v, want the body, fresh for 60 s, with the upstream's ETag", s)
	}
}

func TestTierHeldWaitsForTheHolder(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	tier.claims = []sharedcache.Claim{{Grant: sharedcache.Held, Wait: 5 * time.Second}}
	tier.onHeld = func() {
		tier.wake("restaurant/a", sharedcache.Stored{Status: 200, Body: []byte(`{"by":"other"}`), At: clk.Now(), Header: header("Cache-Control", "max-age=60")})
	}
	u := newOrigin(200, `{"by":"me"}`)
	c := newTierCache(t, clk, u, tier)
	wantResult(t, mustGet(t, c, "restaurant/a"), Coalesced, 200, `{"by":"other"}`)
	if n := u.calls.Load(); n != 0 {
		t.Errorf("upstream called %d times, want 0: another relay held the lease", n)
	}
}

func TestTierRefusals(t *testing.T) {
	for _, tc := range []struct {
		claim  sharedcache.Claim
		reason guard.Reason
	}{
		{sharedcache.Claim{Grant: sharedcache.Paused, Wait: 3 * time.Second}, guard.RateLimited},
		{sharedcache.Claim{Grant: sharedcache.OverBudget, Wait: time.Second}, guard.Budget},
		{sharedcache.Claim{Grant: sharedcache.Failing, Wait: 4 * time.Second, Cause: "timeout"}, guard.Failing},
	} {
		t.Run(tc.claim.Grant.String(), func(t *testing.T) {
			clk := newFakeClock()
			tier := newFakeTier()
			tier.claims = []sharedcache.Claim{tc.claim}
			u := newOrigin(200, `{}`)
			c := newTierCache(t, clk, u, tier)
			_, err := c.Get(context.Background(), target("restaurant/a"))
			var ref *guard.Refusal
			if !errors.As(err, &ref) || ref.Reason != tc.reason || ref.RetryAfter != tc.claim.Wait {
				t.Fatalf("Get = %v, want a %s refusal for %v", err, tc.reason, tc.claim.Wait)
			}
			var ue *upstream.Error
			if tc.reason == guard.Failing && (!errors.As(ref.Cause, &ue) || ue.Outcome != upstream.Timeout) {
				t.Errorf("cause %v, want the cluster's timeout", ref.Cause)
			}
			if n := u.calls.Load(); n != 0 {
				t.Errorf("upstream called %d times, want 0", n)
			}
		})
	}
}

func TestTierFailureIsLeftForTheCluster(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	u := newOrigin(200, `{}`)
	u.set(0, "", &upstream.Error{Outcome: upstream.HTTPError, Status: 500, Err: errors.New("boom")})
	c := newTierCache(t, clk, u, tier)
	if _, err := c.Get(context.Background(), target("restaurant/a")); err == nil {
		t.Fatal("Get of a failing key succeeded")
	}
	_, abandoned, _ := tier.record()
	if len(abandoned) != 1 || abandoned[0].Cause != string(upstream.HTTPError) || abandoned[0].Backoff.Min != time.Second {
		t.Errorf("abandoned %+v, want one failure with its cause and the key's back-off", abandoned)
	}
}

// TestTierStaleCopyServedAtOnce: a relay without a copy takes the
// cluster's stale copy at once and refreshes it after.
func TestTierStaleCopyServedAtOnce(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	tier.entries["restaurant/a"] = sharedcache.Stored{Status: 200, Body: []byte(`{"a":1}`), At: clk.Now().Add(-2 * time.Minute), Header: header("Cache-Control", "max-age=60", "Etag", `W/"v1"`)}
	u := newOrigin(200, `{"a":1}`)
	u.setHeader(header("Cache-Control", "max-age=60", "Etag", `W/"v1"`))
	c := newTierCache(t, clk, u, tier)
	wantResult(t, mustGet(t, c, "restaurant/a"), Revalidating, 200, `{"a":1}`)
	waitHit(t, c, "restaurant/a")
	if v := u.validators(); len(v) != 1 || v[0].ETag != `W/"v1"` {
		t.Errorf("refresh made with %+v, want one call with If-None-Match W/\"v1\"", v)
	}
	stored, _, _ := tier.record()
	if len(stored) != 1 || !stored[0].At.Equal(clk.Now()) || string(stored[0].Body) != `{"a":1}` {
		t.Errorf("tier stored %+v, want the copy renewed by the 304, body kept", stored)
	}
}

// TestTierOperationFailure: a failed tier read with no copy fetches alone;
// with a stale copy the first refresh is put off (the copy is served), the
// second fetches alone.
func TestTierOperationFailure(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	tier.getErr = errors.New("i/o timeout")
	u := newOrigin(200, `{"a":1}`)
	c := newTierCache(t, clk, u, tier)
	wantResult(t, mustGet(t, c, "restaurant/a"), Miss, 200, `{"a":1}`)
	clk.Advance(11 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant/a"), Revalidating, 200, `{"a":1}`)
	waitIdle(t, c, "restaurant/a")
	if n := u.calls.Load(); n != 1 {
		t.Fatalf("upstream called %d times, want 1: the refresh is put off once", n)
	}
	clk.Advance(tierRetry)
	wantResult(t, mustGet(t, c, "restaurant/a"), Revalidating, 200, `{"a":1}`)
	waitIdle(t, c, "restaurant/a")
	if n := u.calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2: a second failure fetches alone", n)
	}
}

func TestTierDownWorksAlone(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	tier.down = true
	u := newOrigin(200, `{"a":1}`)
	c := newTierCache(t, clk, u, tier)
	wantResult(t, mustGet(t, c, "restaurant/a"), Miss, 200, `{"a":1}`)
	if stored, _, _ := tier.record(); len(stored) != 0 {
		t.Errorf("stored %d answers in a tier that is down", len(stored))
	}
}

func TestTierPurgeReachesEveryRelay(t *testing.T) {
	clk := newFakeClock()
	tier := newFakeTier()
	u := newOrigin(200, `{"a":1}`)
	c := newTierCache(t, clk, u, tier)
	mustGet(t, c, "restaurant/a")
	if err := c.Purge(context.Background(), "/restaurant/a"); err != nil {
		t.Fatal(err)
	}
	if err := c.PurgeAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, purged := tier.record(); len(purged) != 2 || purged[0] != "restaurant/a" || purged[1] != "" {
		t.Errorf("tier purged %q, want the key, then everything", purged)
	}
	// A purge another relay announces drops the key here.
	mustGet(t, c, "restaurant/b")
	tier.drop("restaurant/b")
	if e := c.Peek(target("restaurant/b")); e != nil {
		t.Error("a purge announced by the tier left the key in memory")
	}
}
