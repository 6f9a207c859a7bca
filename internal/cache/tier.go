package cache

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/sharedcache"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// Tier is the second cache tier, shared by the relays of a deployment
// (package sharedcache on Valkey or Redis): answers, one lease per key so
// that one relay of the cluster fetches it, the cluster's budget, pauses
// and back-offs, and purges.
type Tier interface {
	// Available reports whether the tier answers; while it does not, the
	// cache works alone.
	Available() bool
	// Get returns the answer the tier holds for key, if any.
	Get(ctx context.Context, key string) (sharedcache.Stored, bool, error)
	// Wait returns a channel closed when another relay stores or abandons
	// key; cancel ends the wait. Called before Claim, so no wake-up is lost.
	Wait(key string) (done <-chan struct{}, cancel func())
	// Claim asks to fetch key for the cluster.
	Claim(ctx context.Context, key string, r sharedcache.ClaimRequest) (sharedcache.Claim, error)
	// Store keeps an answer fetched under a Granted claim for life, ends the
	// claim and wakes the waiters.
	Store(ctx context.Context, key string, c sharedcache.Claim, s sharedcache.Stored, life time.Duration) error
	// Abandon ends a Granted claim whose fetch failed, leaving f for the
	// cluster, and returns the key's back-off.
	Abandon(ctx context.Context, key string, c sharedcache.Claim, f sharedcache.Failure) (time.Duration, error)
	// Purge drops key (every key when key is empty) from the tier and tells
	// every relay to drop it.
	Purge(ctx context.Context, key string) error
	// OnPurge sets what a relay does when told to drop a key (every key
	// when it is empty).
	OnPurge(drop func(key string))
}

// sharedRounds bounds how often one fetch reads and claims a key in the
// shared tier: a holder that died or failed costs a round, a fresher answer
// stored meanwhile another.
const sharedRounds = 3

// sharedUse is how a fetch went with the shared tier.
type sharedUse int

const (
	// sharedUsed: the tier gave the answer, or the cluster's refusal.
	sharedUsed sharedUse = iota
	// sharedOff: no tier, or it is down: the process works alone.
	sharedOff
	// sharedFailed: the tier is up but this operation failed (a timeout).
	sharedFailed
)

// tierRetry is how long a refresh put off after a failed tier operation
// waits before it tries again; the stale copy is served meanwhile.
const tierRetry = time.Second

