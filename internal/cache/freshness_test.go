package cache

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// header builds an http.Header of name, value pairs.
func header(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// loadedWith is a cache whose upstream answers {"a":1} with the header
// fields kv, after its first Get of restaurant/a, which it returns.
func loadedWith(t *testing.T, kv ...string) (*clocktest.Clock, *origin, *Cache, Result) {
	t.Helper()
	clk := newFakeClock()
	u := newOrigin(200, `{"a":1}`)
	u.setHeader(header(kv...))
	c := newTestCache(t, testConfig(clk), u)
	return clk, u, c, mustGet(t, c, "restaurant/a")
}

func TestLifetimeFromTheUpstream(t *testing.T) {
	stored := time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC)
	date := stored.Format(http.TimeFormat)
	p := Policy{TTL: 10 * time.Second, NegativeTTL: 5 * time.Second, StaleWhileRevalidate: 30 * time.Second, StaleIfError: 10 * time.Minute, MaxTTL: 24 * time.Hour}
	for _, tc := range []struct {
		name   string
		status int
		h      http.Header
		policy func(*Policy)
		fresh  time.Duration
		// revalidate and stale are the windows past freshness; -1 for none
		revalidate, stale time.Duration
		cc                string // Cache-Control towards clients
	}{
		{"none declared: the TTL", 200, header(), nil, 10 * time.Second, 10 * time.Minute, 10 * time.Minute, "public, max-age=10"},
		{"max-age", 200, header("Cache-Control", "max-age=10800"), nil, 3 * time.Hour, 10 * time.Minute, 10 * time.Minute, "public, max-age=10800"},
		{"s-maxage over max-age, never stale", 200, header("Cache-Control", "public, max-age=60, s-maxage=120"), nil, 2 * time.Minute, 0, 0, "public, max-age=120, must-revalidate"},
		{"Expires minus Date", 200, header("Expires", stored.Add(time.Hour).Format(http.TimeFormat), "Date", date), nil, time.Hour, 10 * time.Minute, 10 * time.Minute, "public, max-age=3600"},
		{"max-age over Expires", 200, header("Cache-Control", "max-age=5", "Expires", stored.Add(time.Hour).Format(http.TimeFormat), "Date", date), nil, 5 * time.Second, 10 * time.Minute, 10 * time.Minute, "public, max-age=5"},
		{"an invalid Expires is in the past", 200, header("Expires", "0", "Date", date), nil, 0, 10 * time.Minute, 10 * time.Minute, "public, max-age=0"},
		{"capped at MaxTTL", 200, header("Cache-Control", "max-age=360000"), nil, 24 * time.Hour, 10 * time.Minute, 10 * time.Minute, "public, max-age=86400"},
		{"the upstream's stale windows", 200, header("Cache-Control", "max-age=60, stale-while-revalidate=20, stale-if-error=300"), nil, time.Minute, 20 * time.Second, 5 * time.Minute, "public, max-age=60"},
		{"must-revalidate: never stale", 200, header("Cache-Control", "max-age=60, must-revalidate"), nil, time.Minute, 0, 0, "public, max-age=60, must-revalidate"},
		{"proxy-revalidate: never stale", 200, header("Cache-Control", "max-age=60, proxy-revalidate"), nil, time.Minute, 0, 0, "public, max-age=60, must-revalidate"},
		{"no-cache: stale at once, revalidated", 200, header("Cache-Control", "no-cache, max-age=600"), nil, 0, 0, 0, "no-cache"},
		{"404 without a lifetime: the negative TTL", 404, header(), nil, 5 * time.Second, 0, 0, "public, max-age=5"},
		{"404 with a lifetime", 404, header("Cache-Control", "max-age=60"), nil, time.Minute, 0, 0, "public, max-age=60"},
		{"fixed: the upstream ignored", 200, header("Cache-Control", "no-cache, max-age=10800"), func(p *Policy) { p.Fixed = true }, 10 * time.Second, 10 * time.Minute, 10 * time.Minute, "public, max-age=10"},
		{"no cap", 200, header("Cache-Control", "max-age=360000"), func(p *Policy) { p.MaxTTL = 0 }, 100 * time.Hour, 10 * time.Minute, 10 * time.Minute, "public, max-age=360000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := p
			if tc.policy != nil {
				tc.policy(&pol)
			}
			e := pol.Entry(tc.status, []byte(`{}`), tc.h, stored)
			if got := e.FreshUntil.Sub(stored); got != tc.fresh {
				t.Errorf("fresh for %v, want %v", got, tc.fresh)
			}
			if got := e.RevalidateUntil.Sub(e.FreshUntil); got != tc.revalidate {
				t.Errorf("served while revalidating for %v past freshness, want %v", got, tc.revalidate)
			}
			if got := e.ErrorUntil.Sub(e.FreshUntil); got != tc.stale {
				t.Errorf("served on error for %v past freshness, want %v", got, tc.stale)
			}
			if got := e.CacheControlHeader()[0]; got != tc.cc {
				t.Errorf("Cache-Control %q, want %q", got, tc.cc)
			}
		})
	}
}

