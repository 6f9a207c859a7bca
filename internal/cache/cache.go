// Package cache keeps the relay's answers in bigcache and decides their
// freshness: fresh answers are served at once, concurrent misses of one key
// share one fetch, answers just expired are served while one refresh runs,
// and old answers stand in when the upstream fails.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/allegro/bigcache/v3"
	"golang.org/x/sync/singleflight"
)

// Policy says how long answers stay fresh and how long they may be served
// stale.
type Policy struct {
	// TTL is how long a 200 answer stays fresh.
	TTL time.Duration
	// NegativeTTL is how long a client error such as 404 stays fresh; zero
	// keeps such answers out of the cache.
	NegativeTTL time.Duration
	// StaleWhileRevalidate is how long after expiry an answer is still
	// served at once while one refresh runs in the background.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after expiry an answer stands in for a
	// failed upstream.
	StaleIfError time.Duration
}

// Config sets up a Cache.
type Config struct {
	Policy
	// Fetch fetches an answer that the cache lacks.
	Fetch FetchFunc
	// MaxMB bounds the memory of the cached entries, in megabytes.
	MaxMB int
	// MaxEntryBytes is the largest body that must fit in the cache.
	MaxEntryBytes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports failed background refreshes; nil discards.
	Logger *slog.Logger
}

// State tells how a Result was answered.
type State int

// The states of a Result.
const (
	// Hit: a fresh answer from the cache.
	Hit State = iota
	// Miss: this caller fetched the answer from the upstream.
	Miss
	// Coalesced: this caller waited for another caller's fetch.
	Coalesced
	// Revalidating: an expired answer, served while one refresh runs.
	Revalidating
	// StaleOnError: an expired answer standing in for a failed upstream.
	StaleOnError
)

// String names the state as the relay's metrics do.
func (s State) String() string {
	switch s {
	case Hit:
		return "hit"
	case Miss:
		return "miss"
	case Coalesced:
		return "coalesced"
	case Revalidating, StaleOnError:
		return "stale"
	default:
		return "unknown"
	}
}

// Result is the answer to a Get.
type Result struct {
	Entry *Entry
	State State
	// At is when the cache judged the entry's freshness, for the Age and
	// max-age of the answer.
	At time.Time
	// Err is the upstream failure behind a StaleOnError answer.
	Err error
}

// FetchFunc fetches the answer to a key from the upstream: its status (200
// or a client error) and body, or an error.
type FetchFunc func(ctx context.Context, key string) (status int, body []byte, err error)

// Cache is a bigcache store with freshness and coalescing of fetches.
type Cache struct {
	store  *bigcache.BigCache
	hot    *hotSet
	fetch  FetchFunc
	policy Policy
	now    func() time.Time
	log    *slog.Logger
	group  singleflight.Group
	// maxStored is the largest stored entry, key and store overhead
	// included, that a shard is sure to take: half of it.
	maxStored int

	closeOnce sync.Once
}

