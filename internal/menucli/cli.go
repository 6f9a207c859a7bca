package menucli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/envflag"
	"github.com/scilifelab/restaurants/internal/menu"
)

// Exit codes of Run.
const (
	ExitOK       = 0 // the restaurant was found, or the list printed
	ExitNotFound = 1 // no restaurant by that name
	ExitUsage    = 2 // bad flags or arguments
	ExitAPI      = 3 // the API failed: unreachable, timed out, an error status or garbage
)

// Defaults of the command line.
const (
	DefaultAPI     = "https://menu.dckube.scilifelab.se/api/"
	DefaultTimeout = 10 * time.Second
	// EnvPrefix names the environment variables of the flags:
	// --api is RESTAURANTS_API.
	EnvPrefix = "RESTAURANTS"
	name      = "restaurant-menu"
)

// Env is what Run may touch of the world.
type Env struct {
	Stdout, Stderr io.Writer
	// LookupEnv reads environment variables (os.LookupEnv; nil reads none).
	LookupEnv func(string) (string, bool)
	// Terminal says stdout is a terminal: text output is then aligned
	// and numbered, and plain when it is not.
	Terminal bool
	// HTTPClient makes the requests (nil: a new one with the timeout).
	HTTPClient *http.Client
}

// config is the parsed command line.
type config struct {
	api     string
	json    bool
	region  string
	timeout time.Duration
	query   string
}

// Run runs restaurant-menu with args (without the program name) and returns
// its exit code. Errors are one line on env.Stderr.
func Run(ctx context.Context, args []string, env Env) int {
	cfg, code, ok := parse(args, env)
	if !ok {
		return code
	}
	hc := env.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.timeout}
	}
	client, err := menu.NewClient(cfg.api, hc, menu.WithTimeout(cfg.timeout), menu.WithUserAgent(name))
	if err != nil {
		return fail(env, ExitUsage, fmt.Errorf("--api: %w", err))
	}
	out := output{w: env.Stdout, terminal: env.Terminal, json: cfg.json}

	all, err := client.Restaurants(ctx)
	if err != nil {
		return fail(env, ExitAPI, apiFailure("listing the restaurants", cfg, err))
	}
	list := groupByRegion(all, cfg.region)
	if cfg.query == "" {
		if err := out.list(list); err != nil {
			return fail(env, ExitAPI, err)
		}
		return ExitOK
	}

	r, found := Find(list, cfg.query)
	if !found {
		suggestions := Suggest(list, cfg.query, 3)
		msg := notFoundMessage(cfg, suggestions)
		if err := out.notFound(msg, suggestions, list); err != nil {
			return fail(env, ExitAPI, err)
		}
		return fail(env, ExitNotFound, errors.New(msg))
	}

	m, err := client.Restaurant(ctx, r.Identifier)
	if errors.Is(err, menu.ErrNotFound) {
		return fail(env, ExitNotFound, fmt.Errorf("the API lists %q (%s) but has no menu for it: %w", label(r), r.Identifier, err))
	}
	if err != nil {
		return fail(env, ExitAPI, apiFailure(fmt.Sprintf("getting the menu of %s", label(r)), cfg, err))
	}
	if err := out.menu(r, m); err != nil {
		return fail(env, ExitAPI, err)
	}
	return ExitOK
}

