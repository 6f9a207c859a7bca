// Package sharedcache is the relay's second cache tier, on Valkey or Redis,
// shared by every relay of a deployment: answers fetched by one relay are
// served by all, one relay in the whole cluster fetches a key at a time
// (a lease per key, taken with SET NX PX and a random token, released by
// compare-and-delete), the others wait for its answer on a pub/sub channel,
// the upstream's 429 pauses, the per-key back-off after failures and the
// call budget are counted here for the cluster, and a purge drops a key from
// the tier and, through a second channel, from every relay's memory.
//
// It fails open: every operation has a short timeout, and while the engine
// does not answer the tier reports itself unavailable, so that each relay
// works alone, until a background ping finds the engine again.
package sharedcache

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// Config sets up a Tier.
type Config struct {
	// URL is the engine's address: redis://[user:password@]host:port[/db],
	// or rediss:// for TLS.
	URL string
	// Password, when set, overrides the URL's password.
	Password string
	// CAFile, for a rediss:// URL, is a PEM file of the CAs the engine's
	// certificate must chain to; empty: the system's.
	CAFile string
	// Signer signs the entries this relay stores and verifies those it
	// reads: anything else in the engine is a miss. Required.
	Signer *Signer
	// MaxBackoff bounds a key's back-off read from the engine (the relays'
	// --upstream-backoff-max); zero: a minute.
	MaxBackoff time.Duration
	// Namespace separates the keys of relays of different upstreams in one
	// engine; relays with the same Namespace share their answers.
	Namespace string
	// Timeout bounds every operation.
	Timeout time.Duration
	// Observer is told of lookups, errors, waits and state changes; nil
	// tells nobody.
	Observer TierObserver
	// Logger reports the engine going down and coming back, once per change;
	// nil discards.
	Logger *slog.Logger
	// Instrument, when set, is given the engine's client before its first
	// use, to add hooks (tracing).
	Instrument func(*redis.Client) error
}

// TierObserver is told what the tier does, for the relay's metrics.
type TierObserver interface {
	// SharedLookup counts a read: hit, stale, miss or error.
	SharedLookup(result string)
	// SharedError counts a failed operation, by name.
	SharedError(op string)
	// SharedLeaseWait counts a wait for another relay's fetch.
	SharedLeaseWait()
	// SharedLeaseLost counts a fetch whose lease ran out before it stored.
	SharedLeaseLost()
	// SharedUp records whether the engine answers.
	SharedUp(up bool)
}

// Stored is an answer as the tier keeps it: what each relay needs to rebuild
// the entry under its own policy.
type Stored struct {
	Status int
	Body   []byte
	// At is when the answer's age was zero: its fetch (or its last
	// revalidation) less the age it came with.
	At time.Time
	// FreshUntil is when the answer stops being fresh, as the relay that
	// stored it judged: a claim finds it fresher than the caller's copy
	// until then.
	FreshUntil time.Time
	// Header holds the upstream's cache header fields of the answer
	// (Cache-Control, Expires, Date, ETag, Last-Modified).
	Header http.Header
}

// Grant is the tier's answer to a Claim. Its values are the claim
// script's return codes on the wire, each written out: they are the
// protocol between relays of different versions, and the script is built
// from them (claimSource).
type Grant int

// The grants of a claim.
const (
	// Granted: this relay holds the key's lease and fetches for the cluster.
	Granted Grant = 0
	// Fresher: the tier holds an answer newer than the caller's and fresh.
	Fresher Grant = 1
	// Held: another relay holds the lease; wait for its answer.
	Held Grant = 2
	// Paused: a 429 pause is in force for the cluster.
	Paused Grant = 3
	// OverBudget: the cluster's call budget is spent for now.
	OverBudget Grant = 4
	// Failing: the key failed recently and backs off, cluster-wide.
	Failing Grant = 5
)

// String names the grant.
func (g Grant) String() string {
	switch g {
	case Granted:
		return "granted"
	case Fresher:
		return "fresher"
	case Held:
		return "held"
	case Paused:
		return "paused"
	case OverBudget:
		return "over_budget"
	case Failing:
		return "failing"
	default:
		return "grant(" + strconv.Itoa(int(g)) + ")"
	}
}

