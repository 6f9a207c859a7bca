package app

import (
	"io/fs"
	"runtime/debug"
	"strconv"
	"strings"
)

// Memory is how the Go runtime's garbage collector is tuned at start.
type Memory struct {
	// GCPercent is the GOGC in force; -1 when left as the environment set it.
	GCPercent int
	// Limit is the soft memory limit in bytes; 0 when left as the environment set it.
	Limit int64
	// Container is the memory limit of the process's cgroup in bytes; 0 when none.
	Container int64
	// Fits is false when the relay's settings need more than containerShare
	// of the container's limit: the cache should be smaller.
	Fits bool
}

// gcPercent is the GOGC the relay runs with unless GOGC is set: the live
// heap of a relay is mostly the cache's byte arrays, which the collector
// need not scan, so collecting at every doubling of a small heap only burns
// CPU on the hit path.
const gcPercent = 400

// memoryOverhead is what the relay needs beside its cache and the upstream
// bodies in flight: connections' buffers, goroutines, metrics.
const memoryOverhead = 32 << 20

// containerShare is the part of a container's memory limit the soft limit
// may take (in tenths), leaving room for what the runtime does not count:
// thread stacks, the binary, page cache charged to the container.
const containerShare = 9

// TuneMemory sets the collector for a relay of these settings, unless the
// environment (lookup) sets GOGC or GOMEMLIMIT: GC percent 400, bounded by a
// soft memory limit of the cache size, the upstream bodies that may be in
// flight, and a fixed overhead, so that memory stays near that bound when a
// flood of distinct keys fills the cache. In a container with a memory
// limit (cgroup, read from cgroupFS) the soft limit is at most nine tenths
// of it, so that the collector works harder before the kernel kills.
func TuneMemory(c Config, lookup func(string) (string, bool), cgroupFS fs.FS) Memory {
	m := Memory{GCPercent: -1, Container: CgroupMemoryLimit(cgroupFS)}
	need := MemoryLimit(c)
	m.Fits = m.Container == 0 || need <= m.Container/10*containerShare
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
		m.GCPercent = gcPercent
	}
	if _, set := lookup("GOMEMLIMIT"); !set {
		m.Limit = need
		if m.Container > 0 {
			m.Limit = min(need, m.Container/10*containerShare)
		}
		debug.SetMemoryLimit(m.Limit)
	}
	return m
}

// MemoryLimit is the memory the settings c need: the cache, the largest
// upstream bodies that may be in flight at once, and a fixed overhead.
func MemoryLimit(c Config) int64 {
	return int64(c.CacheMaxMB)<<20 + int64(c.UpstreamMaxInflight)*int64(c.MaxBody) + memoryOverhead
}

// CgroupMemoryLimit reads the memory limit of the process's cgroup from
// fsys, the cgroup file system (/sys/fs/cgroup): memory.max under cgroup v2,
// memory/memory.limit_in_bytes under v1. It returns 0 when there is no
// limit or it cannot be read.
func CgroupMemoryLimit(fsys fs.FS) int64 {
	if fsys == nil {
		return 0
	}
	for _, name := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		// "max" (v2), or v1's near-2^63 page-rounded "unlimited"
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0
		}
		return n
	}
	return 0
}
