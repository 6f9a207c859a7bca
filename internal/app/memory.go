package app

import (
	"runtime/debug"
)

// Memory is how the Go runtime's garbage collector is tuned at start.
type Memory struct {
	// GCPercent is the GOGC in force; -1 when left as the environment set it.
	GCPercent int
	// Limit is the soft memory limit in bytes; 0 when left as the environment set it.
	Limit int64
}

// gcPercent is the GOGC the relay runs with unless GOGC is set: the live
// heap of a relay is mostly the cache's byte arrays, which the collector
// need not scan, so collecting at every doubling of a small heap only burns
// CPU on the hit path.
const gcPercent = 400

// memoryOverhead is what the relay needs beside its cache and the upstream
// bodies in flight: connections' buffers, goroutines, metrics.
const memoryOverhead = 32 << 20

// TuneMemory sets the collector for a relay of these settings, unless the
// environment (lookup) sets GOGC or GOMEMLIMIT: GC percent 400, bounded by a
// soft memory limit of the cache size, the upstream bodies that may be in
// flight, and a fixed overhead, so that memory stays near that bound when a
// flood of distinct keys fills the cache.
func TuneMemory(c Config, lookup func(string) (string, bool)) Memory {
	m := Memory{GCPercent: -1}
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
		m.GCPercent = gcPercent
	}
	if _, set := lookup("GOMEMLIMIT"); !set {
		m.Limit = MemoryLimit(c)
		debug.SetMemoryLimit(m.Limit)
	}
	return m
}

// MemoryLimit is the soft memory limit for the settings c: the cache, the
// largest upstream bodies that may be in flight at once, and a fixed overhead.
func MemoryLimit(c Config) int64 {
	return int64(c.CacheMaxMB)<<20 + int64(c.UpstreamMaxInflight)*int64(c.MaxBody) + memoryOverhead
}
