package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// mainPackage is the multi-call binary: the relay, and menu-api,
// restaurant-menu and loadtest by the name it is started under.
const mainPackage = "./cmd/restaurants"

// commands are the names the image links to the binary; the first is the
// binary itself.
var commands = []string{"restaurants", "menu-api", "restaurant-menu", "loadtest"}

// platforms are the image's platforms, in the index's order.
var platforms = []platform{{os: "linux", arch: "amd64"}, {os: "linux", arch: "arm64"}}

// platform is one os/arch pair.
type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "/" + p.arch }

// ldflags are the linker flags of a release build, as the Makefile's.
func ldflags(version string) string {
	return "-s -w -X main.version=" + version
}

// buildBinary cross-compiles the multi-call binary for p into dir and
// returns its path: static (CGO_ENABLED=0), without paths of the build
// machine (-trimpath), stripped, stamped with version.
func buildBinary(ctx context.Context, root, dir string, p platform, version string) (string, error) {
	out := filepath.Join(dir, p.os+"-"+p.arch, commands[0])
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags(version), "-o", out, mainPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build for %s: %w\n%s", p, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}
