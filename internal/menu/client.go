package menu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Defaults of a Client.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 4 << 20
	DefaultUserAgent    = "restaurants-menu-client"
)

// Client asks the lunch-menu API (or the relay in front of it) for its
// restaurants and menus. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	timeout   time.Duration
	maxBody   int64
	userAgent string
}

// Option changes a Client made by NewClient.
type Option func(*Client)

// WithTimeout bounds every request in time (DefaultTimeout if not given; 0
// leaves only the context's and the http.Client's limits).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxBodyBytes bounds how much of a response body is read.
func WithMaxBodyBytes(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// NewClient returns a client for the API at baseURL, such as
// "https://menu.dckube.scilifelab.se/api/" or "http://localhost:8000/" (the
// relay). Paths are joined below baseURL's path whether or not it ends in
// "/". A nil httpClient uses one with DefaultTimeout.
func NewClient(baseURL string, httpClient *http.Client, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("API URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("API URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("API URL %q: no host", baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	c := &Client{base: u, http: httpClient, timeout: DefaultTimeout, maxBody: DefaultMaxBodyBytes, userAgent: DefaultUserAgent}
	for _, o := range opts {
		o(c)
	}
	if c.maxBody <= 0 {
		return nil, fmt.Errorf("max body size must be positive, got %d", c.maxBody)
	}
	return c, nil
}

// BaseURL returns the API's base URL, ending in "/".
func (c *Client) BaseURL() string { return c.base.String() }

// Restaurants asks for the list of restaurants (GET restaurant).
func (c *Client) Restaurants(ctx context.Context) ([]Restaurant, error) {
	var raw struct {
		Restaurants *[]Restaurant `json:"restaurants"`
	}
	u := c.url("restaurant")
	ct, err := c.getJSON(ctx, u, &raw)
	if err != nil {
		return nil, err
	}
	if raw.Restaurants == nil {
		return nil, &InvalidResponseError{URL: u, ContentType: ct, Reason: `no "restaurants" member`}
	}
	return *raw.Restaurants, nil
}

// Restaurant asks for today's menu of the restaurant with this identifier
// (GET restaurant/{identifier}). An unknown identifier is a *NotFoundError.
func (c *Client) Restaurant(ctx context.Context, identifier string) (Menu, error) {
	if identifier == "" || identifier == "." || identifier == ".." {
		return Menu{}, fmt.Errorf("invalid restaurant identifier %q", identifier)
	}
	var raw struct {
		Restaurant *Menu `json:"restaurant"`
	}
	u := c.url("restaurant/" + url.PathEscape(identifier))
	ct, err := c.getJSON(ctx, u, &raw)
	if err != nil {
		return Menu{}, err
	}
	if raw.Restaurant == nil {
		return Menu{}, &InvalidResponseError{URL: u, ContentType: ct, Reason: `no "restaurant" member`}
	}
	return *raw.Restaurant, nil
}

// Version asks for the API's version (GET version).
func (c *Client) Version(ctx context.Context) (string, error) {
	var raw struct {
		Version *string `json:"version"`
	}
	u := c.url("version")
	ct, err := c.getJSON(ctx, u, &raw)
	if err != nil {
		return "", err
	}
	if raw.Version == nil {
		return "", &InvalidResponseError{URL: u, ContentType: ct, Reason: `no "version" member`}
	}
	return *raw.Version, nil
}

func (c *Client) url(rel string) string {
	ref := &url.URL{Path: rel}
	if strings.Contains(rel, "%") {
		ref, _ = url.Parse(rel) // rel is built from url.PathEscape: always valid
	}
	return c.base.ResolveReference(ref).String()
}

// getJSON GETs u and decodes a 200 answer into v. It returns the response's
// Content-Type and a *NotFoundError, *APIError or *InvalidResponseError.
func (c *Client) getJSON(ctx context.Context, u string, v any) (string, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("building request for %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &APIError{URL: u, Err: transportError(err)}
	}
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")

	body, readErr := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	tooLarge := int64(len(body)) > c.maxBody
	if tooLarge {
		body = body[:c.maxBody]
	}

	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return ct, &NotFoundError{URL: u, Detail: detail(body)}
	default:
		return ct, &APIError{URL: u, StatusCode: resp.StatusCode, Detail: detail(body), RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	if tooLarge {
		return ct, &InvalidResponseError{URL: u, ContentType: ct, Reason: fmt.Sprintf("body larger than %d bytes", c.maxBody)}
	}
	if readErr != nil {
		return ct, &APIError{URL: u, StatusCode: resp.StatusCode, Err: fmt.Errorf("reading body: %w", transportError(readErr))}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return ct, &InvalidResponseError{URL: u, ContentType: ct, Reason: "not the expected JSON", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return ct, &InvalidResponseError{URL: u, ContentType: ct, Reason: "data after the JSON value"}
	}
	return ct, nil
}

// transportError strips the *url.Error layer (which repeats method and URL)
// and names a timeout as such.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

// detail returns the "detail" (the API's) or "error" (the relay's) member of
// an error body, made safe to print on one line.
func detail(body []byte) string {
	var e struct {
		Detail any    `json:"detail"`
		Error  string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	s := e.Error
	if d, ok := e.Detail.(string); ok && d != "" {
		s = d
	}
	return OneLine(s, 200)
}

// OneLine makes text from the network safe to print as one line: control
// characters become spaces, runs of space collapse, and it is cut at max
// runes (with "…").
func OneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); max > 0 && len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
