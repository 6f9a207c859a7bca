package cache

import (
	"hash/maphash"
	"sync/atomic"
)

// The hot set's size: slots, and the largest body it holds. At most
// hotSlots*hotMaxBody bytes (4 MiB) of bodies stay reachable from it.
const (
	hotSlots   = 256
	hotMaxBody = 16 << 10
)

// hotSet is a small direct-mapped table of decoded entries in front of the
// store. bigcache copies an entry out on every read; a hit on a popular key
// found here costs no copy, no decoding and no allocation. Each slot holds
// the entry last stored or read for a key hashing to it; entries are
// immutable, so readers share them. It holds only entries given to the
// store, and the freshness checks are the same whichever answers.
type hotSet struct {
	seed  maphash.Seed
	slots [hotSlots]atomic.Pointer[hotEntry]
}

type hotEntry struct {
	key   string
	entry *Entry
}

func newHotSet() *hotSet { return &hotSet{seed: maphash.MakeSeed()} }

func (h *hotSet) slot(key string) *atomic.Pointer[hotEntry] {
	return &h.slots[maphash.String(h.seed, key)%hotSlots]
}

// get returns the entry held for key, or nil.
func (h *hotSet) get(key string) *Entry {
	if p := h.slot(key).Load(); p != nil && p.key == key {
		return p.entry
	}
	return nil
}

// put holds e for key, replacing whatever its slot held. A large body is
// left to the store alone, and an older entry of the same key is dropped.
func (h *hotSet) put(key string, e *Entry) {
	s := h.slot(key)
	if len(e.Body) <= hotMaxBody {
		s.Store(&hotEntry{key: key, entry: e})
		return
	}
	if p := s.Load(); p != nil && p.key == key {
		s.CompareAndSwap(p, nil)
	}
}
