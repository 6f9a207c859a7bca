// Package cache keeps the relay's answers in bigcache and decides their
// freshness, as a shared HTTP cache does: an answer is fresh for the
// lifetime the upstream declares (RFC 9111 section 4.2), fresh answers are
// served at once, concurrent misses of one key share one fetch, and an
// expired answer is served at once while one background revalidation runs
// (If-None-Match; a 304 renews the copy without a body), for as long as the
// upstream and the policy let it stand in. Only a key with no usable copy
// waits for the upstream. Calls to the upstream go through a guard (a call
// budget, the pause a 429 asks for), a key whose fetch failed waits a
// growing back-off before it is tried again, and an optional shared tier
// makes one fetch per key for a whole cluster.
//
// The package is split by job: cache.go answers (Get, Purge, Warm),
// flight.go runs one fetch per key with its back-off, tier.go speaks the
// shared tier's protocol through the Tier interface, store.go keeps
// entries in bigcache and the hot set (hot.go), freshness.go computes
// lifetimes and entry.go encodes entries.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/allegro/bigcache/v3"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// Config sets up a Cache.
type Config struct {
	Policy
	// MaxMB bounds the memory of the cached entries, in megabytes.
	MaxMB int
	// MaxEntryBytes is the largest body that must fit in the cache.
	MaxEntryBytes int
	// Guard decides whether an upstream call may be made; nil allows every call.
	Guard *guard.Guard
	// Backoff is the pause of a key after failed fetches; zero retries at once.
	Backoff guard.Backoff
	// Shared is the tier shared with the other relays of the deployment;
	// nil keeps the cache to this process.
	Shared Tier
	// Lease is how long a relay may hold a key's lease in the shared tier:
	// longer than a fetch can take.
	Lease time.Duration
	// Observer is told of calls not made, purges and panics; nil tells
	// nobody.
	Observer DecisionObserver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports failing keys, once per change of their state; nil discards.
	Logger *slog.Logger
	// Tracer makes the spans of fetches, refreshes and waits (see
	// SpanFetch); nil makes none, and a fetch then carries nothing of the
	// request that started it.
	Tracer trace.Tracer
}

// DecisionObserver is told what the cache decides beside the answers it
// gives, for the relay's metrics.
type DecisionObserver interface {
	// Skipped counts an upstream call the guard or a key's back-off refused.
	Skipped(reason guard.Reason)
	// Purged counts a purge: of one key ("key") or of everything ("all").
	Purged(scope string)
	// Panicked counts a fetch or processing stage that panicked.
	Panicked()
}

// State tells how a Result was answered.
type State int

// The states of a Result.
const (
	// Hit: a fresh answer from this process's cache.
	Hit State = iota
	// SharedHit: a fresh answer from the shared tier, now in this
	// process's cache too.
	SharedHit
	// Miss: this caller's fetch from the upstream.
	Miss
	// Coalesced: this caller waited for a fetch another caller, or another
	// relay, made.
	Coalesced
	// Revalidated: this caller waited while the upstream confirmed (304)
	// the copy the cache held, which may not be used unvalidated.
	Revalidated
	// Revalidating: an expired answer, served while one refresh runs.
	Revalidating
	// StaleOnError: an expired answer standing in for a failing upstream,
	// or for a call the budget or a 429 did not allow.
	StaleOnError
	// None: the cache gave no answer (a refused request, a failed fetch).
	None
	// NumStates is the number of states.
	NumStates
)

// String names the state as the relay's metrics label it.
func (s State) String() string {
	switch s {
	case Hit:
		return "hit"
	case SharedHit:
		return "shared_hit"
	case Miss, Revalidated:
		return "miss"
	case Coalesced:
		return "coalesced"
	case Revalidating, StaleOnError:
		return "stale"
	default:
		return "none"
	}
}

// Result is the answer to a Get.
type Result struct {
	Entry *Entry
	State State
	// At is when the cache judged the entry's freshness, for the Age of the
	// answer.
	At time.Time
	// Err is why a StaleOnError answer is stale: the key's last failure or
	// the refusal of its refresh.
	Err error
	// Stored tells whether a Miss or Revalidated answer was stored.
	Stored bool
}

// Fetcher fetches the answer to a target from the upstream, conditionally
// when v holds a validator: its status (200, a client error, or 304 to a
// conditional call), body and cache header fields, or an error (an
// *upstream.Error).
type Fetcher func(ctx context.Context, t upstream.Target, v upstream.Validators) (upstream.Response, error)

