package upstream

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a client may ask for. Identifiers of the menu API are short
// words, so these leave ample room while bounding cache keys.
const (
	maxPathBytes  = 512
	maxQueryBytes = 1024
	maxSegments   = 16
)

// ErrUnsafePath is wrapped by every error that ParseTarget and CanonicalQuery
// return: the requested path or query could leave the upstream's base, or is
// malformed.
var ErrUnsafePath = errors.New("unsafe path")

// Target is a validated request for the upstream: the canonical path below
// the base (escaped, without a leading slash) and the raw query.
type Target struct {
	// Path is the escaped path relative to the upstream base, e.g. "restaurant/dufva".
	Path string
	// RawQuery is the query string as the client sent it, validated.
	RawQuery string
}

// Key is the cache key of the target: its canonical path and query.
func (t Target) Key() string {
	if t.RawQuery == "" {
		return t.Path
	}
	return t.Path + "?" + t.RawQuery
}

// ParseTarget validates an escaped request path (as url.URL.EscapedPath
// gives it, starting with "/") and a raw query. Each segment, once
// percent-decoded, may hold only letters, digits and "-._~"; empty segments
// (other than a trailing slash), "." and "..", encoded slashes, backslashes,
// "@", control characters and malformed escapes are refused.
func ParseTarget(escapedPath, rawQuery string) (Target, error) {
	if len(escapedPath) > maxPathBytes {
		return Target{}, fmt.Errorf("%w: path longer than %d bytes", ErrUnsafePath, maxPathBytes)
	}
	if !strings.HasPrefix(escapedPath, "/") {
		return Target{}, fmt.Errorf("%w: path must start with /", ErrUnsafePath)
	}
	rest := escapedPath[1:]
	if plain(rest) {
		if err := checkQuery(rawQuery); err != nil {
			return Target{}, err
		}
		return Target{Path: rest, RawQuery: rawQuery}, nil
	}
	var b strings.Builder
	b.Grow(len(rest))
	if rest != "" {
		segs := strings.Split(rest, "/")
		if len(segs) > maxSegments {
			return Target{}, fmt.Errorf("%w: more than %d path segments", ErrUnsafePath, maxSegments)
		}
		for i, seg := range segs {
			if seg == "" {
				if i == len(segs)-1 {
					b.WriteByte('/') // a trailing slash is kept as sent
					continue
				}
				return Target{}, fmt.Errorf("%w: empty path segment", ErrUnsafePath)
			}
			dec, err := url.PathUnescape(seg)
			if err != nil {
				return Target{}, fmt.Errorf("%w: malformed escape in %q", ErrUnsafePath, seg)
			}
			if err := checkSegment(dec); err != nil {
				return Target{}, err
			}
			if i > 0 {
				b.WriteByte('/')
			}
			b.WriteString(url.PathEscape(dec))
		}
	}
	if b.Len() > maxPathBytes {
		return Target{}, fmt.Errorf("%w: path longer than %d bytes once escaped", ErrUnsafePath, maxPathBytes)
	}
	if err := checkQuery(rawQuery); err != nil {
		return Target{}, err
	}
	return Target{Path: b.String(), RawQuery: rawQuery}, nil
}

// plain reports whether p is already canonical: only letters, digits and
// "-_~" and single slashes, with dots only inside segments. Such paths, the
// everyday ones, need no decoding.
func plain(p string) bool {
	segStart := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			if seg == "" && i != len(p) || seg == "." || seg == ".." {
				return false
			}
			segStart = i + 1
			continue
		}
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return len(p) == 0 || strings.Count(p, "/") < maxSegments
}

func checkSegment(seg string) error {
	if seg == "." || seg == ".." {
		return fmt.Errorf("%w: dot segment", ErrUnsafePath)
	}
	if !utf8.ValidString(seg) {
		return fmt.Errorf("%w: invalid UTF-8 in path", ErrUnsafePath)
	}
	for _, r := range seg {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '.', r == '_', r == '~':
		case r >= 0xa0 && r != utf8.RuneError && !isFormatOrSpace(r):
			// Letters of other scripts, such as "ö", are fine in a path.
		default:
			return fmt.Errorf("%w: character %q not allowed in path", ErrUnsafePath, r)
		}
	}
	return nil
}

