package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"
)

// metricsServerManifest is metrics-server v0.8.0 for kind (see the file).
//
//go:embed metrics-server.yaml
var metricsServerManifest []byte

// nodeKubeconfig is the admin kubeconfig inside a kind control-plane node.
const nodeKubeconfig = "--kubeconfig=/etc/kubernetes/admin.conf"

func newProvider() *cluster.Provider {
	return cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(kindcmd.NewLogger()))
}

// up creates the cluster, or reuses it when it is already up and healthy,
// then installs metrics-server, waits for everything and prints the state.
func up(ctx context.Context, o options, stdout, log io.Writer) error {
	start := time.Now()
	h, err := detectHost(ctx)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	if err := setWorkers(cfg, o.workers); err != nil {
		return err
	}
	p := newProvider()
	reuse, err := reusable(ctx, p, o.name, workerCount(cfg), log)
	if err != nil {
		return err
	}
	if !reuse {
		if err := create(ctx, p, cfg, o, h, log); err != nil {
			return err
		}
	}
	cs, err := clientset(p, o.name)
	if err != nil {
		return err
	}
	cp, err := controlPlane(p, o.name)
	if err != nil {
		return err
	}
	if reuse {
		if note := staleImage(ctx, o, cp.String()); note != "" {
			step(log, note)
		}
		// the context may have been removed from the kubeconfig since creation
		if err := p.ExportKubeConfig(o.name, o.kubeconfig, false); err != nil {
			return fmt.Errorf("exporting the kubeconfig of cluster %q: %w", o.name, err)
		}
	}
	step(log, "installing metrics-server")
	var applyErr bytes.Buffer
	if err := cp.CommandContext(ctx, "kubectl", nodeKubeconfig, "apply", "-f", "-").
		SetStdin(bytes.NewReader(metricsServerManifest)).SetStdout(io.Discard).SetStderr(&applyErr).Run(); err != nil {
		return fmt.Errorf("installing metrics-server: %w: %s", err, strings.TrimSpace(applyErr.String()))
	}
	if err := waitHealthy(ctx, cs, o.wait, log); err != nil {
		printState(ctx, cp, stdout)
		return err
	}
	printState(ctx, cp, stdout)
	fmt.Fprintf(log, "kind: cluster %q is up (%s); kubectl context kind-%s\n", o.name, time.Since(start).Round(time.Second), o.name)
	return nil
}

// reusable reports whether a cluster of that name exists with that many
// workers and answers with Ready nodes; an unhealthy one, or one with
// another number of workers, is deleted.
func reusable(ctx context.Context, p *cluster.Provider, name string, workers int, log io.Writer) (bool, error) {
	names, err := p.List()
	if err != nil {
		return false, fmt.Errorf("listing kind clusters: %w", err)
	}
	if !slices.Contains(names, name) {
		return false, nil
	}
	have, err := clusterWorkers(p, name)
	if err != nil {
		return false, err
	}
	if have != workers {
		step(log, fmt.Sprintf("cluster %q has %d workers, %d wanted: recreating it", name, have, workers))
		if err := p.Delete(name, ""); err != nil {
			return false, fmt.Errorf("deleting cluster %q: %w", name, err)
		}
		return false, nil
	}
	cs, err := clientset(p, name)
	if err == nil {
		checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = waitNodesReady(checkCtx, cs)
		cancel()
		if err == nil {
			step(log, fmt.Sprintf("cluster %q exists with %d workers and its nodes are Ready: reusing it", name, workers))
			return true, nil
		}
	}
	step(log, fmt.Sprintf("cluster %q exists but is not healthy (%v): recreating it", name, err))
	if err := p.Delete(name, ""); err != nil {
		return false, fmt.Errorf("deleting unhealthy cluster %q: %w", name, err)
	}
	return false, nil
}

// clusterWorkers counts the worker nodes (containers) of a kind cluster.
func clusterWorkers(p *cluster.Provider, name string) (int, error) {
	all, err := p.ListNodes(name)
	if err != nil {
		return 0, fmt.Errorf("listing nodes of cluster %q: %w", name, err)
	}
	n := 0
	for _, node := range all {
		role, err := node.Role()
		if err != nil {
			return 0, fmt.Errorf("role of node %s: %w", node, err)
		}
		if role == "worker" {
			n++
		}
	}
	return n, nil
}

