package guard

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/clocktest"
)

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)) }

func mustNew(t *testing.T, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func refusal(t *testing.T, err error, want Reason) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || r.Reason != want {
		t.Fatalf("err = %v, want a %s refusal", err, want)
	}
	if r.RetryAfter <= 0 {
		t.Fatalf("RetryAfter = %s, want a positive wait", r.RetryAfter)
	}
	return r
}

func TestUnlimited(t *testing.T) {
	g := mustNew(t, Config{})
	for range 10000 {
		if err := g.Take(First); err != nil {
			t.Fatal(err)
		}
	}
	if g.Limited() {
		t.Error("a zero rate is limited")
	}
}

func TestBudgetBurstThenRate(t *testing.T) {
	clk := newClock()
	g := mustNew(t, Config{Rate: 5, Burst: 20, Now: clk.Now})
	taken := 0
	for g.Take(Refresh) == nil {
		taken++
	}
	if taken != 20 {
		t.Fatalf("took %d at once, want the burst of 20", taken)
	}
	r := refusal(t, g.Take(Refresh), Budget)
	if r.RetryAfter != 200*time.Millisecond {
		t.Errorf("RetryAfter = %s for a 5/s budget, want the exact wait for a token (200ms)", r.RetryAfter)
	}
	clk.Advance(time.Second)
	taken = 0
	for g.Take(Refresh) == nil {
		taken++
	}
	if taken != 5 {
		t.Fatalf("took %d after a second, want 5", taken)
	}
}

// First-time keys cannot spend the reserve: a flood of new keys leaves
// refreshes their calls.
func TestFirstTimeKeysLeaveTheReserve(t *testing.T) {
	clk := newClock()
	g := mustNew(t, Config{Rate: 5, Burst: 20, Now: clk.Now})
	first := 0
	for g.Take(First) == nil {
		first++
	}
	if want := 20 - int(Reserve(20)); first != want {
		t.Fatalf("first-time keys took %d, want %d (the burst less the reserve)", first, want)
	}
	refusal(t, g.Take(First), Budget)
	for i := range int(Reserve(20)) {
		if err := g.Take(Refresh); err != nil {
			t.Fatalf("refresh %d refused under a flood of new keys: %v", i, err)
		}
	}
	refusal(t, g.Take(Refresh), Budget)
	// Under a steady flood, each new token goes to a waiting refresh first.
	for range 10 {
		clk.Advance(200 * time.Millisecond) // one token at 5/s
		refusal(t, g.Take(First), Budget)
		if err := g.Take(Refresh); err != nil {
			t.Fatalf("refresh refused while first-time keys wait: %v", err)
		}
	}
}

func TestReserve(t *testing.T) {
	for burst, want := range map[int]float64{1: 0, 2: 1, 4: 1, 8: 2, 20: 5} {
		if got := Reserve(burst); got != want {
			t.Errorf("Reserve(%d) = %v, want %v", burst, got, want)
		}
	}
}

func TestRateLimited(t *testing.T) {
	clk := newClock()
	g := mustNew(t, Config{Now: clk.Now})
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	g.RateLimited(30 * time.Second)
	g.RateLimited(5 * time.Second) // a shorter wait does not cut the longer one
	r := refusal(t, g.Check(), RateLimited)
	if r.RetryAfter != 30*time.Second {
		t.Errorf("RetryAfter = %s, want 30s", r.RetryAfter)
	}
	clk.Advance(30 * time.Second)
	if err := g.Check(); err != nil {
		t.Errorf("still refused after Retry-After: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{{Rate: -1}, {Rate: 1, Burst: 0}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 10 * time.Second}
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := b.After(failures); got != want {
			t.Errorf("After(%d) = %s, want %s", failures, got, want)
		}
	}
	if got := (Backoff{}).After(3); got != 0 {
		t.Errorf("a zero Backoff pauses %s", got)
	}
}

func TestRefusalError(t *testing.T) {
	cause := errors.New("upstream timeout")
	r := &Refusal{Reason: Failing, RetryAfter: 2 * time.Second, Cause: cause}
	if !errors.Is(r, cause) || r.Error() == "" {
		t.Errorf("Refusal %q does not wrap its cause", r.Error())
	}
}

// State changes are logged once each, not once per call.
func TestLogsOncePerChange(t *testing.T) {
	clk := newClock()
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g := mustNew(t, Config{Rate: 1, Burst: 1, Now: clk.Now, Logger: log})
	for range 5 {
		_ = g.Take(Refresh)
	}
	clk.Advance(time.Second)
	_ = g.Take(Refresh)
	g.RateLimited(time.Second)
	g.RateLimited(2 * time.Second)
	for range 3 {
		_ = g.Check()
	}
	clk.Advance(3 * time.Second)
	for range 3 {
		_ = g.Check()
	}
	out := buf.String()
	for want, n := range map[string]int{
		"budget spent": 1, "budget available again": 1, "refused=4": 1,
		"answered 429": 1, "pause over": 1,
	} {
		if got := strings.Count(out, want); got != n {
			t.Errorf("%q logged %d times, want %d:\n%s", want, got, n, out)
		}
	}
}
