//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chartRepoRoot finds the repository root (the directory holding go.mod)
// from the test's working directory, so that hack/ and charts/ are found
// wherever go test runs the package.
func chartRepoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory: run the test from the repository")
		}
		dir = parent
	}
}

// chartExec runs a command in dir with extra environment variables and
// returns its combined output; the error says which command failed and
// ends with the output's last lines.
func chartExec(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		var notFound *exec.Error
		if errors.As(err, &notFound) {
			return out.String(), fmt.Errorf("%s is not installed or not on PATH: %w", name, err)
		}
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, chartTail(out.String(), 40))
	}
	return out.String(), nil
}

// chartExitStatus is the exit status part of a chartExec error, or "ok".
func chartExitStatus(err error) string {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &exit):
		return exit.String()
	}
	return err.Error()
}

// chartTail returns the last n lines of s.
func chartTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// chartHelm runs the helm pinned by go.mod (go tool helm) against the kind
// cluster through its own kubeconfig file.
type chartHelm struct {
	root       string
	kubeconfig string
	namespace  string
}

// run runs `go tool helm ARGS --namespace NS --kubeconfig FILE`.
func (h chartHelm) run(ctx context.Context, args ...string) (string, error) {
	args = append(append([]string{"tool", "helm"}, args...), "--namespace", h.namespace, "--kubeconfig", h.kubeconfig)
	return chartExec(ctx, h.root, nil, "go", args...)
}

// chartSetArgs turns ordered key=value pairs into --set flags.
func chartSetArgs(values [][2]string) []string {
	var args []string
	for _, kv := range values {
		args = append(args, "--set", kv[0]+"="+kv[1])
	}
	return args
}

// chartBuildImage runs one of the repository's image scripts (hack/image.sh,
// hack/curl-image.sh) with IMAGE set, and returns its last output line.
func chartBuildImage(ctx context.Context, t *testing.T, root, script, image string) string {
	t.Helper()
	out, err := chartExec(ctx, root, []string{"IMAGE=" + image}, filepath.Join(root, script))
	if err != nil {
		t.Fatalf("building %s with %s: %v", image, script, err)
	}
	return chartTail(out, 1)
}
