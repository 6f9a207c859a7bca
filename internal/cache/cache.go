// Package cache keeps the relay's answers in bigcache and decides their
// freshness: fresh answers are served at once, concurrent misses of one key
// share one fetch, and an expired answer is served at once while one
// background refresh runs, for as long as the policy lets it stand in.
// Only a key with no usable copy waits for the upstream. Calls to the
// upstream go through a guard (a call budget, the pause a 429 asks for), a
// key whose fetch failed waits a growing back-off before it is tried again,
// and an optional shared tier makes one fetch per key for a whole cluster.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/allegro/bigcache/v3"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/sharedcache"
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
	Shared *sharedcache.Tier
	// Lease is how long a relay may hold a key's lease in the shared tier:
	// longer than a fetch can take.
	Lease time.Duration
	// Observer is told of calls not made; nil tells nobody.
	Observer Observer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports failing keys, once per change of their state; nil discards.
	Logger *slog.Logger
}

// Observer is told what the cache decides beside the answers it gives, for
// the relay's metrics.
type Observer interface {
	// Skipped counts an upstream call the guard or a key's back-off refused.
	Skipped(reason guard.Reason)
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
	case Miss:
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
}

// Fetcher fetches the answer to a target from the upstream: its status (200
// or a client error) and body, or an error (an *upstream.Error).
type Fetcher func(ctx context.Context, t upstream.Target) (status int, body []byte, err error)

// maxKeyStates bounds the keys the cache remembers beside its entries:
// fetches under way and keys backing off after failures.
const maxKeyStates = 16384

// sharedRounds bounds how often one fetch reads and claims a key in the
// shared tier: a holder that died or failed costs a round, a fresher answer
// stored meanwhile another.
const sharedRounds = 3

// Cache is a bigcache store with freshness, coalescing of fetches and
// protection of the upstream.
type Cache struct {
	store   *bigcache.BigCache
	hot     *hotSet
	fetch   Fetcher
	policy  Policy
	guard   *guard.Guard
	backoff guard.Backoff
	shared  *sharedcache.Tier
	lease   time.Duration
	obs     Observer
	now     func() time.Time
	log     *slog.Logger
	// maxStored is the largest stored entry, key and store overhead
	// included, that a shard is sure to take: half of it.
	maxStored int

	mu   sync.Mutex
	keys map[string]*keyState

	closeOnce sync.Once
}

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
	done  chan struct{}
	entry *Entry
	state State // for the caller who started it
	err   error
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
	// Every shard must hold at least two of the largest entries.
	total := cfg.MaxMB << 20
	need := 2 * (cfg.MaxEntryBytes + headerSize + 1024)
	shards := 256
	for shards > 1 && total/shards < need {
		shards /= 2
	}
	if total/shards < need {
		return nil, fmt.Errorf("cache: %d MB cannot hold two entries of %d bytes; raise the cache size or lower the body limit",
			cfg.MaxMB, cfg.MaxEntryBytes)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	life := cfg.Life() + time.Second
	// bigcache prints to stdout when its context ends; it gets one that
	// never does, and is closed through Close instead.
	store, err := bigcache.New(context.Background(), bigcache.Config{
		Shards:             shards,
		LifeWindow:         life,
		CleanWindow:        min(life, time.Minute),
		MaxEntriesInWindow: 1024,
		MaxEntrySize:       1024,
		HardMaxCacheSize:   cfg.MaxMB,
		Logger:             storeLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: creating store: %w", err)
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
		maxStored: total / shards / 2,
		keys:      make(map[string]*keyState),
	}
	context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, nil
}

type nopObserver struct{}

func (nopObserver) Skipped(guard.Reason) {}

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
// that the policy still lets stand in is served at once, and one refresh is
// started unless one is under way or the key waits after a failure. Only a
// key with no usable entry waits for a fetch, which concurrent callers
// share; with a shared tier the fetch first looks there, and one relay of
// the cluster calls the upstream. The fetch runs detached from ctx, so that
// a caller who leaves does not fail the others waiting for it, and the
// answer is cached all the same; ctx bounds only this caller's wait.
func (c *Cache) Get(ctx context.Context, t upstream.Target) (Result, error) {
	key := t.Key()
	e := c.lookup(key)
	now := c.now()
	if e != nil {
		if now.Before(e.FreshUntil) {
			return Result{Entry: e, State: Hit, At: now}, nil
		}
		if now.Before(e.StaleUntil()) {
			fresh, why := c.refresh(key, t, e, now)
			switch {
			case fresh != nil: // stored by a refresh that ended just before
				return Result{Entry: fresh, State: Hit, At: now}, nil
			case why != nil:
				return Result{Entry: e, State: StaleOnError, At: now, Err: why}, nil
			}
			return Result{Entry: e, State: Revalidating, At: now}, nil
		}
	}
	f, stored, leader, err := c.join(key, t, e, now)
	if err != nil {
		return Result{}, err
	}
	if stored != nil { // by a fetch that ended just before
		return Result{Entry: stored, State: Hit, At: now}, nil
	}
	select {
	case <-f.done:
		if f.err != nil {
			return Result{}, f.err
		}
		st := f.state
		if !leader && st == Miss {
			st = Coalesced
		}
		return Result{Entry: f.entry, State: st, At: c.now()}, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("waiting for the upstream: %w", ctx.Err())
	}
}

// Fetching reports whether a fetch of t is under way.
func (c *Cache) Fetching(t upstream.Target) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys[t.Key()]
	return ks != nil && ks.flight != nil
}

