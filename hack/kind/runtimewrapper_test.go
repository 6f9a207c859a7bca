package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The runtime wrapper (hack/runc-nosysresource) is what makes Docker and the
// node's containerd work in sandboxes without CAP_SYS_RESOURCE; these tests
// run it with a stand-in runc that prints its arguments.

func runWrapper(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed (the wrapper needs it; hack/docker-engine.sh installs it)")
	}
	cmd := exec.Command("../runc-nosysresource", args...)
	cmd.Env = append(os.Environ(), "RUNC_REAL=/bin/echo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrapper %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

type process struct {
	OOMScoreAdj  *int                `json:"oomScoreAdj,omitempty"`
	Capabilities map[string][]string `json:"capabilities,omitempty"`
	Args         []string            `json:"args,omitempty"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func caps() map[string][]string {
	all := []string{"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"}
	return map[string][]string{"bounding": all, "effective": all, "permitted": all}
}

func TestWrapperCreateEditsBundle(t *testing.T) {
	bundle := t.TempDir()
	adj := -998
	writeJSON(t, filepath.Join(bundle, "config.json"), map[string]any{
		"process": process{OOMScoreAdj: &adj, Capabilities: caps(), Args: []string{"/pause"}},
	})
	out := runWrapper(t, "--root", "/run/runc", "--log", "/dev/null", "create", "--bundle", bundle, "ctr1")
	if out != "--root /run/runc --log /dev/null create --bundle "+bundle+" ctr1" {
		t.Errorf("runc got %q, want the arguments unchanged", out)
	}
	var spec struct{ Process process }
	readJSON(t, filepath.Join(bundle, "config.json"), &spec)
	for set, list := range spec.Process.Capabilities {
		if slices.Contains(list, "CAP_SYS_RESOURCE") {
			t.Errorf("%s still has CAP_SYS_RESOURCE: %q", set, list)
		}
		if !slices.Contains(list, "CAP_SYS_ADMIN") {
			t.Errorf("%s lost other capabilities: %q", set, list)
		}
	}
	if spec.Process.OOMScoreAdj == nil || *spec.Process.OOMScoreAdj != 0 {
		t.Errorf("oomScoreAdj = %v, want 0", spec.Process.OOMScoreAdj)
	}
	if !slices.Equal(spec.Process.Args, []string{"/pause"}) {
		t.Errorf("args changed: %q", spec.Process.Args)
	}
}

func TestWrapperKeepsPositiveOOMScoreAdj(t *testing.T) {
	bundle := t.TempDir()
	adj := 1000
	writeJSON(t, filepath.Join(bundle, "config.json"), map[string]any{"process": process{OOMScoreAdj: &adj}})
	runWrapper(t, "run", "-b", bundle, "ctr2")
	var spec struct{ Process process }
	readJSON(t, filepath.Join(bundle, "config.json"), &spec)
	if spec.Process.OOMScoreAdj == nil || *spec.Process.OOMScoreAdj != 1000 {
		t.Errorf("oomScoreAdj = %v, want 1000 kept", spec.Process.OOMScoreAdj)
	}
}

func TestWrapperExecEditsProcessFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "process.json")
	writeJSON(t, p, process{Capabilities: caps(), Args: []string{"sh"}})
	runWrapper(t, "exec", "--process", p, "--detach", "ctr3")
	var got process
	readJSON(t, p, &got)
	for set, list := range got.Capabilities {
		if slices.Contains(list, "CAP_SYS_RESOURCE") {
			t.Errorf("%s still has CAP_SYS_RESOURCE: %q", set, list)
		}
	}
}

func TestWrapperPassesOtherCommands(t *testing.T) {
	if out := runWrapper(t, "--root", "/run/runc", "state", "ctr4"); out != "--root /run/runc state ctr4" {
		t.Errorf("runc got %q", out)
	}
}
