package menuapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mode is a failure mode of the stand-in.
type Mode string

// The failure modes. Every mode applies to every API request (paths outside
// /-/) until changed.
const (
	// ModeNone serves the API normally.
	ModeNone Mode = "none"
	// Mode5xx answers 500 Internal Server Error (text/plain, as the real
	// API's server does).
	Mode5xx Mode = "5xx"
	// ModeSlow delays every answer by Faults.SlowDelay (on top of the
	// latency), honoring the request's context, then answers normally.
	ModeSlow Mode = "slow"
	// Mode429 answers 429 Too Many Requests with a Retry-After header.
	Mode429 Mode = "429"
	// ModeGarbled answers 200 with Content-Type application/json and a body
	// that is not JSON.
	ModeGarbled Mode = "garbled"
	// ModeOversized answers 200 with a valid JSON body of
	// Faults.OversizeBytes bytes, streamed (chunked, no Content-Length) from
	// a small buffer.
	ModeOversized Mode = "oversized"
)

// Modes lists every mode, for help texts.
func Modes() []Mode {
	return []Mode{ModeNone, Mode5xx, ModeSlow, Mode429, ModeGarbled, ModeOversized}
}

// ParseMode returns the mode named s ("" is ModeNone).
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeNone, nil
	}
	for _, m := range Modes() {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	names := make([]string, 0, 6)
	for _, m := range Modes() {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("unknown fault mode %q (want one of %s)", s, strings.Join(names, ", "))
}

// Defaults of Faults fields left zero by New.
const (
	DefaultSlowDelay     = 30 * time.Second
	DefaultRetryAfter    = 5 * time.Second
	DefaultOversizeBytes = 64 << 20
)

// Faults are the stand-in's knobs for latency and failures.
type Faults struct {
	Mode    Mode          // failure mode; "" is ModeNone
	Latency time.Duration // added to every API answer
	// ComputeLatency is added to an answer the stand-in's own cache does
	// not hold (or that the request asks to compute, with no-cache), on
	// top of Latency: the real API's cost of parsing a restaurant's page.
	ComputeLatency time.Duration
	Jitter         time.Duration // a random extra delay in [0, Jitter)
	ErrorRate      float64       // probability in [0, 1] of a random 500
	SlowDelay      time.Duration // the delay of ModeSlow
	RetryAfter     time.Duration // the Retry-After of Mode429 (whole seconds, rounded up)
	OversizeBytes  int64         // the body size of ModeOversized
}

// withDefaults fills zero fields with their defaults.
func (f Faults) withDefaults() Faults {
	if f.Mode == "" {
		f.Mode = ModeNone
	}
	if f.SlowDelay == 0 {
		f.SlowDelay = DefaultSlowDelay
	}
	if f.RetryAfter == 0 {
		f.RetryAfter = DefaultRetryAfter
	}
	if f.OversizeBytes == 0 {
		f.OversizeBytes = DefaultOversizeBytes
	}
	return f
}

// Validate reports the first bad knob.
func (f Faults) Validate() error {
	if _, err := ParseMode(string(f.Mode)); err != nil {
		return err
	}
	switch {
	case f.Latency < 0:
		return fmt.Errorf("latency must not be negative, got %s", f.Latency)
	case f.ComputeLatency < 0:
		return fmt.Errorf("compute latency must not be negative, got %s", f.ComputeLatency)
	case f.Jitter < 0:
		return fmt.Errorf("jitter must not be negative, got %s", f.Jitter)
	case f.ErrorRate < 0 || f.ErrorRate > 1 || f.ErrorRate != f.ErrorRate:
		return fmt.Errorf("error rate must be between 0 and 1, got %g", f.ErrorRate)
	case f.SlowDelay < 0:
		return fmt.Errorf("slow delay must not be negative, got %s", f.SlowDelay)
	case f.RetryAfter < 0:
		return fmt.Errorf("retry-after must not be negative, got %s", f.RetryAfter)
	case f.OversizeBytes < 0:
		return fmt.Errorf("oversize bytes must not be negative, got %d", f.OversizeBytes)
	}
	return nil
}

// retryAfterSeconds is the Retry-After header's value.
func (f Faults) retryAfterSeconds() string {
	s := int64((f.RetryAfter + time.Second - 1) / time.Second)
	return strconv.FormatInt(s, 10)
}

// faultsJSON is how the control endpoint shows Faults.
type faultsJSON struct {
	Mode           Mode    `json:"mode"`
	Latency        string  `json:"latency"`
	ComputeLatency string  `json:"compute_latency"`
	Jitter         string  `json:"jitter"`
	ErrorRate      float64 `json:"error_rate"`
	SlowDelay      string  `json:"slow_delay"`
	RetryAfter     string  `json:"retry_after"`
	OversizeBytes  int64   `json:"oversize_bytes"`
}

func (f Faults) view() faultsJSON {
	return faultsJSON{
		Mode: f.Mode, Latency: f.Latency.String(), ComputeLatency: f.ComputeLatency.String(), Jitter: f.Jitter.String(), ErrorRate: f.ErrorRate,
		SlowDelay: f.SlowDelay.String(), RetryAfter: f.RetryAfter.String(), OversizeBytes: f.OversizeBytes,
	}
}

// apply returns f changed by the control parameters in q (mode, latency,
// compute-latency, jitter, error-rate, slow-delay, retry-after,
// oversize-bytes). Parameters
// not given keep their value; an unknown parameter is an error.
func (f Faults) apply(q url.Values) (Faults, error) {
	for key, vals := range q {
		v := ""
		if len(vals) > 0 {
			v = vals[len(vals)-1]
		}
		var err error
		switch key {
		case "mode":
			f.Mode, err = ParseMode(v)
		case "latency":
			f.Latency, err = time.ParseDuration(v)
		case "compute-latency":
			f.ComputeLatency, err = time.ParseDuration(v)
		case "jitter":
			f.Jitter, err = time.ParseDuration(v)
		case "slow-delay":
			f.SlowDelay, err = time.ParseDuration(v)
		case "retry-after":
			f.RetryAfter, err = time.ParseDuration(v)
		case "error-rate":
			f.ErrorRate, err = strconv.ParseFloat(v, 64)
		case "oversize-bytes":
			f.OversizeBytes, err = strconv.ParseInt(v, 10, 64)
		default:
			return f, fmt.Errorf("unknown parameter %q (want mode, latency, compute-latency, jitter, error-rate, slow-delay, retry-after or oversize-bytes)", key)
		}
		if err != nil {
			return f, fmt.Errorf("parameter %s=%q: %w", key, v, err)
		}
	}
	return f, f.Validate()
}