// New creates a Cache; cancelling ctx stops its background cleaning, as
// Close does. The store evicts the oldest entries when MaxMB is
// reached, and entries once they are past every window of the policy.
func New(ctx context.Context, cfg Config) (*Cache, error) {
	if cfg.TTL <= 0 {
		return nil, errors.New("cache: TTL must be positive")
	}
	if cfg.NegativeTTL < 0 || cfg.StaleWhileRevalidate < 0 || cfg.StaleIfError < 0 {
		return nil, errors.New("cache: windows must not be negative")
	}
	if cfg.Fetch == nil {
		return nil, errors.New("cache: no fetch function")
	}
	if cfg.MaxMB <= 0 || cfg.MaxEntryBytes <= 0 {
		return nil, errors.New("cache: size limits must be positive")
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
	life := max(cfg.TTL, cfg.NegativeTTL) + max(cfg.StaleWhileRevalidate, cfg.StaleIfError) + time.Second
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
	c := &Cache{store: store, hot: newHotSet(), fetch: cfg.Fetch, policy: cfg.Policy, now: now, log: log, maxStored: total / shards / 2}
	context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, nil
}

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

// Get answers key from the cache, fetching it when needed. The
// fetch runs detached from ctx, so that a caller who leaves does not fail the
// others waiting for it, and the answer is cached all the same; ctx bounds
// only this caller's wait.
func (c *Cache) Get(ctx context.Context, key string) (Result, error) {
	e, found := c.lookup(key)
	if found {
		now := c.now()
		if now.Before(e.FreshUntil) {
			return Result{Entry: e, State: Hit, At: now}, nil
		}
		if now.Before(e.RevalidateUntil) {
			c.refresh(ctx, key)
			return Result{Entry: e, State: Revalidating, At: now}, nil
		}
	}
	var leader bool
	ch := c.group.DoChan(key, func() (any, error) {
		leader = true
		return c.load(context.WithoutCancel(ctx), key)
	})
	select {
	case r := <-ch:
		// leader was written before the result was sent, so reading it
		// after the receive is safe.
		now := c.now()
		if r.Err != nil {
			if found && now.Before(e.ErrorUntil) {
				return Result{Entry: e, State: StaleOnError, Err: r.Err, At: now}, nil
			}
			return Result{}, r.Err
		}
		l := r.Val.(loaded)
		switch {
		case !l.fetched:
			return Result{Entry: l.entry, State: Hit, At: now}, nil
		case leader:
			return Result{Entry: l.entry, State: Miss, At: now}, nil
		default:
			return Result{Entry: l.entry, State: Coalesced, At: now}, nil
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("waiting for the upstream: %w", ctx.Err())
	}
}

// refresh starts one background fetch of key unless one is under way.
func (c *Cache) refresh(ctx context.Context, key string) {
	ch := c.group.DoChan(key, func() (any, error) {
		l, err := c.load(context.WithoutCancel(ctx), key)
		if err != nil {
			c.log.Warn("background refresh failed", "key", key, "err", err)
		}
		return l, err
	})
	_ = ch // buffered: the result is dropped without blocking anyone
}

// storeOverhead bounds what bigcache adds to each entry: a timestamp, a hash
// and the key's length, and the entry's length in its queue.
const storeOverhead = 8 + 8 + 2 + 5

type loaded struct {
	entry   *Entry
	fetched bool
}

// load fetches key and stores the answer. It looks in the store first: a
// fetch that finished just before this one began has left a fresh answer.
func (c *Cache) load(ctx context.Context, key string) (loaded, error) {
	if e, ok := c.lookup(key); ok && e.Fresh(c.now()) {
		return loaded{entry: e}, nil
	}
	status, body, err := c.fetch(ctx, key)
	if err != nil {
		return loaded{}, err
	}
	e := c.newEntry(status, body)
	if e.FreshUntil.After(e.Stored) {
		// bigcache empties a whole shard trying to make room for an entry
		// that cannot fit, so a larger answer is served but not stored.
		if buf := encode(e); len(key)+len(buf)+storeOverhead > c.maxStored {
			c.log.Warn("answer not cached: larger than the store keeps", "key", key, "bytes", len(body))
		} else if err := c.store.Set(key, buf); err != nil {
			c.log.Warn("answer not cached", "key", key, "bytes", len(body), "err", err)
		}
		c.hot.put(key, e)
	}
	return loaded{entry: e, fetched: true}, nil
}

func (c *Cache) newEntry(status int, body []byte) *Entry {
	now := c.now()
	e := &Entry{Status: status, Body: body, ETag: ETagOf(body), Length: strconv.Itoa(len(body)), Stored: now}
	if status == 200 {
		e.FreshUntil = now.Add(c.policy.TTL)
		e.RevalidateUntil = e.FreshUntil.Add(c.policy.StaleWhileRevalidate)
		e.ErrorUntil = e.FreshUntil.Add(c.policy.StaleIfError)
	} else {
		// A client error is not served stale: once expired, it is asked again.
		e.FreshUntil = now.Add(c.policy.NegativeTTL)
		e.RevalidateUntil = e.FreshUntil
		e.ErrorUntil = e.FreshUntil
	}
	return e
}

func (c *Cache) lookup(key string) (*Entry, bool) {
	if e := c.hot.get(key); e != nil {
		return e, true
	}
	buf, err := c.store.Get(key)
	if err != nil {
		return nil, false
	}
	e := new(Entry)
	if err := decode(buf, e); err != nil {
		c.log.Error("dropping unreadable entry", "key", key, "err", err)
		_ = c.store.Delete(key)
		return nil, false
	}
	c.hot.put(key, e)
	return e, true
}

// storeLogger passes bigcache's messages to the logger at debug level.
type storeLogger struct{ log *slog.Logger }

// Printf logs one bigcache message.
func (l storeLogger) Printf(format string, v ...any) {
	l.log.Debug("cache store: " + fmt.Sprintf(format, v...))
}
