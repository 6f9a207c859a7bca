package sharedcache

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

func openTier(t *testing.T, url, ca string) (*Tier, error) {
	t.Helper()
	tier, err := Open(t.Context(), Config{URL: url, CAFile: ca, Namespace: "tlstest", Timeout: 200 * time.Millisecond, Signer: testSigner(t)},
		Budget{Rate: 5, Burst: 20})
	if err == nil {
		t.Cleanup(func() { _ = tier.Close() })
	}
	return tier, err
}

// TestTLSWithTheRightCA: a rediss:// engine whose certificate chains to
// the CA file and names the URL's host is used.
func TestTLSWithTheRightCA(t *testing.T) {
	certs := redistest.Certificates(t, "localhost", "127.0.0.1")
	s := redistest.StartWith(t, redistest.Options{TLS: &certs.Server})
	for _, url := range []string{s.URL(), strings.Replace(s.URL(), "127.0.0.1", "localhost", 1)} {
		tier, err := openTier(t, url, certs.CA)
		if err != nil {
			t.Fatalf("Open(%s): %v", url, err)
		}
		if !tier.Available() {
			t.Fatalf("%s with the right CA: tier unavailable", url)
		}
		if _, ok, err := tier.Get(t.Context(), "restaurant/dufva"); err != nil || ok {
			t.Fatalf("Get over TLS = %v, %v; want a plain miss", ok, err)
		}
	}
}

// TestTLSFailsClosedAndTheTierOpen: with a CA that did not sign the
// engine's certificate, or a certificate for another host, no connection
// is made; the tier is unavailable (each relay works alone) and answers at
// once with an error, never with data.
func TestTLSFailsClosedAndTheTierOpen(t *testing.T) {
	right := redistest.Certificates(t, "localhost", "127.0.0.1")
	other := redistest.Certificates(t, "localhost", "127.0.0.1")
	s := redistest.StartWith(t, redistest.Options{TLS: &right.Server})
	elsewhere := redistest.Certificates(t, "engine.example.test")
	s2 := redistest.StartWith(t, redistest.Options{TLS: &elsewhere.Server})
	for name, c := range map[string]struct{ url, ca string }{
		"a CA that did not sign it":   {s.URL(), other.CA},
		"the system's CAs":            {s.URL(), ""},
		"a certificate for elsewhere": {s2.URL(), elsewhere.CA},
	} {
		t.Run(name, func(t *testing.T) {
			tier, err := openTier(t, c.url, c.ca)
			if err != nil {
				t.Fatalf("Open: %v; want a tier that starts unavailable", err)
			}
			if tier.Available() {
				t.Fatal("tier available over a certificate it must refuse")
			}
			begin := time.Now()
			if _, ok, err := tier.Get(t.Context(), "restaurant/dufva"); ok || err == nil {
				t.Fatalf("Get = %v, %v; want an error", ok, err)
			}
			if d := time.Since(begin); d > 2*time.Second {
				t.Fatalf("Get took %v with the engine refused", d)
			}
		})
	}
}

func TestCAFileErrors(t *testing.T) {
	certs := redistest.Certificates(t, "localhost")
	if _, err := openTier(t, "redis://127.0.0.1:1", certs.CA); err == nil || !strings.Contains(err.Error(), "not rediss://") {
		t.Errorf("CA for redis://: %v", err)
	}
	if _, err := openTier(t, "rediss://127.0.0.1:1", certs.Server.Key); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without a certificate: %v", err)
	}
	if _, err := openTier(t, "rediss://127.0.0.1:1", certs.CA+".missing"); err == nil {
		t.Error("a missing CA file is no error")
	}
}

// syncBuffer is a bytes.Buffer safe for go-redis's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLibraryLoggerQuietsFailedDials: with the engine gone, go-redis's
// failed dials reach the logger at debug level only; at info the tier's
// own line per change is all there is.
func TestLibraryLoggerQuietsFailedDials(t *testing.T) {
	var debug, info syncBuffer
	debugLog := slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
	infoLog := slog.New(slog.NewTextHandler(&info, &slog.HandlerOptions{Level: slog.LevelInfo}))
	both := slog.New(fanout{debugLog.Handler(), infoLog.Handler()})
	redis.SetLogger(NewLibraryLogger(both))
	t.Cleanup(func() { redis.SetLogger(NewLibraryLogger(slog.New(slog.DiscardHandler))) })

	tier, err := Open(t.Context(), Config{URL: "redis://" + proctest.ClosedAddr(t), Namespace: "logtest", Timeout: 100 * time.Millisecond, Logger: both, Signer: testSigner(t)},
		Budget{Rate: 5, Burst: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	for ctx.Err() == nil && !strings.Contains(debug.String(), "component=go-redis") {
		_, _, _ = tier.Get(ctx, "restaurant/dufva")
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(debug.String(), "level=DEBUG") || !strings.Contains(debug.String(), "component=go-redis") {
		t.Fatalf("go-redis wrote nothing at debug level in 3s of a closed port:\n%s", debug.String())
	}
	if strings.Contains(info.String(), "go-redis") {
		t.Fatalf("go-redis lines at info level:\n%s", info.String())
	}
	if n := strings.Count(info.String(), "\n"); n > 1 {
		t.Fatalf("%d lines at info level for one state (engine down), want at most one:\n%s", n, info.String())
	}
}

// fanout sends each record to every handler that takes its level.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			_ = h.Handle(ctx, r.Clone())
		}
	}
	return nil
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
