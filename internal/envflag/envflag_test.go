package envflag

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func newSet() (*flag.FlagSet, *string, *time.Duration, *bool) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", ":8000", "address to listen on")
	ttl := fs.Duration("cache-ttl", 10*time.Second, "how long entries stay fresh")
	pprof := fs.Bool("pprof", false, "serve pprof")
	return fs, listen, ttl, pprof
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"cache-ttl":             "RESTAURANTS_CACHE_TTL",
		"upstream-max-inflight": "RESTAURANTS_UPSTREAM_MAX_INFLIGHT",
		"api":                   "RESTAURANTS_API",
	} {
		if got := Name("RESTAURANTS", in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Name("", "log.level"); got != "LOG_LEVEL" {
		t.Errorf("Name without prefix = %q", got)
	}
}

func TestEnvFillsUnsetFlags(t *testing.T) {
	fs, listen, ttl, pprof := newSet()
	err := Parse(fs, "RESTAURANTS", nil, env(map[string]string{
		"RESTAURANTS_LISTEN": ":9999", "RESTAURANTS_CACHE_TTL": "3s", "RESTAURANTS_PPROF": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if *listen != ":9999" || *ttl != 3*time.Second || !*pprof {
		t.Fatalf("got listen=%q ttl=%v pprof=%v", *listen, *ttl, *pprof)
	}
}

func TestFlagWinsOverEnv(t *testing.T) {
	fs, listen, ttl, _ := newSet()
	err := Parse(fs, "RESTAURANTS", []string{"--cache-ttl", "1s"}, env(map[string]string{
		"RESTAURANTS_CACHE_TTL": "3s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if *ttl != time.Second {
		t.Fatalf("ttl = %v, want the flag's 1s", *ttl)
	}
	if *listen != ":8000" {
		t.Fatalf("listen = %q, want the default", *listen)
	}
}

func TestBadEnvNamesTheVariable(t *testing.T) {
	fs, _, _, _ := newSet()
	err := Parse(fs, "RESTAURANTS", nil, env(map[string]string{"RESTAURANTS_CACHE_TTL": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "RESTAURANTS_CACHE_TTL") || !strings.Contains(err.Error(), `"soon"`) {
		t.Fatalf("err = %v, want one naming the variable and the value", err)
	}
}

func TestBadFlagIsAnError(t *testing.T) {
	fs, _, _, _ := newSet()
	if err := Parse(fs, "RESTAURANTS", []string{"--cache-ttl", "soon"}, env(nil)); err == nil {
		t.Fatal("want an error for a bad flag value")
	}
}

func TestUsageNamesTheVariable(t *testing.T) {
	fs, _, _, _ := newSet()
	if err := Parse(fs, "MENU_API", nil, env(nil)); err != nil {
		t.Fatal(err)
	}
	if u := fs.Lookup("cache-ttl").Usage; !strings.HasSuffix(u, "[$MENU_API_CACHE_TTL]") {
		t.Fatalf("usage = %q", u)
	}
}

func TestFlagOnly(t *testing.T) {
	fs, listen, _, pprof := newSet()
	err := Parse(fs, "RESTAURANTS", nil, env(map[string]string{"RESTAURANTS_PPROF": "true", "RESTAURANTS_LISTEN": ":1"}), "pprof")
	if err != nil {
		t.Fatal(err)
	}
	if *pprof || *listen != ":1" {
		t.Fatalf("pprof=%v listen=%q: a flag-only flag was set from the environment, or another was not", *pprof, *listen)
	}
	if u := fs.Lookup("pprof").Usage; strings.Contains(u, "$RESTAURANTS_PPROF") {
		t.Errorf("usage %q names a variable the flag does not read", u)
	}
}
