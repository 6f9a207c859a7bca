//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kind/pkg/cluster"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"
	loadimage "sigs.k8s.io/kind/pkg/cmd/kind/load/docker-image"
)

// greeting is what testdata/hello answers (its Greeting constant).
const greeting = "restaurants e2e hello"

// testCluster is a connection to the kind cluster under test.
type testCluster struct {
	name   string
	config *rest.Config
	cs     kubernetes.Interface
}

// connect finds the kind cluster by name; it must exist (make kind-up).
func connect(t *testing.T) testCluster {
	t.Helper()
	name := os.Getenv("RESTAURANTS_KIND_NAME")
	if name == "" {
		name = "restaurants"
	}
	p := cluster.NewProvider(cluster.ProviderWithDocker())
	names, err := p.List()
	if err != nil {
		t.Fatalf("listing kind clusters (is the Docker engine up? hack/docker-engine.sh): %v", err)
	}
	if !slices.Contains(names, name) {
		t.Fatalf("kind cluster %q not found (clusters: %q): run make kind-up first", name, names)
	}
	kc, err := p.KubeConfig(name, false)
	if err != nil {
		t.Fatalf("kubeconfig of %q: %v", name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		t.Fatalf("kubeconfig of %q: %v", name, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("client for %q: %v", name, err)
	}
	return testCluster{name: name, config: rc, cs: cs}
}

// TestKindCluster checks what make kind-up promises: every node Ready,
// CoreDNS and kube-proxy running, the metrics API answering for every node,
// and pods from a locally built image (kind load docker-image) on each
// worker reaching each other directly, through Services and by DNS name
// across nodes, and serving HTTP through a Service and a port-forward.
func TestKindCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := connect(t)
	logStage := stageLogger(t)

	t.Run("NodesReady", func(t *testing.T) {
		eventually(ctx, t, time.Minute, func(ctx context.Context) error { return nodesReady(ctx, c.cs) })
		all, workers, err := clusterNodes(ctx, c.cs)
		if err != nil {
			t.Fatal(err)
		}
		logStage(fmt.Sprintf("%d nodes Ready (%d workers)", len(all), len(workers)))
	})
	for _, sys := range []struct{ name, selector string }{
		{"CoreDNS", "k8s-app=kube-dns"},
		{"KubeProxy", "k8s-app=kube-proxy"},
	} {
		t.Run(sys.name+"Running", func(t *testing.T) {
			eventually(ctx, t, 2*time.Minute, func(ctx context.Context) error {
				return podsRunningReady(ctx, c.cs, "kube-system", sys.selector)
			})
			logStage(sys.name + " Running")
		})
	}
	t.Run("MetricsAPI", func(t *testing.T) {
		eventually(ctx, t, 3*time.Minute, func(ctx context.Context) error {
			return nodeMetricsPresent(ctx, c.cs)
		})
		logStage("metrics API answers with the usage of every node")
	})

	image := buildHelloImage(ctx, t)
	logStage("image " + image + " built")
	loadImage(t, c.name, image)
	logStage("image loaded with kind load docker-image")

	ns := createNamespace(ctx, t, c.cs)
	t.Run("PodNetworkAcrossNodes", func(t *testing.T) {
		checkPodNetwork(ctx, t, c.cs, ns, image, logStage)
	})
	deployHello(ctx, t, c.cs, ns, image)
	logStage("hello Deployment available in " + ns)

	t.Run("ViaService", func(t *testing.T) {
		body := fetchInCluster(ctx, t, c.cs, ns, image, "http://hello."+ns+".svc.cluster.local/")
		if !strings.HasPrefix(body, greeting+" from hello-") {
			t.Fatalf("in-cluster GET through the Service answered %q, want %q from a hello pod", body, greeting)
		}
		logStage("Service answers in cluster: " + strings.TrimSpace(body))
	})
	t.Run("ViaPortForward", func(t *testing.T) {
		body := fetchPortForward(ctx, t, c, ns, "hello", 8080)
		if !strings.HasPrefix(body, greeting+" from hello-") {
			t.Fatalf("GET through the port-forward answered %q, want %q from a hello pod", body, greeting)
		}
		logStage("port-forward answers: " + strings.TrimSpace(body))
	})
}

// stageLogger logs each stage with the time since the test started.
func stageLogger(t *testing.T) func(string) {
	start := time.Now()
	return func(msg string) {
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), msg)
	}
}

// eventually retries check every 2s until it passes or timeout ends, then
// fails the test with the last error that check reported.
func eventually(ctx context.Context, t *testing.T, timeout time.Duration, check func(context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		err := check(ctx)
		if err != nil && ctx.Err() == nil {
			// keep the last failure seen before the deadline, not the deadline itself
			last = err
		}
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("not within %s: %v", timeout, last)
	}
}

