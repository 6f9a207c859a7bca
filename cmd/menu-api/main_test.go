package main

import (
	"os"
	"strings"
	"testing"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// TestMain runs main itself when the test binary is started by
// proctest.Run, so that exit codes are checked on a real process.
func TestMain(m *testing.M) { proctest.Main(m, "TEST_MENU_API_MAIN", main) }

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"help", nil, []string{"--help"}, 0, []string{"Usage: menu-api", "--compute-latency", "MENU_API_COMPUTE_LATENCY",
			"MENU_API_LIST_MAX_AGE", "MENU_API_MENU_MAX_AGE", "/-/menu/{identifier}"}, ""},
		{"bad lifetime", []string{"MENU_API_MENU_MAX_AGE=0s"}, nil, 2, nil, "menu-api: --list-max-age and --menu-max-age must be positive"},
		{"bad compute latency", nil, []string{"--compute-latency", "-1s"}, 2, nil, "compute latency must not be negative"},
	} {
		code, stdout, stderr := proctest.Run(t, os.Args[0], "TEST_MENU_API_MAIN", c.env, c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) || (c.stderr == "" && stderr != "") || strings.Count(stderr, "\n") > 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line with %q", c.name, code, stderr, c.code, c.stderr)
		}
		for _, s := range c.stdout {
			if !strings.Contains(stdout, s) {
				t.Errorf("%s: stdout lacks %q:\n%s", c.name, s, stdout)
			}
		}
	}
}
