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
