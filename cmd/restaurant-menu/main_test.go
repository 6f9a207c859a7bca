package main

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// TestMain runs main itself when the test binary is started by
// runMain, so that exit codes are checked on a real process.
func TestMain(m *testing.M) { proctest.Main(m, "TEST_RESTAURANT_MENU_MAIN", main) }

func runMain(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return proctest.Run(t, os.Args[0], "TEST_RESTAURANT_MENU_MAIN", env, args...)
}

func TestExitCodes(t *testing.T) {
	h, err := menuapi.New(menuapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	garbled, err := menuapi.New(menuapi.Options{Faults: menuapi.Faults{Mode: menuapi.ModeGarbled}})
	if err != nil {
		t.Fatal(err)
	}
	bad := httptest.NewServer(garbled)
	defer bad.Close()
	closed := "http://" + proctest.ClosedAddr(t) + "/api/"

	env := []string{"RESTAURANTS_API=" + srv.URL + "/api/"}
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"list", env, nil, 0, "Uppsala\tbikupan\tRestaurang Bikupan\n", ""},
		{"found", env, []string{"Cafe Erik Jorpes"}, 0, "Café Erik Jorpes (Solna)\n", ""},
		{"json", env, []string{"--json", "dufva"}, 0, `"identifier": "dufva"`, ""},
		{"near miss", env, []string{"Svarta Rafvn"}, 1, "Solna\tsvarta\tSvarta Räfven\n", `did you mean "Svarta Räfven"?`},
		{"usage", env, []string{"--nope"}, 2, "", "flag provided but not defined: -nope"},
		{"help", env, []string{"--help"}, 0, "Usage: restaurant-menu", ""},
		{"down", []string{"RESTAURANTS_API=" + closed}, []string{"dufva"}, 3, "", "cannot reach the menu API"},
		{"garbage", nil, []string{"--api", bad.URL + "/api/", "dufva"}, 3, "", "answered garbage"},
	}
	for _, c := range cases {
		code, stdout, stderr := runMain(t, c.env, c.args...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || (c.stderr == "" && stderr != "") || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d", c.name, code, stdout, stderr, c.code)
		}
		if strings.Count(stderr, "\n") > 1 {
			t.Errorf("%s: stderr has more than one line: %q", c.name, stderr)
		}
	}
}
