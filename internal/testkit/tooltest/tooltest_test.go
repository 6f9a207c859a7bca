package tooltest

import (
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
