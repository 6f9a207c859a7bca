package app

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminTokenFromFlagEnvOrFile(t *testing.T) {
	c, err := ParseFlags(nil, env(map[string]string{"RESTAURANTS_ADMIN_TOKEN": "from-env"}), io.Discard)
	if err != nil || c.AdminToken != "from-env" {
		t.Fatalf("token from env = %q, %v", c.AdminToken, err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = ParseFlags([]string{"--admin-token", "from-flag", "--admin-token-file", file}, env(nil), io.Discard)
	if err != nil || c.AdminToken != "from-file" {
		t.Fatalf("token from file = %q, %v", c.AdminToken, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		_, err = ParseFlags([]string{"--admin-token-file", path}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--admin-token-file (RESTAURANTS_ADMIN_TOKEN_FILE)") {
			t.Fatalf("--admin-token-file %s: %v, want an error naming the flag and its variable", path, err)
		}
	}
}

// testSigningKey signs the shared tier's entries in the tests.
const testSigningKey = "test-signing-key-of-at-least-32-bytes"

func TestSharedCacheNeedsASigningKey(t *testing.T) {
	_, err := ParseFlags([]string{"--shared-cache", "redis://127.0.0.1:6379"}, env(nil), io.Discard)
	if err == nil || strings.Count(err.Error(), "\n") != 0 ||
		!strings.Contains(err.Error(), "--shared-cache-signing-key (RESTAURANTS_SHARED_CACHE_SIGNING_KEY)") {
		t.Fatalf("--shared-cache without a key: %v, want one line naming the flag and its variable", err)
	}
	_, err = ParseFlags([]string{"--shared-cache", "redis://127.0.0.1:6379"}, env(map[string]string{"RESTAURANTS_SHARED_CACHE_SIGNING_KEY": "short"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("a short key: %v", err)
	}
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(testSigningKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ParseFlags([]string{"--shared-cache", "redis://127.0.0.1:6379"}, env(map[string]string{
		"RESTAURANTS_SHARED_CACHE_SIGNING_KEY_FILE": file, "RESTAURANTS_SHARED_CACHE_SIGNING_KEY_PREVIOUS": testSigningKey + "-old"}), io.Discard)
	if err != nil || c.SigningKey != testSigningKey || c.SigningKeyPrevious != testSigningKey+"-old" {
		t.Fatalf("keys from a file and the environment: %q %q, %v", c.SigningKey, c.SigningKeyPrevious, err)
	}
}
