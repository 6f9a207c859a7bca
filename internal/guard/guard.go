// Package guard protects the upstream API from the relay's own traffic: a
// budget of calls per second over all keys, in which refreshes of answers
// already known come before keys asked for the first time, and the pause
// that a 429 Retry-After asks for. Every relay process has one Guard; with a
// shared cache tier the same rules are counted for the whole cluster there,
// and the Guard is what each process falls back on.
package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Reason says why a call was not made.
type Reason string

// The reasons a Guard refuses a call.
const (
	// Budget: the call budget is spent for now.
	Budget Reason = "budget"
	// RateLimited: the upstream answered 429 and its Retry-After is not over.
	RateLimited Reason = "rate_limited"
	// Failing: this key failed recently and waits before it is tried again.
	Failing Reason = "backoff"
)

// Refusal is the error of a call the guard did not let through.
type Refusal struct {
	Reason Reason
	// RetryAfter is how long until a call may succeed; a Retry-After header
	// rounds it up to whole seconds.
	RetryAfter time.Duration
	// Cause is the failure behind a Failing refusal.
	Cause error
}

// Error describes the refusal in one line.
func (r *Refusal) Error() string {
	switch r.Reason {
	case Budget:
		return fmt.Sprintf("upstream call budget spent; next call in %s", r.RetryAfter)
	case RateLimited:
		return fmt.Sprintf("upstream is rate limiting; backing off for %s", r.RetryAfter)
	default:
		return fmt.Sprintf("backing off for %s after: %v", r.RetryAfter, r.Cause)
	}
}

// Unwrap returns the failure behind a Failing refusal.
func (r *Refusal) Unwrap() error { return r.Cause }

// Kind says what a call is for, which decides its place in the budget.
type Kind int

// The kinds of call.
const (
	// Refresh renews an answer the relay holds: it comes first.
	Refresh Kind = iota
	// First fetches a key the relay holds nothing for: it gets what refreshes leave.
	First
)

// Config sets up a Guard.
type Config struct {
	// Rate is the budget in calls per second; zero means unlimited.
	Rate float64
	// Burst is how many calls may go at once after a quiet spell.
	Burst int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports the budget running out and coming back, and pauses
	// starting and ending, once per change; nil discards.
	Logger *slog.Logger
}

// Guard decides whether an upstream call may be made now.
type Guard struct {
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex // makes the reserve check and the take one step
	limiter *rate.Limiter
	reserve float64 // tokens kept for refreshes
	refused int     // calls refused since the budget ran out; 0 while it lasts

	rateLimitedUntil atomic.Int64 // unix nanoseconds; 0 when no pause was logged as started
}

// New returns a Guard for cfg.
func New(cfg Config) (*Guard, error) {
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return nil, errors.New("guard: the rate must be zero (unlimited) or positive")
	}
	if cfg.Rate > 0 && cfg.Burst < 1 {
		return nil, errors.New("guard: the burst must be at least 1")
	}
	g := &Guard{now: cfg.Now, log: cfg.Logger}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rate > 0 {
		g.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
		g.reserve = Reserve(cfg.Burst)
	}
	return g, nil
}

// Reserve is how many of a burst's tokens first-time keys may not take, so
// that refreshes of known answers always find one: a quarter, at least one
// when the burst has room for it.
func Reserve(burst int) float64 {
	if burst < 2 {
		return 0
	}
	return math.Max(1, math.Floor(float64(burst)/4))
}

// Limited reports whether the guard has a budget.
func (g *Guard) Limited() bool { return g.limiter != nil }

// Check reports a pause in force: a 429's Retry-After that is not over. It
// takes nothing from the budget.
func (g *Guard) Check() error {
	until := g.rateLimitedUntil.Load()
	if until == 0 {
		return nil
	}
	if left := time.Duration(until - g.now().UnixNano()); left > 0 {
		return &Refusal{Reason: RateLimited, RetryAfter: left}
	}
	if g.rateLimitedUntil.CompareAndSwap(until, 0) {
		g.log.Info("upstream rate-limit pause over; calling again")
	}
	return nil
}

// Take takes one call of the budget for a call of the given kind, or
// refuses with how long until one would be there. A first-time key may not
// take the reserve kept for refreshes.
func (g *Guard) Take(kind Kind) error {
	if g.limiter == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	need := 1.0
	if kind == First {
		need += g.reserve
	}
	tokens := g.limiter.TokensAt(now)
	if tokens >= need && g.limiter.AllowN(now, 1) {
		if g.refused > 0 {
			g.log.Info("upstream call budget available again", "refused", g.refused)
			g.refused = 0
		}
		return nil
	}
	if g.refused == 0 {
		g.log.Warn("upstream call budget spent; keys with a copy are served stale, others get 503",
			"rate", float64(g.limiter.Limit()), "burst", g.limiter.Burst())
	}
	g.refused++
	wait := time.Duration((need - tokens) / float64(g.limiter.Limit()) * float64(time.Second))
	return &Refusal{Reason: Budget, RetryAfter: max(wait, time.Millisecond)}
}

// RateLimited records a 429: no call is made until d has passed.
func (g *Guard) RateLimited(d time.Duration) {
	until := g.now().Add(d).UnixNano()
	for {
		cur := g.rateLimitedUntil.Load()
		if cur >= until {
			return
		}
		if g.rateLimitedUntil.CompareAndSwap(cur, until) {
			if cur == 0 {
				g.log.Warn("upstream answered 429; pausing every call", "retry_after", d)
			}
			return
		}
	}
}

// Backoff is the per-key pause after failed calls: Min after the first
// failure, doubling with each failure in a row, at most Max.
type Backoff struct {
	Min, Max time.Duration
}

// After is the pause after the given number of failures in a row (at least one).
func (b Backoff) After(failures int) time.Duration {
	if b.Min <= 0 {
		return 0
	}
	d := b.Min
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, max(b.Max, b.Min))
}
