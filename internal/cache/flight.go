package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// maxKeyStates bounds the keys the cache remembers beside its entries:
// fetches under way and keys backing off after failures.
const maxKeyStates = 16384

// keyState is what the cache remembers of a key beside its entry.
type keyState struct {
	// flight is the fetch under way, or nil.
	flight *flight
	// failures counts the key's failed fetches in a row.
	failures int
	// retryAt is when the key may be fetched again after a failure or a
	// refused call.
	retryAt time.Time
	// lastErr is the key's last failure or refusal.
	lastErr error
	// deferred tells that the key's last refresh was put off because the
	// shared tier failed; the next one fetches alone if it fails again.
	deferred bool
}

// flight is one fetch of a key. Its fields are written before done is
// closed and read only after.
type flight struct {
	done   chan struct{}
	entry  *Entry
	state  State // for the caller who started it
	stored bool
	err    error
	// span is the fetch's span, for the waiters' links; zero without
	// tracing.
	span trace.SpanContext
}

// refresh starts one background fetch of key, whose entry have is stale,
// unless one is under way or the key waits after a failure or a refused
// call. It returns why the entry is stale on error rather than
// revalidating: the key's last failure or refusal. have was read before
// c.mu was taken, so a refresh may have stored a newer entry since: that
// fresh entry is returned instead, and no fetch starts. The refresh's span
// is linked to ctx's.
func (c *Cache) refresh(ctx context.Context, key string, t upstream.Target, have *Entry, now time.Time) (fresh *Entry, lastErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys[key]
	if ks != nil {
		lastErr = ks.lastErr
		if ks.flight != nil || now.Before(ks.retryAt) {
			return nil, lastErr
		}
	}
	if e := c.lookup(key); e != nil && now.Before(e.FreshUntil) {
		return e, nil
	}
	f := c.startLocked(key, ks)
	fctx, span := c.flightSpan(ctx, SpanRefresh, key, true)
	f.span = span.SpanContext()
	go c.run(fctx, span, key, t, f, have, true)
	return nil, lastErr
}

// join returns the fetch of key under way, or starts one; leader tells
// whether this caller started it. have is the key's entry, past its
// windows of serving stale without a fetch, or nil. Instead of a flight it
// returns the fresh entry that a fetch ending just before has stored. A key
// that waits after a failure is refused (a *guard.Refusal). The fetch
// carries ctx's trace, not its cancellation.
func (c *Cache) join(ctx context.Context, key string, t upstream.Target, have *Entry, now time.Time) (f *flight, stored *Entry, leader bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys[key]
	if ks != nil && ks.flight != nil {
		return ks.flight, nil, false, nil
	}
	if e := c.lookup(key); e != nil && now.Before(e.FreshUntil) {
		return nil, e, false, nil
	}
	if ks != nil && now.Before(ks.retryAt) {
		wait := ks.retryAt.Sub(now)
		var ref *guard.Refusal
		if errors.As(ks.lastErr, &ref) {
			r := *ref
			r.RetryAfter = wait
			return nil, nil, false, &r
		}
		c.obs.Skipped(guard.Failing)
		return nil, nil, false, &guard.Refusal{Reason: guard.Failing, RetryAfter: wait, Cause: ks.lastErr}
	}
	f = c.startLocked(key, ks)
	fctx, span := c.flightSpan(ctx, SpanFetch, key, false)
	f.span = span.SpanContext()
	go c.run(fctx, span, key, t, f, have, have != nil && have.Status == http.StatusOK)
	return f, nil, true, nil
}

// startLocked records a new flight of key; c.mu is held.
func (c *Cache) startLocked(key string, ks *keyState) *flight {
	if ks == nil {
		ks = &keyState{}
		c.keys[key] = ks
	}
	ks.flight = &flight{done: make(chan struct{})}
	return ks.flight
}

// loaded is what a fetch ends with.
type loaded struct {
	entry  *Entry
	state  State
	stored bool
	err    error
	// backoff is the key's pause the shared tier set for the cluster after
	// this fetch failed; zero leaves the pause to the local back-off.
	backoff time.Duration
	// refresh asks for a refresh once the flight is over: the entry is a
	// stale copy from the shared tier.
	refresh bool
}

