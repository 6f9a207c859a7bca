package app

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/sharedcache"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// del sends DELETE to the relay's admin listener and returns the status
// and body.
func (r *peer) del(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, r.admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPurgeClearsThreeRelaysOnOneTier: a menu the upstream changed while
// the relays hold it fresh for an hour is served new by every relay right
// after one purge on one relay's admin listener, with one upstream call
// for the cluster; a purge of everything does the same for every key.
func TestPurgeClearsThreeRelaysOnOneTier(t *testing.T) {
	rs := redistest.Start(t)
	up := newOrigin(t)
	var version atomic.Int64
	version.Store(1)
	up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = fmt.Fprintf(w, `{"path":%q,"version":%d}`, r.URL.Path, version.Load())
	})
	relays := []*peer{startRelay(t, up, rs.URL()), startRelay(t, up, rs.URL()), startRelay(t, up, rs.URL())}
	// Every relay listens for purges before one is sent: a probe published
	// on the tier's purge channel (no key's) reaches all three.
	base, err := upstream.ParseBase(up.srv.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	purges := "restaurants:" + sharedcache.Namespace(base.String()) + ":purge"
	waitUntil(t, "three relays listening for purges", 10*time.Second, func() bool {
		reply, err := rs.Do("PUBLISH", purges, "probe")
		return err == nil && reply == ":3"
	})
	want := func(v int) string { return fmt.Sprintf(`{"path":"/api/restaurant/dufva","version":%d}`, v) }
	for i, r := range relays {
		if code, _, body := r.get(t, "/restaurant/dufva"); code != 200 || body != want(1) {
			t.Fatalf("relay %d: %d %q", i, code, body)
		}
	}
	version.Store(2)
	for i, r := range relays {
		if _, xc, body := r.get(t, "/restaurant/dufva"); xc != "HIT" || body != want(1) {
			t.Fatalf("relay %d before the purge: %s %q, want the held copy", i, xc, body)
		}
	}
	if code, body := relays[0].del(t, "/cache/restaurant/dufva"); code != 200 || body != "{\"purged\":\"/restaurant/dufva\"}\n" {
		t.Fatalf("purge: %d %q", code, body)
	}
	for i, r := range relays {
		waitUntil(t, fmt.Sprintf("relay %d to serve the new menu", i), 5*time.Second, func() bool {
			_, _, body := r.get(t, "/restaurant/dufva")
			return body == want(2)
		})
	}
	if n := up.callsFor("/api/restaurant/dufva"); n != 2 {
		t.Errorf("upstream called %d times for the key, want 2: the first fill and one after the purge for the cluster", n)
	}
	if n := relays[0].counter(t, "restaurants_purges_total", "scope", "key"); n != 1 {
		t.Errorf("purges counted %v, want 1", n)
	}

	relays[1].get(t, "/restaurant")
	version.Store(3)
	if code, _ := relays[2].del(t, "/cache"); code != 200 {
		t.Fatalf("purge of everything: %d", code)
	}
	for i, r := range relays {
		waitUntil(t, fmt.Sprintf("relay %d to serve the newest menu", i), 5*time.Second, func() bool {
			_, _, body := r.get(t, "/restaurant/dufva")
			return body == want(3)
		})
	}
	if n := up.callsFor("/api/restaurant"); n != 1 {
		t.Errorf("the list was fetched %d times before any request after the purge, want 1", n)
	}
}
