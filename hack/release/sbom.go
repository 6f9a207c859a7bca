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

// sbomFile is the CycloneDX SBOM under out of the binary for p: the
// modules linked into it, read from its build information.
func sbomFile(out, version string, p platform) string {
	return filepath.Join(out, "restaurants-"+version+"-"+p.os+"-"+p.arch+".cdx.json")
}

// modulesSBOMFile is the CycloneDX SBOM under out of the module graph: every
// module the repository requires, the tools, the e2e and the kind tooling
// included.
func modulesSBOMFile(out, version string) string {
	return filepath.Join(out, "restaurants-"+version+".modules.cdx.json")
}

// sbomCommand writes the SBOMs with cyclonedx-gomod, the tool pinned in
// go.mod (go tool cyclonedx-gomod): one per platform's binary (built as the
// image's, so from the build cache after release image) and one of the
// module graph.
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
	for _, p := range platforms {
		bin, err := buildBinary(ctx, abs, filepath.Join(outAbs, "binaries"), p, version)
		if err != nil {
			return err
		}
		file := sbomFile(outAbs, version, p)
		if err := goCommand(ctx, abs, nil, "tool", "cyclonedx-gomod", "bin", "-json", "-version", "v"+version, "-output", file, bin); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sbom\t%s\n", file)
	}
	// The module graph's SBOM hashes every module's files, so each must be
	// in the module cache, not only those a build needs; it reads the main
	// module's version from the git checkout.
	if err := goCommand(ctx, abs, nil, "mod", "download"); err != nil {
		return err
	}
	modules := modulesSBOMFile(outAbs, version)
	if err := goCommand(ctx, abs, nil, "tool", "cyclonedx-gomod", "mod", "-json", "-output", modules, abs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sbom\t%s\n", modules)
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
