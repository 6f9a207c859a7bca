// Command release builds what a release of restaurants publishes, from the
// version in charts/Chart.yaml (appVersion, equal to the chart's version):
//
//	release version                 print the version
//	release image [-push REF]       linux/amd64 and linux/arm64 images and
//	                                one OCI image index, written to an OCI
//	                                layout in OUT/image, pushed to REF
//	release chart [-push oci://R]   the chart packaged as OUT/restaurants-V.tgz,
//	                                pushed to the OCI registry R
//	release sbom                    a CycloneDX SBOM of the module graph,
//	                                OUT/restaurants-V.cdx.json
//
// OUT is -out (default bin/release). The Makefile's release targets run it,
// and so does the release workflow: what is tested here offline is what a
// tag publishes. Pushes use the Docker credentials (docker login; for the
// chart also helm registry login).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "release:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: release <command> [flags]

commands:
  version   print the version (charts/Chart.yaml appVersion)
  image     build the multi-arch image index (OCI layout), optionally push it
  chart     package the chart, optionally push it to an OCI registry
  sbom      write the CycloneDX SBOM of the module graph

Run "release <command> -h" for a command's flags.
`

// run runs one command with its arguments; output goes to stdout and
// progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	fs := flag.NewFlagSet("release "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "the repository's root")
	out := fs.String("out", "bin/release", "the release output directory")
	switch args[0] {
	case "version":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		v, err := chartVersion(*root)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
		return nil
	case "image":
		push := fs.String("push", "", "push the index to this reference (registry/repository[:tag]; the tag defaults to the version)")
		ca := fs.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA certificates copied into the images")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return imageCommand(ctx, imageOptions{root: *root, out: *out, push: *push, caFile: *ca}, stdout, stderr)
	case "chart":
		push := fs.String("push", "", "push the packaged chart to this OCI registry (oci://host/path)")
		plainHTTP := fs.Bool("plain-http", false, "talk plain HTTP to the registry (a local test registry)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return chartCommand(chartOptions{root: *root, out: *out, push: *push, plainHTTP: *plainHTTP}, stdout)
	case "sbom":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return sbomCommand(ctx, *root, *out, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
