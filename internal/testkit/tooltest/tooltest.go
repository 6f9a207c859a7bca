// Package tooltest finds the real programs that tests run beside the
// project: redis-server, prometheus and promtool, chromium, nginx. They come
// from Debian packages that `make test` installs (hack/test-deps.sh). Where
// one is missing, a test says which package to install and skips; under CI
// (CI set to a true value) it fails instead, so that a test meant to run can
// never pass by skipping.
//
// It also draws the line between the two test tiers: under `go test -short`
// (`make test-short`, nothing installed but Go) every test that needs a real
// program (Require) or takes long (Long) skips, saying so; `make test` runs
// them all.
package tooltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Tool is a program a test needs, by its name on PATH.
type Tool string

// The programs the project's tests use.
const (
	RedisServer Tool = "redis-server"
	Prometheus  Tool = "prometheus"
	Promtool    Tool = "promtool"
	Chromium    Tool = "chromium"
	Nginx       Tool = "nginx"
)

// Package is the Debian package that installs the program.
func (tl Tool) Package() string {
	switch tl {
	case Promtool:
		return "prometheus"
	case Nginx:
		return "nginx-light"
	default:
		return string(tl)
	}
}

// Find returns the program's path, or "" when it is not installed. It looks
// on PATH, then in /usr/sbin and /usr/bin, where Debian puts some daemons
// outside a user's PATH.
func (tl Tool) Find() string {
	if p, err := exec.LookPath(string(tl)); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, string(tl))
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Require returns the program's path. Under -short the test skips: the fast
// tier runs no real program. When the program is missing the test skips with
// the command that installs it, or fails under CI.
func Require(t testing.TB, tl Tool) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real " + string(tl) + ": skipped under -short (make test runs it)")
	}
	if p := tl.Find(); p != "" {
		return p
	}
	msg := string(tl) + " is not installed: run `make test-deps` or `sudo apt-get install " + tl.Package() + "`"
	if InCI() {
		t.Fatal(msg + " (CI is set, so this test must run)")
	}
	t.Skip(msg)
	return ""
}

// InCI reports whether the tests run under CI: the CI environment variable
// holds a true value, as CI services and .ci/run set it.
func InCI() bool {
	v, ok := os.LookupEnv("CI")
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// Long skips the test under -short: it takes long (why says what), so only
// the full suite, `make test`, runs it.
func Long(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("takes long (" + why + "): skipped under -short (make test runs it)")
	}
}
