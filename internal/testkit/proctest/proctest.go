// Package proctest runs a command's test binary again as a real process, so
// that its main is tested as users meet it: exit status, output, and the
// name it is started under.
package proctest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Main is a TestMain body: in a process started by Run (marker set to 1 in
// its environment) it runs main instead of the tests.
func Main(m *testing.M, marker string, main func()) {
	if os.Getenv(marker) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// Run starts path (the test binary, or a link to it) with args, the marker
// and env as its whole environment besides PATH, and returns its exit
// status and output.
func Run(t testing.TB, path, marker string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{marker + "=1", "PATH=" + os.Getenv("PATH")}, env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %s %v: %v", path, args, err)
	}
	return code, out.String(), errOut.String()
}
