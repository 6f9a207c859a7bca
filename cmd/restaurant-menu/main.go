// Command restaurant-menu prints today's lunch menu of a restaurant near
// SciLifeLab (Uppsala, Solna) and where to eat it, or lists the restaurants
// by region. It asks the lunch-menu API, or the relay in front of it
// (--api, env RESTAURANTS_API). Run it with --help for its flags.
//
// Exit status: 0 found or listed, 1 not found, 2 usage error, 3 the API failed.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/scilifelab/restaurants/internal/menucli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := menucli.Run(ctx, os.Args[1:], menucli.Env{
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		LookupEnv: os.LookupEnv,
		Terminal:  menucli.IsTerminal(os.Stdout),
	})
	stop()
	os.Exit(code)
}
