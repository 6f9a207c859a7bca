// Command bench compares the relay with nginx's proxy cache and a bare
// net/http handler on this machine: it builds the relay and the stand-in
// upstream, starts everything on 127.0.0.1, loads each system alternately
// with the same load and prints Markdown tables with ratios against nginx.
// With -out DIR it also writes them to DIR/bench.md, the results to
// DIR/bench.json and an HTML report of charts to DIR/bench.html.
// It never contacts anything but loopback, and every run is bounded in time.
//
//	go run ./hack/bench [flags]
//
// Every flag has an environment variable beside it (BENCH_ + upper snake case).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scilifelab/restaurants/hack/bench/harness"
	"github.com/scilifelab/restaurants/internal/envflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below; -help prints the usage
	var (
		scenarios = fs.String("scenarios", strings.Join(harness.DefaultScenarios(), ","), "scenarios to run, comma separated, of "+strings.Join(harness.ScenarioNames(), ","))
		conns     = fs.Int("c", 20, "connections of the closed loop")
		duration  = fs.Duration("d", 10*time.Second, "length of one run")
		rounds    = fs.Int("rounds", 2, "runs per system and scenario (alternating A B A B)")
		ttlDur    = fs.Duration("ttl-d", 30*time.Second, "length of the TTL 1s run")
		floodDur  = fs.Duration("flood-d", 10*time.Second, "length of one run of the flood scenario (each system runs without and with the flood)")
		hangDur   = fs.Duration("hang-d", 20*time.Second, "how long the upstream hangs in the hang scenario (with 5 s steady before and 5 s after)")
		clusterD  = fs.Duration("cluster-d", 30*time.Second, "length of one run of the three relays in the cluster scenario (without and with the shared tier)")
		memDur    = fs.Duration("mem-d", 15*time.Second, "length of one distinct-key flood")
		memMB     = fs.String("mem-cache-mb", "16,64", "cache sizes (MiB) of the memory scenario, comma separated")
		sweepC    = fs.String("sweep-c", "20,200,2000", "connection counts of the sweep (at the fewest keys), comma separated")
		sweepKeys = fs.String("sweep-keys", "13,1000,100000", "distinct key counts of the sweep (at the fewest connections), comma separated")
		sweepDur  = fs.Duration("sweep-d", 5*time.Second, "length of one sweep run")
		lunchRate = fs.Float64("lunch-rate", 1, "requests per second of the lunch scenario (Poisson arrivals)")
		lunchDur  = fs.Duration("lunch-d", 3*time.Minute, "length of the lunch scenario's schedule, sent to every system at once")
		lunchSeed = fs.Uint64("lunch-seed", 1, "seed of the lunch scenario's schedule (arrivals and keys)")
		outDir    = fs.String("out", "", "also write bench.md, bench.json and bench.html (the report with charts) into this directory")
		replot    = fs.String("replot", "", "run nothing: draw the report of this bench.json again into -out's bench.html")
		nginx     = fs.String("nginx", "", "path of nginx (default: looked up; left out when missing)")
		binDir    = fs.String("bin", "", "directory with prebuilt restaurants and menu-api (default: go build them)")
		dir       = fs.String("dir", "", "working directory for logs, nginx and profiles (default: a new temporary one, removed unless -keep)")
		keep      = fs.Bool("keep", false, "keep the working directory")
		profile   = fs.Bool("profile", false, "save the relay's CPU and allocation profiles of its first hot-key run (implies -keep)")
		relayFlag = fs.String("relay-flags", "", "extra flags for the relay, space separated (e.g. \"--upstream-max-inflight=32\")")
		relayEnv  = fs.String("relay-env", "", "extra environment for the relay, space separated NAME=value (e.g. \"GOMEMLIMIT=96MiB\")")
		bBin      = fs.String("relay-b-bin", "", "adds \"relay B\" to every comparison: this relay binary (default: the same build)")
		bFlags    = fs.String("relay-b-flags", "", "adds \"relay B\": extra flags for it, space separated")
		bEnv      = fs.String("relay-b-env", "", "adds \"relay B\": extra environment for it, space separated NAME=value")
		jsonOut   = fs.String("json", "", "also write all results as JSON to this file")
		serveBare = fs.String("serve-bare", "", "internal: serve the bare handler on this address")
		bareBody  = fs.String("bare-body", "", "internal: the bare handler's body file")
		bareHdrs  = fs.Bool("bare-relay-headers", false, "internal: the bare handler writes a relay hit's header fields")
		bareAlso  = fs.Bool("bare-headers", false, "adds to the hot-key scenario the bare handler writing a relay hit's header fields: what the fields cost, apart from the relay's work")
	)
	if err := envflag.Parse(fs, "BENCH", args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "bench: %v (see -help)\n", err)
		return 2
	}
	if *replot != "" {
		if err := replotJSON(*replot, *outDir); err != nil {
			fmt.Fprintf(stderr, "bench: -replot: %v\n", err)
			return 1
		}
		return 0
	}
	if *serveBare != "" {
		if err := harness.ServeBare(ctx, *serveBare, *bareBody, *bareHdrs); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		return 0
	}
	sizes, err := parseInts(*memMB)
	if err != nil {
		fmt.Fprintf(stderr, "bench: -mem-cache-mb: %v\n", err)
		return 2
	}
	swConns, err := parseInts(*sweepC)
	if err != nil {
		fmt.Fprintf(stderr, "bench: -sweep-c: %v\n", err)
		return 2
	}
	swKeys, err := parseInts(*sweepKeys)
	if err != nil {
		fmt.Fprintf(stderr, "bench: -sweep-keys: %v\n", err)
		return 2
	}
	work := *dir
	kept := true
	if work == "" {
		if work, err = os.MkdirTemp("", "restaurants-bench-"); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		if !*keep && !*profile {
			kept = false
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	work, _ = filepath.Abs(work)
	relayBin, menuBin, err := binaries(ctx, *binDir, work, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bench: finding this program for the bare handler: %v\n", err)
		return 1
	}
	opts := harness.Options{
		RelayBin: relayBin, MenuAPIBin: menuBin, NginxBin: *nginx, NginxWorkers: runtime.NumCPU(),
		BareBin: self, BareHeaders: *bareAlso, Dir: work, Connections: *conns, Duration: *duration, Rounds: *rounds,
		RelayFlags: strings.Fields(*relayFlag), RelayEnv: strings.Fields(*relayEnv),
		TTLDuration: *ttlDur, FloodDuration: *floodDur, HangDuration: *hangDur, ClusterDuration: *clusterD, MemoryDuration: *memDur, MemoryCacheMB: sizes, Profile: *profile, Log: stderr,
		SweepConnections: swConns, SweepKeys: swKeys, SweepDuration: *sweepDur,
		LunchRate: *lunchRate, LunchDuration: *lunchDur, LunchSeed: *lunchSeed,
	}
	if *bBin != "" || *bFlags != "" || *bEnv != "" {
		opts.RelayB = &harness.RelayVariant{Bin: *bBin, Flags: strings.Fields(*bFlags), Env: strings.Fields(*bEnv)}
	}
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			opts.Scenarios = append(opts.Scenarios, s)
		}
	}
	machine := fmt.Sprintf("%d cores, %s, Go %s", runtime.NumCPU(), runtime.GOOS, runtime.Version())
	var md strings.Builder
	out := io.MultiWriter(stdout, &md)
	fmt.Fprintf(out, "## benchmark: %s\n", machine)
	if kept {
		fmt.Fprintf(stderr, "bench: working directory %s\n", work)
	}
	started := time.Now()
	res, err := harness.Run(ctx, opts, out)
	if res != nil {
		fmt.Fprintf(stderr, "bench: took %v\n", time.Since(started).Round(time.Second))
	}
	if *jsonOut != "" && res != nil {
		if werr := writeJSON(*jsonOut, res); werr != nil {
			fmt.Fprintf(stderr, "bench: %v\n", werr)
		}
	}
	if *outDir != "" && res != nil {
		title := reportTitle
		sub := fmt.Sprintf("%s, %s; bench %s", machine, res.Started.Format("2006-01-02 15:04 UTC"), strings.Join(args, " "))
		if werr := writeOutputs(*outDir, md.String(), res, title, sub); werr != nil {
			fmt.Fprintf(stderr, "bench: %v\n", werr)
			if err == nil {
				return 1
			}
		} else {
			fmt.Fprintf(stderr, "bench: wrote %s (report), bench.md and bench.json\n", filepath.Join(*outDir, "bench.html"))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		if kept {
			fmt.Fprintf(stderr, "bench: logs in %s\n", work)
		} else {
			fmt.Fprintln(stderr, "bench: rerun with -keep to keep the logs")
		}
		return 1
	}
	return 0
}