// nodesReady fails unless the cluster has nodes and every one is Ready.
func nodesReady(ctx context.Context, cs kubernetes.Interface) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(nodes.Items) == 0 {
		return fmt.Errorf("no nodes")
	}
	for _, n := range nodes.Items {
		if !nodeReady(n) {
			return fmt.Errorf("node %s is not Ready", n.Name)
		}
	}
	return nil
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podsRunningReady(ctx context.Context, cs kubernetes.Interface, ns, selector string) error {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("no pods match %s", selector)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || !podReady(p) {
			return fmt.Errorf("pod %s is %s, not Running and Ready", p.Name, p.Status.Phase)
		}
	}
	return nil
}

// nodeMetricsPresent asks the metrics API what `kubectl top nodes` asks.
func nodeMetricsPresent(ctx context.Context, cs kubernetes.Interface) error {
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("metrics API: %w", err)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Usage map[string]string `json:"usage"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("decoding node metrics: %w", err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	usage := map[string]map[string]string{}
	for _, it := range list.Items {
		usage[it.Metadata.Name] = it.Usage
	}
	for _, n := range nodes.Items {
		u, ok := usage[n.Name]
		if !ok {
			return fmt.Errorf("metrics API has no usage for node %s (it lists %d of %d nodes)", n.Name, len(list.Items), len(nodes.Items))
		}
		if u["cpu"] == "" || u["memory"] == "" {
			return fmt.Errorf("node %s: usage %v lacks cpu or memory", n.Name, u)
		}
	}
	return nil
}

// checkPodNetwork puts a hello server pod and a Service for it on every
// workload node, then a client pod on each of those nodes that resolves
// every Service's name and the API's through CoreDNS and fetches from every
// server pod by its address (pod to pod, across nodes) and through its
// Service (kube-proxy, across nodes). Every answer must come from the
// server it was meant for.
func checkPodNetwork(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, image string, logStage func(string)) {
	nodes, err := workloadNodes(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		name := fmt.Sprintf("hello-%d", i)
		labels := map[string]string{"app": "hello-net", "server": name}
		spec := helloPodSpec(image)
		spec.NodeSelector = map[string]string{corev1.LabelHostname: n.Labels[corev1.LabelHostname]}
		spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
			PeriodSeconds: 2,
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: spec}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", name, err)
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"server": name},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			},
		}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating Service %s: %v", name, err)
		}
	}
	servers := make([]corev1.Pod, len(nodes))
	eventually(ctx, t, 2*time.Minute, func(ctx context.Context) error {
		for i := range nodes {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("hello-%d", i), metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !podReady(*p) || p.Status.PodIP == "" {
				return fmt.Errorf("server pod %s on %s is %s, not Ready; pods: %s", p.Name, p.Spec.NodeName, p.Status.Phase, podStates(ctx, cs, ns))
			}
			servers[i] = *p
		}
		return nil
	})
	var where []string
	for _, p := range servers {
		where = append(where, p.Name+"@"+p.Spec.NodeName+"="+p.Status.PodIP)
	}
	logStage("server pods Ready: " + strings.Join(where, ", "))

	args := []string{"-lookup", "kubernetes.default.svc.cluster.local"}
	want := map[string]string{} // URL -> the server that must answer it
	var urls []string
	for _, p := range servers {
		args = append(args, "-lookup", p.Name+"."+ns+".svc.cluster.local")
		direct := fmt.Sprintf("http://%s/", net.JoinHostPort(p.Status.PodIP, "8080"))
		byName := fmt.Sprintf("http://%s.%s.svc.cluster.local/", p.Name, ns)
		urls = append(urls, direct, byName)
		want[direct], want[byName] = p.Name, p.Name
	}
	args = append(args, urls...)
	clients := make([]string, len(nodes))
	for j, n := range nodes {
		clients[j] = fmt.Sprintf("client-%d", j)
		spec := helloPodSpec(image, args...)
		spec.RestartPolicy = corev1.RestartPolicyNever
		spec.NodeSelector = map[string]string{corev1.LabelHostname: n.Labels[corev1.LabelHostname]}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: clients[j]}, Spec: spec}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating client pod %s: %v", clients[j], err)
		}
	}
	for j, n := range nodes {
		out := waitClient(ctx, t, cs, ns, clients[j])
		answered := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			verb, rest, _ := strings.Cut(line, " ")
			target, result, ok := strings.Cut(rest, " => ")
			if !ok {
				continue
			}
			switch verb {
			case "LOOKUP":
				if net.ParseIP(strings.Split(result, ",")[0]) == nil {
					t.Errorf("client on %s: DNS lookup of %s gave %q", n.Name, target, result)
				}
			case "GET":
				if server := want[target]; result != greeting+" from "+server {
					t.Errorf("client on %s: GET %s answered %q, want %q", n.Name, target, result, greeting+" from "+server)
				}
				answered++
			}
		}
		if answered != len(urls) {
			t.Fatalf("client on %s answered %d of %d URLs:\n%s", n.Name, answered, len(urls), out)
		}
		logStage(fmt.Sprintf("client on %s: DNS, %d pods directly and through their Services answered", n.Name, len(servers)))
	}
}

// waitClient waits for a one-shot client pod to succeed and returns its
// log; a failed pod fails the test with its log.
func waitClient(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	eventually(ctx, t, 3*time.Minute, func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			t.Fatalf("client pod %s on %s failed:\n%s", name, p.Spec.NodeName, podLogs(ctx, cs, ns, name))
		}
		return fmt.Errorf("client pod %s is %s", name, p.Status.Phase)
	})
	return podLogs(ctx, cs, ns, name)
}

// buildHelloImage builds testdata/hello (static) into a FROM scratch image
// tagged by the binary's hash.
func buildHelloImage(ctx context.Context, t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "hello"), "./testdata/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/hello: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	image := "restaurants.local/e2e-hello:" + hex.EncodeToString(sum[:6])
	dockerfile := "FROM scratch\nCOPY hello /hello\nUSER 65534:65534\nENTRYPOINT [\"/hello\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-t", image, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", image, err, out)
	}
	return image
}

// loadImage runs kind's own `kind load docker-image IMAGE --name NAME`.
func loadImage(t *testing.T, clusterName, image string) {
	t.Helper()
	cmd := loadimage.NewCommand(kindcmd.NewLogger(), kindcmd.StandardIOStreams())
	cmd.SetArgs([]string{image, "--name", clusterName})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("kind load docker-image %s: %v", image, err)
	}
}

func createNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	ns := "e2e-kind-" + hex.EncodeToString(suffix)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		if os.Getenv("KEEP_NAMESPACE") != "" {
			t.Logf("keeping namespace %s (KEEP_NAMESPACE set)", ns)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	})
	return ns
}

// helloPodSpec runs the hello image, never pulled: it must come from kind load.
func helloPodSpec(image string, args ...string) corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:            "hello",
			Image:           image,
			ImagePullPolicy: corev1.PullNever,
			Args:            args,
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             ptr.To(true),
				ReadOnlyRootFilesystem:   ptr.To(true),
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

func deployHello(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, image string) {
	t.Helper()
	labels := map[string]string{"app": "hello"}
	spec := helloPodSpec(image)
	spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
		PeriodSeconds: 2,
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Deployment: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service: %v", err)
	}
	eventually(ctx, t, 2*time.Minute, func(ctx context.Context) error {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			return fmt.Errorf("hello: %d available replicas; pods: %s", d.Status.AvailableReplicas, podStates(ctx, cs, ns))
		}
		return nil
	})
}

// podStates summarises a namespace's pods for failure messages.
func podStates(ctx context.Context, cs kubernetes.Interface, ns string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, p := range pods.Items {
		s := p.Name + "=" + string(p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Waiting != nil {
				s += "(" + c.State.Waiting.Reason + ": " + c.State.Waiting.Message + ")"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// fetchInCluster runs the hello image in client mode as a one-shot pod and
// returns what it printed: the body of GET url, resolved by CoreDNS and
// routed by kube-proxy.
func fetchInCluster(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, image, url string) string {
	t.Helper()
	spec := helloPodSpec(image, "-get", url)
	spec.RestartPolicy = corev1.RestartPolicyNever
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client"}, Spec: spec}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating client pod: %v", err)
	}
	eventually(ctx, t, 2*time.Minute, func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "client", metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			t.Fatalf("client pod failed: %s", podLogs(ctx, cs, ns, "client"))
		}
		return fmt.Errorf("client pod is %s", p.Status.Phase)
	})
	return podLogs(ctx, cs, ns, "client")
}

func podLogs(ctx context.Context, cs kubernetes.Interface, ns, name string) string {
	raw, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "(logs: " + err.Error() + ")"
	}
	return string(raw)
}

// fetchPortForward does what `kubectl port-forward svc/NAME :80` does: picks a
// running pod behind the Service and forwards a local port on 127.0.0.1 to
// the Service's target port on it (client-go portforward over SPDY), then GETs /.
func fetchPortForward(ctx context.Context, t *testing.T, c testCluster, ns, service string, targetPort int) string {
	t.Helper()
	svc, err := c.cs.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting Service %s: %v", service, err)
	}
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel, FieldSelector: "status.phase=Running"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no running pod behind Service %s (%s): %v", service, sel, err)
	}
	pod := pods.Items[0].Name

	transport, upgrader, err := spdy.RoundTripperFor(c.config)
	if err != nil {
		t.Fatalf("port-forward transport: %v", err)
	}
	url := c.cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", targetPort)}, stop, ready, io.Discard, os.Stderr)
	if err != nil {
		t.Fatalf("port-forward to %s: %v", pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer close(stop)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward to %s ended: %v", pod, err)
	case <-ctx.Done():
		t.Fatalf("port-forward to %s: %v", pod, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("port-forward ports: %v %v", ports, err)
	}
	local := fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, local, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s (forwarded to %s/%s:%d): %v", local, ns, pod, targetPort, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", local, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", local, resp.StatusCode, body)
	}
	return string(body)
}
