package main

import (
	"os"
	"strings"
	"testing"
)

func TestRepositoryConfigParses(t *testing.T) {
	raw, err := os.ReadFile("../../k8s/kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "restaurants" {
		t.Errorf("cluster name = %q, want restaurants", cfg.Name)
	}
	if len(cfg.Nodes) != 3 || cfg.Nodes[0].Role != "control-plane" || workerCount(cfg) != 2 {
		t.Errorf("nodes = %+v, want one control-plane node and two workers", cfg.Nodes)
	}
	if len(cfg.KubeadmConfigPatches) != 0 {
		t.Errorf("k8s/kind.yaml carries host adaptations: %q", cfg.KubeadmConfigPatches)
	}
}

func TestParseConfigRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"unknown field": "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodez: []\n",
		"wrong kind":    "kind: Pod\napiVersion: kind.x-k8s.io/v1alpha4\n",
		"wrong version": "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n",
	} {
		if _, err := parseConfig([]byte(raw)); err == nil {
			t.Errorf("%s: parseConfig accepted %q", name, raw)
		}
	}
}

func TestAdaptConfigCgroupV1(t *testing.T) {
	cfg, err := parseConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if notes := adaptConfig(cfg, hostInfo{CgroupVersion: "2"}); len(notes) != 0 || len(cfg.KubeadmConfigPatches) != 0 {
		t.Fatalf("cgroup v2 host: notes %q, patches %q; want none", notes, cfg.KubeadmConfigPatches)
	}
	notes := adaptConfig(cfg, hostInfo{CgroupVersion: "1"})
	if len(notes) != 1 || len(cfg.KubeadmConfigPatches) != 1 {
		t.Fatalf("cgroup v1 host: notes %q, patches %q; want one each", notes, cfg.KubeadmConfigPatches)
	}
	if p := cfg.KubeadmConfigPatches[0]; !strings.Contains(p, "kind: KubeletConfiguration") || !strings.Contains(p, "failCgroupV1: false") {
		t.Errorf("patch = %q", p)
	}
}

func TestBoundingHas(t *testing.T) {
	const withAll = "Name:\tx\nCapBnd:\t000001ffffffffff\n"
	const withoutSysResource = "Name:\tx\nCapBnd:\t000001fffeffffff\n"
	if ok, err := boundingHas(withAll, capSysResource); err != nil || !ok {
		t.Errorf("full set: got %v, %v; want true", ok, err)
	}
	if ok, err := boundingHas(withoutSysResource, capSysResource); err != nil || ok {
		t.Errorf("set without CAP_SYS_RESOURCE: got %v, %v; want false", ok, err)
	}
	if _, err := boundingHas("Name:\tx\n", capSysResource); err == nil {
		t.Error("no CapBnd line: want an error")
	}
	if _, err := boundingHas("CapBnd:\tzz\n", capSysResource); err == nil {
		t.Error("bad CapBnd: want an error")
	}
}

func TestSetWorkers(t *testing.T) {
	const raw = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n" +
		"  - role: control-plane\n    labels: {cp: \"yes\"}\n" +
		"  - role: worker\n    labels: {pool: a}\n  - role: worker\n"
	for _, tc := range []struct {
		n, nodes, workers int
	}{{-1, 3, 2}, {0, 1, 0}, {1, 2, 1}, {4, 5, 4}} {
		cfg, err := parseConfig([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := setWorkers(cfg, tc.n); err != nil {
			t.Fatalf("setWorkers(%d): %v", tc.n, err)
		}
		if len(cfg.Nodes) != tc.nodes || workerCount(cfg) != tc.workers {
			t.Errorf("setWorkers(%d): %d nodes, %d workers; want %d, %d", tc.n, len(cfg.Nodes), workerCount(cfg), tc.nodes, tc.workers)
		}
		if cfg.Nodes[0].Role != "control-plane" || cfg.Nodes[0].Labels["cp"] != "yes" {
			t.Errorf("setWorkers(%d): first node %+v, want the config's control-plane node", tc.n, cfg.Nodes[0])
		}
		if tc.n > 0 && cfg.Nodes[len(cfg.Nodes)-1].Labels["pool"] != "a" {
			t.Errorf("setWorkers(%d): workers %+v do not copy the first worker's settings", tc.n, cfg.Nodes[1:])
		}
	}
	cfg, err := parseConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: worker\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := setWorkers(cfg, 1); err == nil {
		t.Error("config without a control-plane node: want an error")
	}
}