// Claim is the outcome of asking to fetch a key for the cluster.
type Claim struct {
	Grant Grant
	// Wait is how long the lease is still held, the pause or the back-off
	// lasts, or until the budget has a call.
	Wait time.Duration
	// Cause is the outcome class of the failure behind a Failing claim.
	Cause string
	token string
}

// ClaimRequest says what the caller holds.
type ClaimRequest struct {
	// Have is when the caller's newest copy was fetched; zero when it has none.
	Have time.Time
	// Kind places the call in the budget.
	Kind guard.Kind
	// Lease is how long the lease lasts: longer than a fetch may take.
	Lease time.Duration
}

// Budget is the cluster's upstream call budget.
type Budget struct {
	// Rate is in calls per second; zero is unlimited.
	Rate float64
	// Burst is how many calls may go at once.
	Burst int
}

// Failure is what a failed fetch leaves for the cluster.
type Failure struct {
	// Pause, when positive, pauses every call (a 429's Retry-After).
	Pause time.Duration
	// Backoff, when its Min is positive, makes the key back off, doubling
	// with each failure in a row.
	Backoff guard.Backoff
	// Cause is the failure's outcome class, e.g. "timeout".
	Cause string
}

// ErrUnavailable is returned while the engine does not answer.
var ErrUnavailable = errors.New("shared cache unavailable")

// Tier is the shared cache tier of one relay.
type Tier struct {
	client  *redis.Client
	addr    string
	timeout time.Duration
	obs     TierObserver
	log     *slog.Logger
	prefix  string
	budget  Budget
	reserve float64
	signer  *Signer
	rejects rejectLog
	maxBack time.Duration

	up       atomic.Bool
	failures atomic.Int32 // failed operations in a row

	mu      sync.Mutex
	waiters map[string]*waiter
	drop    func(key string) // OnPurge's function, or nil

	stop context.CancelFunc
	done sync.WaitGroup
}

type waiter struct {
	ch chan struct{}
	n  int
}

