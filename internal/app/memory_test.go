package app

import (
	"math"
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestMemoryLimit(t *testing.T) {
	c := Config{CacheMaxMB: 64, UpstreamMaxInflight: 8, MaxBody: 1 << 20}
	if got, want := MemoryLimit(c), int64(64+8+32)<<20; got != want {
		t.Fatalf("MemoryLimit = %d, want %d", got, want)
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		fs   fstest.MapFS
		want int64
	}{
		"v2 limit":     {fstest.MapFS{"memory.max": {Data: []byte("268435456\n")}}, 256 << 20},
		"v2 unlimited": {fstest.MapFS{"memory.max": {Data: []byte("max\n")}}, 0},
		"v1 limit":     {fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("134217728\n")}}, 128 << 20},
		"v1 unlimited": {fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}, 0},
		"none":         {fstest.MapFS{}, 0},
		"garbage":      {fstest.MapFS{"memory.max": {Data: []byte("lots")}}, 0},
	} {
		if got := CgroupMemoryLimit(tc.fs); got != tc.want {
			t.Errorf("%s: CgroupMemoryLimit = %d, want %d", name, got, tc.want)
		}
	}
	if got := CgroupMemoryLimit(nil); got != 0 {
		t.Errorf("no cgroup file system: %d", got)
	}
}

func restoreGC(t *testing.T) {
	prevGC := debug.SetGCPercent(77)
	prevLimit := debug.SetMemoryLimit(123 << 20)
	t.Cleanup(func() {
		debug.SetGCPercent(prevGC)
		debug.SetMemoryLimit(prevLimit)
	})
}

func TestTuneMemoryLeavesTheEnvironmentsChoice(t *testing.T) {
	restoreGC(t)
	c := Config{CacheMaxMB: 16, UpstreamMaxInflight: 4, MaxBody: 1 << 20}

	m := TuneMemory(c, env(map[string]string{"GOGC": "77", "GOMEMLIMIT": "123MiB"}), nil)
	if m.GCPercent != -1 || m.Limit != 0 {
		t.Fatalf("with GOGC and GOMEMLIMIT set: %+v, want nothing changed", m)
	}
	if gc := debug.SetGCPercent(77); gc != 77 {
		t.Fatalf("GC percent changed to %d", gc)
	}
	if l := debug.SetMemoryLimit(-1); l != 123<<20 {
		t.Fatalf("memory limit changed to %d", l)
	}

	m = TuneMemory(c, env(nil), nil)
	if m.GCPercent != gcPercent || m.Limit != MemoryLimit(c) || !m.Fits {
		t.Fatalf("TuneMemory = %+v", m)
	}
	if gc := debug.SetGCPercent(77); gc != gcPercent {
		t.Fatalf("GC percent = %d, want %d", gc, gcPercent)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != MemoryLimit(c) {
		t.Fatalf("memory limit = %d, want %d", l, MemoryLimit(c))
	}
}

// In a container, the soft limit stays under the container's limit, and a
// cache too large for it is reported.
func TestTuneMemoryInAContainer(t *testing.T) {
	restoreGC(t)
	c := Config{CacheMaxMB: 64, UpstreamMaxInflight: 16, MaxBody: 1 << 20} // needs 112 MiB
	roomy := fstest.MapFS{"memory.max": {Data: []byte("268435456")}}       // 256 MiB
	if m := TuneMemory(c, env(nil), roomy); m.Limit != MemoryLimit(c) || !m.Fits || m.Container != 256<<20 {
		t.Errorf("256 MiB container: %+v, want the relay's own limit", m)
	}
	tight := fstest.MapFS{"memory.max": {Data: []byte("104857600")}} // 100 MiB
	m := TuneMemory(c, env(nil), tight)
	if want := int64(100<<20) / 10 * 9; m.Limit != want || m.Fits {
		t.Errorf("100 MiB container: %+v, want a limit of %d and Fits false", m, want)
	}
}
