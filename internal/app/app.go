package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/scilifelab/restaurants/internal/admin"
	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/connguard"
	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/metrics"
	"github.com/scilifelab/restaurants/internal/relay"
	"github.com/scilifelab/restaurants/internal/sharedcache"
	"github.com/scilifelab/restaurants/internal/upstream"
	"github.com/scilifelab/restaurants/internal/warm"
)

// App is the relay with its admin listener, ready to serve.
type App struct {
	cfg       Config
	log       *slog.Logger
	relay     *relay.Relay
	shared    *sharedcache.Tier // nil without a shared tier
	metrics   *metrics.Metrics
	readiness admin.Readiness
	main      *http.Server
	watchdog  *connguard.Watchdog
	admin     *http.Server
	closeOnce sync.Once
}

// New builds the relay from cfg. ctx carries its values to the relay's
// background work (the cache's upkeep, the shared tier's watch and
// wake-ups), but not its cancellation: that work goes on while Serve
// drains after a SIGTERM, and stops when Serve returns, or at Close for an
// App that never serves.
func New(ctx context.Context, cfg Config, version string, log *slog.Logger) (*App, error) {
	ctx = context.WithoutCancel(ctx)
	base, err := upstream.ParseBase(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	client, err := upstream.New(upstream.Config{
		Base:        base,
		Timeout:     cfg.UpstreamTimeout,
		MaxBody:     int64(cfg.MaxBody),
		MaxInflight: cfg.UpstreamMaxInflight,
		UserAgent:   "restaurants/" + version,
		Wrap:        tracedTransport(cfg.Tracing),
	})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log}
	m := metrics.New(version, metrics.Sources{
		CacheEntries:     func() int { return a.relay.Cache().Len() },
		CacheBytes:       func() int { return a.relay.Cache().Bytes() },
		UpstreamInflight: client.Inflight,
		Shared:           cfg.SharedCache != "",
	})
	a.metrics = m
	g, err := guard.New(guard.Config{Rate: cfg.UpstreamRate, Burst: cfg.UpstreamBurst, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.SharedCache != "" {
		signer, err := sharedcache.NewSigner([]byte(cfg.SigningKey), []byte(cfg.SigningKeyPrevious))
		if err != nil {
			return nil, fmt.Errorf("--shared-cache-signing-key: %w", err)
		}
		a.shared, err = sharedcache.Open(ctx, sharedcache.Config{
			URL:       cfg.SharedCache,
			Password:  cfg.SharedCachePassword,
			CAFile:    cfg.SharedCacheCA,
			Signer:    signer,
			Namespace: sharedcache.Namespace(base.String()),
			Timeout:   cfg.SharedCacheTimeout,
			Observer:  m,
			Logger:    log,

			Instrument: tracedRedis(cfg.Tracing),

			// a back-off read from the engine is never longer than our own
			MaxBackoff: cfg.UpstreamBackoffMax,
		}, sharedcache.Budget{Rate: cfg.UpstreamRate, Burst: cfg.UpstreamBurst})
		if err != nil {
			// Fail open: the relay serves alone, and says why.
			log.Error("shared cache disabled; each relay works alone", "err", err)
			m.SharedUp(false)
			a.shared = nil
		}
	}
	var tier cache.Tier // a nil *sharedcache.Tier must stay a nil Tier
	if a.shared != nil {
		tier = a.shared
	}
	a.relay, err = relay.New(ctx, relay.Config{
		Client: client,
		Cache: cache.Config{
			Policy: cache.Policy{
				TTL:                  cfg.CacheTTL,
				MaxTTL:               cfg.MaxTTL,
				Fixed:                cfg.FixedTTL,
				NegativeTTL:          cfg.NegativeTTL,
				StaleWhileRevalidate: cfg.StaleWhileRevalidate,
				StaleIfError:         cfg.StaleIfError,
			},
			MaxMB:         cfg.CacheMaxMB,
			MaxEntryBytes: int(cfg.MaxBody),
			Guard:         g,
			Backoff:       guard.Backoff{Min: cfg.UpstreamBackoff, Max: cfg.UpstreamBackoffMax},
			Shared:        tier,
			Lease:         cfg.UpstreamTimeout + 2*time.Second,
			Observer:      m,
			Logger:        log,
			Tracer:        cacheTracer(cfg.Tracing),
		},
		Metrics:      m,
		ForwardQuery: cfg.ForwardQuery,
	})
	if err != nil {
		return nil, err
	}
	cors, err := relay.ParseCORSOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, fmt.Errorf("--cors-origins: %w", err)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	// Slow clients are cut off by the connections' watchdog rather than by
	// net/http's timeouts, whose socket deadlines cost every request
	// several changes to the runtime's timers.
	a.watchdog = connguard.New(connguard.Config{
		Timeouts: clientTimeouts(cfg),
		Expired:  func(p connguard.Phase) { m.ConnectionTimedOut(p.String()) },
	})
	a.main = &http.Server{
		Handler:        tracedHandler(relay.NewRouter(a.relay, relay.WithCORS(cors)), cfg.Tracing),
		ConnState:      a.watchdog.ConnState,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       errLog,
	}
	a.admin = &http.Server{
		Handler:           admin.NewHandler(admin.Config{Readiness: &a.readiness, Gatherer: m.Registry, Pprof: cfg.Pprof, Token: cfg.AdminToken, Purger: a.relay.Cache()}),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errLog,
	}
	return a, nil
}

// clientTimeouts are the bounds on the relay's client connections: unless
// cfg sets them, 10 s for a request header, 2 min idle between requests,
// and for answering a request the upstream timeout and 5 s more.
func clientTimeouts(cfg Config) connguard.Timeouts {
	t := cfg.ClientTimeouts
	t.Header = cmp.Or(t.Header, 10*time.Second)
	t.Idle = cmp.Or(t.Idle, 2*time.Minute)
	t.Answer = cmp.Or(t.Answer, cfg.UpstreamTimeout+5*time.Second)
	return t
}

// Serve serves the relay on ln and the admin handler on adminLn until ctx
// is cancelled. Then readiness turns false while the relay keeps serving
// for the drain delay, so that load balancers stop sending traffic, and the
// servers shut down, letting in-flight requests finish within the shutdown
// timeout. The relay's background work, the shared tier's included, lasts
// through the drain and stops when Serve returns. It returns nil after a
// clean shutdown.
func (a *App) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	defer a.Close()
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go a.watchdog.Watch(watchCtx)
	ln = a.watchdog.Listener(ln)
	if a.cfg.Warm {
		go warm.New(a.relay.Cache(), warm.Config{Logger: a.log}).Run(watchCtx)
	}
	errs := make(chan error, 2)
	go func() { errs <- serve(a.main, ln, "relay") }()
	go func() { errs <- serve(a.admin, adminLn, "admin") }()
	a.readiness.Set(true)
	a.log.Info("serving", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(), "upstream", a.cfg.Upstream,
		"cache_ttl", a.cfg.CacheTTL, "shared_cache", a.shared != nil)

	select {
	case err := <-errs:
		a.readiness.Set(false)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		_ = a.main.Shutdown(shutdownCtx)
		_ = a.admin.Shutdown(shutdownCtx)
		return err
	case <-ctx.Done():
	}

	a.readiness.Set(false)
	a.log.Info("draining: not ready, still serving", "drain_delay", a.cfg.DrainDelay)
	time.Sleep(a.cfg.DrainDelay)

	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	err := a.main.Shutdown(shutdownCtx)
	if aerr := a.admin.Shutdown(shutdownCtx); err == nil {
		err = aerr
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// Close stops the relay's background work and frees its cache; Serve does
// it on its way out.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		if a.shared != nil {
			_ = a.shared.Close()
		}
		_ = a.relay.Close()
	})
}

func serve(s *http.Server, ln net.Listener, name string) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	return nil
}