func TestInitialAge(t *testing.T) {
	received := time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC)
	sent := received.Add(-2 * time.Second)
	for _, tc := range []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", header(), 0},
		{"Age plus the call's time", header("Age", "100"), 102 * time.Second},
		{"Date older than Age says, less its second of resolution", header("Age", "10", "Date", received.Add(-time.Minute).Format(http.TimeFormat)), 59 * time.Second},
		{"Date within the second", header("Date", received.Add(-900*time.Millisecond).Format(http.TimeFormat)), 0},
		{"Date in the future is no age", header("Date", received.Add(time.Hour).Format(http.TimeFormat)), 0},
	} {
		if got := initialAge(tc.h, sent, received); got != tc.want {
			t.Errorf("%s: initial age %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAgeShortensTheLifetime: an answer that was 100 s old when it arrived
// (Age: 100) with max-age=300 is fresh for 200 s more, and its age goes on
// from 100.
func TestAgeShortensTheLifetime(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"a":1}`)
	u.setHeader(header("Cache-Control", "max-age=300", "Age", "100"))
	c := newTestCache(t, testConfig(clk), u)
	r := mustGet(t, c, "restaurant/a")
	if got := r.Entry.Age(clk.Now()); got != 100 {
		t.Errorf("age %d at arrival, want 100", got)
	}
	clk.Advance(199 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant/a"), Hit, 200, `{"a":1}`)
	clk.Advance(2 * time.Second)
	if r := mustGet(t, c, "restaurant/a"); r.State != Revalidating {
		t.Errorf("state %v 301 s after the answer's age was 0, want it stale (Revalidating)", r.State)
	}
}

func TestNoStoreAndPrivateAreNotStored(t *testing.T) {
	for _, cc := range []string{"no-store", "private, max-age=600"} {
		t.Run(cc, func(t *testing.T) {
			clk := newFakeClock()
			u := newOrigin(200, `{"a":1}`)
			u.setHeader(header("Cache-Control", cc))
			c := newTestCache(t, testConfig(clk), u)
			r := mustGet(t, c, "restaurant/a")
			wantResult(t, r, Miss, 200, `{"a":1}`)
			if r.Stored {
				t.Error("a no-store answer reported stored")
			}
			wantResult(t, mustGet(t, c, "restaurant/a"), Miss, 200, `{"a":1}`)
			if n := u.calls.Load(); n != 2 {
				t.Errorf("upstream called %d times for two requests, want 2 (nothing stored)", n)
			}
		})
	}
}

func TestNoCacheIsRevalidatedBeforeEachUse(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"a":1}`)
	u.setHeader(header("Cache-Control", "no-cache", "Etag", `W/"v1"`))
	c := newTestCache(t, testConfig(clk), u)
	wantResult(t, mustGet(t, c, "restaurant/a"), Miss, 200, `{"a":1}`)
	r := mustGet(t, c, "restaurant/a")
	wantResult(t, r, Revalidated, 200, `{"a":1}`)
	v := u.validators()
	if len(v) != 2 || v[0].ETag != "" || v[1].ETag != `W/"v1"` {
		t.Fatalf("calls made with validators %+v, want none, then If-None-Match W/\"v1\"", v)
	}
}

func TestMustRevalidateIsNotServedStale(t *testing.T) {
	clk, u, c, _ := loadedWith(t, "Cache-Control", "max-age=60, must-revalidate")
	u.set(0, "", &upstream.Error{Outcome: upstream.HTTPError, Status: 500, Err: errors.New("boom")})
	clk.Advance(61 * time.Second)
	r, err := c.Get(context.Background(), target("restaurant/a"))
	if err == nil {
		t.Fatalf("Get after expiry with a failing upstream = %v %q, want the upstream's error: must-revalidate forbids a stale copy", r.State, r.Entry.Body)
	}
}

// TestNotModifiedRenewsTheCopy: a copy that expired is revalidated with
// its ETag; the 304 renews it with the 304's lifetime and keeps the body
// (and the relay's own ETag of it).
func TestNotModifiedRenewsTheCopy(t *testing.T) {
	clk, u, c, first := loadedWith(t, "Cache-Control", "max-age=60", "Etag", `W/"v1"`)
	u.set(200, `must not be read`, nil)
	u.setHeader(header("Cache-Control", "max-age=120", "Etag", `W/"v1"`))
	clk.Advance(61 * time.Second)
	if r := mustGet(t, c, "restaurant/a"); r.State != Revalidating {
		t.Fatalf("state %v after expiry, want Revalidating (served at once)", r.State)
	}
	r := waitHit(t, c, "restaurant/a")
	wantResult(t, r, Hit, 200, `{"a":1}`)
	if r.Entry.ETag != first.Entry.ETag {
		t.Errorf("relay ETag %s after the 304, want %s as before", r.Entry.ETag, first.Entry.ETag)
	}
	if r.Entry.MaxAge != 2*time.Minute {
		t.Errorf("lifetime %v after the 304, want the 304's 2m0s", r.Entry.MaxAge)
	}
	if v := u.validators(); len(v) != 2 || v[1].ETag != `W/"v1"` {
		t.Errorf("calls made with validators %+v, want the second with If-None-Match W/\"v1\"", v)
	}
}

// TestNoCliffInsideStaleIfError: past the old 30 s stale-while-revalidate
// window, but inside stale-if-error, an expired copy is still served at
// once while one refresh runs: the user never waits while a copy may serve.
func TestNoCliffInsideStaleIfError(t *testing.T) {
	clk, u, c, _ := loadedWith(t, "Cache-Control", "max-age=60")
	release := u.hold()
	defer release()
	clk.Advance(60*time.Second + 5*time.Minute)
	r := mustGet(t, c, "restaurant/a") // would block on the held origin if it waited
	wantResult(t, r, Revalidating, 200, `{"a":1}`)
	<-u.started
	release()
	waitHit(t, c, "restaurant/a")
	if n := u.calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2 (one load, one refresh)", n)
	}
}

