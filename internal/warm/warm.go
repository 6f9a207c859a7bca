// Package warm keeps the relay's answers to the lunch-menu API fresh ahead
// of their expiry: the restaurant list and every restaurant it names, so
// that the first user of the day waits for nobody. Its refreshes go through
// the cache like a user's would: coalesced with requests, conditional
// (a 304 renews a copy), inside the upstream call budget, refreshes of
// known keys first, and once per key for a whole cluster with a shared
// tier.
package warm

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/menu"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// ListPath is the path of the restaurant list, which names every restaurant.
const ListPath = "/restaurant"

// Cache is what the warmer asks of the relay's cache.
type Cache interface {
	// Peek returns the entry held for t, without fetching.
	Peek(t upstream.Target) *cache.Entry
	// Warm refreshes t in the background when it is missing or its
	// freshness ends within ahead, and reports whether it did.
	Warm(t upstream.Target, ahead time.Duration) bool
}

// Warmer keeps the list and its restaurants fresh.
type Warmer struct {
	cache Cache
	every time.Duration
	ahead time.Duration
	log   *slog.Logger
}

// Config sets up a Warmer.
type Config struct {
	// Every is how often the warmer looks at the keys; zero means 5 s.
	Every time.Duration
	// Ahead is how long before an answer's expiry it is refreshed; zero
	// means a tenth of its lifetime, at least 1 s and at most a minute.
	Ahead time.Duration
	// Logger reports what the warmer starts, at debug level; nil discards.
	Logger *slog.Logger
}

// New returns a warmer of c.
func New(c Cache, cfg Config) *Warmer {
	w := &Warmer{cache: c, every: cfg.Every, ahead: cfg.Ahead, log: cfg.Logger}
	if w.every <= 0 {
		w.every = 5 * time.Second
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w
}

// Run warms until ctx ends, first at once.
func (w *Warmer) Run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.Once()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once looks at every key once and starts the refreshes that are due; it
// returns how many it started. The list comes first: its body names the
// restaurants.
func (w *Warmer) Once() int {
	list := target(ListPath)
	started := 0
	if w.warm(list) {
		started++
	}
	e := w.cache.Peek(list)
	if e == nil || e.Status != http.StatusOK {
		return started
	}
	var l menu.RestaurantList
	if err := json.Unmarshal(e.Body, &l); err != nil {
		w.log.Debug("warming: the list cannot be read", "err", err)
		return started
	}
	for _, r := range l.Restaurants {
		if r.Identifier == "" {
			continue
		}
		t, err := upstream.ParseTarget(ListPath+"/"+url.PathEscape(r.Identifier), "")
		if err != nil {
			continue
		}
		if w.warm(t) {
			started++
		}
	}
	return started
}

// warm refreshes t when it is due.
func (w *Warmer) warm(t upstream.Target) bool {
	ahead := w.ahead
	if ahead <= 0 {
		ahead = time.Second
		if e := w.cache.Peek(t); e != nil {
			ahead = min(max(e.MaxAge/10, time.Second), time.Minute)
		}
	}
	if !w.cache.Warm(t, ahead) {
		return false
	}
	w.log.Debug("warming", "key", t.Key())
	return true
}

// target parses a path known to be valid.
func target(path string) upstream.Target {
	t, err := upstream.ParseTarget(path, "")
	if err != nil {
		panic("warm: " + path + ": " + err.Error())
	}
	return t
}