// loadShared fetches key through the shared tier: a fresh answer there is
// taken as it is; otherwise one relay of the cluster claims the key and
// fetches it, and the others wait for its answer. A stale copy there that
// this process lacks is taken at once, and refreshed after. The use says
// whether the tier answered, is off (or down), or failed this time: then
// the process fetches on its own, or puts a refresh off (see load).
func (c *Cache) loadShared(ctx context.Context, key string, t upstream.Target, have *Entry, kind guard.Kind, popular bool) (l loaded, use sharedUse) {
	sh := c.shared
	if sh == nil || !sh.Available() {
		return loaded{}, sharedOff
	}
	// A pause this relay learned itself holds, whatever the tier says.
	if err := c.guard.Check(); err != nil {
		c.obs.Skipped(guard.RateLimited)
		refused(ctx, err)
		return loaded{err: err}, sharedUsed
	}
	waited := false
	for range sharedRounds {
		s, found, err := sh.Get(ctx, key)
		if err != nil {
			event(ctx, EventSharedFailed, attribute.String("error", err.Error()))
			return loaded{}, sharedFailed
		}
		if found {
			e := c.policy.Entry(s.Status, s.Body, s.Header, s.At)
			now := c.now()
			switch {
			case now.Before(e.FreshUntil):
				event(ctx, EventSharedHit)
				stored := c.put(key, e, popular)
				if waited {
					return loaded{entry: e, state: Coalesced, stored: stored}, sharedUsed
				}
				return loaded{entry: e, state: SharedHit, stored: stored}, sharedUsed
			case now.Before(e.RevalidateUntil) && (have == nil || e.Stored.After(have.Stored)):
				event(ctx, EventSharedStale)
				c.put(key, e, popular)
				if have == nil {
					// Nothing here to serve: serve the cluster's stale copy at
					// once and refresh it after.
					return loaded{entry: e, state: Revalidating, refresh: true}, sharedUsed
				}
				have = e
			case have == nil || e.Stored.After(have.Stored):
				have = e // past its windows, but it can be revalidated
			}
			if e.Status == http.StatusOK {
				kind = guard.Refresh
			}
		}
		var haveAt time.Time
		if have != nil {
			haveAt = have.Stored
		}
		done, cancel := sh.Wait(key)
		cl, err := sh.Claim(ctx, key, sharedcache.ClaimRequest{Have: haveAt, Kind: kind, Lease: c.lease})
		if err != nil {
			cancel()
			event(ctx, EventSharedFailed, attribute.String("error", err.Error()))
			return loaded{}, sharedFailed
		}
		event(ctx, EventClaim, AttrGrant.String(cl.Grant.String()), attribute.Int64("shared.wait_ms", cl.Wait.Milliseconds()))
		switch cl.Grant {
		case sharedcache.Granted:
			cancel()
			return c.fetchForCluster(ctx, key, t, cl, have, popular), sharedUsed
		case sharedcache.Fresher:
			cancel()
		case sharedcache.Held:
			span := c.sharedWaitSpan(ctx)
			timer := time.NewTimer(cl.Wait + 100*time.Millisecond)
			woken := false
			select {
			case <-done:
				woken = true
			case <-timer.C:
			}
			timer.Stop()
			cancel()
			waited = true
			if span != nil {
				span.SetAttributes(attribute.Bool("shared.woken", woken))
				span.End()
			}
		case sharedcache.Paused:
			cancel()
			c.guard.RateLimited(cl.Wait)
			c.obs.Skipped(guard.RateLimited)
			return loaded{err: &guard.Refusal{Reason: guard.RateLimited, RetryAfter: max(time.Millisecond, cl.Wait)}}, sharedUsed
		case sharedcache.OverBudget:
			cancel()
			c.obs.Skipped(guard.Budget)
			return loaded{err: &guard.Refusal{Reason: guard.Budget, RetryAfter: max(time.Millisecond, cl.Wait)}}, sharedUsed
		default: // Failing
			cancel()
			c.obs.Skipped(guard.Failing)
			cause := &upstream.Error{Outcome: upstream.Outcome(cl.Cause), Err: errors.New("failing for the cluster")}
			return loaded{err: &guard.Refusal{Reason: guard.Failing, RetryAfter: max(time.Millisecond, cl.Wait), Cause: cause}}, sharedUsed
		}
	}
	return loaded{}, sharedOff
}

// fetchForCluster fetches key under the cluster's lease, revalidating have
// when it can, stores the answer (or have renewed by a 304) in both tiers
// and wakes the relays waiting for it; a failure is left in the shared tier
// (a pause, the key's back-off) for the whole cluster.
func (c *Cache) fetchForCluster(ctx context.Context, key string, t upstream.Target, cl sharedcache.Claim, have *Entry, popular bool) loaded {
	e, state, err := c.call(ctx, key, t, have)
	if err != nil {
		f := sharedcache.Failure{Pause: c.pauseOn(err)}
		var ue *upstream.Error
		if errors.As(err, &ue) {
			f.Cause = string(ue.Outcome)
		}
		if backsOff(err) {
			f.Backoff = c.backoff
		}
		d, _ := c.shared.Abandon(ctx, key, cl, f)
		return loaded{err: err, backoff: d}
	}
	stored := c.put(key, e, popular)
	life := e.StaleUntil().Sub(c.now())
	if !stored {
		life = 0 // not kept: the lease is released and the waiters woken
	}
	_ = c.shared.Store(ctx, key, cl, sharedcache.Stored{
		Status: e.Status, Body: e.Body, At: e.Stored, FreshUntil: e.FreshUntil, Header: e.Header(),
	}, life)
	return loaded{entry: e, state: state, stored: stored}
}

// sharedWaitSpan starts the span of a wait for another relay's lease, a
// child of ctx's; nil without tracing.
func (c *Cache) sharedWaitSpan(ctx context.Context) trace.Span {
	if c.tracer == nil {
		return nil
	}
	_, span := c.tracer.Start(ctx, SpanSharedWait)
	return span
}
