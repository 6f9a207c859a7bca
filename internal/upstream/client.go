package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Config sets up a Client.
type Config struct {
	// Base is the upstream's base URL; targets are joined below it.
	Base Base
	// Timeout bounds one call, from waiting for a slot to the last body byte.
	Timeout time.Duration
	// MaxBody is the largest body accepted, in bytes.
	MaxBody int64
	// MaxInflight bounds the calls under way at once.
	MaxInflight int
	// Transport carries the calls; nil means a tuned clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Wrap, when set, wraps the transport (tracing's instrumentation).
	Wrap func(http.RoundTripper) http.RoundTripper
	// UserAgent is sent with every call.
	UserAgent string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Response is a successful upstream answer: a status the relay passes on
// (200, a client error such as 404, or 304 to a conditional call), its body,
// and the header fields a cache needs to judge its freshness.
type Response struct {
	Status int
	Body   []byte
	// Header holds the answer's freshness and validator fields (see
	// CacheHeaders), nothing else.
	Header http.Header
}

// Validators are what a cache holds of an answer to ask the upstream
// whether it changed: If-None-Match and If-Modified-Since.
type Validators struct {
	ETag         string
	LastModified string
}

// CacheHeaders are the upstream's header fields a Response keeps: those
// that decide an answer's freshness (RFC 9111 section 4.2) and its
// validators (RFC 9110 section 8.8).
func CacheHeaders() []string {
	return []string{"Cache-Control", "Expires", "Date", "Age", "Etag", "Last-Modified"}
}

// Client calls the upstream within bounds of time, bytes and concurrency. A
// 429 is an error that carries its Retry-After; pausing every call for that
// long is the caller's part (package guard).
type Client struct {
	base      Base
	http      *http.Client
	timeout   time.Duration
	maxBody   int64
	slots     chan struct{}
	userAgent string
	now       func() time.Time

	inflight atomic.Int64
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Base.prefix == "" {
		return nil, errors.New("upstream: no base URL")
	}
	if cfg.Timeout <= 0 || cfg.MaxBody <= 0 || cfg.MaxInflight <= 0 {
		return nil, errors.New("upstream: timeout, body limit and concurrency limit must be positive")
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.MaxInflight
		t.MaxConnsPerHost = cfg.MaxInflight
		t.ResponseHeaderTimeout = cfg.Timeout
		tr = t
	}
	if cfg.Wrap != nil {
		tr = cfg.Wrap(tr)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		base:      cfg.Base,
		timeout:   cfg.Timeout,
		maxBody:   cfg.MaxBody,
		slots:     make(chan struct{}, cfg.MaxInflight),
		userAgent: cfg.UserAgent,
		now:       now,
	}
	c.http = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			if !c.base.Contains(req.URL) && !c.base.DropsTrailingSlash(via[len(via)-1].URL, req.URL) {
				return fmt.Errorf("redirect to %s leaves the upstream base", req.URL.Redacted())
			}
			return nil
		},
	}
	return c, nil
}

// Inflight returns the number of calls under way.
func (c *Client) Inflight() int64 { return c.inflight.Load() }

// Base returns the upstream's base URL.
func (c *Client) Base() Base { return c.base }

// Fetch calls the upstream for t, conditionally when v holds a validator. A
// 200, a client error (4xx other than 429), or a 304 to a conditional call
// is a Response; anything else is an *Error with its Outcome.
func (c *Client) Fetch(ctx context.Context, t Target, v Validators) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, &Error{Outcome: Busy, Err: fmt.Errorf("waiting for one of %d upstream slots: %w", cap(c.slots), ctx.Err())}
	}
	c.inflight.Add(1)
	defer func() {
		c.inflight.Add(-1)
		<-c.slots
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.URL(t), nil)
	if err != nil {
		return nil, &Error{Outcome: HTTPError, Err: fmt.Errorf("building request: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, classify(ctx, err)
	}
	defer resp.Body.Close()
	kept := make(http.Header, 4)
	for _, name := range CacheHeaders() {
		if vs := resp.Header[name]; len(vs) > 0 {
			kept[name] = vs
		}
	}
	if resp.StatusCode == http.StatusNotModified && (v.ETag != "" || v.LastModified != "") {
		drain(resp.Body)
		return &Response{Status: http.StatusNotModified, Header: kept}, nil
	}

	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := retryAfter(resp.Header.Get("Retry-After"), c.now())
		drain(resp.Body)
		return nil, &Error{Outcome: RateLimited, Status: resp.StatusCode, RetryAfter: wait, Err: errors.New("rate limited")}
	case resp.StatusCode == http.StatusOK, resp.StatusCode >= 400 && resp.StatusCode < 500:
	default:
		drain(resp.Body)
		return nil, &Error{Outcome: HTTPError, Status: resp.StatusCode, Err: fmt.Errorf("unexpected status %s", resp.Status)}
	}

	if resp.ContentLength > c.maxBody {
		return nil, &Error{Outcome: TooLarge, Status: resp.StatusCode,
			Err: fmt.Errorf("body of %d bytes exceeds the limit of %d", resp.ContentLength, c.maxBody)}
	}
	body, err := readLimited(resp.Body, resp.ContentLength, c.maxBody)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &Error{Outcome: TooLarge, Status: resp.StatusCode, Err: err}
		}
		e := classify(ctx, err)
		e.Status = resp.StatusCode
		return nil, e
	}
	return &Response{Status: resp.StatusCode, Body: body, Header: kept}, nil
}

var errTooLarge = errors.New("body exceeds the size limit")

// readLimited reads the body, holding at most max+1 bytes: a larger body
// fails as soon as it proves larger, without being read on.
func readLimited(r io.Reader, contentLength, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if contentLength > 0 {
		buf.Grow(int(contentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1)); err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("%w of %d bytes", errTooLarge, max)
	}
	return buf.Bytes(), nil
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(r io.Reader) { _, _ = io.CopyN(io.Discard, r, 4<<10) }

func classify(ctx context.Context, err error) *Error {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Outcome: Timeout, Err: err}
	case errors.Is(ctx.Err(), context.Canceled):
		return &Error{Outcome: Canceled, Err: err}
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), isDialError(err):
		return &Error{Outcome: Refused, Err: err}
	default:
		return &Error{Outcome: HTTPError, Err: err}
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// retryAfter parses a Retry-After header (seconds or an HTTP date). A missing
// or unreadable value means one second; a longer wait than an hour is capped.
func retryAfter(v string, now time.Time) time.Duration {
	const floor, ceiling = time.Second, time.Hour
	d := floor
	if s, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Capped before the multiplication, which could overflow; an
		// out-of-range value is parsed as the largest int64.
		d = time.Duration(max(0, min(s, int64(ceiling/time.Second)))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(floor, min(d, ceiling))
}
