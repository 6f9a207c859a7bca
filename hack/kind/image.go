package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
)

// pullTimeout bounds one attempt to pull kindest/node.
const pullTimeout = 5 * time.Minute

// localImageRepository is where hack/kind-node/build.sh tags its images.
const localImageRepository = "restaurants.local/kind-node"

// nodeImage picks the node image for the cluster:
//   - the image given with -image;
//   - else kind's own kindest/node when it is present or can be pulled and
//     this host lets its containerd start pods (CAP_SYS_RESOURCE);
//   - else the image built locally by -node-build (cached by its inputs).
func nodeImage(ctx context.Context, o options, log io.Writer) (string, error) {
	if o.image != "" {
		if !imagePresent(ctx, o.image) {
			if err := pull(ctx, o.image, log); err != nil {
				return "", fmt.Errorf("node image %s is neither present nor pullable: %w", o.image, err)
			}
		}
		return o.image, nil
	}
	h, err := detectHost(ctx)
	if err != nil {
		return "", err
	}
	kindest := defaults.Image
	switch {
	case !h.CapSysResource:
		fmt.Fprintf(log, "kind: this sandbox has no CAP_SYS_RESOURCE: the containerd of %s cannot start pods here; using the local node image\n", short(kindest))
	case imagePresent(ctx, kindest):
		return kindest, nil
	default:
		if err := pull(ctx, kindest, log); err == nil {
			return kindest, nil
		}
		fmt.Fprintf(log, "kind: %s cannot be pulled (no registry?); using the local node image\n", short(kindest))
	}
	return buildLocal(ctx, o.nodeBuild, log)
}

// buildLocal runs the node image build script (a no-op when the image of the
// current inputs exists) and returns the reference it prints last.
func buildLocal(ctx context.Context, script string, log io.Writer) (string, error) {
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("node image build script: %w (run from the repository root)", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, script)
	cmd.Stdout = &out
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the local node image with %s: %w", script, err)
	}
	lines := strings.Fields(out.String())
	if len(lines) == 0 {
		return "", fmt.Errorf("%s printed no image reference", script)
	}
	return lines[len(lines)-1], nil
}

func imagePresent(ctx context.Context, image string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", image).Run() == nil
}

func pull(ctx context.Context, image string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	fmt.Fprintf(log, "kind: pulling %s\n", short(image))
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "pull", image)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker pull %s: %w: %s", short(image), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// short drops the digest from an image reference, for messages.
func short(image string) string {
	name, _, _ := strings.Cut(image, "@")
	return name
}
