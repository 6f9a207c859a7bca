package upstream

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// FuzzParseTarget checks that no path and query that ParseTarget accepts can
// make the upstream request leave the base URL: the joined URL keeps the
// base's scheme, host and path prefix, holds no dot segment even after
// decoding (or after NFKC normalisation, which some servers apply), no user
// information and no fragment, and is a valid request target. ParseTarget must
// also accept its own output unchanged. Seeds beyond those added here live in
// testdata/fuzz/FuzzParseTarget.
func FuzzParseTarget(f *testing.F) {
	for _, s := range [][2]string{
		{"/restaurant", ""},
		{"/restaurant/dufva", ""},
		{"/restaurant/j%C3%B6ns", "lang=sv"},
		{"/", ""},
		{"/restaurant/", "a=1&b=%2F"},
		{"/..", ""},
		{"/%2e%2e/%2e%2e/etc/passwd", ""},
		{"/.%2E/admin", ""},
		{"/a%2fb", ""},
		{"//evil.example/api", ""},
		{"/\\evil.example", ""},
		{"/%5c..%5cadmin", ""},
		{"/@evil.example", ""},
		{"/%40evil.example", ""},
		{"/a%00b", ""},
		{"/a%0d%0aHost:%20evil.example", ""},
		{"/%EF%BC%8E%EF%BC%8E/admin", ""},
		{"/%E2%80%A5/admin", ""},
		{"/restaurant", "a=1#frag"},
		{"/restaurant", "a=%0d%0a"},
		{"/restaurant", "a=1 HTTP/1.0"},
		{"/a%zz", ""},
	} {
		f.Add(s[0], s[1])
	}
	var bases []Base
	for _, raw := range []string{"http://127.0.0.1:8080/api/", "https://menu.example.org", "http://[::1]:9000/v1/menu"} {
		bases = append(bases, mustBase(f, raw))
	}
	f.Fuzz(func(t *testing.T, escapedPath, rawQuery string) {
		tg, err := ParseTarget(escapedPath, rawQuery)
		if err != nil {
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("ParseTarget(%q, %q) error %v does not wrap ErrUnsafePath", escapedPath, rawQuery, err)
			}
			return
		}
		again, err := ParseTarget("/"+tg.Path, tg.RawQuery)
		if err != nil || again != tg {
			t.Fatalf("ParseTarget(%q, %q) = %+v, but its own output parses as %+v, %v", escapedPath, rawQuery, tg, again, err)
		}
		for _, b := range bases {
			checkJoined(t, b, tg)
		}
	})
}

// checkJoined asserts that the URL of tg below b stays below b.
func checkJoined(t *testing.T, b Base, tg Target) {
	t.Helper()
	bu, err := url.Parse(b.String())
	if err != nil {
		t.Fatalf("base %q does not parse: %v", b, err)
	}
	raw := b.URL(tg)
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= 0x20 || c == 0x7f || c == '#' || c == '\\' {
			t.Fatalf("URL %q holds byte %q at %d", raw, c, i)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("URL %q does not parse: %v", raw, err)
	}
	if u.Scheme != bu.Scheme || u.Host != bu.Host || u.Opaque != "" {
		t.Fatalf("URL %q leaves %s://%s", raw, bu.Scheme, bu.Host)
	}
	if u.User != nil {
		t.Fatalf("URL %q carries user information %q", raw, u.User.String())
	}
	if u.Fragment != "" || u.RawFragment != "" {
		t.Fatalf("URL %q carries a fragment", raw)
	}
	if u.RawQuery != tg.RawQuery {
		t.Fatalf("URL %q has query %q, want %q", raw, u.RawQuery, tg.RawQuery)
	}
	if !strings.HasPrefix(u.EscapedPath(), bu.EscapedPath()) || !strings.HasPrefix(u.Path, bu.Path) {
		t.Fatalf("URL %q has path %q, outside the base path %q", raw, u.Path, bu.Path)
	}
	if c := path.Clean(u.Path); c != path.Clean(bu.Path) && !strings.HasPrefix(c+"/", bu.Path) {
		t.Fatalf("URL %q cleans to %q, outside the base path %q", raw, c, bu.Path)
	}
	rel := strings.TrimPrefix(u.Path, bu.Path)
	if strings.ContainsRune(rel, '\\') {
		t.Fatalf("URL %q decodes to a path with a backslash: %q", raw, u.Path)
	}
	for _, p := range []string{rel, norm.NFKC.String(rel)} {
		for _, seg := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' }) {
			if seg == "." || seg == ".." {
				t.Fatalf("URL %q holds a dot segment in %q", raw, p)
			}
		}
	}
	if strings.Contains(rel, "//") || strings.HasPrefix(rel, "/") {
		t.Fatalf("URL %q holds an empty segment in %q", raw, u.Path)
	}
	if !b.Contains(u) {
		t.Fatalf("Base.Contains(%q) = false for a URL the base made", raw)
	}
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		t.Fatalf("http.NewRequest(%q): %v", raw, err)
	}
	if req.URL.Host != bu.Host || !strings.HasPrefix(req.URL.RequestURI(), bu.EscapedPath()) {
		t.Fatalf("request for %q goes to %s%s", raw, req.URL.Host, req.URL.RequestURI())
	}
}
