package warm

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// api answers the list of n restaurants and their menus, each fresh for
// maxAge, counting the calls.
type api struct {
	mu     sync.Mutex
	n      int
	maxAge int
	calls  map[string]int
}

func (a *api) fetch(_ context.Context, t upstream.Target, _ upstream.Validators) (upstream.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[t.Key()]++
	h := http.Header{"Cache-Control": {fmt.Sprintf("max-age=%d", a.maxAge)}}
	if t.Key() == "restaurant" {
		ids := make([]string, a.n)
		for i := range ids {
			ids[i] = fmt.Sprintf(`{"identifier":"r%02d"}`, i)
		}
		return upstream.Response{Status: 200, Body: []byte(`{"restaurants":[` + strings.Join(ids, ",") + `]}`), Header: h}, nil
	}
	return upstream.Response{Status: 200, Body: []byte(`{"restaurant":{"menu":[]}}`), Header: h}, nil
}

func (a *api) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		n += c
	}
	return n
}

func newWarmCache(t *testing.T, clk *clocktest.Clock, a *api, g *guard.Guard) *cache.Cache {
	t.Helper()
	c, err := cache.New(t.Context(), cache.Config{
		Policy:        cache.Policy{TTL: 10 * time.Second, NegativeTTL: 5 * time.Second, StaleIfError: 10 * time.Minute, MaxTTL: 24 * time.Hour},
		MaxMB:         8,
		MaxEntryBytes: 64 << 10,
		Guard:         g,
		Now:           clk.Now,
	}, a.fetch)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// settle waits until no warming fetch is under way.
func settle(t *testing.T, c *cache.Cache, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := c.Fetching(target(ListPath))
		for i := range n {
			busy = busy || c.Fetching(target(fmt.Sprintf("%s/r%02d", ListPath, i)))
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("warming fetches still under way after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWarmingStaysInsideTheBudget: with a budget of 1 call a second (a
// burst of 4), warming the list and 18 restaurants never makes more calls
// than the budget allows at any moment, and has every key fresh once the
// budget has had time for them.
func TestWarmingStaysInsideTheBudget(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	g, err := guard.New(guard.Config{Rate: 1, Burst: 4, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	a := &api{n: 18, maxAge: 3 * 3600, calls: map[string]int{}}
	c := newWarmCache(t, clk, a, g)
	w := New(c, Config{})
	start := clk.Now()
	for range 60 {
		w.Once()
		settle(t, c, 18)
		elapsed := clk.Now().Sub(start).Seconds()
		if calls, most := a.total(), 4+int(elapsed); calls > most {
			t.Fatalf("%d upstream calls after %.0f s, more than the budget's %d", calls, elapsed, most)
		}
		clk.Advance(time.Second)
	}
	for i := range 18 {
		e := c.Peek(target(fmt.Sprintf("%s/r%02d", ListPath, i)))
		if e == nil || !e.Fresh(clk.Now()) {
			t.Fatalf("restaurant r%02d not fresh after a minute of warming", i)
		}
	}
	if n := a.total(); n != 19 {
		t.Errorf("%d upstream calls to warm 19 keys, want 19", n)
	}
}

// TestWarmingRefreshesAheadOfExpiry: fresh keys are left alone; a key
// within its last tenth of life is refreshed before it expires.
func TestWarmingRefreshesAheadOfExpiry(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	a := &api{n: 2, maxAge: 600, calls: map[string]int{}}
	c := newWarmCache(t, clk, a, nil)
	w := New(c, Config{})
	w.Once()
	settle(t, c, 2)
	w.Once()
	settle(t, c, 2)
	if n := a.total(); n != 3 {
		t.Fatalf("%d calls to warm the list and 2 restaurants, want 3", n)
	}
	if started := w.Once(); started != 0 {
		t.Errorf("warming of fresh keys started %d refreshes, want 0", started)
	}
	clk.Advance(9*time.Minute + 10*time.Second) // 50 s left of 600: inside the last minute
	if started := w.Once(); started != 3 {
		t.Errorf("warming 50 s before expiry started %d refreshes, want 3", started)
	}
	settle(t, c, 2)
	if e := c.Peek(target(ListPath + "/r00")); e == nil || !e.Fresh(clk.Now().Add(5*time.Minute)) {
		t.Error("a warmed key is not fresh for its whole new lifetime")
	}
}
