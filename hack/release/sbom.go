package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sbomFiles are the release's two CycloneDX SBOMs under out for version:
// the image's binary (the modules linked into it, from its main package's
// imports) and the module graph (every module the repository requires,
// the tools, the e2e and the kind tooling included).
func sbomFiles(out, version string) (binary, modules string) {
	base := filepath.Join(out, "restaurants-"+version)
	return base + ".cdx.json", base + ".modules.cdx.json"
}

// sbomCommand writes both SBOMs with cyclonedx-gomod, the tool pinned in
// go.mod (go tool cyclonedx-gomod).
func sbomCommand(ctx context.Context, root, out string, stdout io.Writer) error {
	version, err := chartVersion(root)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("repository root: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("release output: %w", err)
	}
	outAbs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("release output: %w", err)
	}
	binary, modules := sbomFiles(outAbs, version)
	// The module graph's SBOM hashes every module's files, so each must be
	// in the module cache, not only those a build needs.
	if err := goCommand(ctx, abs, nil, "mod", "download"); err != nil {
		return err
	}
	// The binary's modules for linux/amd64; arm64's are the same (no
	// package of the relay is built per architecture).
	if err := goCommand(ctx, abs, []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"},
		"tool", "cyclonedx-gomod", "app", "-json", "-main", mainPackage, "-output", binary, abs); err != nil {
		return err
	}
	if err := goCommand(ctx, abs, nil, "tool", "cyclonedx-gomod", "mod", "-json", "-output", modules, abs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sbom\t%s\nsbom\t%s\n", binary, modules)
	return nil
}

// goCommand runs the go command in dir with env added.
func goCommand(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}
