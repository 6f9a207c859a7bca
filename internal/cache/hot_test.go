package cache

import (
	"strconv"
	"testing"
)

func TestHotSet(t *testing.T) {
	h := newHotSet()
	small := &Entry{Body: []byte(`{"v":1}`)}
	if h.get("a") != nil {
		t.Fatal("empty set answered")
	}
	h.put("a", small)
	if h.get("a") != small {
		t.Fatal("entry not held")
	}
	newer := &Entry{Body: []byte(`{"v":2}`)}
	h.put("a", newer)
	if h.get("a") != newer {
		t.Fatal("newer entry did not replace the older one")
	}
	large := &Entry{Body: make([]byte, hotMaxBody+1)}
	h.put("a", large)
	if got := h.get("a"); got != nil {
		t.Fatalf("after a large entry the set still answers %q", got.Body)
	}
	// Keys sharing a slot replace each other, never answer for each other.
	for i := range 4 * hotSlots {
		k := strconv.Itoa(i)
		h.put(k, &Entry{Body: []byte(k)})
		if got := h.get(k); got == nil || string(got.Body) != k {
			t.Fatalf("key %s answered %v", k, got)
		}
	}
	for i := range 4 * hotSlots {
		k := strconv.Itoa(i)
		if got := h.get(k); got != nil && string(got.Body) != k {
			t.Fatalf("key %s answered another key's body %q", k, got.Body)
		}
	}
}