// Cache is a bigcache store with freshness, coalescing of fetches and
// protection of the upstream.
type Cache struct {
	store   *bigcache.BigCache
	hot     *hotSet
	fetch   Fetcher
	policy  Policy
	guard   *guard.Guard
	backoff guard.Backoff
	shared  Tier
	lease   time.Duration
	obs     DecisionObserver
	now     func() time.Time
	log     *slog.Logger
	tracer  trace.Tracer // nil: no spans
	// maxStored is the largest stored entry, key and store overhead
	// included, that a shard is sure to take: half of it.
	maxStored int

	mu   sync.Mutex
	keys map[string]*keyState

	closeOnce sync.Once
}

// New creates a Cache that fetches what it lacks with fetch; cancelling ctx
// stops its background cleaning, as Close does. The store evicts the oldest
// entries when MaxMB is reached, and entries once they are past every
// window of the policy.
func New(ctx context.Context, cfg Config, fetch Fetcher) (*Cache, error) {
	if err := cfg.Policy.validate(); err != nil {
		return nil, err
	}
	if fetch == nil {
		return nil, errors.New("cache: no fetch function")
	}
	if cfg.MaxMB <= 0 || cfg.MaxEntryBytes <= 0 {
		return nil, errors.New("cache: size limits must be positive")
	}
	if cfg.Shared != nil && cfg.Lease <= 0 {
		return nil, errors.New("cache: a shared tier needs a positive lease")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, maxStored, err := newStore(cfg, log)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	g := cfg.Guard
	if g == nil {
		g, _ = guard.New(guard.Config{Now: now}) // unlimited: cannot fail
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	c := &Cache{
		store: store, hot: newHotSet(), fetch: fetch, policy: cfg.Policy,
		guard: g, backoff: cfg.Backoff, shared: cfg.Shared, lease: cfg.Lease, obs: obs, now: now, log: log,
		maxStored: maxStored,
		keys:      make(map[string]*keyState),
		tracer:    tracerOf(cfg),
	}
	if c.shared != nil {
		c.shared.OnPurge(c.dropPurged)
	}
	context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, nil
}

type nopObserver struct{}

func (nopObserver) Skipped(guard.Reason) {}
func (nopObserver) Purged(string)        {}
func (nopObserver) Panicked()            {}

// Close stops the store's background cleaning. The cache still answers
// afterwards, so requests in flight during a shutdown finish normally.
func (c *Cache) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.store.Close() })
	return err
}

// Len is the number of entries held.
func (c *Cache) Len() int { return c.store.Len() }

// Bytes is the memory the store has taken for entries.
func (c *Cache) Bytes() int { return c.store.Capacity() }

// Get answers t from the cache. A fresh entry is a Hit. An expired entry
// that the upstream and the policy let stand in is served at once, and one
// refresh is started unless one is under way or the key waits after a
// failure. Only a key with no usable entry waits for a fetch, which
// concurrent callers share; with a shared tier the fetch first looks there,
// and one relay of the cluster calls the upstream. A copy that may stand in
// for a failing upstream does so when that fetch fails or is refused. The
// fetch runs detached from ctx, so that a caller who leaves does not fail
// the others waiting for it, and the answer is cached all the same; ctx
// bounds only this caller's wait.
func (c *Cache) Get(ctx context.Context, t upstream.Target) (Result, error) {
	key := t.Key()
	e := c.lookup(key)
	now := c.now()
	if e != nil {
		if now.Before(e.FreshUntil) {
			return Result{Entry: e, State: Hit, At: now}, nil
		}
		if now.Before(e.RevalidateUntil) {
			fresh, why := c.refresh(ctx, key, t, e, now)
			switch {
			case fresh != nil: // stored by a refresh that ended just before
				return Result{Entry: fresh, State: Hit, At: now}, nil
			case why != nil:
				return Result{Entry: e, State: StaleOnError, At: now, Err: why}, nil
			}
			return Result{Entry: e, State: Revalidating, At: now}, nil
		}
	}
	f, stored, leader, err := c.join(ctx, key, t, e, now)
	if err != nil {
		return c.standIn(e, err)
	}
	if stored != nil { // by a fetch that ended just before
		return Result{Entry: stored, State: Hit, At: now}, nil
	}
	if !leader && c.tracer != nil {
		return c.awaitTraced(ctx, key, e, f)
	}
	return c.await(ctx, e, f, leader)
}

