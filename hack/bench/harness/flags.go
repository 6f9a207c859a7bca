package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// knownFlags returns the flags a relay binary lists in its --help.
func knownFlags(ctx context.Context, bin string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--help")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // some builds exit 2 after -help; the text is what counts
	flags := parseFlagList(out.String())
	if len(flags) == 0 {
		return nil, fmt.Errorf("%s --help listed no flags:\n%s", bin, out.String())
	}
	return flags, nil
}

// parseFlagList reads the flag names of Go's flag usage text ("  -name type").
func parseFlagList(usage string) map[string]bool {
	flags := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(usage))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " \t")
		if len(trimmed) == len(line) || !strings.HasPrefix(trimmed, "-") {
			continue
		}
		if f := strings.Fields(trimmed); len(f) > 0 {
			flags[flagName(f[0])] = true
		}
	}
	return flags
}

// flagName is a flag's name without dashes and value: "--upstream-rate=0" -> "upstream-rate".
func flagName(arg string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name
}
