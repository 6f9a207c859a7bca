package app

import (
	"fmt"
	"os"
	"strings"

	"github.com/scilifelab/restaurants/internal/envflag"
	"github.com/scilifelab/restaurants/internal/sharedcache"
)

// readSecretFiles fills the secret settings that were given as files (a
// mounted Secret) rather than as values; a file overrides the value.
func (c *Config) readSecretFiles() error {
	files := []struct {
		flag string
		path string
		into *string
	}{
		{"admin-token-file", c.AdminTokenFile, &c.AdminToken},
		{"shared-cache-signing-key-file", c.SigningKeyFile, &c.SigningKey},
		{"shared-cache-signing-key-previous-file", c.SigningKeyPreviousFile, &c.SigningKeyPrevious},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		v, err := readSecretFile(f.path)
		if err != nil {
			return fmt.Errorf("invalid --%s (%s): %w", f.flag, envflag.Name(EnvPrefix, f.flag), err)
		}
		*f.into = v
	}
	return nil
}

// readSecretFile reads a secret from a file, without the surrounding white
// space an editor or `echo` leaves; an empty secret is an error.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// validateSigningKeys requires a signing key with a shared tier (the chart
// always gives one), and keys long enough to sign with.
func (c Config) validateSigningKeys() error {
	keys := []struct {
		flag  string
		value string
	}{
		{"shared-cache-signing-key", c.SigningKey},
		{"shared-cache-signing-key-previous", c.SigningKeyPrevious},
	}
	if c.SharedCache != "" && c.SigningKey == "" {
		return fmt.Errorf("--shared-cache needs --shared-cache-signing-key (%s), or its file: a key only the relays hold, of at least %d bytes",
			envflag.Name(EnvPrefix, "shared-cache-signing-key"), sharedcache.MinSigningKey)
	}
	for _, k := range keys {
		if k.value != "" && len(k.value) < sharedcache.MinSigningKey {
			return fmt.Errorf("invalid --%s (%s): must be at least %d bytes", k.flag, envflag.Name(EnvPrefix, k.flag), sharedcache.MinSigningKey)
		}
	}
	return nil
}
