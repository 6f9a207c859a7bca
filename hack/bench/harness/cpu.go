package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// statFields parses /proc/PID/stat text into the fields after the command
// name (which may contain spaces): fields[0] is the state, fields[1] the
// parent pid, fields[11] utime and fields[12] stime.
func statFields(stat string) ([]string, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return nil, fmt.Errorf("unexpected stat line %q", stat)
	}
	return f, nil
}

// cpuOf returns a stat line's parent pid and its user+system CPU time.
func cpuOf(stat string) (ppid int, cpu time.Duration, err error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, 0, err
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("stat ppid: %w", err)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("stat times %q %q: not numbers", f[11], f[12])
	}
	return ppid, time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// treeCPU returns the CPU time used so far by process pid and its children
// (nginx's workers are children of its master).
func treeCPU(pid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	var total time.Duration
	found := false
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		ppid, cpu, err := cpuOf(string(b))
		if err != nil {
			continue
		}
		if id == pid {
			found = true
			total += cpu
		} else if ppid == pid {
			total += cpu
		}
	}
	if !found {
		return 0, fmt.Errorf("reading CPU time: no process %d", pid)
	}
	return total, nil
}
