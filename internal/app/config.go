package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/scilifelab/restaurants/internal/connguard"
	"github.com/scilifelab/restaurants/internal/envflag"
	"github.com/scilifelab/restaurants/internal/relay"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// DefaultUpstream is the public lunch-menu API.
const DefaultUpstream = "https://menu.dckube.scilifelab.se/api/"

// EnvPrefix starts the environment variable beside each flag.
const EnvPrefix = "RESTAURANTS"

// Config holds every setting of the relay.
type Config struct {
	Listen               string
	AdminListen          string
	Upstream             string
	CacheTTL             time.Duration
	MaxTTL               time.Duration
	FixedTTL             bool
	Warm                 bool
	NegativeTTL          time.Duration
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	CacheMaxMB           int
	UpstreamTimeout      time.Duration
	UpstreamMaxInflight  int
	UpstreamRate         float64
	UpstreamBurst        int
	UpstreamBackoff      time.Duration
	UpstreamBackoffMax   time.Duration
	ForwardQuery         bool
	SharedCache          string
	SharedCachePassword  string
	SharedCacheTimeout   time.Duration
	MaxBody              ByteSize
	DrainDelay           time.Duration
	ShutdownTimeout      time.Duration
	LogLevel             string
	LogFormat            string
	Pprof                bool
	CORSOrigins          string
	Version              bool
	// ClientTimeouts bound the phases of client connections; a zero field
	// takes its default (see clientTimeouts). No flag sets them.
	ClientTimeouts connguard.Timeouts
	// Tracing makes the relay's spans (package tracing sets it up from the
	// OTEL_* environment); nil turns tracing off: no instrumentation at
	// all. No flag sets it.
	Tracing trace.TracerProvider

	// AdminToken opens pprof and the purge API beyond loopback peers.
	AdminToken     string
	AdminTokenFile string
	// SharedCacheCA is a PEM file of the CAs a rediss:// engine must chain to.
	SharedCacheCA string
	// SigningKey signs what the relay writes to the shared tier;
	// SigningKeyPrevious, when set, is still accepted on reading.
	SigningKey             string
	SigningKeyFile         string
	SigningKeyPrevious     string
	SigningKeyPreviousFile string
}

// ErrHelp is returned by ParseFlags when -help was asked for.
var ErrHelp = flag.ErrHelp

