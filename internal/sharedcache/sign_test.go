package sharedcache

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

var (
	keyNow  = []byte("the-current-signing-key-32-bytes!")
	keyOld  = []byte("the-previous-signing-key-32-bytes")
	keyEvil = []byte("a-key-the-relays-never-held-32by!")
)

func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner(keyNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleStored() Stored {
	at := time.UnixMilli(time.Now().Add(-2 * time.Second).UnixMilli())
	return Stored{
		Status: 200, Body: []byte(`{"restaurant":{"title":"Sven Dufva"}}`), At: at, FreshUntil: at.Add(10 * time.Second),
		Header: http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"v1"`}, "Date": {"Mon, 07 Dec 2026 12:00:00 GMT"}},
	}
}

// wire is an entry as HMGET returns it: entryFields, then the MAC.
func wire(fields []string, mac any) []any {
	vals := make([]any, 0, len(fields)+1)
	for _, f := range fields {
		vals = append(vals, f)
	}
	return append(vals, mac)
}

func reason(err error) string {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

func TestSignedEntryRoundTrips(t *testing.T) {
	s := testSigner(t)
	st := sampleStored()
	fields := entryWire(st)
	got, present, err := readSigned(s, "restaurant/dufva", wire(fields, s.Sign("restaurant/dufva", fields)), time.Now())
	if err != nil || !present {
		t.Fatalf("readSigned = %v, %v", present, err)
	}
	if got.Status != st.Status || !bytes.Equal(got.Body, st.Body) || !got.At.Equal(st.At) || !got.FreshUntil.Equal(st.FreshUntil) ||
		!reflect.DeepEqual(got.Header, st.Header) {
		t.Fatalf("round trip: got %+v, want %+v", got, st)
	}
	if _, present, err := readSigned(s, "restaurant/dufva", wire(make([]string, len(entryFields)), nil)[:0:0], time.Now()); err == nil && present {
		t.Fatal("a reply of the wrong length is accepted")
	}
	none := make([]any, len(entryFields)+1)
	if _, present, err := readSigned(s, "restaurant/dufva", none, time.Now()); present || err != nil {
		t.Fatalf("no entry = %v, %v; want absent, no error", present, err)
	}
}

// TestEveryFieldIsSigned changes each stored field, the key and the MAC in
// turn: every change is rejected.
func TestEveryFieldIsSigned(t *testing.T) {
	s := testSigner(t)
	const key = "restaurant/dufva"
	fields := entryWire(sampleStored())
	mac := s.Sign(key, fields)
	if n := reflect.TypeFor[Stored]().NumField(); n != len(entryFields) {
		t.Fatalf("Stored has %d fields and %d are stored and signed: encode the new field in entryFields and entryWire", n, len(entryFields))
	}
	for i := range fields {
		changed := append([]string(nil), fields...)
		changed[i] += "x"
		if err := s.Verify(key, changed, mac); reason(err) != RejectBadMAC {
			t.Errorf("field %s changed: %v, want bad_mac", entryFields[i], err)
		}
	}
	// Moving bytes from one field to the next changes the encoding too.
	shifted := append([]string(nil), fields...)
	shifted[3], shifted[4] = shifted[3]+shifted[4][:1], shifted[4][1:]
	if err := s.Verify(key, shifted, mac); reason(err) != RejectBadMAC {
		t.Errorf("bytes moved between fields: %v, want bad_mac", err)
	}
	if err := s.Verify("restaurant/other", fields, mac); reason(err) != RejectBadMAC {
		t.Errorf("another key: %v, want bad_mac", err)
	}
	evil, _ := NewSigner(keyEvil, nil)
	if err := s.Verify(key, fields, evil.Sign(key, fields)); reason(err) != RejectBadMAC {
		t.Errorf("signed with another key: %v, want bad_mac", err)
	}
	for _, m := range []string{"", "v1.", "v2." + mac[3:], mac[:len(mac)-2], mac + "AA", "v1.!!!!", strings.ToUpper(mac)} {
		if err := s.Verify(key, fields, m); err == nil {
			t.Errorf("MAC %q accepted", m)
		}
	}
}

func TestRotationAcceptsThePreviousKey(t *testing.T) {
	const key = "restaurant/dufva"
	fields := entryWire(sampleStored())
	old, _ := NewSigner(keyOld, nil)
	rotating, err := NewSigner(keyNow, keyOld)
	if err != nil {
		t.Fatal(err)
	}
	if err := rotating.Verify(key, fields, old.Sign(key, fields)); err != nil {
		t.Fatalf("an entry of the previous key during the rotation: %v", err)
	}
	if !strings.HasPrefix(rotating.Sign(key, fields), "v1.") || rotating.Sign(key, fields) == old.Sign(key, fields) {
		t.Fatal("the rotating signer does not sign with the current key")
	}
	done := testSigner(t)
	if err := done.Verify(key, fields, old.Sign(key, fields)); reason(err) != RejectBadMAC {
		t.Fatalf("an entry of the previous key after the rotation: %v, want bad_mac", err)
	}
	for _, k := range [][2][]byte{{[]byte("short"), nil}, {keyNow, []byte("short")}} {
		if _, err := NewSigner(k[0], k[1]); err == nil {
			t.Errorf("NewSigner(%q, %q) accepted a short key", k[0], k[1])
		}
	}
}

func TestFutureAndMalformedEntries(t *testing.T) {
	s := testSigner(t)
	const key = "restaurant/dufva"
	future := sampleStored()
	future.At = time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	fields := entryWire(future)
	if _, _, err := readSigned(s, key, wire(fields, s.Sign(key, fields)), time.Now()); reason(err) != RejectFuture {
		t.Fatalf("signed entry fetched an hour ahead: %v, want future", err)
	}
	bad := entryWire(sampleStored())
	bad[0] = "2000"
	if _, _, err := readSigned(s, key, wire(bad, s.Sign(key, bad)), time.Now()); reason(err) != RejectMalformed {
		t.Fatalf("signed entry with status 2000: %v, want malformed", err)
	}
	unsigned := entryWire(sampleStored())
	if _, present, err := readSigned(s, key, wire(unsigned, nil), time.Now()); !present || reason(err) != RejectMalformed {
		t.Fatalf("unsigned entry: %v, %v; want malformed", present, err)
	}
}

// FuzzDecodeEntry reads any bytes in any field of an entry: it never
// panics, and accepts nothing that was not signed with the relays' key.
func FuzzDecodeEntry(f *testing.F) {
	s, _ := NewSigner(keyNow, keyOld)
	st := sampleStored()
	fields := entryWire(st)
	f.Add("restaurant/dufva", fields[0], fields[1], fields[2], fields[3], fields[4], s.Sign("restaurant/dufva", fields), false)
	f.Add("restaurant/dufva", fields[0], fields[1], fields[2], fields[3], fields[4], s.Sign("restaurant/dufva", fields), true)
	f.Add("", "", "", "", "", "", "", false)
	f.Add("k", "200", "-1", "99999999999999999999", "Etag: x\n\n: \n", "\x00", "v1.AAAA", true)
	f.Fuzz(func(t *testing.T, key, status, at, fu, header, body, mac string, resign bool) {
		in := []string{status, at, fu, header, body}
		if resign {
			// Signed by someone without the key: never accepted.
			evil, _ := NewSigner(keyEvil, nil)
			mac = evil.Sign(key, in)
		}
		got, present, err := readSigned(s, key, wire(in, mac), time.Now())
		if err == nil && present {
			want := s.Sign(key, in)
			if s.Verify(key, in, mac) != nil || (mac != want && !signedWith(keyOld, key, in, mac)) {
				t.Fatalf("accepted an entry not signed with the relays' keys: %q", in)
			}
			if got.Status < 100 || got.Status > 599 {
				t.Fatalf("accepted status %d", got.Status)
			}
		}
		// Whatever was read, a nil field anywhere is never a panic.
		for i := range len(entryFields) + 1 {
			vals := wire(in, mac)
			vals[i] = nil
			_, _, _ = readSigned(s, key, vals, time.Now())
		}
	})
}

func signedWith(k []byte, key string, fields []string, mac string) bool {
	s, err := NewSigner(k, nil)
	return err == nil && s.Sign(key, fields) == mac
}

// recorder is a TierObserver that remembers rejections.
type recorder struct {
	nopObserver
	mu      sync.Mutex
	rejects []string
	lookups []string
}

func (r *recorder) SharedRejected(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejects = append(r.rejects, reason)
}

func (r *recorder) SharedLookup(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups = append(r.lookups, result)
}

// TestTierServesOnlySignedEntries stores through one relay's tier and
// forges entries beside it with plain commands, on a real redis-server.
func TestTierServesOnlySignedEntries(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	obs := &recorder{}
	open := func(signer *Signer, o TierObserver) *Tier {
		tier, err := Open(t.Context(), Config{URL: srv.URL(), Namespace: "signtest", Timeout: time.Second, Signer: signer, Observer: o,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))}, Budget{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tier.Close() })
		return tier
	}
	writer := open(testSigner(t), nil)
	reader := open(testSigner(t), obs)
	ctx := t.Context()
	const key = "restaurant/dufva"
	st := sampleStored()
	claim, err := writer.Claim(ctx, key, ClaimRequest{Kind: guard.First, Lease: 5 * time.Second})
	if err != nil || claim.Grant != Granted {
		t.Fatalf("Claim = %+v, %v", claim, err)
	}
	if err := writer.Store(ctx, key, claim, st, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := reader.Get(ctx, key)
	if err != nil || !ok || !bytes.Equal(got.Body, st.Body) {
		t.Fatalf("Get of a signed entry = %q, %v, %v", got.Body, ok, err)
	}

	// The attack of the issue: a body written beside the relays.
	entry := "restaurants:signtest:e:" + key
	if r, err := srv.Do("HSET", entry, "b", `{"menu":[{"dish":"<script>alert(1)</script> FORGED"}]}`); err != nil || !strings.HasPrefix(r, ":") {
		t.Fatalf("HSET: %q, %v", r, err)
	}
	if got, ok, err := reader.Get(ctx, key); ok || err != nil || got.Body != nil {
		t.Fatalf("Get of a forged body = %q, %v, %v; want a miss", got.Body, ok, err)
	}
	if r, _ := srv.Do("EXISTS", entry); r != ":0" {
		t.Errorf("the rejected entry is still there (EXISTS = %s)", r)
	}
	// A whole entry signed with another key, and one claiming a fetch in
	// the future, written as a relay would.
	for _, c := range []struct {
		signer *Signer
		at     time.Time
		want   string
	}{
		{mustSigner(t, keyEvil), st.At, RejectBadMAC},
		{testSigner(t), time.Now().Add(24 * time.Hour), RejectFuture},
	} {
		forged := st
		forged.At = time.UnixMilli(c.at.UnixMilli())
		f := entryWire(forged)
		if _, err := srv.Do("HSET", entry, "s", f[0], "at", f[1], "fu", f[2], "h", f[3], "b", f[4], "m", c.signer.Sign(key, f)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := reader.Get(ctx, key); ok || err != nil {
			t.Fatalf("Get of an entry to reject for %s = %v, %v; want a miss", c.want, ok, err)
		}
	}
	obs.mu.Lock()
	rejects := append([]string(nil), obs.rejects...)
	obs.mu.Unlock()
	if want := []string{RejectBadMAC, RejectBadMAC, RejectFuture}; !slicesEqual(rejects, want) {
		t.Fatalf("rejections counted %v, want %v", rejects, want)
	}
	// Logged once per change: bad_mac twice in a row is one line.
	if n := strings.Count(logs.String(), "shared cache entry rejected"); n != 2 {
		t.Fatalf("%d rejection lines, want 2 (bad_mac, then future):\n%s", n, logs.String())
	}
}

func mustSigner(t *testing.T, k []byte) *Signer {
	t.Helper()
	s, err := NewSigner(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}