// run does one flight's fetch of key, stores the answer, and records the
// outcome: a success forgets the key's failures, a failure makes the key
// back off, and a refused call makes it wait as long as the refusal says.
// have is the key's entry in this process, or nil; popular tells whether
// the key was asked for before (a refresh), which admits its answer to the
// hot set at once. A panic on the way fails the flight's waiters instead of
// the process. ctx carries the flight's span, which run ends.
func (c *Cache) run(ctx context.Context, span trace.Span, key string, t upstream.Target, f *flight, have *Entry, popular bool) {
	l, putOff := c.load(ctx, key, t, have, popular)
	f.entry, f.state, f.stored, f.err = l.entry, l.state, l.stored, l.err
	c.settle(key, f, have, l, putOff)
	if l.refresh {
		c.refresh(ctx, key, t, l.entry, c.now())
	}
	endFlight(span, l)
}

// load fetches key through the shared tier or alone, and reports whether a
// refresh was put off.
func (c *Cache) load(ctx context.Context, key string, t upstream.Target, have *Entry, popular bool) (l loaded, putOff bool) {
	defer func() {
		if r := recover(); r != nil {
			l, putOff = loaded{err: c.panicked(key, r)}, false
		}
	}()
	kind := guard.First
	if have != nil && have.Status == http.StatusOK {
		kind = guard.Refresh
	}
	l, use := c.loadShared(ctx, key, t, have, kind, popular)
	// One failed tier operation (a timeout on a busy engine) while a stale
	// copy stands in (a refresh) puts the refresh off rather than calling
	// the upstream beside the cluster; a second one in a row fetches alone.
	c.mu.Lock()
	putOff = use == sharedFailed && have != nil && c.now().Before(have.RevalidateUntil) && !c.keys[key].deferred
	c.mu.Unlock()
	switch {
	case putOff:
		l = loaded{entry: have, state: Revalidating}
	case use != sharedUsed:
		l = c.loadLocal(ctx, key, t, have, kind, popular)
	}
	return l, putOff
}

// settle records the outcome l of key's flight f and wakes its waiters.
func (c *Cache) settle(key string, f *flight, have *Entry, l loaded, putOff bool) {
	now := c.now()
	c.mu.Lock()
	ks := c.keys[key]
	ks.flight = nil
	if putOff {
		ks.deferred = true
		ks.retryAt = now.Add(tierRetry)
		c.mu.Unlock()
		close(f.done)
		return
	}
	var ref *guard.Refusal
	switch {
	case l.err == nil:
		if ks.failures > 0 {
			c.log.Info("upstream answers again for this key", "key", key, "failures", ks.failures)
		}
		delete(c.keys, key)
	case errors.As(l.err, &ref):
		// A refused call: wait as long as it says, so that stale requests do
		// not ask again meanwhile; a key with nothing to serve need not be
		// remembered.
		if have == nil && ref.Reason != guard.Failing && ks.failures == 0 {
			delete(c.keys, key)
			break
		}
		ks.retryAt = now.Add(ref.RetryAfter)
		ks.lastErr = l.err
		if ref.Reason == guard.Failing && ref.Cause != nil {
			ks.lastErr = ref.Cause
		}
	case backsOff(l.err):
		ks.failures++
		ks.lastErr = l.err
		pause := l.backoff
		if pause <= 0 {
			pause = c.backoff.After(ks.failures)
		}
		ks.retryAt = now.Add(pause)
		if ks.failures == 1 {
			c.log.Warn("upstream failing for this key; backing off", "key", key, "err", l.err, "backoff", pause)
		}
	default:
		// Not the key's fault (a 429, no free upstream slot): no back-off,
		// but a key with a copy waits as long as the 429 asks (a second for
		// a full house), serving the copy as stale on error meanwhile.
		if have == nil && ks.failures == 0 {
			delete(c.keys, key)
			break
		}
		ks.lastErr = l.err
		ks.retryAt = now.Add(time.Second)
		var ue *upstream.Error
		if errors.As(l.err, &ue) && ue.RetryAfter > 0 {
			ks.retryAt = now.Add(ue.RetryAfter)
		}
	}
	c.pruneLocked(now)
	c.mu.Unlock()
	close(f.done)
}