// TestStaleIfErrorAfterAWait: where the upstream allows no stale serving
// while revalidating (stale-while-revalidate=0) but allows it on error, the
// user waits for the refresh and, when it fails, gets the stale copy.
func TestStaleIfErrorAfterAWait(t *testing.T) {
	clk, u, c, _ := loadedWith(t, "Cache-Control", "max-age=60, stale-while-revalidate=0, stale-if-error=600")
	u.set(0, "", &upstream.Error{Outcome: upstream.Timeout, Err: errors.New("slow")})
	clk.Advance(2 * time.Minute)
	r := mustGet(t, c, "restaurant/a")
	wantResult(t, r, StaleOnError, 200, `{"a":1}`)
	if n := u.calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2 (the refresh was tried)", n)
	}
}

func TestPurgeDropsTheKeyAndItsBackoff(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"a":1}`)
	cfg := testConfig(clk)
	obs := &countingObserver{}
	cfg.Observer = obs
	c := newTestCache(t, cfg, u)
	mustGet(t, c, "restaurant/a")
	mustGet(t, c, "restaurant/b")
	u.set(200, `{"a":2}`, nil)
	if err := c.Purge(context.Background(), "/restaurant/a"); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	wantResult(t, mustGet(t, c, "restaurant/a"), Miss, 200, `{"a":2}`)
	wantResult(t, mustGet(t, c, "restaurant/b"), Hit, 200, `{"a":1}`)
	if err := c.PurgeAll(context.Background()); err != nil {
		t.Fatalf("PurgeAll: %v", err)
	}
	wantResult(t, mustGet(t, c, "restaurant/b"), Miss, 200, `{"a":2}`)
	if err := c.Purge(context.Background(), "/../etc"); !errors.Is(err, upstream.ErrUnsafePath) {
		t.Errorf("Purge of a traversal = %v, want upstream.ErrUnsafePath", err)
	}
	if purges, _ := obs.counts(); purges["key"] != 1 || purges["all"] != 1 {
		t.Errorf("purges counted %v, want one of each scope", purges)
	}
}

func TestPanicFailsOnlyItsKey(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"a":1}`)
	cfg := testConfig(clk)
	obs := &countingObserver{}
	cfg.Observer = obs
	c := newTestCache(t, cfg, u)
	mustGet(t, c, "restaurant/kept")
	u.mu.Lock()
	u.panics = "odd body"
	u.mu.Unlock()
	_, err := c.Get(context.Background(), target("restaurant/new"))
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Outcome != upstream.Crashed {
		t.Fatalf("Get of a key whose fetch panics = %v, want an upstream error of outcome %q", err, upstream.Crashed)
	}
	// A stale copy stands in for its key's panicking refresh.
	clk.Advance(11 * time.Second)
	wantResult(t, mustGet(t, c, "restaurant/kept"), Revalidating, 200, `{"a":1}`)
	waitIdle(t, c, "restaurant/kept")
	wantResult(t, mustGet(t, c, "restaurant/kept"), StaleOnError, 200, `{"a":1}`)
	if _, panics := obs.counts(); panics != 2 {
		t.Errorf("panics counted %d, want 2", panics)
	}
}

func TestWarmStartsARefreshWhenDue(t *testing.T) {
	clk := newFakeClock()
	u := newOrigin(200, `{"a":1}`)
	u.setHeader(header("Cache-Control", "max-age=600"))
	c := newTestCache(t, testConfig(clk), u)
	if !c.Warm(target("restaurant/a"), time.Minute) {
		t.Fatal("Warm of a key never fetched started nothing")
	}
	waitIdle(t, c, "restaurant/a")
	if c.Warm(target("restaurant/a"), time.Minute) {
		t.Error("Warm of a key fresh for 10 min more started a refresh")
	}
	clk.Advance(9*time.Minute + 30*time.Second)
	if !c.Warm(target("restaurant/a"), time.Minute) {
		t.Error("Warm of a key expiring within the minute started nothing")
	}
	waitIdle(t, c, "restaurant/a")
	wantResult(t, mustGet(t, c, "restaurant/a"), Hit, 200, `{"a":1}`)
	if n := u.calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2", n)
	}
}