// parse reads the flags and the name. When ok is false, code is the exit
// code and any message has been written.
func parse(args []string, env Env) (cfg config, code int, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.api, "api", DefaultAPI, "base URL of the lunch-menu API, or of the relay in front of it")
	fs.BoolVar(&cfg.json, "json", false, "print JSON instead of text")
	fs.StringVar(&cfg.region, "region", "", "list only the restaurants of this region: Uppsala or Solna")
	fs.DurationVar(&cfg.timeout, "timeout", DefaultTimeout, "time limit of every request to the API")
	lookup := env.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	err := envflag.Parse(fs, EnvPrefix, reorder(fs, args), lookup)
	if errors.Is(err, flag.ErrHelp) {
		usage(env.Stdout, fs)
		return cfg, ExitOK, false
	}
	if err != nil {
		return cfg, fail(env, ExitUsage, fmt.Errorf("%w (see %s --help)", err, name)), false
	}
	if cfg.timeout <= 0 {
		return cfg, fail(env, ExitUsage, fmt.Errorf("--timeout must be positive, got %s", cfg.timeout)), false
	}
	if cfg.region != "" {
		region, known := canonicalRegion(cfg.region)
		if !known {
			return cfg, fail(env, ExitUsage, fmt.Errorf("--region %q: want %s or %s", cfg.region, menu.RegionUppsala, menu.RegionSolna)), false
		}
		cfg.region = region
	}
	cfg.query = strings.TrimSpace(strings.Join(fs.Args(), " "))
	return cfg, ExitOK, true
}

// reorder puts the flags before the words of the name, so that
// "restaurant-menu Svarta Räfven --json" works like
// "restaurant-menu --json Svarta Räfven".
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			words = append(words, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			words = append(words, a)
			continue
		}
		flags = append(flags, a)
		fname := strings.TrimLeft(a, "-")
		if strings.Contains(fname, "=") {
			continue
		}
		f := fs.Lookup(fname)
		if f == nil {
			continue // unknown: Parse reports it
		}
		if b, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(flags, "--"), words...)
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: %[1]s [flags] [NAME]

Prints today's lunch menu of the restaurant NAME and where to eat it. NAME is
the restaurant's name in any case, with or without accents, or its identifier.
Without NAME, or with a NAME not found, lists the restaurants by region.

Examples:
  %[1]s "Cafe Erik Jorpes"
  %[1]s dufva
  %[1]s --region Solna
  %[1]s --api http://localhost:8000/ --json svarta

Flags:
`, name)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nExit status: %d found or listed, %d not found, %d usage error, %d the API failed.\n",
		ExitOK, ExitNotFound, ExitUsage, ExitAPI)
}

// label names a restaurant for people: its name, or its identifier if the
// API gave no name.
func label(r menu.Restaurant) string {
	if strings.TrimSpace(r.Name) != "" {
		return r.Name
	}
	return r.Identifier
}

// canonicalRegion returns the region's proper name.
func canonicalRegion(s string) (string, bool) {
	for _, r := range []string{menu.RegionUppsala, menu.RegionSolna} {
		if Fold(s) == Fold(r) {
			return r, true
		}
	}
	return "", false
}

func notFoundMessage(cfg config, suggestions []menu.Restaurant) string {
	where := ""
	if cfg.region != "" {
		where = " in " + cfg.region
	}
	msg := fmt.Sprintf("no restaurant named %q%s", menu.OneLine(cfg.query, 80), where)
	if len(suggestions) > 0 {
		names := make([]string, len(suggestions))
		for i, s := range suggestions {
			names[i] = fmt.Sprintf("%q", menu.OneLine(label(s), 80))
		}
		msg += "; did you mean " + strings.Join(names, " or ") + "?"
	}
	return msg
}

// apiFailure says in one line what failed and how.
func apiFailure(doing string, cfg config, err error) error {
	var apiErr *menu.APIError
	var invalid *menu.InvalidResponseError
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == 0 && apiErr.Timeout():
		return fmt.Errorf("%s: the menu API did not answer within %s: %w", doing, cfg.timeout, err)
	case errors.As(err, &apiErr) && apiErr.StatusCode == 0:
		return fmt.Errorf("%s: cannot reach the menu API: %w", doing, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("%s: the menu API failed: %w", doing, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%s: the menu API answered garbage: %w", doing, err)
	case errors.Is(err, menu.ErrNotFound):
		return fmt.Errorf("%s: the menu API has no restaurant list here (is --api right?): %w", doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// fail writes err as one line on stderr and returns code.
func fail(env Env, code int, err error) int {
	fmt.Fprintf(env.Stderr, "%s: %s\n", name, menu.OneLine(err.Error(), 0))
	return code
}
