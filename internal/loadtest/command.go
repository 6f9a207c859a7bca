package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/envflag"
)

// headers collects repeated -header "Name: value" flags.
type headers []string

func (h *headers) String() string { return strings.Join(*h, ", ") }

func (h *headers) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	*h = append(*h, v)
	return nil
}

// Command is the loadtest command line. WriteHTML, when set, writes the
// page of --report; without it (the image's multi-call binary leaves the
// charts out to stay small) --report is refused with that reason.
type Command struct {
	WriteHTML func(path, title string, r *Report) error
}

// Main is Command{}.Main: the command line without the HTML report writer.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	return Command{}.Main(ctx, args, stdout, stderr, lookup)
}

// Main is the loadtest command line: it reads the flags from args (without
// the program name) and the environment (lookup, variables LOADTEST_ + the
// flag in upper snake case), runs the load until ctx is done, the run's
// bounds are reached or -control is asked to stop, and writes the report to
// stdout; usage, progress and
// errors go to stderr, errors as one line. With -progress auto the progress
// line is shown when stderr is a terminal. It returns the exit status: 0
// done, 1 more errors than -max-errors, the metrics could not be read or
// the -control address cannot be listened on, 2 bad usage.
func (c Command) Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below; -help prints the usage
	var (
		conns     = fs.Int("c", 20, "connections: concurrent requests in flight")
		duration  = fs.Duration("d", 10*time.Second, "duration of the run (required: runs are always bounded in time)")
		maxReqs   = fs.Int64("n", 0, "stop after this many requests (0: only the duration bounds the run)")
		rate      = fs.Float64("rate", 0, "open loop: requests per second, latency counted from each intended send time (0: closed loop)")
		file      = fs.String("file", "", "read targets from this file, one \"URL [WEIGHT]\" per line")
		method    = fs.String("method", http.MethodGet, "HTTP method")
		timeout   = fs.Duration("timeout", 10*time.Second, "bound on each request, body included")
		insecure  = fs.Bool("insecure", false, "skip TLS certificate verification")
		asJSON    = fs.Bool("json", false, "print the report as JSON")
		maxErrors = fs.Int64("max-errors", 0, "exit 1 when transport errors + 5xx answers + missed requests exceed this (-1: never)")
		metrics   = fs.String("metrics", "", "the relay's admin /metrics URL, scraped before and after the run, and every second for its upstream calls over time")
		progress  = fs.String("progress", "auto", "live progress line on stderr each second: auto (when stderr is a terminal), always, never")
		htmlOut   = fs.String("report", "", "also write an HTML report of the run to this file: latency spectrum, throughput, latency and errors over time, and upstream calls over time when -metrics is given")
		ctlAddr   = fs.String("control", "", "while the run lasts, serve its progress (GET /progress, JSON) and an early end (POST /stop; the report covers what was done) on this address, e.g. :8089")
		countHdr  = fs.String("count-header", "", "count the answers by this response header's values (e.g. X-Cache)")
		hdrs      headers
	)
	fs.Var(&hdrs, "header", "request header \"Name: value\" (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadtest [flags] URL [\"URL WEIGHT\" ...]\n"+
			"       loadtest [flags] -file FILE\n\n"+
			"URLs may contain {seq} (a new number per request) or {rand} (random hex).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := envflag.Parse(fs, "LOADTEST", args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "loadtest: %v (see -help)\n", err)
		return 2
	}
	targets, err := targetsFrom(fs.Args(), *file)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	header := http.Header{}
	for _, h := range hdrs {
		name, value, _ := strings.Cut(h, ":")
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	cfg := Config{
		Targets:     targets,
		Method:      *method,
		Header:      header,
		Connections: *conns,
		Rate:        *rate,
		Duration:    *duration,
		MaxRequests: *maxReqs,
		Timeout:     *timeout,
		Insecure:    *insecure,
		MetricsURL:  *metrics,
		CountHeader: strings.TrimSpace(*countHdr),
	}
	if *htmlOut != "" && c.WriteHTML == nil {
		fmt.Fprintln(stderr, "loadtest: -report: this build has no HTML report writer (the image's multi-call binary leaves it out to stay small); use cmd/loadtest (make build: bin/loadtest)")
		return 2
	}
	if *metrics != "" {
		// Read every second too, for the timeline (-json's probes, -report's chart).
		cfg.Probes = append(cfg.Probes, MetricsProbe("relay upstream calls", *metrics, MetricUpstreamRequests, true, *insecure))
	}
	if *conns < 1 {
		fmt.Fprintf(stderr, "loadtest: -c %d: need at least one connection\n", *conns)
		return 2
	}
	tty := isTerminal(stderr)
	switch *progress {
	case "always":
		tty = true
	case "never":
		tty = false
	case "auto":
	default:
		fmt.Fprintf(stderr, "loadtest: -progress %q: want auto, always or never\n", *progress)
		return 2
	}
	if tty {
		cfg.Progress = func(p Progress) {
			fmt.Fprintf(stderr, "\r\033[K%4.0fs  %d requests  %.0f req/s  %d errors",
				p.Elapsed.Seconds(), p.Requests, p.RequestsPerSecond, p.Errors)
		}
	}
	runCtx := ctx
	if *ctlAddr != "" {
		ctl, cctx, err := startControl(ctx, *ctlAddr)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: -control %s: %v\n", *ctlAddr, err)
			return 1
		}
		defer ctl.close()
		runCtx = cctx
		show := cfg.Progress
		cfg.Progress = func(p Progress) {
			ctl.set(p)
			if show != nil {
				show(p)
			}
		}
		fmt.Fprintf(stderr, "loadtest: control on %s (GET /progress, POST /stop)\n", ctl.URL())
	}
	rep, err := Run(runCtx, cfg)
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		if errors.Is(err, ErrInvalidConfig) {
			return 2
		}
		return 1
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	if *htmlOut != "" {
		if err := c.WriteHTML(*htmlOut, "loadtest: "+targetsTitle(targets), rep); err != nil {
			fmt.Fprintf(stderr, "loadtest: -report %s: %v\n", *htmlOut, err)
			return 1
		}
	}
	if *maxErrors >= 0 && rep.Errors() > *maxErrors {
		fmt.Fprintf(stderr, "loadtest: %d errors (transport %d, 5xx %d, missed %d) exceed -max-errors %d\n",
			rep.Errors(), rep.TransportErrors, rep.ServerErrors, rep.Missed, *maxErrors)
		return 1
	}
	if rep.Metrics != nil && len(rep.Metrics.Warnings) > 0 && rep.Metrics.Requests == 0 && rep.Metrics.UpstreamCalls == 0 {
		fmt.Fprintf(stderr, "loadtest: relay metrics: %s\n", strings.Join(rep.Metrics.Warnings, "; "))
		return 1
	}
	return 0
}

// targetsTitle names a run by its first target.
func targetsTitle(ts []Target) string {
	if len(ts) == 1 {
		return ts[0].URL
	}
	return fmt.Sprintf("%s and %d more targets", ts[0].URL, len(ts)-1)
}

// targetsFrom takes targets from the arguments, or from a file.
func targetsFrom(args []string, file string) ([]Target, error) {
	if file != "" && len(args) > 0 {
		return nil, errors.New("give targets either as arguments or with -file, not both")
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("targets file: %w", err)
		}
		defer f.Close()
		ts, err := ReadTargets(f)
		if err != nil {
			return nil, fmt.Errorf("targets file %s: %w", file, err)
		}
		return ts, nil
	}
	if len(args) == 0 {
		return nil, errors.New("no target: give a URL (see -help)")
	}
	targets := make([]Target, 0, len(args))
	for _, a := range args {
		t, err := ParseTarget(a)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// isTerminal reports whether w is a character device (a terminal), without cgo.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
