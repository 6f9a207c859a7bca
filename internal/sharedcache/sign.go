package sharedcache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scilifelab/restaurants/internal/upstream"
)

// MinSigningKey is the shortest signing key accepted, in bytes.
const MinSigningKey = 32

// signVersion starts every signed encoding; a new encoding gets a new
// version, and a MAC of another version is rejected as malformed.
const signVersion = "restaurants-entry-v1"

// macField is the entry's hash field holding its MAC.
const macField = "m"

// macPrefix starts the stored MAC field, naming the encoding it covers.
const macPrefix = "v1."

// maxSkew is how far in the future an entry's fetch time may lie: the
// relays' clocks differ a little, never by this much.
const maxSkew = time.Minute

// The reasons an entry is rejected, as restaurants_shared_cache_rejected_total counts them.
const (
	// RejectBadMAC: the MAC is well formed but neither key made it.
	RejectBadMAC = "bad_mac"
	// RejectMalformed: no MAC, a MAC of another form, or fields that do not decode.
	RejectMalformed = "malformed"
	// RejectFuture: signed, but fetched later than now.
	RejectFuture = "future"
)

// Rejection is why an entry read from the engine is not served.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return "shared cache entry rejected: " + r.Reason }

// Signer signs what a relay writes to the engine and verifies what it
// reads, with a key only the relays hold: HMAC-SHA256 over a versioned,
// length-prefixed encoding of the cache key and every field stored. A
// previous key, during a rotation, is still accepted on reading.
type Signer struct {
	current, previous []byte
}

// NewSigner returns a Signer signing with current (at least MinSigningKey
// bytes) and accepting previous too when it is not empty.
func NewSigner(current, previous []byte) (*Signer, error) {
	if len(current) < MinSigningKey {
		return nil, fmt.Errorf("signing key: %d bytes, want at least %d", len(current), MinSigningKey)
	}
	if len(previous) > 0 && len(previous) < MinSigningKey {
		return nil, fmt.Errorf("previous signing key: %d bytes, want at least %d", len(previous), MinSigningKey)
	}
	s := &Signer{current: append([]byte(nil), current...)}
	if len(previous) > 0 {
		s.previous = append([]byte(nil), previous...)
	}
	return s, nil
}

// Sign returns the MAC field of an entry: fields are its stored fields in
// entryFields order, as written to the engine.
func (s *Signer) Sign(key string, fields []string) string {
	return macPrefix + base64.RawURLEncoding.EncodeToString(mac(s.current, key, fields))
}

// Verify checks an entry's MAC field against its key and stored fields, in
// constant time, with the current key and then the previous one.
func (s *Signer) Verify(key string, fields []string, field string) error {
	enc, ok := cutPrefix(field, macPrefix)
	if !ok {
		return &Rejection{RejectMalformed}
	}
	got, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(got) != sha256.Size {
		return &Rejection{RejectMalformed}
	}
	okCur := hmac.Equal(got, mac(s.current, key, fields))
	okPrev := s.previous != nil && hmac.Equal(got, mac(s.previous, key, fields))
	if !okCur && !okPrev {
		return &Rejection{RejectBadMAC}
	}
	return nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return "", false
	}
	return s[len(prefix):], true
}

// mac is HMAC-SHA256 under k of the version, the key, the number of fields
// and each field, every one of them prefixed with its length: no two
// different entries encode alike, whatever bytes they hold.
func mac(k []byte, key string, fields []string) []byte {
	h := hmac.New(sha256.New, k)
	writeField(h, signVersion)
	writeField(h, key)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(fields)))
	h.Write(n[:])
	for _, f := range fields {
		writeField(h, f)
	}
	return h.Sum(nil)
}

func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// readSigned verifies and decodes an entry read as entryFields followed by
// its MAC field; present is false when the engine holds no entry at all.
func readSigned(s *Signer, key string, vals []any, now time.Time) (st Stored, present bool, err error) {
	if len(vals) != len(entryFields)+1 {
		return Stored{}, true, &Rejection{RejectMalformed}
	}
	fields := make([]string, len(entryFields))
	whole := true
	for i, v := range vals {
		if v != nil {
			present = true
		}
		f, ok := v.(string)
		if i < len(fields) {
			fields[i], whole = f, whole && ok
		}
	}
	if !present {
		return Stored{}, false, nil
	}
	m, _ := vals[len(entryFields)].(string)
	if err := s.Verify(key, fields, m); err != nil {
		return Stored{}, true, err
	}
	st, ok := decodeEntry(vals[:len(entryFields)])
	if !whole || !ok {
		return Stored{}, true, &Rejection{RejectMalformed}
	}
	if st.At.After(now.Add(maxSkew)) {
		return Stored{}, true, &Rejection{RejectFuture}
	}
	return st, true, nil
}

// entryWire is an entry's stored fields, in entryFields order, as the
// store script writes them.
func entryWire(s Stored) []string {
	return []string{strconv.Itoa(s.Status), strconv.FormatInt(s.At.UnixMilli(), 10),
		strconv.FormatInt(s.FreshUntil.UnixMilli(), 10), upstream.EncodeHeader(s.Header), string(s.Body)}
}

// rejectLog logs a rejected entry once per change of its key's state
// (first rejection, another reason, accepted again), remembering a bounded
// number of keys.
type rejectLog struct {
	mu   sync.Mutex
	last map[string]string
}

const rejectLogKeys = 4096

func (r *rejectLog) note(log *slog.Logger, key, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason == "" {
		if _, ok := r.last[key]; ok {
			delete(r.last, key)
			log.Info("shared cache entry accepted again", "key", key)
		}
		return
	}
	if r.last[key] == reason {
		return
	}
	if r.last == nil || len(r.last) >= rejectLogKeys {
		r.last = make(map[string]string)
	}
	r.last[key] = reason
	log.Warn("shared cache entry rejected: not signed by the relays' key; fetching as on a miss", "key", key, "reason", reason)
}

// RejectObserver, when the tier's observer is one, counts rejected entries
// by reason.
type RejectObserver interface {
	SharedRejected(reason string)
}

// dropRejectedScript deletes an entry that failed verification, unless it
// changed since it was read (its MAC field is no longer the one read), so
// that a forged entry's fetch time cannot hold back the cluster's claims.
// KEYS: entry. ARGV: the MAC field read ("" for none).
var dropRejectedScript = redis.NewScript(`
local m = redis.call('HGET', KEYS[1], 'm') or ''
if m == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// reject counts, logs (once per change of the key's state) and drops an
// entry that failed verification; the caller answers a miss.
func (t *Tier) reject(ctx context.Context, key string, vals []any, err error) {
	reason := RejectMalformed
	var r *Rejection
	if errors.As(err, &r) {
		reason = r.Reason
	}
	if o, ok := t.obs.(RejectObserver); ok {
		o.SharedRejected(reason)
	}
	t.rejects.note(t.log, key, reason)
	m, _ := vals[len(vals)-1].(string)
	if err := dropRejectedScript.Run(ctx, t.client, []string{t.key("e:", key)}, m).Err(); err != nil {
		t.log.Debug("dropping a rejected shared cache entry", "key", key, "err", err)
	}
}
