package sharedcache

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

// countingObserver counts what a tier tells its observer.
type countingObserver struct {
	mu      sync.Mutex
	lookups map[string]int
	waits   int
	lost    int
}

func (o *countingObserver) SharedLookup(r string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lookups == nil {
		o.lookups = map[string]int{}
	}
	o.lookups[r]++
}
func (o *countingObserver) SharedError(string) {}
func (o *countingObserver) SharedLeaseWait() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits++
}
func (o *countingObserver) SharedLeaseLost() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lost++
}
func (o *countingObserver) SharedUp(bool) {}

func (o *countingObserver) lookup(r string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lookups[r]
}

// openOn opens a tier of namespace "test" on s with budget b.
func openOn(t *testing.T, s *redistest.Server, b Budget, obs TierObserver) *Tier {
	t.Helper()
	tier, err := Open(t.Context(), testConfig(s, obs), b)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = tier.Close() })
	if !tier.Available() {
		t.Fatal("tier unavailable on a running redis-server")
	}
	return tier
}

func testConfig(s *redistest.Server, obs TierObserver) Config {
	signer, _ := NewSigner(keyNow, nil)
	return Config{URL: s.URL(), Namespace: "test", Timeout: time.Second, Observer: obs, Signer: signer}
}

// waitSubscribed waits until n relays listen on the tier's channels: a
// probe message (no key's, no purge) is published until n receive it.
func waitSubscribed(t *testing.T, s *redistest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, ch := range []string{"restaurants:test:filled", "restaurants:test:purge"} {
		for {
			reply, err := s.Do("PUBLISH", ch, "probe")
			if err == nil && reply == ":"+strconv.Itoa(n) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d relays subscribed to %s within 10 s: PUBLISH answered %q, %v", n, ch, reply, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func mustClaim(t *testing.T, tier *Tier, key string, r ClaimRequest) Claim {
	t.Helper()
	c, err := tier.Claim(t.Context(), key, r)
	if err != nil {
		t.Fatalf("Claim(%s): %v", key, err)
	}
	return c
}

// TestGrantWireValues: the grants are the claim script's return codes; a
// relay of another version reads the same numbers.
func TestGrantWireValues(t *testing.T) {
	for g, want := range map[Grant]int{Granted: 0, Fresher: 1, Held: 2, Paused: 3, OverBudget: 4, Failing: 5} {
		if int(g) != want {
			t.Errorf("%s = %d on the wire, want %d", g, int(g), want)
		}
	}
}

// TestClaimAnswersEachGrant drives the claim script on a real redis-server
// into each of its answers.
func TestClaimAnswersEachGrant(t *testing.T) {
	s := redistest.Start(t)
	obs := &countingObserver{}
	tier := openOn(t, s, Budget{}, obs)
	req := ClaimRequest{Kind: guard.Refresh, Lease: 5 * time.Second}

	c := mustClaim(t, tier, "restaurant/a", req)
	if c.Grant != Granted {
		t.Fatalf("first claim: %s, want granted", c.Grant)
	}
	held := mustClaim(t, tier, "restaurant/a", req)
	if held.Grant != Held || held.Wait <= 4*time.Second || held.Wait > 5*time.Second {
		t.Fatalf("second claim: %s for %v, want held for the lease's 5 s", held.Grant, held.Wait)
	}
	if obs.waits != 1 {
		t.Errorf("lease waits counted %d, want 1", obs.waits)
	}

	// An answer stored under the lease is fresher than no copy.
	now := time.Now()
	st := Stored{Status: 200, Body: []byte(`{}`), At: now, FreshUntil: now.Add(time.Minute)}
	if err := tier.Store(t.Context(), "restaurant/a", c, st, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if g := mustClaim(t, tier, "restaurant/a", req).Grant; g != Fresher {
		t.Errorf("claim without a copy after a fresh store: %s, want fresher", g)
	}
	req.Have = now
	if g := mustClaim(t, tier, "restaurant/a", req).Grant; g != Granted {
		t.Errorf("claim holding the stored copy itself: %s, want granted", g)
	}

	// A failure with a back-off: the key fails for the cluster.
	c = mustClaim(t, tier, "restaurant/b", ClaimRequest{Kind: guard.Refresh, Lease: time.Second})
	d, err := tier.Abandon(t.Context(), "restaurant/b", c, Failure{Backoff: guard.Backoff{Min: 3 * time.Second, Max: time.Minute}, Cause: "timeout"})
	if err != nil || d != 3*time.Second {
		t.Fatalf("Abandon = %v, %v; want a back-off of 3 s", d, err)
	}
	f := mustClaim(t, tier, "restaurant/b", ClaimRequest{Kind: guard.Refresh, Lease: time.Second})
	if f.Grant != Failing || f.Cause != "timeout" || f.Wait <= 2*time.Second {
		t.Errorf("claim of a failing key: %s for %v, cause %q; want failing for about 3 s, cause timeout", f.Grant, f.Wait, f.Cause)
	}

	// A 429's pause holds every key.
	c = mustClaim(t, tier, "restaurant/c", ClaimRequest{Kind: guard.Refresh, Lease: time.Second})
	if _, err := tier.Abandon(t.Context(), "restaurant/c", c, Failure{Pause: 4 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if p := mustClaim(t, tier, "restaurant/d", ClaimRequest{Kind: guard.Refresh, Lease: time.Second}); p.Grant != Paused || p.Wait <= 3*time.Second {
		t.Errorf("claim during a pause: %s for %v, want paused for about 4 s", p.Grant, p.Wait)
	}
}

func TestClaimOverBudget(t *testing.T) {
	s := redistest.Start(t)
	tier := openOn(t, s, Budget{Rate: 0.5, Burst: 2}, nil)
	for i, key := range []string{"a", "b"} {
		if g := mustClaim(t, tier, key, ClaimRequest{Kind: guard.Refresh, Lease: time.Second}).Grant; g != Granted {
			t.Fatalf("claim %d inside the burst: %s", i, g)
		}
	}
	c := mustClaim(t, tier, "c", ClaimRequest{Kind: guard.Refresh, Lease: time.Second})
	if c.Grant != OverBudget || c.Wait <= time.Second || c.Wait > 2*time.Second {
		t.Errorf("claim past the burst: %s for %v, want over budget for up to 2 s (0.5 calls/s)", c.Grant, c.Wait)
	}
}

func TestStoreAndGetKeepEveryField(t *testing.T) {
	s := redistest.Start(t)
	obs := &countingObserver{}
	tier := openOn(t, s, Budget{}, obs)
	at := time.Now().Truncate(time.Millisecond)
	want := Stored{
		Status: 200, Body: []byte(`{"restaurant":{"title":"Sven Dufva"}}`), At: at, FreshUntil: at.Add(time.Hour),
		Header: http.Header{"Cache-Control": {"max-age=3600"}, "Etag": {`W/"abc"`}},
	}
	c := mustClaim(t, tier, "restaurant/dufva", ClaimRequest{Kind: guard.First, Lease: time.Second})
	if err := tier.Store(t.Context(), "restaurant/dufva", c, want, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	got, ok, err := tier.Get(t.Context(), "restaurant/dufva")
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if got.Status != want.Status || string(got.Body) != string(want.Body) || !got.At.Equal(want.At) ||
		!got.FreshUntil.Equal(want.FreshUntil) || got.Header.Get("Etag") != `W/"abc"` || got.Header.Get("Cache-Control") != "max-age=3600" {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if obs.lookup("hit") != 1 {
		t.Errorf("lookups %v, want one hit", obs.lookups)
	}
	if _, ok, _ := tier.Get(t.Context(), "restaurant/none"); ok || obs.lookup("miss") != 1 {
		t.Errorf("Get of a missing key found something, or counted %v", obs.lookups)
	}
	// An older answer does not replace a newer one.
	c = mustClaim(t, tier, "restaurant/dufva", ClaimRequest{Have: at, Kind: guard.Refresh, Lease: time.Second})
	old := want
	old.At, old.Body = at.Add(-time.Minute), []byte(`{"old":true}`)
	if err := tier.Store(t.Context(), "restaurant/dufva", c, old, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := tier.Get(t.Context(), "restaurant/dufva"); string(got.Body) != string(want.Body) {
		t.Errorf("an older answer replaced the newer: %s", got.Body)
	}
}

// TestStoreWakesTheWaitersOfOtherRelays: a relay waiting for a key is woken
// through pub/sub when another relay stores it.
func TestStoreWakesTheWaitersOfOtherRelays(t *testing.T) {
	s := redistest.Start(t)
	a, b := openOn(t, s, Budget{}, nil), openOn(t, s, Budget{}, nil)
	waitSubscribed(t, s, 2)
	done, cancel := b.Wait("restaurant/a")
	defer cancel()
	c := mustClaim(t, a, "restaurant/a", ClaimRequest{Kind: guard.First, Lease: time.Second})
	now := time.Now()
	if err := a.Store(t.Context(), "restaurant/a", c, Stored{Status: 200, Body: []byte(`{}`), At: now, FreshUntil: now.Add(time.Minute)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting relay was not woken within 5 s")
	}
}

// TestPurgeReachesEveryRelay: a purge drops the key from the engine and
// tells every relay on it; a purge of everything drops every entry.
func TestPurgeReachesEveryRelay(t *testing.T) {
	s := redistest.Start(t)
	tiers := []*Tier{openOn(t, s, Budget{}, nil), openOn(t, s, Budget{}, nil), openOn(t, s, Budget{}, nil)}
	var mu sync.Mutex
	dropped := map[int][]string{}
	for i, tier := range tiers {
		tier.OnPurge(func(key string) {
			mu.Lock()
			defer mu.Unlock()
			dropped[i] = append(dropped[i], key)
		})
	}
	waitSubscribed(t, s, len(tiers))
	now := time.Now()
	for _, key := range []string{"restaurant/a", "restaurant/b"} {
		c := mustClaim(t, tiers[0], key, ClaimRequest{Kind: guard.First, Lease: time.Second})
		if err := tiers[0].Store(t.Context(), key, c, Stored{Status: 200, Body: []byte(`{}`), At: now, FreshUntil: now.Add(time.Minute)}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := tiers[1].Purge(t.Context(), "restaurant/a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tiers[2].Get(t.Context(), "restaurant/a"); ok {
		t.Error("the purged key is still in the engine")
	}
	if _, ok, _ := tiers[2].Get(t.Context(), "restaurant/b"); !ok {
		t.Error("a purge of one key dropped another")
	}
	if err := tiers[2].Purge(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tiers[0].Get(t.Context(), "restaurant/b"); ok {
		t.Error("a purge of everything left a key in the engine")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		all := len(dropped[0]) == 2 && len(dropped[1]) == 2 && len(dropped[2]) == 2
		snapshot := map[int][]string{0: dropped[0], 1: dropped[1], 2: dropped[2]}
		mu.Unlock()
		if all {
			for i, keys := range snapshot {
				if keys[0] != "restaurant/a" || keys[1] != "" {
					t.Errorf("relay %d was told to drop %q, want the key, then everything", i, keys)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relays told to drop %v within 5 s, want two purges each", snapshot)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
