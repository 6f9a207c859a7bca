package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// capSysResource is CAP_SYS_RESOURCE's bit in a capability set.
const capSysResource = 24

// kubeletCgroupV1Patch lets a Kubernetes v1.35+ kubelet start on a cgroup v1
// host (it refuses by default). Added only when the Docker engine reports
// cgroup v1; k8s/kind.yaml itself stays host-independent.
const kubeletCgroupV1Patch = `kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
failCgroupV1: false
`

// hostInfo is what the Docker engine and this process tell about the host.
type hostInfo struct {
	// CgroupVersion is "1" or "2", as `docker info` reports it.
	CgroupVersion string
	// CapSysResource reports whether CAP_SYS_RESOURCE is in this process's
	// capability bounding set; containers cannot get it when it is not.
	CapSysResource bool
}

// loadConfig reads a kind cluster configuration (kind.x-k8s.io/v1alpha4).
func loadConfig(path string) (*v1alpha4.Cluster, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading kind config: %w", err)
	}
	return parseConfig(raw)
}

func parseConfig(raw []byte) (*v1alpha4.Cluster, error) {
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parsing kind config: %w", err)
	}
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("parsing kind config: want kind Cluster, apiVersion kind.x-k8s.io/v1alpha4, got %q %q", cfg.Kind, cfg.APIVersion)
	}
	return &cfg, nil
}

// setWorkers makes cfg one control-plane node and n workers (n < 0 leaves
// cfg as it is). The first control-plane node of cfg is kept, with its
// settings; workers copy the first worker's settings when cfg has one.
func setWorkers(cfg *v1alpha4.Cluster, n int) error {
	if n < 0 {
		return nil
	}
	var cp, worker *v1alpha4.Node
	for i := range cfg.Nodes {
		switch cfg.Nodes[i].Role {
		case v1alpha4.ControlPlaneRole:
			if cp == nil {
				cp = &cfg.Nodes[i]
			}
		case v1alpha4.WorkerRole:
			if worker == nil {
				worker = &cfg.Nodes[i]
			}
		}
	}
	if cp == nil {
		return fmt.Errorf("kind config has no control-plane node")
	}
	nodes := []v1alpha4.Node{*cp}
	for range n {
		w := v1alpha4.Node{Role: v1alpha4.WorkerRole}
		if worker != nil {
			w = *worker
		}
		nodes = append(nodes, w)
	}
	cfg.Nodes = nodes
	return nil
}

// workerCount is the number of worker nodes in cfg.
func workerCount(cfg *v1alpha4.Cluster) int {
	n := 0
	for _, node := range cfg.Nodes {
		if node.Role == v1alpha4.WorkerRole {
			n++
		}
	}
	return n
}

// adaptConfig adds what the host needs to cfg and returns one line per
// change, for the log.
func adaptConfig(cfg *v1alpha4.Cluster, h hostInfo) []string {
	var notes []string
	if h.CgroupVersion == "1" {
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, kubeletCgroupV1Patch)
		notes = append(notes, "host uses cgroup v1: kubelet configured with failCgroupV1: false")
	}
	return notes
}

// detectHost asks the Docker engine for its cgroup version and reads this
// process's capability bounding set.
func detectHost(ctx context.Context) (hostInfo, error) {
	var h hostInfo
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{json .}}").Output()
	if err != nil {
		return h, fmt.Errorf("the Docker engine does not answer (run hack/docker-engine.sh to install and start one): %w", err)
	}
	var info struct {
		CgroupVersion string `json:"CgroupVersion"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &info); err != nil {
		return h, fmt.Errorf("parsing docker info: %w", err)
	}
	h.CgroupVersion = info.CgroupVersion
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return h, fmt.Errorf("reading capabilities: %w", err)
	}
	h.CapSysResource, err = boundingHas(string(status), capSysResource)
	if err != nil {
		return h, err
	}
	return h, nil
}

// boundingHas reports whether the CapBnd line of a /proc/PID/status text has
// capability bit set.
func boundingHas(status string, bit uint) (bool, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("parsing CapBnd %q: %w", strings.TrimSpace(v), err)
		}
		return mask&(1<<bit) != 0, nil
	}
	return false, fmt.Errorf("no CapBnd line in process status")
}
