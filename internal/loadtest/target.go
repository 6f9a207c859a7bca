package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// Placeholders that a target URL may contain; each request replaces them anew.
const (
	// PlaceholderSeq is replaced by a run-wide increasing integer, so that every
	// request asks for a key never asked before (a flood of distinct keys).
	PlaceholderSeq = "{seq}"
	// PlaceholderRand is replaced by 16 random hexadecimal digits.
	PlaceholderRand = "{rand}"
)

// Target is one URL to load, with its relative weight among the run's targets.
type Target struct {
	// URL is an absolute http or https URL; it may contain PlaceholderSeq or PlaceholderRand.
	URL string
	// Weight is the target's share of requests relative to the other targets (>= 1).
	Weight int
}

// ParseTarget reads one target written as "URL" or "URL WEIGHT"
// (fields separated by white space), as on the command line or in a targets file.
func ParseTarget(s string) (Target, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return Target{}, fmt.Errorf("target %q: want \"URL\" or \"URL WEIGHT\"", s)
	}
	t := Target{URL: fields[0], Weight: 1}
	if len(fields) == 2 {
		w, err := strconv.Atoi(fields[1])
		if err != nil || w < 1 {
			return Target{}, fmt.Errorf("target %q: weight %q is not a whole number >= 1", s, fields[1])
		}
		t.Weight = w
	}
	if err := t.validate(); err != nil {
		return Target{}, err
	}
	return t, nil
}

func (t Target) validate() error {
	probe := strings.NewReplacer(PlaceholderSeq, "0", PlaceholderRand, "0").Replace(t.URL)
	u, err := url.Parse(probe)
	if err != nil {
		return fmt.Errorf("target %q: want an absolute http:// or https:// URL (scheme missing?): %w", t.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: want an absolute http:// or https:// URL (scheme %q)", t.URL, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("target %q: no host", t.URL)
	}
	if t.Weight < 1 {
		return fmt.Errorf("target %q: weight %d must be >= 1", t.URL, t.Weight)
	}
	return nil
}

// ReadTargets reads targets, one per line as ParseTarget accepts them;
// blank lines and lines starting with '#' are skipped.
func ReadTargets(r io.Reader) ([]Target, error) {
	var targets []Target
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		t, err := ParseTarget(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		targets = append(targets, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading targets: %w", err)
	}
	if len(targets) == 0 {
		return nil, errors.New("reading targets: no targets found")
	}
	return targets, nil
}

// picker chooses targets by weight and expands their placeholders.
// It is shared by all workers; each worker passes its own random source.
type picker struct {
	urls    []string
	dynamic []bool
	cumul   []int // cumulative weights
	total   int
	seq     atomic.Int64
}

func newPicker(targets []Target) (*picker, error) {
	if len(targets) == 0 {
		return nil, errors.New("no targets")
	}
	p := &picker{}
	for _, t := range targets {
		if err := t.validate(); err != nil {
			return nil, err
		}
		p.total += t.Weight
		p.urls = append(p.urls, t.URL)
		p.dynamic = append(p.dynamic, strings.Contains(t.URL, PlaceholderSeq) || strings.Contains(t.URL, PlaceholderRand))
		p.cumul = append(p.cumul, p.total)
	}
	return p, nil
}

// pick returns the index of a target chosen by weight.
func (p *picker) pick(rng *rand.Rand) int {
	if len(p.urls) == 1 {
		return 0
	}
	n := rng.IntN(p.total)
	lo, hi := 0, len(p.cumul)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if p.cumul[mid] > n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// expand returns the URL of target i with its placeholders replaced.
func (p *picker) expand(i int, rng *rand.Rand) string {
	u := p.urls[i]
	if !p.dynamic[i] {
		return u
	}
	if strings.Contains(u, PlaceholderSeq) {
		u = strings.ReplaceAll(u, PlaceholderSeq, strconv.FormatInt(p.seq.Add(1), 10))
	}
	for strings.Contains(u, PlaceholderRand) {
		u = strings.Replace(u, PlaceholderRand, fmt.Sprintf("%016x", rng.Uint64()), 1)
	}
	return u
}