// Open connects to the engine and starts the tier's background work (the
// health check and the subscription that wakes waiters), which stops when
// ctx ends or Close is called. An engine that does not answer yet is no
// error: the tier starts unavailable and is used once the engine answers.
// A URL that cannot be parsed is.
func Open(ctx context.Context, cfg Config, budget Budget) (*Tier, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("shared cache URL %s: %w", redact(cfg.URL), err)
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	if err := configureTLS(opts, cfg.CAFile); err != nil {
		return nil, err
	}
	if cfg.Signer == nil {
		return nil, errors.New("shared cache: no signing key")
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("shared cache: the timeout must be positive")
	}
	// Fail fast: one attempt per operation, bounded by the caller's context.
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	opts.DialTimeout = max(cfg.Timeout, 250*time.Millisecond)
	opts.DialerRetries = 1
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	// Connections ready before they are needed: dialling one within an
	// operation's few tens of milliseconds is not always possible.
	opts.MinIdleConns = 2
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	t := &Tier{
		client:  redis.NewClient(opts),
		addr:    opts.Addr,
		timeout: cfg.Timeout,
		obs:     cfg.Observer,
		log:     cfg.Logger,
		prefix:  "restaurants:" + cfg.Namespace + ":",
		budget:  budget,
		reserve: guard.Reserve(budget.Burst),
		signer:  cfg.Signer,
		maxBack: cmp.Or(cfg.MaxBackoff, time.Minute),
		waiters: make(map[string]*waiter),
	}
	if t.obs == nil {
		t.obs = nopObserver{}
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Instrument != nil {
		if err := cfg.Instrument(t.client); err != nil {
			_ = t.client.Close()
			return nil, fmt.Errorf("instrumenting the shared cache client: %w", err)
		}
	}
	t.log = t.log.With("shared_cache", t.addr)
	ctx, t.stop = context.WithCancel(ctx)
	t.obs.SharedUp(false)
	// The first connection may take longer than an operation may.
	if t.pingWithin(ctx, startPing) {
		t.markUp()
	} else {
		t.log.Warn("shared cache not answering at start; each relay works alone until it does")
	}
	t.done.Add(2)
	go t.watch(ctx)
	go t.subscribe(ctx)
	return t, nil
}

// Namespace is a namespace for relays of one upstream: a short hash of its
// base URL, so that relays of other upstreams sharing the engine never mix
// their answers.
func Namespace(upstreamBase string) string {
	h := sha256.Sum256([]byte(upstreamBase))
	return hex.EncodeToString(h[:4])
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close stops the background work and closes the connections.
func (t *Tier) Close() error {
	t.stop()
	t.done.Wait()
	return t.client.Close()
}

// Available reports whether the engine answers. While it does not, callers
// work alone instead of waiting for timeouts.
func (t *Tier) Available() bool { return t.up.Load() }

func (t *Tier) markUp() {
	if !t.up.Swap(true) {
		t.obs.SharedUp(true)
		t.log.Info("shared cache up")
	}
}

// startPing bounds the first ping, which dials the first connection.
const startPing = 2 * time.Second

// downAfter is how many operations in a row must fail before the engine is
// taken for down; a refused connection takes it down at once.
const downAfter = 3

// fail records a failed operation: counted, and after downAfter in a row,
// or at once when the engine refuses connections, the engine is marked
// down, logged once, until the health check finds it again.
func (t *Tier) fail(op string, err error) {
	t.obs.SharedError(op)
	if t.failures.Add(1) < downAfter && !refused(err) {
		return
	}
	if t.up.Swap(false) {
		t.obs.SharedUp(false)
		t.log.Warn("shared cache down; each relay works alone until it answers", "op", op, "err", err)
	}
}

// ok records a successful operation.
func (t *Tier) ok() { t.failures.Store(0) }

func refused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &op) && op.Op == "dial"
}

func (t *Tier) ping(ctx context.Context) bool {
	return t.pingWithin(ctx, max(t.timeout, 250*time.Millisecond))
}

func (t *Tier) pingWithin(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if t.client.Ping(ctx).Err() != nil {
		return false
	}
	t.ok()
	return true
}

