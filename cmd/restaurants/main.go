// Command restaurants is a caching relay for the lunch-menu API of the
// restaurants near SciLifeLab in Uppsala and Solna: GET /URI is answered
// from <upstream>/URI, cached in process.
//
// It is also a multi-call binary, like busybox: the base name it is run
// under (argv[0]) picks the program, so one binary with symlinks beside it
// serves the whole container image.
//
//	menu-api          the stand-in lunch-menu API (as cmd/menu-api)
//	restaurant-menu   the command line (as cmd/restaurant-menu)
//	loadtest          the load tool (as cmd/loadtest)
//	any other name    the relay
//
// Each program takes its own flags and environment variables; SIGINT and
// SIGTERM stop it gracefully.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/menucli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := programFor(filepath.Base(os.Args[0]))(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// program is one command of the binary: it runs with the arguments after
// the program name and returns the exit status.
type program func(ctx context.Context, args []string, stdout, stderr *os.File, lookup func(string) (string, bool)) int

// programFor is the program a binary run as name is: the relay unless name
// is one of the other commands.
func programFor(name string) program {
	switch name {
	case "menu-api":
		return func(ctx context.Context, args []string, stdout, stderr *os.File, lookup func(string) (string, bool)) int {
			return menuapi.Main(ctx, args, stdout, stderr, lookup)
		}
	case "restaurant-menu":
		return func(ctx context.Context, args []string, stdout, stderr *os.File, lookup func(string) (string, bool)) int {
			return menucli.Run(ctx, args, menucli.Env{
				Stdout:    stdout,
				Stderr:    stderr,
				LookupEnv: lookup,
				Terminal:  menucli.IsTerminal(stdout),
			})
		}
	case "loadtest":
		return func(ctx context.Context, args []string, stdout, stderr *os.File, lookup func(string) (string, bool)) int {
			return loadtest.Main(ctx, args, stdout, stderr, lookup)
		}
	default:
		return func(ctx context.Context, args []string, stdout, stderr *os.File, lookup func(string) (string, bool)) int {
			return app.Main(ctx, version, args, stdout, stderr, lookup)
		}
	}
}
