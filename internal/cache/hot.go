package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// The hot set's size: keys, and the largest body it holds. At most
// hotKeys*hotMaxBody bytes (4 MiB) of bodies stay reachable from it.
const (
	hotKeys    = 256
	hotMaxBody = 16 << 10
)

// hotSweepEvery is how often a full hot set may look for entries past
// every window to make room, so that a set full of live keys costs a
// popular newcomer no more than a load of the map.
const hotSweepEvery = time.Second

// hotSet holds the decoded entries of popular keys in front of the store.
// bigcache copies an entry out on every read; a hit found here costs no
// copy, no decoding and no allocation. It is a map read through an atomic
// pointer and replaced whole on every change, so readers never lock: keys
// change once per key and TTL, reads happen on every request. Every key it
// has room for keeps the fast path, and for each key the newest entry (by
// Stored) wins, whatever order readers and fetches put them in. Entries
// are immutable, so readers share them.
type hotSet struct {
	m       atomic.Pointer[map[string]*Entry]
	mu      sync.Mutex // serialises the writers
	sweptAt atomic.Int64
}

func newHotSet() *hotSet {
	h := &hotSet{}
	m := make(map[string]*Entry)
	h.m.Store(&m)
	return h
}

// get returns the entry held for key, or nil.
func (h *hotSet) get(key string) *Entry { return (*h.m.Load())[key] }

// put holds e for key if the key is held already, or if admit is true and
// there is room. An older entry never replaces a newer one. A body too
// large for the set drops the key from it. When the set is full, entries
// past every window of their policy make room, at most once per
// hotSweepEvery.
func (h *hotSet) put(key string, e *Entry, now time.Time, admit bool) {
	cur := *h.m.Load()
	if _, held := cur[key]; !held && (!admit || len(e.Body) > hotMaxBody ||
		len(cur) >= hotKeys && now.UnixNano()-h.sweptAt.Load() < int64(hotSweepEvery)) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur = *h.m.Load()
	old, held := cur[key]
	switch {
	case held && old.Stored.After(e.Stored):
		return
	case len(e.Body) > hotMaxBody:
		if held {
			h.replace(cur, key, nil, now)
		}
	case held || admit:
		h.replace(cur, key, e, now)
	}
}

// replace installs a copy of cur with key set to e (or removed when e is
// nil); h.mu is held. A new key that finds the set full sweeps it first and
// is left out when that frees no room.
func (h *hotSet) replace(cur map[string]*Entry, key string, e *Entry, now time.Time) {
	_, held := cur[key]
	next := make(map[string]*Entry, len(cur)+1)
	full := !held && len(cur) >= hotKeys
	if full {
		h.sweptAt.Store(now.UnixNano())
	}
	for k, v := range cur {
		if full && !now.Before(v.StaleUntil()) {
			continue
		}
		next[k] = v
	}
	if e == nil {
		delete(next, key)
	} else if len(next) < hotKeys || held {
		next[key] = e
	}
	if len(next) == len(cur) && !held && e != nil {
		return // full of live keys: nothing changes
	}
	h.m.Store(&next)
}

// len is the number of keys held.
func (h *hotSet) len() int { return len(*h.m.Load()) }

// remove drops key from the set.
func (h *hotSet) remove(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := *h.m.Load()
	if _, held := cur[key]; !held {
		return
	}
	next := make(map[string]*Entry, len(cur))
	for k, v := range cur {
		if k != key {
			next[k] = v
		}
	}
	h.m.Store(&next)
}

// reset drops every key.
func (h *hotSet) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := make(map[string]*Entry)
	h.m.Store(&next)
}