// watch pings the engine every second while it is down, and every five
// seconds while it is up, marking it up or down.
func (t *Tier) watch(ctx context.Context) {
	defer t.done.Done()
	for {
		every := time.Second
		if t.up.Load() {
			every = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if t.ping(ctx) {
			t.markUp()
		} else if ctx.Err() == nil {
			t.failures.Store(downAfter - 1) // a failed ping takes the engine down
			t.fail("ping", errors.New("no answer to PING"))
		}
	}
}

func (t *Tier) key(kind, key string) string { return t.prefix + kind + key }

func (t *Tier) channel() string { return t.prefix + "filled" }

func (t *Tier) purgeChannel() string { return t.prefix + "purge" }

// entryFields are the hash fields of an entry: status, at (ms), fresh
// until (ms), header lines, body.
var entryFields = []string{"s", "at", "fu", "h", "b"}

// Get returns the answer the tier holds for key, if any, counting the read
// as a hit (fresh), stale, miss or error.
func (t *Tier) Get(ctx context.Context, key string) (Stored, bool, error) {
	if !t.Available() {
		return Stored{}, false, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	vals, err := t.client.HMGet(ctx, t.key("e:", key), append(entryFields[:len(entryFields):len(entryFields)], macField)...).Result()
	if err != nil {
		t.fail("get", err)
		t.obs.SharedLookup("error")
		return Stored{}, false, fmt.Errorf("shared cache get: %w", err)
	}
	t.ok()
	s, present, err := readSigned(t.signer, key, vals, time.Now())
	if err != nil {
		t.reject(ctx, key, vals, err)
	} else if present {
		t.rejects.note(t.log, key, "")
	}
	if err != nil || !present {
		t.obs.SharedLookup("miss")
		return Stored{}, false, nil
	}
	if time.Now().Before(s.FreshUntil) {
		t.obs.SharedLookup("hit")
	} else {
		t.obs.SharedLookup("stale")
	}
	return s, true, nil
}

// decodeEntry reads an entry's hash fields (entryFields order); a missing
// or unreadable field is no entry.
func decodeEntry(vals []any) (Stored, bool) {
	if len(vals) != len(entryFields) {
		return Stored{}, false
	}
	strs := make([]string, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return Stored{}, false
		}
		strs[i] = s
	}
	status, err1 := strconv.Atoi(strs[0])
	at, err2 := strconv.ParseInt(strs[1], 10, 64)
	fu, err3 := strconv.ParseInt(strs[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || status < 100 || status > 599 {
		return Stored{}, false
	}
	return Stored{
		Status: status, Body: []byte(strs[4]), At: time.UnixMilli(at), FreshUntil: time.UnixMilli(fu),
		Header: upstream.DecodeHeader(strs[3]),
	}, true
}

// claimSource decides, atomically, whether the caller fetches key for the
// cluster. KEYS: entry, lease, failure, pause, budget. ARGV: have (ms),
// token, lease (ms), rate (/s), burst, need (tokens). It returns {grant,
// wait (ms), cause}; the grants are written in as the Grant constants.
const claimSource = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = redis.call('HMGET', KEYS[1], 'at', 'fu')
local at, efu = tonumber(e[1] or '0') or 0, tonumber(e[2] or '0') or 0
if at > tonumber(ARGV[1]) and now < efu then return {FRESHER, 0, ''} end
local p = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
if p > now then return {PAUSED, p - now, ''} end
local fu = tonumber(redis.call('HGET', KEYS[3], 'until') or '0') or 0
if fu > now then return {FAILING, fu - now, redis.call('HGET', KEYS[3], 'cause') or ''} end
local l = redis.call('PTTL', KEYS[2])
if l > 0 then return {HELD, l, ''} end
local rate = tonumber(ARGV[4])
if rate > 0 then
  local burst = tonumber(ARGV[5])
  local need = tonumber(ARGV[6])
  local b = redis.call('HMGET', KEYS[5], 't', 'ts')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now
  if tokens ~= tokens then tokens = burst end
  tokens = math.max(0, math.min(burst, tokens + math.max(0, now - ts) * rate / 1000))
  redis.call('HSET', KEYS[5], 'ts', now)
  redis.call('PEXPIRE', KEYS[5], math.ceil(burst * 1000 / rate) + 1000)
  if tokens < need then
    redis.call('HSET', KEYS[5], 't', tostring(tokens))
    return {OVER_BUDGET, math.ceil((need - tokens) * 1000 / rate), ''}
  end
  redis.call('HSET', KEYS[5], 't', tostring(tokens - 1))
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {GRANTED, 0, ''}
`

// claimScript is claimSource with the grants' wire values written in.
var claimScript = redis.NewScript(strings.NewReplacer(
	"FRESHER", strconv.Itoa(int(Fresher)), "PAUSED", strconv.Itoa(int(Paused)),
	"FAILING", strconv.Itoa(int(Failing)), "HELD", strconv.Itoa(int(Held)),
	"OVER_BUDGET", strconv.Itoa(int(OverBudget)), "GRANTED", strconv.Itoa(int(Granted)),
).Replace(claimSource))

// Claim asks to fetch key for the cluster. A Granted claim must end with
// Store or Abandon.
func (t *Tier) Claim(ctx context.Context, key string, r ClaimRequest) (Claim, error) {
	if !t.Available() {
		return Claim{}, ErrUnavailable
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	need := 1.0
	if r.Kind == guard.First {
		need += t.reserve
	}
	var have int64
	if !r.Have.IsZero() {
		have = r.Have.UnixMilli()
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	res, err := claimScript.Run(ctx, t.client,
		[]string{t.key("e:", key), t.key("l:", key), t.key("f:", key), t.key("", "pause"), t.key("", "budget")},
		have, token, max(r.Lease.Milliseconds(), 1),
		strconv.FormatFloat(t.budget.Rate, 'f', -1, 64), t.budget.Burst, strconv.FormatFloat(need, 'f', -1, 64),
	).Slice()
	if err != nil {
		t.fail("lease", err)
		return Claim{}, fmt.Errorf("shared cache claim: %w", err)
	}
	t.ok()
	if len(res) != 3 {
		return Claim{}, fmt.Errorf("shared cache claim: unexpected reply %v", res)
	}
	code, _ := res[0].(int64)
	wait, _ := res[1].(int64)
	cause, _ := res[2].(string)
	c := Claim{Grant: Grant(code), Wait: t.bound(Grant(code), wait, r.Lease), Cause: cause}
	switch c.Grant {
	case Granted:
		c.token = token
	case Held:
		t.obs.SharedLeaseWait()
	}
	return c, nil
}

// storeScript stores an answer unless a newer one is there, forgets the
// key's failures, releases the caller's lease if it still holds it, and
// wakes the waiters. KEYS: entry, lease, failure. ARGV: status, at (ms),
// body, life (ms), token, channel, key, fresh until (ms), header lines, MAC.
// Returns 1 when the lease was still the caller's. A copy renewed by a 304
// has a newer at, and replaces the older one as any newer answer does.
var storeScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'at') or '0') or 0
if tonumber(ARGV[4]) > 0 and cur < tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'at', ARGV[2], 'fu', ARGV[8], 'h', ARGV[9], 'b', ARGV[3], 'm', ARGV[10])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
redis.call('DEL', KEYS[3])
local mine = 0
if redis.call('GET', KEYS[2]) == ARGV[5] then
  redis.call('DEL', KEYS[2])
  mine = 1
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return mine
`)

// Store keeps the answer fetched under claim for life (nothing when life is
// not positive), ends the claim and wakes the relays waiting for it.
func (t *Tier) Store(ctx context.Context, key string, c Claim, s Stored, life time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	mine, err := storeScript.Run(ctx, t.client,
		[]string{t.key("e:", key), t.key("l:", key), t.key("f:", key)},
		s.Status, s.At.UnixMilli(), s.Body, life.Milliseconds(), c.token, t.channel(), key,
		s.FreshUntil.UnixMilli(), upstream.EncodeHeader(s.Header), t.signer.Sign(key, entryWire(s)),
	).Int()
	if err != nil {
		t.fail("set", err)
		return fmt.Errorf("shared cache store: %w", err)
	}
	t.ok()
	if mine == 0 {
		t.obs.SharedLeaseLost()
		t.log.Warn("shared cache lease ran out before the answer was stored; raise --upstream-timeout's margin", "key", key)
	}
	return nil
}

// abandonScript ends a failed fetch: it sets the cluster's pause, makes the
// key back off, releases the lease and wakes the waiters. KEYS: lease,
// failure, pause. ARGV: token, channel, key, pause (ms), back-off min and
// max (ms), cause. Returns the key's back-off in ms.
var abandonScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause = tonumber(ARGV[4])
if pause > 0 then
  local p = tonumber(redis.call('GET', KEYS[3]) or '0')
  if now + pause > p then redis.call('SET', KEYS[3], now + pause, 'PX', pause) end
end
local d = 0
local lo, hi = tonumber(ARGV[5]), tonumber(ARGV[6])
if lo > 0 then
  local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
  d = lo
  for i = 2, n do
    if d >= hi then break end
    d = d * 2
  end
  d = math.min(d, math.max(hi, lo))
  redis.call('HSET', KEYS[2], 'until', now + d, 'cause', ARGV[7])
  redis.call('PEXPIRE', KEYS[2], d + math.max(hi, lo))
end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return d
`)

// Abandon ends a claim whose fetch failed, leaving f for the cluster, and
// returns the key's back-off.
func (t *Tier) Abandon(ctx context.Context, key string, c Claim, f Failure) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	ms, err := abandonScript.Run(ctx, t.client,
		[]string{t.key("l:", key), t.key("f:", key), t.key("", "pause")},
		c.token, t.channel(), key, f.Pause.Milliseconds(), f.Backoff.Min.Milliseconds(), f.Backoff.Max.Milliseconds(), f.Cause,
	).Int64()
	if err != nil {
		t.fail("release", err)
		return 0, fmt.Errorf("shared cache release: %w", err)
	}
	t.ok()
	return time.Duration(ms) * time.Millisecond, nil
}

// Wait returns a channel that is closed when another relay stores or
// abandons key; call cancel when no longer waiting. Register before
// claiming, so that no wake-up is missed.
func (t *Tier) Wait(key string) (done <-chan struct{}, cancel func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.waiters[key]
	if w == nil {
		w = &waiter{ch: make(chan struct{})}
		t.waiters[key] = w
	}
	w.n++
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			w.n--
			if w.n == 0 && t.waiters[key] == w {
				delete(t.waiters, key)
			}
		})
	}
}

// purgeScript drops an entry with its lease and failure records, and tells
// every relay. KEYS: entry, lease, failure. ARGV: channel, message.
var purgeScript = redis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return redis.call('PUBLISH', ARGV[1], ARGV[2])
`)

// purgeAll is the purge message that drops every key.
const purgeAll = "*"

// Purge drops key from the tier, with its lease and back-off, and tells
// every relay sharing the tier to drop it from memory; an empty key drops
// every entry of the namespace (found with SCAN, a batch at a time).
func (t *Tier) Purge(ctx context.Context, key string) error {
	if !t.Available() {
		return ErrUnavailable
	}
	if key == "" {
		return t.purgeAll(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	err := purgeScript.Run(ctx, t.client,
		[]string{t.key("e:", key), t.key("l:", key), t.key("f:", key)}, t.purgeChannel(), "k:"+key).Err()
	if err != nil {
		t.fail("purge", err)
		return fmt.Errorf("shared cache purge: %w", err)
	}
	t.ok()
	return nil
}

// purgeAll drops every entry of the namespace and tells every relay.
func (t *Tier) purgeAll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*t.timeout+5*time.Second)
	defer cancel()
	iter := t.client.Scan(ctx, 0, t.key("e:", "*"), 500).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := t.client.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 500 {
			if err := flush(); err != nil {
				t.fail("purge", err)
				return fmt.Errorf("shared cache purge: %w", err)
			}
		}
	}
	err := iter.Err()
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = t.client.Publish(ctx, t.purgeChannel(), purgeAll).Err()
	}
	if err != nil {
		t.fail("purge", err)
		return fmt.Errorf("shared cache purge: %w", err)
	}
	t.ok()
	return nil
}

