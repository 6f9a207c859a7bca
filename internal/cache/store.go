package cache

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/allegro/bigcache/v3"
)

// storeOverhead bounds what bigcache adds to each entry: a timestamp, a hash
// and the key's length, and the entry's length in its queue.
const storeOverhead = 8 + 8 + 2 + 5

// newStore creates the bigcache store of cfg and returns it with the
// largest entry a shard is sure to take.
func newStore(cfg Config, log *slog.Logger) (*bigcache.BigCache, int, error) {
	// Every shard must hold at least two of the largest entries.
	total := cfg.MaxMB << 20
	need := 2 * (cfg.MaxEntryBytes + headerSize + 1024)
	shards := 256
	for shards > 1 && total/shards < need {
		shards /= 2
	}
	if total/shards < need {
		return nil, 0, fmt.Errorf("cache: %d MB cannot hold two entries of %d bytes; raise the cache size or lower the body limit",
			cfg.MaxMB, cfg.MaxEntryBytes)
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
		return nil, 0, fmt.Errorf("cache: creating store: %w", err)
	}
	return store, total / shards / 2, nil
}

// put stores e under key and reports whether it did: not when the upstream
// forbids it, nor when the policy keeps it for no time (a no-cache answer
// is kept, to be revalidated). The hot set takes it when it holds the key
// already or popular says so; a key fetched for the first time gets there
// when it is asked for again.
func (c *Cache) put(key string, e *Entry, popular bool) bool {
	if e.flags&flagNoStore != 0 || !e.FreshUntil.After(e.Stored) && !e.NoCache() {
		return false
	}
	// bigcache empties a whole shard trying to make room for an entry that
	// cannot fit, so a larger answer is served but not stored.
	if buf := encode(e); len(key)+len(buf)+storeOverhead > c.maxStored {
		c.log.Warn("answer not cached: larger than the store keeps", "key", key, "bytes", len(e.Body))
		return false
	} else if err := c.store.Set(key, buf); err != nil {
		c.log.Warn("answer not cached", "key", key, "bytes", len(e.Body), "err", err)
		return false
	}
	c.hot.put(key, e, c.now(), popular)
	return true
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
