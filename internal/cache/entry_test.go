package cache

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	stored := time.Date(2026, 3, 2, 11, 30, 0, 123456789, time.UTC)
	entries := []*Entry{
		{
			Status: 200, Body: []byte(`{"restaurants":[{"identifier":"dufva","name":"Sven Dufva"}]}`),
			Stored: stored, FreshUntil: stored.Add(10 * time.Second),
			RevalidateUntil: stored.Add(20 * time.Second), ErrorUntil: stored.Add(10 * time.Minute),
		},
		{
			Status: 404, Body: []byte(`{"detail":"Restaurant not found"}`),
			Stored: stored, FreshUntil: stored.Add(time.Second), RevalidateUntil: stored.Add(time.Second), ErrorUntil: stored.Add(time.Second),
		},
		{Status: 200, Body: []byte{}, Stored: stored, FreshUntil: stored, RevalidateUntil: stored, ErrorUntil: stored},
		{Status: 200, Body: []byte("\x00\xff binary \r\n"), Stored: time.Unix(0, 1), FreshUntil: time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Status: 200, Body: bytes.Repeat([]byte("Pannbiff med lök. "), 10000), Stored: stored},
	}
	for i, e := range entries {
		e.ETag = ETagOf(e.Body)
		var got Entry
		if err := decode(encode(e), &got); err != nil {
			t.Fatalf("entry %d: decode(encode(e)): %v", i, err)
		}
		if got.Status != e.Status || got.ETag != e.ETag || !bytes.Equal(got.Body, e.Body) {
			t.Errorf("entry %d: round trip gave status %d etag %s body %d bytes; want %d %s %d bytes",
				i, got.Status, got.ETag, len(got.Body), e.Status, e.ETag, len(e.Body))
		}
		if want := strconv.Itoa(len(e.Body)); got.Length != want {
			t.Errorf("entry %d: Length %q, want %q", i, got.Length, want)
		}
		for _, p := range []struct {
			name      string
			got, want time.Time
		}{
			{"Stored", got.Stored, e.Stored},
			{"FreshUntil", got.FreshUntil, e.FreshUntil},
			{"RevalidateUntil", got.RevalidateUntil, e.RevalidateUntil},
			{"ErrorUntil", got.ErrorUntil, e.ErrorUntil},
		} {
			if e.Stored.IsZero() || p.want.IsZero() {
				continue
			}
			if !p.got.Equal(p.want) {
				t.Errorf("entry %d: %s = %v, want %v", i, p.name, p.got, p.want)
			}
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := encode(&Entry{Status: 200, Body: []byte(`{}`), ETag: ETagOf([]byte(`{}`)), Stored: time.Unix(1, 0)})
	bad := map[string][]byte{
		"nil":                 nil,
		"empty":               {},
		"one byte":            {1},
		"header minus one":    good[:headerSize-1],
		"etag cut":            good[:headerSize+2],
		"etag longer than it": append(append([]byte{}, good[:headerSize-2]...), 255, 0, 'x'),
		"body cut":            good[:len(good)-1],
		"body grown":          append(append([]byte{}, good...), '}'),
		"bare header":         make([]byte, headerSize),
	}
	for name, buf := range bad {
		var e Entry
		err := decode(buf, &e)
		if err == nil {
			t.Errorf("%s: decode accepted %d bytes", name, len(buf))
			continue
		}
		if !errors.Is(err, errCorrupt) {
			t.Errorf("%s: error %v does not wrap errCorrupt", name, err)
		}
	}
	// An empty body is an entry all the same.
	var e Entry
	if err := decode(encode(&Entry{Status: 200}), &e); err != nil || len(e.Body) != 0 || e.Length != "0" {
		t.Errorf("decode of an entry with no body = status %d, body %q, length %q, %v", e.Status, e.Body, e.Length, err)
	}
}

func TestETagOf(t *testing.T) {
	a1 := ETagOf([]byte(`{"menu":[{"dish":"Fisk"}]}`))
	a2 := ETagOf([]byte(`{"menu":[{"dish":"Fisk"}]}`))
	b := ETagOf([]byte(`{"menu":[{"dish":"Kött"}]}`))
	empty := ETagOf(nil)
	if a1 != a2 {
		t.Errorf("equal bodies got ETags %s and %s", a1, a2)
	}
	if a1 == b {
		t.Errorf("different bodies share ETag %s", a1)
	}
	if empty == a1 || empty != ETagOf([]byte{}) {
		t.Errorf("ETag of an empty body %s", empty)
	}
	for _, tag := range []string{a1, b, empty} {
		if len(tag) < 3 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || strings.HasPrefix(tag, `W/`) {
			t.Errorf("ETag %s is not a quoted strong validator", tag)
		}
		if strings.ContainsAny(tag[1:len(tag)-1], "\" \t\r\n,") {
			t.Errorf("ETag %s holds characters an entity tag may not", tag)
		}
		if len(tag) > 255 {
			t.Errorf("ETag %s too long to encode", tag)
		}
	}
}

func TestEntryFreshness(t *testing.T) {
	stored := time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC)
	p := Policy{TTL: 10 * time.Second, NegativeTTL: 2 * time.Second, StaleWhileRevalidate: 30 * time.Second, StaleIfError: time.Minute}
	e := p.Entry(200, []byte(`{}`), nil, stored)
	tests := []struct {
		at    time.Duration
		fresh bool
		age   int64
	}{
		{-time.Second, true, 0},
		{0, true, 0},
		{900 * time.Millisecond, true, 0},
		{9999 * time.Millisecond, true, 9},
		{10 * time.Second, false, 10},
		{time.Hour, false, 3600},
	}
	for _, tt := range tests {
		now := stored.Add(tt.at)
		if got := e.Fresh(now); got != tt.fresh {
			t.Errorf("Fresh at +%v = %v, want %v", tt.at, got, tt.fresh)
		}
		if got := e.Age(now); got != tt.age {
			t.Errorf("Age at +%v = %d, want %d", tt.at, got, tt.age)
		}
	}
	if e.MaxAge != 10*time.Second || !e.StaleUntil().Equal(stored.Add(70*time.Second)) || e.Date != "Mon, 02 Mar 2026 11:30:00 GMT" {
		t.Errorf("200: MaxAge %s, StaleUntil %v, Date %q", e.MaxAge, e.StaleUntil(), e.Date)
	}
	n := p.Entry(404, []byte(`{}`), nil, stored)
	if n.MaxAge != 2*time.Second || !n.StaleUntil().Equal(stored.Add(2*time.Second)) {
		t.Errorf("404: MaxAge %s, StaleUntil %v; want the negative TTL and no stale window", n.MaxAge, n.StaleUntil())
	}
	if got := p.Life(); got != 70*time.Second {
		t.Errorf("Life = %s, want 70s", got)
	}
	d := new(Entry)
	if err := decode(encode(e), d); err != nil || d.MaxAge != e.MaxAge || d.Date != e.Date {
		t.Errorf("decoded entry: %v, MaxAge %s Date %q; want those of the original", err, d.MaxAge, d.Date)
	}
}
