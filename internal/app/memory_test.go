package app

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	c := Config{CacheMaxMB: 64, UpstreamMaxInflight: 8, MaxBody: 1 << 20}
	if got, want := MemoryLimit(c), int64(64+8+32)<<20; got != want {
		t.Fatalf("MemoryLimit = %d, want %d", got, want)
	}
}

func TestTuneMemoryLeavesTheEnvironmentsChoice(t *testing.T) {
	prevGC := debug.SetGCPercent(77)
	prevLimit := debug.SetMemoryLimit(123 << 20)
	defer func() {
		debug.SetGCPercent(prevGC)
		debug.SetMemoryLimit(prevLimit)
	}()
	c := Config{CacheMaxMB: 16, UpstreamMaxInflight: 4, MaxBody: 1 << 20}

	m := TuneMemory(c, env(map[string]string{"GOGC": "77", "GOMEMLIMIT": "123MiB"}))
	if m.GCPercent != -1 || m.Limit != 0 {
		t.Fatalf("with GOGC and GOMEMLIMIT set: %+v, want nothing changed", m)
	}
	if gc := debug.SetGCPercent(77); gc != 77 {
		t.Fatalf("GC percent changed to %d", gc)
	}
	if l := debug.SetMemoryLimit(-1); l != 123<<20 {
		t.Fatalf("memory limit changed to %d", l)
	}

	m = TuneMemory(c, env(nil))
	if m.GCPercent != gcPercent || m.Limit != MemoryLimit(c) {
		t.Fatalf("TuneMemory = %+v", m)
	}
	if gc := debug.SetGCPercent(77); gc != gcPercent {
		t.Fatalf("GC percent = %d, want %d", gc, gcPercent)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != MemoryLimit(c) {
		t.Fatalf("memory limit = %d, want %d", l, MemoryLimit(c))
	}
}
