package loadtest

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"http://127.0.0.1:8000/restaurant":        {URL: "http://127.0.0.1:8000/restaurant", Weight: 1},
		"  https://h/restaurant/dufva   3 ":       {URL: "https://h/restaurant/dufva", Weight: 3},
		"http://127.0.0.1:8000/x{seq}?q={rand} 2": {URL: "http://127.0.0.1:8000/x{seq}?q={rand}", Weight: 2},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8000/x", "ftp://h/x", "http:///nohost", "http://h/x 0", "http://h/x -1", "http://h/x two", "http://h/x 1 2"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestReadTargets(t *testing.T) {
	ts, err := ReadTargets(strings.NewReader("# hot\nhttp://127.0.0.1/a 9\n\n  http://127.0.0.1/b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Weight != 9 || ts[1].URL != "http://127.0.0.1/b" || ts[1].Weight != 1 {
		t.Fatalf("targets %+v", ts)
	}
	if _, err := ReadTargets(strings.NewReader("# nothing\n")); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := ReadTargets(strings.NewReader("http://h/a\nnot a url at all\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v should name line 2", err)
	}
}

func TestPickerWeightsAndExpansion(t *testing.T) {
	p, err := newPicker([]Target{{URL: "http://h/a", Weight: 1}, {URL: "http://h/b{seq}", Weight: 3}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	counts := [2]int{}
	for range 40000 {
		counts[p.pick(rng)]++
	}
	if counts[0] < 9000 || counts[0] > 11000 {
		t.Errorf("weight 1 of 4 picked %d of 40000 times, want about 10000", counts[0])
	}
	if a, b := p.expand(1, rng), p.expand(1, rng); a != "http://h/b1" || b != "http://h/b2" {
		t.Errorf("expansions %q %q, want http://h/b1 and http://h/b2", a, b)
	}
	if got := p.expand(0, rng); got != "http://h/a" {
		t.Errorf("static target expanded to %q", got)
	}
}