// isFormatOrSpace reports the non-ASCII runes that could hide a separator or
// confuse a reader: spaces, separators and bidirectional controls.
func isFormatOrSpace(r rune) bool {
	switch {
	case r == 0x2028, r == 0x2029, r == 0x3000, r == 0xfeff:
		return true
	case r >= 0x2000 && r <= 0x200f, r >= 0x202a && r <= 0x202f, r >= 0x2060 && r <= 0x206f:
		return true
	case unicode.IsSpace(r), unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cf):
		return true // every other space, separator and invisible format character
	case r >= 0xff0e && r <= 0xff0f, r == 0xff3c, r == 0x2215, r == 0x2044:
		return true // fullwidth dot and slashes, division and fraction slashes
	case r == 0x2024, r == 0x2025, r == 0xfe30, r == 0xfe52, r == 0xfe68:
		return true // dot leaders, small full stop and small backslash: ".", ".." and "\\" under NFKC
	}
	return false
}

// CanonicalQuery validates a raw query as ParseTarget does and returns it
// in canonical form: parameters sorted by name (values of one name keep
// their order) and escaped one way, so that "a=1&b=2" and "b=2&a=1" are one
// cache key. An empty query stays empty.
func CanonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if err := checkQuery(raw); err != nil {
		return "", err
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "", fmt.Errorf("%w: malformed query", ErrUnsafePath)
	}
	return v.Encode(), nil
}

func checkQuery(q string) error {
	if len(q) > maxQueryBytes {
		return fmt.Errorf("%w: query longer than %d bytes", ErrUnsafePath, maxQueryBytes)
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= 0x20 || c == 0x7f || c == '#' || c == '\\' { // a space would split the request line
			return fmt.Errorf("%w: character %q not allowed in query", ErrUnsafePath, c)
		}
		if c == '%' {
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return fmt.Errorf("%w: malformed escape in query", ErrUnsafePath)
			}
			if v := unhex(q[i+1])<<4 | unhex(q[i+2]); v < 0x20 || v == 0x7f {
				return fmt.Errorf("%w: control character in query", ErrUnsafePath)
			}
		}
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// Base is the upstream's base URL, normalised so that targets join below it.
type Base struct {
	u      url.URL
	prefix string // scheme://host/escaped/path/ of the base
}

// ParseBase validates the upstream base URL: absolute http or https, a host,
// no user information, query or fragment. The path gets a trailing slash.
func ParseBase(raw string) (Base, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Base{}, fmt.Errorf("upstream URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Base{}, fmt.Errorf("upstream URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return Base{}, fmt.Errorf("upstream URL %q: no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return Base{}, fmt.Errorf("upstream URL %q: must not carry user info, query or fragment", raw)
	}
	p := u.EscapedPath()
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if u, err = url.Parse(u.Scheme + "://" + u.Host + p); err != nil {
		return Base{}, fmt.Errorf("upstream URL %q: %w", raw, err)
	}
	return Base{u: *u, prefix: u.Scheme + "://" + u.Host + p}, nil
}

// String returns the base URL.
func (b Base) String() string { return b.prefix }

// URL returns the upstream URL of a target: the target's path appended below
// the base path, and the target's query.
func (b Base) URL(t Target) string {
	if t.RawQuery == "" {
		return b.prefix + t.Path
	}
	return b.prefix + t.Path + "?" + t.RawQuery
}

// Contains reports whether u stays within the base: same scheme, host and
// path prefix. Redirects from the upstream are followed only when it does
// (or when they only drop the base's trailing slash: DropsTrailingSlash).
func (b Base) Contains(u *url.URL) bool {
	return u.Scheme == b.u.Scheme && u.Host == b.u.Host && u.User == nil &&
		strings.HasPrefix(u.EscapedPath(), b.u.EscapedPath()) &&
		!strings.Contains(u.Path+"/", "/../")
}

// DropsTrailingSlash reports whether a redirect from the base itself to to
// does nothing but drop the base's trailing slash, as the menu API answers
// <host>/api/ with a redirect to <host>/api: same scheme, host and query,
// and the base's path without its last "/". Redirects from anywhere else,
// or to anywhere else outside the base, are not followed.
func (b Base) DropsTrailingSlash(from, to *url.URL) bool {
	p := b.u.EscapedPath()
	return p != "/" && from.Scheme == b.u.Scheme && from.Host == b.u.Host && from.EscapedPath() == p &&
		to.Scheme == b.u.Scheme && to.Host == b.u.Host && to.User == nil &&
		to.EscapedPath() == strings.TrimSuffix(p, "/") && to.RawQuery == from.RawQuery
}