// refresh starts one background fetch of key, whose entry have is stale,
// unless one is under way or the key waits after a failure or a refused
// call. It returns why the entry is stale on error rather than
// revalidating: the key's last failure or refusal. have was read before
// c.mu was taken, so a refresh may have stored a newer entry since: that
// fresh entry is returned instead, and no fetch starts.
func (c *Cache) refresh(key string, t upstream.Target, have *Entry, now time.Time) (fresh *Entry, lastErr error) {
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
	go c.run(key, t, f, have, true)
	return nil, lastErr
}

// join returns the fetch of key under way, or starts one; leader tells
// whether this caller started it. have is the key's entry, past every
// window, or nil. Instead of a flight it returns the fresh entry that a
// fetch ending just before has stored. A key that waits after a failure is
// refused (a *guard.Refusal).
func (c *Cache) join(key string, t upstream.Target, have *Entry, now time.Time) (f *flight, stored *Entry, leader bool, err error) {
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
	go c.run(key, t, f, have, have != nil && have.Status == 200)
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
	entry *Entry
	state State
	err   error
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
// hot set at once.
func (c *Cache) run(key string, t upstream.Target, f *flight, have *Entry, popular bool) {
	kind := guard.First
	if have != nil && have.Status == 200 {
		kind = guard.Refresh
	}
	l, use := c.loadShared(key, t, have, kind, popular)
	now := c.now()
	// One failed tier operation (a timeout on a busy engine) while a stale
	// copy stands in (a refresh: a join's copy is past every window) puts
	// the refresh off rather than calling the upstream beside the cluster;
	// a second one in a row fetches alone.
	c.mu.Lock()
	putOff := use == sharedFailed && have != nil && now.Before(have.StaleUntil()) && !c.keys[key].deferred
	c.mu.Unlock()
	switch {
	case putOff:
		l = loaded{entry: have, state: Revalidating}
	case use != sharedUsed:
		l = c.loadLocal(key, t, kind, popular)
	}
	f.entry, f.state, f.err = l.entry, l.state, l.err

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
	if l.refresh {
		c.refresh(key, t, l.entry, c.now())
	}
}

// loadLocal fetches t from the upstream, as the guard allows, and stores
// the answer.
func (c *Cache) loadLocal(key string, t upstream.Target, kind guard.Kind, popular bool) loaded {
	if err := c.admit(kind); err != nil {
		return loaded{err: err}
	}
	status, body, err := c.fetch(context.Background(), t)
	if err != nil {
		c.pauseOn(err)
		return loaded{err: err}
	}
	e := c.policy.Entry(status, body, c.now())
	c.put(key, e, popular)
	return loaded{entry: e, state: Miss}
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
// the process fetches on its own, or puts a refresh off (see run).
func (c *Cache) loadShared(key string, t upstream.Target, have *Entry, kind guard.Kind, popular bool) (l loaded, use sharedUse) {
	sh := c.shared
	if sh == nil || !sh.Available() {
		return loaded{}, sharedOff
	}
	// A pause this relay learned itself holds, whatever the tier says.
	if err := c.guard.Check(); err != nil {
		c.obs.Skipped(guard.RateLimited)
		return loaded{err: err}, sharedUsed
	}
	ctx := context.Background()
	waited := false
	for range sharedRounds {
		s, found, err := sh.Get(ctx, key)
		if err != nil {
			return loaded{}, sharedFailed
		}
		if found {
			e := c.policy.Entry(s.Status, s.Body, s.At)
			now := c.now()
			switch {
			case now.Before(e.FreshUntil):
				sh.Observe("hit")
				c.put(key, e, popular)
				if waited {
					return loaded{entry: e, state: Coalesced}, sharedUsed
				}
				return loaded{entry: e, state: SharedHit}, sharedUsed
			case now.Before(e.StaleUntil()) && (have == nil || e.Stored.After(have.Stored)):
				sh.Observe("stale")
				c.put(key, e, popular)
				if have == nil {
					// Nothing here to serve: serve the cluster's stale copy at
					// once and refresh it after.
					return loaded{entry: e, state: Revalidating, refresh: true}, sharedUsed
				}
				have = e
			}
			if e.Status == 200 {
				kind = guard.Refresh
			}
		}
		var haveAt time.Time
		if have != nil {
			haveAt = have.Stored
		}
		done, cancel := sh.Wait(key)
		cl, err := sh.Claim(ctx, key, sharedcache.ClaimRequest{Have: haveAt, FreshFor: c.policy.TTL, Kind: kind, Lease: c.lease})
		if err != nil {
			cancel()
			return loaded{}, sharedFailed
		}
		switch cl.Grant {
		case sharedcache.Granted:
			cancel()
			return c.fetchForCluster(key, t, cl, popular), sharedUsed
		case sharedcache.Fresher:
			cancel()
		case sharedcache.Held:
			sh.LeaseWait()
			timer := time.NewTimer(cl.Wait + 100*time.Millisecond)
			select {
			case <-done:
			case <-timer.C:
			}
			timer.Stop()
			cancel()
			waited = true
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

// fetchForCluster fetches key under the cluster's lease, stores the answer
// in both tiers and wakes the relays waiting for it; a failure is left in
// the shared tier (a pause, the key's back-off) for the whole cluster.
func (c *Cache) fetchForCluster(key string, t upstream.Target, cl sharedcache.Claim, popular bool) loaded {
	ctx := context.Background()
	status, body, err := c.fetch(ctx, t)
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
	e := c.policy.Entry(status, body, c.now())
	c.put(key, e, popular)
	life := c.policy.Life()
	if status != 200 {
		life = c.policy.NegativeTTL
	}
	_ = c.shared.Store(ctx, key, cl, sharedcache.Stored{Status: status, Body: body, At: e.Stored}, life)
	return loaded{entry: e, state: Miss}
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

// storeOverhead bounds what bigcache adds to each entry: a timestamp, a hash
// and the key's length, and the entry's length in its queue.
const storeOverhead = 8 + 8 + 2 + 5

// put stores e under key, unless the policy keeps it for no time. The hot
// set takes it when it holds the key already or popular says so; a key
// fetched for the first time gets there when it is asked for again.
func (c *Cache) put(key string, e *Entry, popular bool) {
	if !e.FreshUntil.After(e.Stored) {
		return
	}
	// bigcache empties a whole shard trying to make room for an entry that
	// cannot fit, so a larger answer is served but not stored.
	if buf := encode(e); len(key)+len(buf)+storeOverhead > c.maxStored {
		c.log.Warn("answer not cached: larger than the store keeps", "key", key, "bytes", len(e.Body))
		return
	} else if err := c.store.Set(key, buf); err != nil {
		c.log.Warn("answer not cached", "key", key, "bytes", len(e.Body), "err", err)
		return
	}
	c.hot.put(key, e, c.now(), popular)
}

// lookup returns the entry stored for key, or nil. An entry read from the
// store is admitted to the hot set: a key asked for twice is a popular one.
func (c *Cache) lookup(key string) *Entry {
	if e := c.hot.get(key); e != nil {
		return e
	}
	buf, err := c.store.Get(key)
	if err != nil {
		return nil
	}
	e := new(Entry)
	if err := decode(buf, e); err != nil {
		c.log.Error("dropping unreadable entry", "key", key, "err", err)
		_ = c.store.Delete(key)
		return nil
	}
	c.hot.put(key, e, c.now(), true)
	return e
}

// storeLogger passes bigcache's messages to the logger at debug level.
type storeLogger struct{ log *slog.Logger }

// Printf logs one bigcache message.
func (l storeLogger) Printf(format string, v ...any) {
	l.log.Debug("cache store: " + fmt.Sprintf(format, v...))
}
