// Package sharedcache is the relay's second cache tier, on Valkey or Redis,
// shared by every relay of a deployment: answers fetched by one relay are
// served by all, one relay in the whole cluster fetches a key at a time
// (a lease per key, taken with SET NX PX and a random token, released by
// compare-and-delete), the others wait for its answer on a pub/sub channel,
// and the upstream's 429 pauses, the per-key back-off after failures and the
// call budget are counted here for the cluster.
//
// It fails open: every operation has a short timeout, and while the engine
// does not answer the tier reports itself unavailable, so that each relay
// works alone, until a background ping finds the engine again.
package sharedcache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/scilifelab/restaurants/internal/guard"
)

// Config sets up a Tier.
type Config struct {
	// URL is the engine's address: redis://[user:password@]host:port[/db],
	// or rediss:// for TLS.
	URL string
	// Password, when set, overrides the URL's password.
	Password string
	// Namespace separates the keys of relays of different upstreams in one
	// engine; relays with the same Namespace share their answers.
	Namespace string
	// Timeout bounds every operation.
	Timeout time.Duration
	// Observer is told of lookups, errors, waits and state changes; nil
	// tells nobody.
	Observer Observer
	// Logger reports the engine going down and coming back, once per change;
	// nil discards.
	Logger *slog.Logger
}

// Observer is told what the tier does, for the relay's metrics.
type Observer interface {
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
	At     time.Time
}

// Grant is the tier's answer to a Claim.
type Grant int

// The grants of a claim.
const (
	// Granted: this relay holds the key's lease and fetches for the cluster.
	Granted Grant = iota
	// Fresher: the tier holds an answer newer than the caller's and fresh.
	Fresher
	// Held: another relay holds the lease; wait for its answer.
	Held
	// Paused: a 429 pause is in force for the cluster.
	Paused
	// OverBudget: the cluster's call budget is spent for now.
	OverBudget
	// Failing: the key failed recently and backs off, cluster-wide.
	Failing
)

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
	// FreshFor is how long an answer stays fresh (the TTL).
	FreshFor time.Duration
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
	obs     Observer
	log     *slog.Logger
	prefix  string
	budget  Budget
	reserve float64

	up       atomic.Bool
	failures atomic.Int32 // failed operations in a row

	mu      sync.Mutex
	waiters map[string]*waiter

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
		waiters: make(map[string]*waiter),
	}
	if t.obs == nil {
		t.obs = nopObserver{}
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
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

// Get returns the answer the tier holds for key, if any.
func (t *Tier) Get(ctx context.Context, key string) (Stored, bool, error) {
	if !t.Available() {
		return Stored{}, false, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	vals, err := t.client.HMGet(ctx, t.key("e:", key), "s", "at", "b").Result()
	if err != nil {
		t.fail("get", err)
		t.obs.SharedLookup("error")
		return Stored{}, false, fmt.Errorf("shared cache get: %w", err)
	}
	t.ok()
	if len(vals) != 3 || vals[0] == nil || vals[1] == nil || vals[2] == nil {
		t.obs.SharedLookup("miss")
		return Stored{}, false, nil
	}
	status, err1 := strconv.Atoi(fmt.Sprint(vals[0]))
	at, err2 := strconv.ParseInt(fmt.Sprint(vals[1]), 10, 64)
	body, ok := vals[2].(string)
	if err1 != nil || err2 != nil || !ok {
		t.obs.SharedLookup("miss")
		return Stored{}, false, nil
	}
	return Stored{Status: status, Body: []byte(body), At: time.UnixMilli(at)}, true, nil
}

// Observe counts a read's result as the caller judged it (hit or stale),
// after Get found an answer.
func (t *Tier) Observe(result string) { t.obs.SharedLookup(result) }

// claimScript decides, atomically, whether the caller fetches key for the
// cluster. KEYS: entry, lease, failure, pause, budget. ARGV: have (ms), fresh
// for (ms), token, lease (ms), rate (/s), burst, need (tokens).
var claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if at > tonumber(ARGV[1]) and now - at < tonumber(ARGV[2]) then return {1, 0, ''} end
local p = tonumber(redis.call('GET', KEYS[4]) or '0')
if p > now then return {3, p - now, ''} end
local fu = tonumber(redis.call('HGET', KEYS[3], 'until') or '0')
if fu > now then return {5, fu - now, redis.call('HGET', KEYS[3], 'cause') or ''} end
local l = redis.call('PTTL', KEYS[2])
if l > 0 then return {2, l, ''} end
local rate = tonumber(ARGV[5])
if rate > 0 then
  local burst = tonumber(ARGV[6])
  local need = tonumber(ARGV[7])
  local b = redis.call('HMGET', KEYS[5], 't', 'ts')
  local tokens = tonumber(b[1] or burst)
  local ts = tonumber(b[2] or now)
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  redis.call('HSET', KEYS[5], 'ts', now)
  redis.call('PEXPIRE', KEYS[5], math.ceil(burst * 1000 / rate) + 1000)
  if tokens < need then
    redis.call('HSET', KEYS[5], 't', tostring(tokens))
    return {4, math.ceil((need - tokens) * 1000 / rate), ''}
  end
  redis.call('HSET', KEYS[5], 't', tostring(tokens - 1))
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return {0, 0, ''}
`)

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
		have, r.FreshFor.Milliseconds(), token, max(r.Lease.Milliseconds(), 1),
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
	c := Claim{Grant: Grant(code), Wait: time.Duration(wait) * time.Millisecond, Cause: cause}
	if c.Grant == Granted {
		c.token = token
	}
	return c, nil
}

// storeScript stores an answer unless a newer one is there, forgets the
// key's failures, releases the caller's lease if it still holds it, and
// wakes the waiters. KEYS: entry, lease, failure. ARGV: status, at (ms),
// body, life (ms), token, channel, key. Returns 1 when the lease was still
// the caller's.
var storeScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if tonumber(ARGV[4]) > 0 and cur < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'at', ARGV[2], 'b', ARGV[3])
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

// LeaseWait counts a wait for another relay's fetch.
func (t *Tier) LeaseWait() { t.obs.SharedLeaseWait() }

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
	ps := t.client.Subscribe(ctx, t.channel())
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
