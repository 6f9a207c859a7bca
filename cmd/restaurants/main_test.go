package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// TestMain runs main itself when the test binary is started by run, so
// that the dispatch on argv[0] is checked on a real process started
// through a symlink, as in the container image.
func TestMain(m *testing.M) { proctest.Main(m, "TEST_RESTAURANTS_MAIN", main) }

// links makes a directory of symlinks with these names to the test binary.
func links(t *testing.T, names ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range names {
		if err := os.Symlink(exe, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run starts the binary as path (its argv[0]) and returns what it did.
func run(t *testing.T, path string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return proctest.Run(t, path, "TEST_RESTAURANTS_MAIN", env, args...)
}

func TestDispatchOnProgramName(t *testing.T) {
	dir := links(t, "restaurants", "menu-api", "restaurant-menu", "loadtest", "relay")
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"restaurants", []string{"--version"}, 0, "restaurants dev\n", ""},
		{"relay", []string{"--version"}, 0, "restaurants dev\n", ""},
		{"restaurants", []string{"--help"}, 0, "", "RESTAURANTS_CACHE_TTL"},
		{"menu-api", []string{"--help"}, 0, "Usage: menu-api", ""},
		{"menu-api", []string{"--version"}, 2, "", "menu-api: flag provided but not defined: -version"},
		{"restaurant-menu", []string{"--help"}, 0, "Usage: restaurant-menu", ""},
		{"restaurant-menu", []string{"--version"}, 2, "", "flag provided but not defined: -version"},
		{"loadtest", []string{"--help"}, 0, "", "Usage: loadtest"},
		{"loadtest", nil, 2, "", "loadtest: no target"},
	}
	for _, c := range cases {
		code, stdout, stderr := run(t, filepath.Join(dir, c.name), nil, c.args...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || (c.code == 0 && c.stdout == "" && stdout != "") || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				c.name, c.args, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
	}
}

func TestRestaurantMenuThroughSymlink(t *testing.T) {
	h, err := menuapi.New(menuapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	dir := links(t, "restaurant-menu")
	code, stdout, stderr := run(t, filepath.Join(dir, "restaurant-menu"), []string{"RESTAURANTS_API=" + srv.URL + "/api/"}, "Cafe Erik Jorpes")
	if code != 0 || !strings.Contains(stdout, "Café Erik Jorpes (Solna)\n") || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the menu of Café Erik Jorpes", code, stdout, stderr)
	}
}
