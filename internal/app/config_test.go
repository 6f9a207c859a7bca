package app

import (
	"io"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := ParseFlags(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8000" || c.AdminListen != ":9090" || c.Upstream != DefaultUpstream ||
		c.CacheTTL != 10*time.Second || c.StaleIfError != 10*time.Minute || c.UpstreamTimeout != 10*time.Second ||
		c.MaxBody != 1<<20 || c.CORSOrigins != "*" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	c, err := ParseFlags([]string{"--cache-ttl", "2s", "--max-body", "256KiB"}, env(map[string]string{
		"RESTAURANTS_CACHE_TTL":      "30s",
		"RESTAURANTS_UPSTREAM":       "http://127.0.0.1:8080/api/",
		"RESTAURANTS_CACHE_MAX_MB":   "8",
		"RESTAURANTS_LOG_FORMAT":     "json",
		"RESTAURANTS_DRAIN_DELAY":    "0s",
		"RESTAURANTS_NEGATIVE_TTL":   "1s",
		"RESTAURANTS_STALE_IF_ERROR": "1h",
		"RESTAURANTS_CORS_ORIGINS":   "https://lunch.example",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.CacheTTL != 2*time.Second {
		t.Errorf("cache-ttl = %v, want the flag's 2s", c.CacheTTL)
	}
	if c.Upstream != "http://127.0.0.1:8080/api/" || c.CacheMaxMB != 8 || c.LogFormat != "json" ||
		c.DrainDelay != 0 || c.NegativeTTL != time.Second || c.StaleIfError != time.Hour || c.MaxBody != 256<<10 ||
		c.CORSOrigins != "https://lunch.example" {
		t.Errorf("config = %+v", c)
	}
}

func TestBadSettingsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--cache-ttl", "0s"}, nil, "--cache-ttl (RESTAURANTS_CACHE_TTL): must be positive"},
		{[]string{"--cache-ttl", "soon"}, nil, "cache-ttl"},
		{nil, map[string]string{"RESTAURANTS_CACHE_TTL": "soon"}, "RESTAURANTS_CACHE_TTL"},
		{[]string{"--upstream", "ftp://example.org/"}, nil, "--upstream"},
		{[]string{"--upstream", "not a url"}, nil, "--upstream"},
		{[]string{"--listen", "8000"}, nil, "--listen"},
		{[]string{"--listen", ":9090"}, nil, "--admin-listen"},
		{[]string{"--negative-ttl", "-1s"}, nil, "--negative-ttl"},
		{[]string{"--cache-max-mb", "0"}, nil, "--cache-max-mb"},
		{[]string{"--upstream-max-inflight", "0"}, nil, "--upstream-max-inflight"},
		{[]string{"--upstream-rate", "-1"}, nil, "--upstream-rate"},
		{[]string{"--upstream-rate", "NaN"}, nil, "--upstream-rate"},
		{[]string{"--upstream-rate", "+Inf"}, nil, "--upstream-rate"},
		{[]string{"--upstream-burst", "0"}, nil, "--upstream-burst"},
		{[]string{"--upstream-backoff", "-1s"}, nil, "--upstream-backoff"},
		{[]string{"--upstream-backoff", "10s", "--upstream-backoff-max", "5s"}, nil, "--upstream-backoff-max"},
		{[]string{"--max-body", "10"}, nil, "--max-body"},
		{[]string{"--max-body", "1GiB"}, nil, "--max-body"},
		{[]string{"--max-body", "lots"}, nil, "max-body"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--cors-origins", "lunch.example"}, nil, "--cors-origins (RESTAURANTS_CORS_ORIGINS)"},
		{nil, map[string]string{"RESTAURANTS_CORS_ORIGINS": "*, https://a.example"}, "--cors-origins"},
		{[]string{"stray"}, nil, `unexpected argument "stray"`},
	} {
		_, err := ParseFlags(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFlags(%v, %v) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q is not one line", err)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, "512KiB": 512 << 10, "1MiB": 1 << 20, "2GiB": 2 << 30, "100B": 100} {
		var b ByteSize
		if err := b.Set(in); err != nil || b != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, b, err, want)
		}
		if again := new(ByteSize); again.Set(b.String()) != nil || *again != b {
			t.Errorf("String() %q does not parse back", b.String())
		}
	}
	for _, bad := range []string{"", "-1", "1.5MiB", "1TB", "MiB"} {
		var b ByteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestProtectionSettings(t *testing.T) {
	c, err := ParseFlags(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.UpstreamRate != 5 || c.UpstreamBurst != 20 || c.UpstreamBackoff != time.Second || c.UpstreamBackoffMax != time.Minute || c.ForwardQuery {
		t.Fatalf("defaults: rate %v burst %d backoff %s..%s forward-query %v", c.UpstreamRate, c.UpstreamBurst, c.UpstreamBackoff, c.UpstreamBackoffMax, c.ForwardQuery)
	}
	c, err = ParseFlags([]string{"--upstream-rate", "0"}, env(map[string]string{
		"RESTAURANTS_FORWARD_QUERY": "true", "RESTAURANTS_UPSTREAM_BURST": "3", "RESTAURANTS_UPSTREAM_BACKOFF_MAX": "2m",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.UpstreamRate != 0 || !c.ForwardQuery || c.UpstreamBurst != 3 || c.UpstreamBackoffMax != 2*time.Minute {
		t.Fatalf("set: %+v", c)
	}
}

// --version is an action of the command line: a RESTAURANTS_VERSION in a
// pod's environment must not make every start print and exit.
func TestVersionIsAFlagOnly(t *testing.T) {
	c, err := ParseFlags(nil, env(map[string]string{"RESTAURANTS_VERSION": "true"}), io.Discard)
	if err != nil || c.Version {
		t.Fatalf("RESTAURANTS_VERSION=true: Version %v, %v; want the relay to run", c.Version, err)
	}
	if c, err := ParseFlags([]string{"--version"}, env(nil), io.Discard); err != nil || !c.Version {
		t.Fatalf("--version: %v, %v", c.Version, err)
	}
}
