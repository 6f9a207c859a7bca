package sharedcache

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
)

// configureTLS applies the CA file to a rediss:// connection: the engine's
// certificate must chain to one of its certificates and name the URL's
// host. Without a CA file the system's roots are used; a CA file for a
// redis:// URL is an error, since it would protect nothing.
func configureTLS(opts *redis.Options, caFile string) error {
	if opts.TLSConfig != nil {
		opts.TLSConfig.MinVersion = tls.VersionTLS12
	}
	if caFile == "" {
		return nil
	}
	if opts.TLSConfig == nil {
		return errors.New("shared cache: a CA file is given but the URL is not rediss://")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("shared cache CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("shared cache CA: no PEM certificate in %s", caFile)
	}
	opts.TLSConfig.RootCAs = pool
	return nil
}

// LibraryLogger carries go-redis's own messages (a failed dial, several a
// second while the engine is gone) to a slog logger at debug level, so that
// what an operator sees by default is the tier's one line per change.
// Install it once per process with redis.SetLogger.
type LibraryLogger struct{ log *slog.Logger }

// NewLibraryLogger returns a LibraryLogger writing to log.
func NewLibraryLogger(log *slog.Logger) LibraryLogger {
	return LibraryLogger{log: log.With("component", "go-redis")}
}

// Printf implements go-redis's logging interface.
func (l LibraryLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