// loadLocal fetches t from the upstream, as the guard allows, revalidating
// have when it can, and stores the answer.
func (c *Cache) loadLocal(ctx context.Context, key string, t upstream.Target, have *Entry, kind guard.Kind, popular bool) loaded {
	if err := c.admit(kind); err != nil {
		refused(ctx, err)
		return loaded{err: err}
	}
	e, state, err := c.call(ctx, key, t, have)
	if err != nil {
		c.pauseOn(err)
		return loaded{err: err}
	}
	return loaded{entry: e, state: state, stored: c.put(key, e, popular)}
}

// call makes one upstream call for t, conditional when have holds a
// validator, and returns the answer's entry: a Miss, or have renewed by a
// 304 (Revalidated). A panic in the fetch or its processing is an error.
func (c *Cache) call(ctx context.Context, key string, t upstream.Target, have *Entry) (e *Entry, state State, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, c.panicked(key, r)
		}
	}()
	var v upstream.Validators
	if have != nil && have.Status == http.StatusOK {
		v = have.Validators()
	}
	// The call's times on the cache's own clock: the request_time and
	// response_time of RFC 9111 section 4.2.3.
	sent := c.now()
	ctx, span := c.upstreamSpan(ctx, v != (upstream.Validators{}))
	resp, err := c.fetch(ctx, t, v)
	endUpstream(span, resp, err)
	if err != nil {
		return nil, None, err
	}
	received := c.now()
	stored := received.Add(-initialAge(resp.Header, sent, received))
	if resp.Status == http.StatusNotModified {
		if have == nil || v == (upstream.Validators{}) {
			return nil, None, &upstream.Error{Outcome: upstream.HTTPError, Status: resp.Status, Err: errors.New("304 to an unconditional call")}
		}
		// RFC 9111 section 4.3.4: the stored answer, its header fields
		// updated by the 304's.
		h := have.Header()
		for name, vs := range resp.Header {
			if name != "Age" {
				h[name] = vs
			}
		}
		return c.policy.Entry(have.Status, have.Body, h, stored), Revalidated, nil
	}
	e = c.policy.Entry(resp.Status, resp.Body, resp.Header, stored)
	if !c.policy.Storable(resp.Header) {
		e.flags |= flagNoStore
	}
	return e, Miss, nil
}

// panicked turns a panic of key's fetch into the flight's error: logged
// with its stack, counted, and answered like a failed upstream call.
func (c *Cache) panicked(key string, r any) error {
	c.obs.Panicked()
	c.log.Error("fetch panicked; its key fails, every other key is served", "key", key, "panic", r, "stack", string(debug.Stack()))
	return &upstream.Error{Outcome: upstream.Crashed, Err: fmt.Errorf("panic: %v", r)}
}

// admit asks the guard for one upstream call of the given kind, counting a refusal.
func (c *Cache) admit(kind guard.Kind) error {
	err := c.guard.Check()
	if err == nil {
		err = c.guard.Take(kind)
	}
	var r *guard.Refusal
	if errors.As(err, &r) {
		c.obs.Skipped(r.Reason)
	}
	return err
}

// pauseOn makes the guard pause every call after a 429.
func (c *Cache) pauseOn(err error) time.Duration {
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.Outcome == upstream.RateLimited {
		c.guard.RateLimited(ue.RetryAfter)
		return ue.RetryAfter
	}
	return 0
}

// backsOff reports whether a failed fetch makes its key back off: the
// upstream failed or answered badly, as opposed to a 429 (which pauses
// every key) or no free slot for the call.
func backsOff(err error) bool {
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		return true
	}
	switch ue.Outcome {
	case upstream.RateLimited, upstream.Busy, upstream.Canceled:
		return false
	default:
		return true
	}
}

// pruneLocked forgets keys that are done backing off once there are too
// many to remember; c.mu is held.
func (c *Cache) pruneLocked(now time.Time) {
	if len(c.keys) <= maxKeyStates {
		return
	}
	for k, ks := range c.keys {
		if ks.flight == nil && !now.Before(ks.retryAt) {
			delete(c.keys, k)
		}
	}
	if len(c.keys) <= maxKeyStates {
		return
	}
	// Still too many keys back off at once: forget the back-off of some of
	// them; the guard's budget still bounds their calls.
	for k, ks := range c.keys {
		if len(c.keys) <= maxKeyStates*3/4 {
			break
		}
		if ks.flight == nil {
			delete(c.keys, k)
		}
	}
}
