package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestParseInts(t *testing.T) {
	got, err := parseInts(" 16, 64")
	if err != nil || len(got) != 2 || got[0] != 16 || got[1] != 64 {
		t.Fatalf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "16,", "0", "-1", "x"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-mem-cache-mb", "lots"},
		{"-sweep-c", "20,many"},
		{"-sweep-keys", "0"},
		{"-rounds", "many"},
		{"-bin", t.TempDir()}, // no binaries there
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code == 0 {
			t.Errorf("%v: exit 0, want an error (%s)", args, errOut.String())
		}
		if errOut.Len() == 0 || !strings.HasPrefix(errOut.String(), "bench: ") {
			t.Errorf("%v: stderr %q, want a one-line reason", args, errOut.String())
		}
	}
}
