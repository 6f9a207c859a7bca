package proctest

import (
	"fmt"
	"os"
	"testing"
)

const marker = "PROCTEST_TEST_MAIN"

func TestMain(m *testing.M) {
	Main(m, marker, func() {
		fmt.Println("out", os.Args[1:])
		fmt.Fprintln(os.Stderr, "err", os.Getenv("EXTRA"))
		os.Exit(3)
	})
}

func TestRun(t *testing.T) {
	code, stdout, stderr := Run(t, os.Args[0], marker, []string{"EXTRA=x"}, "a", "b")
	if code != 3 || stdout != "out [a b]\n" || stderr != "err x\n" {
		t.Fatalf("Run = %d %q %q", code, stdout, stderr)
	}
}