// ParseFlags reads the settings from args and, for flags not given there,
// from the environment through lookup. Usage and errors go to out.
func ParseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (Config, error) {
	c := Config{MaxBody: 1 << 20}
	fs := flag.NewFlagSet("restaurants", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Listen, "listen", ":8000", "address of the relay's listener")
	fs.StringVar(&c.AdminListen, "admin-listen", ":9090", "address of the admin listener (health, readiness, metrics, pprof)")
	fs.StringVar(&c.Upstream, "upstream", DefaultUpstream, "base URL of the lunch-menu API")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", 10*time.Second, "how long a 200 answer stays fresh when the upstream declares no lifetime (with --fixed-ttl, every 200 answer)")
	fs.DurationVar(&c.MaxTTL, "max-ttl", 24*time.Hour, "the longest lifetime or stale window the upstream may ask for; longer ones are cut to it")
	fs.BoolVar(&c.FixedTTL, "fixed-ttl", false, "ignore the upstream's Cache-Control and Expires: every 200 answer is fresh for --cache-ttl, every client error for --negative-ttl")
	fs.BoolVar(&c.Warm, "warm", false, "keep the restaurant list and every restaurant it names fresh ahead of expiry, inside the upstream budget, so that no user waits for a first fetch")
	fs.DurationVar(&c.NegativeTTL, "negative-ttl", 5*time.Second, "how long a 404 (or other client error) that declares no lifetime stays cached; 0 disables")
	fs.DurationVar(&c.StaleWhileRevalidate, "stale-while-revalidate", 30*time.Second, "how long after expiry an answer is served at once while one refresh runs, when the upstream does not say; never less than --stale-if-error")
	fs.DurationVar(&c.StaleIfError, "stale-if-error", 10*time.Minute, "how long after expiry an answer stands in for a failing upstream, when the upstream does not say")
	fs.IntVar(&c.CacheMaxMB, "cache-max-mb", 64, "memory bound of the cache, in MiB")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", 10*time.Second, "bound on one upstream call")
	fs.IntVar(&c.UpstreamMaxInflight, "upstream-max-inflight", 16, "upstream calls under way at once, at most")
	fs.Float64Var(&c.UpstreamRate, "upstream-rate", 5, "upstream call budget over all keys, in calls per second; 0 is unlimited")
	fs.IntVar(&c.UpstreamBurst, "upstream-burst", 20, "upstream calls the budget allows at once after a quiet spell")
	fs.DurationVar(&c.UpstreamBackoff, "upstream-backoff", time.Second, "after a failed fetch, how long its key waits before it is tried again (doubling with each failure in a row)")
	fs.DurationVar(&c.UpstreamBackoffMax, "upstream-backoff-max", time.Minute, "the longest wait of a failing key")
	fs.StringVar(&c.SharedCache, "shared-cache", "", "URL of a Valkey/Redis shared by every relay (redis://[user:password@]host:port[/db], rediss:// for TLS); empty keeps the cache to this process")
	fs.StringVar(&c.SharedCachePassword, "shared-cache-password", "", "password of the shared cache, overriding the URL's (prefer the environment variable)")
	fs.StringVar(&c.SharedCacheCA, "shared-cache-ca", "", "PEM file of the certificate authorities that a rediss:// shared cache's certificate must chain to; empty: the system's")
	fs.StringVar(&c.SigningKey, "shared-cache-signing-key", "", "key (at least 32 bytes) that signs and verifies the shared cache's entries; required with --shared-cache (prefer the environment variable or the file)")
	fs.StringVar(&c.SigningKeyFile, "shared-cache-signing-key-file", "", "file holding --shared-cache-signing-key; overrides it")
	fs.StringVar(&c.SigningKeyPrevious, "shared-cache-signing-key-previous", "", "the signing key being rotated out: entries it signed are still read, none is written with it")
	fs.StringVar(&c.SigningKeyPreviousFile, "shared-cache-signing-key-previous-file", "", "file holding --shared-cache-signing-key-previous; overrides it")
	fs.DurationVar(&c.SharedCacheTimeout, "shared-cache-timeout", 50*time.Millisecond, "bound on every shared cache operation; past it the relay works alone")
	fs.BoolVar(&c.ForwardQuery, "forward-query", false, "forward query strings (sorted, canonical) and make them part of the cache key; the API takes none")
	fs.Var(&c.MaxBody, "max-body", "largest upstream body accepted (bytes, or with KiB/MiB)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 5*time.Second, "on SIGTERM, how long to keep serving while not ready, before shutting down")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "after the drain delay, how long in-flight requests may take to finish")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve /debug/pprof/ on the admin listener")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token that opens pprof and the purge API to peers beyond loopback (prefer the environment variable or --admin-token-file)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "file holding the admin token (e.g. a mounted Secret); overrides --admin-token")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "*", "browser origins that may read the answers: * for all, a comma-separated list (scheme://host[:port]), or empty for no CORS headers")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	if err := envflag.Parse(fs, EnvPrefix, args, lookup, "version"); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q; every setting is a flag", fs.Arg(0))
	}
	if c.Version {
		return c, nil
	}
	if err := c.readSecretFiles(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks the settings, naming the first one that is wrong.
func (c Config) Validate() error {
	checks := []struct {
		ok   bool
		flag string
		want string
	}{
		{validAddr(c.Listen), "listen", "a host:port address"},
		{validAddr(c.AdminListen), "admin-listen", "a host:port address"},
		{c.Listen != c.AdminListen, "admin-listen", "an address other than --listen"},
		{c.CacheTTL > 0, "cache-ttl", "positive"},
		{c.MaxTTL == 0 || c.MaxTTL >= max(c.CacheTTL, c.NegativeTTL), "max-ttl", "0 (no cap) or at least --cache-ttl and --negative-ttl"},
		{c.NegativeTTL >= 0, "negative-ttl", "zero or positive"},
		{c.StaleWhileRevalidate >= 0, "stale-while-revalidate", "zero or positive"},
		{c.StaleIfError >= 0, "stale-if-error", "zero or positive"},
		{c.CacheMaxMB >= 1, "cache-max-mb", "at least 1"},
		{c.UpstreamTimeout > 0, "upstream-timeout", "positive"},
		{c.UpstreamMaxInflight >= 1, "upstream-max-inflight", "at least 1"},
		{c.UpstreamRate >= 0 && !math.IsInf(c.UpstreamRate, 0), "upstream-rate", "zero (unlimited) or a positive number of calls per second"},
		{c.UpstreamBurst >= 1, "upstream-burst", "at least 1"},
		{c.UpstreamBackoff >= 0, "upstream-backoff", "zero or positive"},
		{c.UpstreamBackoffMax >= c.UpstreamBackoff, "upstream-backoff-max", "at least --upstream-backoff"},
		{c.SharedCacheTimeout > 0, "shared-cache-timeout", "positive"},
		{c.MaxBody >= 1<<10, "max-body", "at least 1KiB"},
		{int64(c.MaxBody)*4 <= int64(c.CacheMaxMB)<<20, "max-body", "at most a quarter of --cache-max-mb"},
		{c.DrainDelay >= 0, "drain-delay", "zero or positive"},
		{c.ShutdownTimeout > 0, "shutdown-timeout", "positive"},
		{oneOf(c.LogLevel, "debug", "info", "warn", "error"), "log-level", "debug, info, warn or error"},
		{oneOf(c.LogFormat, "text", "json"), "log-format", "text or json"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("invalid --%s (%s): must be %s", ch.flag, envflag.Name(EnvPrefix, ch.flag), ch.want)
		}
	}
	if err := c.validateSigningKeys(); err != nil {
		return err
	}
	if _, err := upstream.ParseBase(c.Upstream); err != nil {
		return fmt.Errorf("invalid --upstream (%s): %w", envflag.Name(EnvPrefix, "upstream"), err)
	}
	if _, err := relay.ParseCORSOrigins(c.CORSOrigins); err != nil {
		return fmt.Errorf("invalid --cors-origins (%s): %w", envflag.Name(EnvPrefix, "cors-origins"), err)
	}
	return nil
}

func validAddr(a string) bool {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// Logger returns the logger the settings ask for, writing to w.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ByteSize is a number of bytes, set from "1048576", "512KiB" or "1MiB".
type ByteSize int64

// String formats the size in the largest unit that divides it.
func (b *ByteSize) String() string {
	switch n := int64(*b); {
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(n, 10)
	}
}

// Set parses a size in bytes, KiB, MiB or GiB.
func (b *ByteSize) Set(s string) error {
	units := []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}, {"", 0}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)>>u.shift {
				return errors.New("want a size such as 1048576, 512KiB or 1MiB")
			}
			*b = ByteSize(n << u.shift)
			return nil
		}
	}
	return errors.New("want a size such as 1048576, 512KiB or 1MiB")
}
