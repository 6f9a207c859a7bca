package tooltest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestFindMissing(t *testing.T) {
	if p := Tool("no-such-program-restaurants").Find(); p != "" {
		t.Errorf("Find of a missing program = %q, want empty", p)
	}
}

func TestFindPresent(t *testing.T) {
	// sh is on every machine the tests run on.
	if p := Tool("sh").Find(); p == "" {
		t.Error("Find(sh) found nothing")
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "0": false, "yes": false} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

func TestPackage(t *testing.T) {
	for tl, want := range map[Tool]string{RedisServer: "redis-server", Promtool: "prometheus", Nginx: "nginx-light", Chromium: "chromium"} {
		if got := tl.Package(); got != want {
			t.Errorf("%s.Package() = %q, want %q", tl, got, want)
		}
	}
}

// TestShortSkips runs a subtest in a child test binary with and without
// -short: Require and Long must skip it under -short and only there.
func TestShortSkips(t *testing.T) {
	if os.Getenv("TOOLTEST_CHILD") == "1" {
		return
	}
	for _, tc := range []struct {
		args []string
		skip bool
	}{{[]string{"-test.short"}, true}, {nil, false}} {
		args := append([]string{"-test.run", "^TestShortChild$", "-test.v"}, tc.args...)
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "TOOLTEST_CHILD=1", "CI=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %v: %v\n%s", tc.args, err, out)
		}
		for _, name := range []string{"require", "long"} {
			skipped := strings.Contains(string(out), "--- SKIP: TestShortChild/"+name)
			if skipped != tc.skip {
				t.Errorf("child %v: %s skipped = %v, want %v\n%s", tc.args, name, skipped, tc.skip, out)
			}
		}
		if tc.skip && !strings.Contains(string(out), "skipped under -short") {
			t.Errorf("child %v: the skip does not say why\n%s", tc.args, out)
		}
	}
}

// TestShortChild is run by TestShortSkips in a child process only.
func TestShortChild(t *testing.T) {
	if os.Getenv("TOOLTEST_CHILD") != "1" {
		t.Skip("run by TestShortSkips")
	}
	t.Run("require", func(t *testing.T) { Require(t, Tool("sh")) })
	t.Run("long", func(t *testing.T) { Long(t, "a test of Long") })
}