// OnPurge sets what this relay does when a purge is announced: drop is
// called with the key, or with "" for every key.
func (t *Tier) OnPurge(drop func(key string)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drop = drop
}

// purged passes a purge message on to the OnPurge function.
func (t *Tier) purged(msg string) {
	t.mu.Lock()
	drop := t.drop
	t.mu.Unlock()
	if drop == nil {
		return
	}
	switch {
	case msg == purgeAll:
		drop("")
	case strings.HasPrefix(msg, "k:") && len(msg) > 2:
		drop(msg[2:])
	}
}

func (t *Tier) wake(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.waiters[key]; w != nil {
		close(w.ch)
		delete(t.waiters, key)
	}
}

// subscribe listens on the tier's channel and wakes the waiters of each key
// announced there. go-redis reconnects and subscribes again after the
// engine comes back; a wake-up missed meanwhile ends in the waiter's own
// timeout.
func (t *Tier) subscribe(ctx context.Context) {
	defer t.done.Done()
	ps := t.client.Subscribe(ctx, t.channel(), t.purgeChannel())
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if m.Channel == t.purgeChannel() {
				t.purged(m.Payload)
				continue
			}
			t.wake(m.Payload)
		}
	}
}

type nopObserver struct{}

func (nopObserver) SharedLookup(string) {}
func (nopObserver) SharedError(string)  {}
func (nopObserver) SharedLeaseWait()    {}
func (nopObserver) SharedLeaseLost()    {}
func (nopObserver) SharedUp(bool)       {}
