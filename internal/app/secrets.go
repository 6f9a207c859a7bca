package app

import (
	"fmt"
	"os"
	"strings"

	"github.com/scilifelab/restaurants/internal/envflag"
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
