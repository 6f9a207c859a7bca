// Package envflag fills command-line flags from environment variables.
//
// Every flag of a FlagSet gets an environment variable beside it, named by a
// prefix and the flag's name in upper snake case: with prefix "RESTAURANTS",
// the flag "cache-ttl" reads RESTAURANTS_CACHE_TTL. A flag given on the
// command line wins over its environment variable.
package envflag

import (
	"flag"
	"fmt"
	"strings"
)

// Name returns the environment variable that stands beside the flag name
// under prefix: Name("RESTAURANTS", "cache-ttl") is "RESTAURANTS_CACHE_TTL".
func Name(prefix, flagName string) string {
	n := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
	if prefix == "" {
		return n
	}
	return prefix + "_" + n
}

// Parse parses args into fs, then sets every flag not given in args from its
// environment variable, looked up with lookup (os.LookupEnv in a main). Each
// flag's usage is extended with the variable's name so that -help shows it.
// An invalid value in the environment is reported with the variable's name.
// The flags named in flagOnly have no variable: a command-line action such
// as --version must not be switched on for good by a container's
// environment.
func Parse(fs *flag.FlagSet, prefix string, args []string, lookup func(string) (string, bool), flagOnly ...string) error {
	skip := make(map[string]bool, len(flagOnly))
	for _, n := range flagOnly {
		skip[n] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !skip[f.Name] {
			f.Usage = fmt.Sprintf("%s [$%s]", f.Usage, Name(prefix, f.Name))
		}
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || skip[f.Name] || firstErr != nil {
			return
		}
		env := Name(prefix, f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			firstErr = fmt.Errorf("invalid value %q for %s: %w", v, env, err)
		}
	})
	return firstErr
}
