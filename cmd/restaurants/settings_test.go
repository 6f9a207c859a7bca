package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/scilifelab/restaurants/internal/app"
)

var update = flag.Bool("update", false, "rewrite the settings table of README.md from the relay's flags")

// The settings table of README.md sits between these two lines.
const (
	settingsBegin = "<!-- settings:begin -->\n"
	settingsEnd   = "<!-- settings:end -->"
)

// helpFlag matches one flag of `restaurants --help` (flag.PrintDefaults):
// its name and type (none for a bool), then its usage on the next line.
var helpFlag = regexp.MustCompile(`(?m)^  -(\S+)(?: (\S+))?\n    \t(.*)$`)

// helpUsage splits a usage line into its text, the environment variable
// envflag adds ([$NAME]) and the default flag.PrintDefaults adds.
var helpUsage = regexp.MustCompile(`^(.*?)(?: \[\$([A-Z0-9_]+)\])?(?: \(default (.*)\))?$`)

// settingsTable renders the relay's flags, as `restaurants --help` prints
// them, as a Markdown table: flag, environment variable, default, meaning.
func settingsTable(t *testing.T) string {
	t.Helper()
	var help bytes.Buffer
	_, err := app.ParseFlags([]string{"-help"}, func(string) (string, bool) { return "", false }, &help)
	if !errors.Is(err, app.ErrHelp) {
		t.Fatalf("ParseFlags(-help) = %v, want ErrHelp", err)
	}
	flags := helpFlag.FindAllStringSubmatch(help.String(), -1)
	if n := strings.Count(help.String(), "\n  -"); len(flags) != n || n < 20 {
		t.Fatalf("parsed %d flags of the %d in the help:\n%s", len(flags), n, help.String())
	}
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, f := range flags {
		name, typ := f[1], f[2]
		u := helpUsage.FindStringSubmatch(f[3])
		meaning, env, def := u[1], u[2], strings.Trim(u[3], `"`)
		if env == "" {
			env = "none (a flag only)"
		} else {
			env = "`" + env + "`"
		}
		switch {
		case def != "":
			def = "`" + def + "`"
		case typ == "":
			def = "`false`" // PrintDefaults leaves out a bool's zero default
		default:
			def = "empty"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", name, env, def, strings.ReplaceAll(meaning, "|", `\|`))
	}
	return b.String()
}

// TestSettingsTable fails when the settings table of README.md is not the one
// the relay's flags give; `go test ./cmd/restaurants/ -run TestSettingsTable
// -update` writes it.
func TestSettingsTable(t *testing.T) {
	table := settingsTable(t)
	for _, row := range []string{ // the parser read what the help says
		"| `--cache-ttl` | `RESTAURANTS_CACHE_TTL` | `10s` | how long a 200 answer stays fresh",
		"| `--listen` | `RESTAURANTS_LISTEN` | `:8000` | address of the relay's listener",
		"| `--forward-query` | `RESTAURANTS_FORWARD_QUERY` | `false` |",
		"| `--shared-cache` | `RESTAURANTS_SHARED_CACHE` | empty |",
		"| `--version` | none (a flag only) | `false` | print the version and exit |",
	} {
		if !strings.Contains(table, row) {
			t.Errorf("the settings table lacks %q:\n%s", row, table)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	begin := strings.Index(text, settingsBegin)
	end := strings.Index(text, settingsEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md has no %q ... %q block", settingsBegin, settingsEnd)
	}
	if text[begin+len(settingsBegin):end] == table {
		return
	}
	if !*update {
		t.Fatalf("the settings table of README.md is stale; run: go test ./cmd/restaurants/ -run TestSettingsTable -update\nwant:\n%s", table)
	}
	text = text[:begin+len(settingsBegin)] + table + text[end:]
	if err := os.WriteFile("README.md", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
