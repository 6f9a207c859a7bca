package cache

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func hotEntry(body string, stored time.Time) *Entry {
	p := Policy{TTL: 10 * time.Second, StaleIfError: time.Minute}
	return p.Entry(200, []byte(body), nil, stored)
}

func TestHotSetNewestWins(t *testing.T) {
	h := newHotSet()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if h.get("a") != nil {
		t.Fatal("empty set answered")
	}
	older, newer := hotEntry(`{"v":1}`, now), hotEntry(`{"v":2}`, now.Add(time.Second))
	h.put("a", newer, now, false)
	if h.get("a") != nil {
		t.Fatal("a key not admitted is held")
	}
	h.put("a", newer, now, true)
	if h.get("a") != newer {
		t.Fatal("admitted entry not held")
	}
	// An older copy read from the store after a refresh stored the newer
	// one must not replace it.
	h.put("a", older, now, true)
	if h.get("a") != newer {
		t.Fatal("an older entry replaced a newer one")
	}
	newest := hotEntry(`{"v":3}`, now.Add(2*time.Second))
	h.put("a", newest, now, false) // a refresh of a held key needs no admission
	if h.get("a") != newest {
		t.Fatal("a newer entry did not replace the held one")
	}
	large := hotEntry(string(make([]byte, hotMaxBody+1)), now.Add(3*time.Second))
	h.put("a", large, now, true)
	if got := h.get("a"); got != nil {
		t.Fatalf("after a large entry the set still answers %d bytes", len(got.Body))
	}
}

// Every key the set has room for keeps the fast path, whatever keys
// share: with the earlier direct-mapped slots, two of 13 keys collided in
// about one process in four and pushed each other out on every request.
func TestHotSetKeepsEveryKey(t *testing.T) {
	h := newHotSet()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for round := range 3 {
		for i := range hotKeys {
			k := "restaurant/" + strconv.Itoa(i)
			h.put(k, hotEntry(k, now.Add(time.Duration(round)*time.Second)), now, true)
		}
	}
	for i := range hotKeys {
		k := "restaurant/" + strconv.Itoa(i)
		if got := h.get(k); got == nil || string(got.Body) != k {
			t.Fatalf("key %s lost its place: %v", k, got)
		}
	}
	// Full of live keys: a newcomer waits; the held keys stay.
	h.put("newcomer", hotEntry("n", now), now, true)
	if h.get("newcomer") != nil || h.len() != hotKeys {
		t.Fatalf("a full set took a newcomer over a live key (%d keys)", h.len())
	}
	// Once entries are past every window, a newcomer takes the room they
	// leave (after the sweep interval).
	later := now.Add(2 * time.Minute)
	h.put("newcomer", hotEntry("n", later), later, true)
	if h.get("newcomer") == nil || h.len() != 1 {
		t.Fatalf("expired entries kept the newcomer out: %d keys", h.len())
	}
}

func TestHotSetConcurrentReadersAndWriters(t *testing.T) {
	h := newHotSet()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := strconv.Itoa(i % 20)
				h.put(k, hotEntry(k, now.Add(time.Duration(w*1000+i)*time.Millisecond)), now, true)
				if got := h.get(k); got == nil || string(got.Body) != k {
					t.Errorf("key %s answered %v", k, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