// reportTitle is the report page's title.
const reportTitle = "make bench: the relay, nginx's proxy cache and a bare net/http handler"

// replotJSON draws the report of recorded results again (after a change
// of the charts, say): the latency spectra come from each run's recorded
// spectrum, the first round's where there were several.
func replotJSON(path, dir string) error {
	if dir == "" {
		return errors.New("give -out, the directory for bench.html")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sub := fmt.Sprintf("recorded %s, drawn again from %s", res.Started.Format("2006-01-02 15:04 UTC"), filepath.Base(path))
	return res.Page(reportTitle, sub).WriteFile(filepath.Join(dir, "bench.html"))
}

// writeJSON writes the results as indented JSON.
func writeJSON(path string, res *harness.Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("results as JSON: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeOutputs writes the Markdown, the JSON and the HTML report into dir.
func writeOutputs(dir, md string, res *harness.Results, title, subtitle string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, "bench.json"), res); err != nil {
		return err
	}
	return res.Page(title, subtitle).WriteFile(filepath.Join(dir, "bench.html"))
}

// binaries returns the relay and stand-in binaries, building them when no directory is given.
func binaries(ctx context.Context, binDir, work string, stderr io.Writer) (relay, menu string, err error) {
	if binDir != "" {
		relay, menu = filepath.Join(binDir, "restaurants"), filepath.Join(binDir, "menu-api")
		for _, p := range []string{relay, menu} {
			if _, err := os.Stat(p); err != nil {
				return "", "", fmt.Errorf("-bin %s: %w", binDir, err)
			}
		}
		return relay, menu, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", "", errors.New("go not found in PATH: install Go, or give prebuilt binaries with -bin")
	}
	out := filepath.Join(work, "bin")
	fmt.Fprintf(stderr, "bench: building ./cmd/restaurants and ./cmd/menu-api into %s\n", out)
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out+string(filepath.Separator), "./cmd/restaurants", "./cmd/menu-api")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("building the relay and the stand-in (run from the repository root): %w", err)
	}
	return filepath.Join(out, "restaurants"), filepath.Join(out, "menu-api"), nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
