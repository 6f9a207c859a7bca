package sharedcache

import (
	"strconv"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

// TestForgedRecordsAreBounded writes lease, back-off, pause and budget
// records far beyond anything a relay sets, with plain commands on a real
// redis-server: each claim's wait stays within the relays' own bounds.
func TestForgedRecordsAreBounded(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv, nil)
	cfg.MaxBackoff = 3 * time.Second
	tier, err := Open(t.Context(), cfg, Budget{Rate: 4, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tier.Close() })
	ctx := t.Context()
	const lease = 2 * time.Second
	far := strconv.FormatInt(time.Now().Add(100*365*24*time.Hour).UnixMilli(), 10)
	do := func(args ...string) {
		t.Helper()
		if r, err := srv.Do(args...); err != nil || r[0] == '-' {
			t.Fatalf("%v: %q, %v", args, r, err)
		}
	}
	claim := func(key string) Claim {
		t.Helper()
		c, err := tier.Claim(ctx, key, ClaimRequest{Kind: guard.Refresh, Lease: lease})
		if err != nil {
			t.Fatalf("Claim %s: %v", key, err)
		}
		return c
	}
	p := "restaurants:test:"

	do("SET", p+"l:held", "forged", "PX", "9000000000000")
	if c := claim("held"); c.Grant != Held || c.Wait > lease {
		t.Errorf("forged lease: %v wait %v, want held at most %v", c.Grant, c.Wait, lease)
	}
	do("HSET", p+"f:failing", "until", far, "cause", "timeout")
	if c := claim("failing"); c.Grant != Failing || c.Wait > 3*time.Second {
		t.Errorf("forged back-off: %v wait %v, want failing at most 3s", c.Grant, c.Wait)
	}
	do("SET", p+"pause", far)
	if c := claim("paused"); c.Grant != Paused || c.Wait > maxPause {
		t.Errorf("forged pause: %v wait %v, want paused at most %v", c.Grant, c.Wait, maxPause)
	}
	do("DEL", p+"pause")

	// An emptied budget forged a billion calls deep, or unreadable, refills
	// as an empty one does.
	for _, tokens := range []string{"-1e18", "nan", "garbage"} {
		do("HSET", p+"budget", "t", tokens, "ts", far)
		c := claim("budget-" + tokens)
		if c.Grant == OverBudget && c.Wait > time.Second {
			t.Errorf("forged budget %s: wait %v, want at most one call's refill", tokens, c.Wait)
		}
		deadline := time.Now().Add(3 * time.Second)
		for c.Grant != Granted && time.Now().Before(deadline) {
			time.Sleep(c.Wait + 10*time.Millisecond)
			c = claim("budget-" + tokens)
		}
		if c.Grant != Granted {
			t.Errorf("forged budget %s: still %v after 3s at 4 calls/s", tokens, c.Grant)
		}
	}
}