func create(ctx context.Context, p *cluster.Provider, cfg *v1alpha4.Cluster, o options, h hostInfo, log io.Writer) error {
	for _, note := range adaptConfig(cfg, h) {
		step(log, note)
	}
	image, err := nodeImage(ctx, o, log)
	if err != nil {
		return err
	}
	step(log, fmt.Sprintf("creating cluster %q (1 control-plane node, %d workers) with node image %s", o.name, workerCount(cfg), short(image)))
	if err := p.Create(o.name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithNodeImage(image),
		cluster.CreateWithWaitForReady(o.wait),
		cluster.CreateWithKubeconfigPath(o.kubeconfig),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	); err != nil {
		return fmt.Errorf("creating kind cluster %q: %w", o.name, err)
	}
	return nil
}

// staleImage tells when a reused cluster runs another node image than the
// one asked for (-image) or than the local build's current inputs give.
func staleImage(ctx context.Context, o options, container string) string {
	out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.Config.Image}}", container).Output()
	if err != nil {
		return ""
	}
	running := strings.TrimSpace(string(out))
	want := o.image
	if want == "" && strings.HasPrefix(running, localImageRepository+":") {
		out, err := exec.CommandContext(ctx, o.nodeBuild, "--print").Output()
		if err != nil {
			return ""
		}
		want = strings.TrimSpace(string(out))
	}
	if want == "" || want == running {
		return ""
	}
	return fmt.Sprintf("note: the cluster runs node image %s, not %s; make kind-down kind-up to switch", short(running), short(want))
}

// down deletes the cluster and its kubeconfig entry.
func down(ctx context.Context, o options, log io.Writer) error {
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		step(log, "the Docker engine does not answer: no kind cluster can be running, nothing to delete")
		return nil
	}
	p := newProvider()
	names, err := p.List()
	if err != nil {
		return fmt.Errorf("listing kind clusters: %w", err)
	}
	if !slices.Contains(names, o.name) {
		step(log, fmt.Sprintf("no cluster %q: nothing to delete", o.name))
		return nil
	}
	if err := p.Delete(o.name, o.kubeconfig); err != nil {
		return fmt.Errorf("deleting kind cluster %q: %w", o.name, err)
	}
	step(log, fmt.Sprintf("cluster %q deleted", o.name))
	return nil
}

// clientset connects to the cluster through the kubeconfig kind reports.
func clientset(p *cluster.Provider, name string) (kubernetes.Interface, error) {
	kc, err := p.KubeConfig(name, false)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %q: %w", name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %q: %w", name, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client for cluster %q: %w", name, err)
	}
	return cs, nil
}

func controlPlane(p *cluster.Provider, name string) (nodes.Node, error) {
	all, err := p.ListNodes(name)
	if err != nil {
		return nil, fmt.Errorf("listing nodes of cluster %q: %w", name, err)
	}
	n, err := nodeutils.BootstrapControlPlaneNode(all)
	if err != nil {
		return nil, fmt.Errorf("control-plane node of cluster %q: %w", name, err)
	}
	return n, nil
}

// printState shows what `kubectl get nodes`, `kubectl -n kube-system get pods`
// and `kubectl top nodes` show, run with the node's own kubectl.
func printState(ctx context.Context, cp nodes.Node, w io.Writer) {
	for _, args := range [][]string{
		{"get", "nodes", "-o", "wide"},
		{"get", "pods", "-n", "kube-system", "-o", "wide"},
		{"top", "nodes"},
	} {
		fmt.Fprintf(w, "\n$ kubectl %s\n", strings.Join(args, " "))
		cmd := cp.CommandContext(ctx, "kubectl", append([]string{nodeKubeconfig}, args...)...).SetStdout(w).SetStderr(w)
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(w, "(failed: %v)\n", err)
		}
	}
}

func step(w io.Writer, msg string) {
	fmt.Fprintf(w, "kind: [%s] %s\n", time.Now().UTC().Format("15:04:05"), msg)
}
