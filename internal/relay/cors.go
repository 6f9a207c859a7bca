package relay

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/metrics"
)

// CORS is the relay's cross-origin policy: which browser origins may read
// its answers. Its zero value sends no CORS headers; AllowAllOrigins and
// ParseCORSOrigins build the others. Every header value is prepared once,
// so that applying the policy to a hit allocates nothing.
type CORS struct {
	enabled bool
	any     []string            // {"*"} when every origin may read; nil for a list
	origins map[string][]string // allowed origin -> {origin}, to echo
	vary    []string            // {"Origin"} for a list
}

// corsMaxAge is how long, in seconds, a browser may keep a preflight's
// answer (Chromium keeps it two hours at most).
const corsMaxAge = "7200"

// maxRequestHeaders bounds the Access-Control-Request-Headers echoed back.
const maxRequestHeaders = 1024

// AllowAllOrigins is the policy of the menu API itself: every origin may read
// every answer (Access-Control-Allow-Origin: *).
func AllowAllOrigins() CORS {
	return CORS{enabled: true, any: []string{"*"}}
}

// ParseCORSOrigins reads the --cors-origins setting: "*" for every origin,
// a comma-separated list of origins (scheme://host[:port]) whose requests get
// their Origin echoed with Vary: Origin, or "" for no CORS headers at all.
func ParseCORSOrigins(s string) (CORS, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return CORS{}, nil
	case "*":
		return AllowAllOrigins(), nil
	}
	c := CORS{enabled: true, origins: map[string][]string{}, vary: []string{"Origin"}}
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		norm, err := parseOrigin(o)
		if err != nil {
			return CORS{}, err
		}
		c.origins[norm] = []string{norm}
	}
	if len(c.origins) == 0 {
		return CORS{}, fmt.Errorf("no origin in %q", s)
	}
	return c, nil
}

// parseOrigin checks one origin of a list and returns it as browsers send
// it: lower-case scheme and host, the port only when given.
func parseOrigin(o string) (string, error) {
	if o == "*" {
		return "", fmt.Errorf("origin %q: \"*\" stands alone, not in a list", o)
	}
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", o, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("origin %q: must start with http:// or https://", o)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("origin %q: must be scheme://host[:port], without path, query or user", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// apply sets the CORS headers of an answer to a request of header req. Like
// the menu API it exposes no headers beyond the CORS-safelisted ones
// (Content-Type, Content-Length, Cache-Control...): every field counts, as
// Go's header map holds eight without growing. The default policy adds one
// field to a hit, a list two (Vary, and the echoed origin when allowed).
// The request's Origin is looked up only for a list.
func (c *CORS) apply(h http.Header, req http.Header) {
	if !c.enabled {
		return
	}
	if c.any != nil {
		h["Access-Control-Allow-Origin"] = c.any
		return
	}
	h["Vary"] = c.vary
	if origin := req["Origin"]; len(origin) == 1 {
		if echo, ok := c.origins[origin[0]]; ok {
			h["Access-Control-Allow-Origin"] = echo
		}
	}
}

// corsHandler puts the CORS headers on every answer of next, errors
// included, and answers OPTIONS itself: a preflight needs neither the cache
// nor the upstream.
type corsHandler struct {
	cors    CORS
	next    http.Handler
	metrics *metrics.Metrics
	// Prepared values of the preflight's answer.
	allow, methods, maxAge, defaultHeaders []string
}

func newCORSHandler(c CORS, next http.Handler, m *metrics.Metrics) *corsHandler {
	return &corsHandler{
		cors:           c,
		next:           next,
		metrics:        m,
		allow:          []string{"GET, HEAD, OPTIONS"},
		methods:        []string{"GET, HEAD"},
		maxAge:         []string{corsMaxAge},
		defaultHeaders: []string{"Accept, Accept-Language, Cache-Control, If-None-Match"},
	}
}

func (ch *corsHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	ch.cors.apply(h, req.Header)
	if req.Method != http.MethodOptions {
		ch.next.ServeHTTP(w, req)
		return
	}
	// OPTIONS, a browser's preflight or not: 204 with what the relay
	// allows. With CORS off, or an origin not in the list, the answer has
	// no Access-Control-Allow-Origin and the browser refuses the request.
	h["Allow"] = ch.allow
	if ch.cors.enabled {
		h["Access-Control-Allow-Methods"] = ch.methods
		h["Access-Control-Max-Age"] = ch.maxAge
		if asked := req.Header.Get("Access-Control-Request-Headers"); asked != "" && headerList(asked) {
			h.Set("Access-Control-Allow-Headers", asked)
		} else {
			h["Access-Control-Allow-Headers"] = ch.defaultHeaders
		}
	}
	w.WriteHeader(http.StatusNoContent)
	if ch.metrics != nil {
		ch.metrics.Request(http.StatusNoContent, cache.None)
	}
}

// headerList reports whether v is a comma-separated list of header names
// (RFC 9110 tokens), short enough to echo back.
func headerList(v string) bool {
	if len(v) > maxRequestHeaders {
		return false
	}
	names := 0
	for _, name := range strings.Split(v, ",") {
		name = strings.Trim(name, " \t")
		if name == "" {
			continue
		}
		for i := 0; i < len(name); i++ {
			if !tokenChar(name[i]) {
				return false
			}
		}
		names++
	}
	return names > 0
}

func tokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
