// Command kind creates and deletes the restaurants kind cluster with the
// sigs.k8s.io/kind library, on hosts with or without a container registry.
//
//	go run ./hack/kind up      create the cluster (or reuse a healthy one with the
//	                           same nodes), install metrics-server, print the nodes
//	                           and kube-system pods; -workers N sets the workers
//	go run ./hack/kind down    delete the cluster
//	go run ./hack/kind image   print the node image "up" would use, building it
//	                           locally (hack/kind-node) when kindest/node cannot run
//	go run ./hack/kind kind …  the kind command line itself, e.g.
//	                           kind load docker-image IMAGE --name restaurants
//
// Every flag can also be set through the environment (RESTAURANTS_KIND_NAME,
// RESTAURANTS_KIND_IMAGE, …).
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
	"time"

	"github.com/scilifelab/restaurants/internal/envflag"
	"sigs.k8s.io/kind/cmd/kind/app"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"
)

// envPrefix prefixes the environment variables of this command's flags.
const envPrefix = "RESTAURANTS_KIND"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "kind:", err)
		os.Exit(1)
	}
}

// options are the settings shared by the subcommands.
type options struct {
	name       string
	config     string
	image      string
	nodeBuild  string
	wait       time.Duration
	kubeconfig string
	// workers is the number of worker nodes; -1 keeps the config's nodes.
	workers int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	if cmd == "kind" {
		// the real kind CLI, pinned by go.mod
		return app.Run(kindcmd.NewLogger(), kindcmd.StandardIOStreams(), rest)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.name, "name", "restaurants", "kind cluster name")
	fs.StringVar(&o.config, "config", "k8s/kind.yaml", "kind cluster configuration file")
	fs.StringVar(&o.image, "image", "", "node image to use (default: kindest/node when it can be pulled and run here, else the locally built one)")
	fs.StringVar(&o.nodeBuild, "node-build", "hack/kind-node/build.sh", "script that builds the local node image and prints its reference last")
	fs.DurationVar(&o.wait, "wait", 8*time.Minute, "how long to wait for the cluster to become ready")
	fs.IntVar(&o.workers, "workers", -1, "worker nodes beside the control plane (0: one node that runs everything; -1: as the config file says)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file to update (default: kind's, $KUBECONFIG or ~/.kube/config)")
	if err := envflag.Parse(fs, envPrefix, rest, os.LookupEnv); err != nil {
		return err
	}
	switch cmd {
	case "up":
		return up(ctx, o, stdout, stderr)
	case "down":
		return down(ctx, o, stderr)
	case "image":
		img, err := nodeImage(ctx, o, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, img)
		return nil
	default:
		usage(stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: go run ./hack/kind COMMAND [flags]

commands:
  up      create the kind cluster (or reuse a healthy one with the same nodes),
          install metrics-server, wait until it is ready and print the nodes and
          the kube-system pods (-workers N: N workers beside the control plane)
  down    delete the kind cluster
  image   print the node image "up" uses (builds the local one if needed)
  kind    run the kind command line (e.g. kind load docker-image IMAGE --name restaurants)

run "go run ./hack/kind up -h" for the flags.
`)
}