// await waits for the flight f of a key whose entry is e (or nil) and
// answers with its outcome; leader tells whether this caller started it.
func (c *Cache) await(ctx context.Context, e *Entry, f *flight, leader bool) (Result, error) {
	select {
	case <-f.done:
		if f.err != nil {
			return c.standIn(e, f.err)
		}
		st := f.state
		if !leader && (st == Miss || st == Revalidated) {
			st = Coalesced
		}
		return Result{Entry: f.entry, State: st, At: c.now(), Stored: f.stored}, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("waiting for the upstream: %w", ctx.Err())
	}
}

// awaitTraced is await for a caller who joined another's flight, in a
// SpanWait linked to the flight's span.
func (c *Cache) awaitTraced(ctx context.Context, key string, e *Entry, f *flight) (Result, error) {
	span := c.waitSpan(ctx, key, f)
	defer span.End()
	res, err := c.await(ctx, e, f, false)
	span.SetAttributes(AttrState.String(res.State.String()))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}

// standIn answers with the stale copy e when it may stand in for the
// failure err, or fails with err.
func (c *Cache) standIn(e *Entry, err error) (Result, error) {
	now := c.now()
	if e != nil && now.Before(e.ErrorUntil) {
		return Result{Entry: e, State: StaleOnError, At: now, Err: err}, nil
	}
	return Result{}, err
}

// Fetching reports whether a fetch of t is under way.
func (c *Cache) Fetching(t upstream.Target) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys[t.Key()]
	return ks != nil && ks.flight != nil
}

// Peek returns the entry held for t, fresh or not, without fetching; nil
// when there is none.
func (c *Cache) Peek(t upstream.Target) *Entry { return c.lookup(t.Key()) }

// Warm refreshes t in the background, inside the guard's budget, when the
// cache holds no entry for it or the entry's freshness ends within ahead;
// it reports whether it started a refresh. Refreshes of held keys come
// before first fetches in the budget, as a user's would.
func (c *Cache) Warm(t upstream.Target, ahead time.Duration) bool {
	key := t.Key()
	e := c.lookup(key)
	now := c.now()
	if e != nil && now.Add(ahead).Before(e.FreshUntil) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys[key]
	if ks != nil && (ks.flight != nil || now.Before(ks.retryAt)) {
		return false
	}
	f := c.startLocked(key, ks)
	fctx, span := c.flightSpan(context.Background(), SpanWarm, key, true)
	f.span = span.SpanContext()
	go c.run(fctx, span, key, t, f, e, true)
	return true
}

// Purge drops the answer to path (a request path such as
// /restaurant/dufva) from this process and, with a shared tier, from the
// tier and every relay that shares it, and forgets the key's back-off, so
// that the next request fetches it. A fetch under way stores its answer
// when it ends.
func (c *Cache) Purge(ctx context.Context, path string) error {
	t, err := upstream.ParseTarget(path, "")
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	key := t.Key()
	c.dropPurged(key)
	c.obs.Purged("key")
	c.log.Info("purged", "key", key)
	if c.shared != nil {
		if err := c.shared.Purge(ctx, key); err != nil {
			return fmt.Errorf("purging %s from the shared tier: %w", key, err)
		}
	}
	return nil
}

// PurgeAll drops every answer, from this process and, with a shared tier,
// from the tier and every relay that shares it.
func (c *Cache) PurgeAll(ctx context.Context) error {
	c.dropPurged("")
	c.obs.Purged("all")
	c.log.Info("purged every key")
	if c.shared != nil {
		if err := c.shared.Purge(ctx, ""); err != nil {
			return fmt.Errorf("purging the shared tier: %w", err)
		}
	}
	return nil
}

// dropPurged drops key from this process, or every key when key is empty,
// with the back-off of keys that no fetch is under way for.
func (c *Cache) dropPurged(key string) {
	if key == "" {
		_ = c.store.Reset()
		c.hot.reset()
	} else {
		_ = c.store.Delete(key)
		c.hot.remove(key)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, ks := range c.keys {
		if (key == "" || k == key) && ks.flight == nil {
			delete(c.keys, k)
		}
	}
}
