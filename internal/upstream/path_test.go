package upstream

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const testBase = "http://127.0.0.1:8080/api/"

func mustBase(t testing.TB, raw string) Base {
	t.Helper()
	b, err := ParseBase(raw)
	if err != nil {
		t.Fatalf("ParseBase(%q): %v", raw, err)
	}
	return b
}

func TestParseTargetRefusesUnsafePaths(t *testing.T) {
	tests := []struct {
		name, path, query string
	}{
		// Traversal, plain and encoded.
		{"dotdot", "/..", ""},
		{"dotdot below", "/restaurant/..", ""},
		{"dotdot inside", "/restaurant/../admin", ""},
		{"dotdot first", "/../etc/passwd", ""},
		{"dot", "/.", ""},
		{"dot inside", "/./restaurant", ""},
		{"dotdot trailing slash", "/restaurant/../", ""},
		{"encoded dotdot", "/%2e%2e", ""},
		{"encoded dotdot upper", "/%2E%2E/admin", ""},
		{"half encoded dotdot", "/.%2E", ""},
		{"half encoded dotdot other half", "/%2e./x", ""},
		{"encoded dot", "/%2e", ""},
		{"encoded dotdot deep", "/restaurant/%2e%2e/%2e%2e/x", ""},
		{"dotdot encoded slash", "/..%2fadmin", ""},
		{"all encoded traversal", "/%2e%2e%2f%2e%2e%2fadmin", ""},
		// Encoded slashes.
		{"encoded slash", "/a%2fb", ""},
		{"encoded slash upper", "/a%2Fb", ""},
		{"encoded double slash", "/%2F%2Fevil.example", ""},
		// Empty segments and scheme-relative hosts.
		{"double slash host", "//evil.example", ""},
		{"double slash host path", "//evil.example/api", ""},
		{"triple slash host", "///evil.example", ""},
		{"empty segment", "/restaurant//dufva", ""},
		{"only slashes", "//", ""},
		// Backslashes.
		{"backslash", "/\\", ""},
		{"backslash traversal", "/restaurant\\..\\admin", ""},
		{"backslash host", "/\\\\evil.example", ""},
		{"encoded backslash", "/%5c", ""},
		{"encoded backslash upper", "/%5C..%5Cadmin", ""},
		{"dotdot encoded backslash", "/..%5c", ""},
		// User info and other URL syntax.
		{"at host", "/@evil.example", ""},
		{"encoded at host", "/%40evil.example", ""},
		{"at inside", "/restaurant@evil.example", ""},
		{"user info", "/user:pass@evil.example", ""},
		{"colon scheme", "/http:%2f%2fevil.example", ""},
		{"encoded question mark", "/a%3fb=c", ""},
		{"encoded hash", "/a%23b", ""},
		{"raw hash", "/a#b", ""},
		{"raw question mark", "/a?b", ""},
		{"semicolon", "/a;b", ""},
		{"space", "/a b", ""},
		{"encoded space", "/a%20b", ""},
		{"plus", "/a+b", ""},
		{"percent sign", "/100%25", ""},
		// Control characters, raw and encoded.
		{"raw nul", "/a\x00b", ""},
		{"encoded nul", "/a%00", ""},
		{"encoded crlf", "/a%0d%0aHost:%20evil.example", ""},
		{"raw crlf", "/a\r\nX-Injected: 1", ""},
		{"encoded del", "/a%7f", ""},
		{"raw del", "/a\x7f", ""},
		{"encoded tab", "/a%09", ""},
		{"raw tab", "/a\tb", ""},
		{"encoded escape", "/a%1b", ""},
		{"encoded c1 control", "/a%C2%85", ""},
		// Unicode dots, slashes, spaces and invisible characters.
		{"fullwidth dots", "/%EF%BC%8E%EF%BC%8E", ""},
		{"raw fullwidth dots", "/．．/admin", ""},
		{"fullwidth slash", "/a%EF%BC%8Fb", ""},
		{"raw fullwidth slash", "/a／b", ""},
		{"fullwidth backslash", "/a%EF%BC%BCb", ""},
		{"division slash", "/a%E2%88%95b", ""},
		{"fraction slash", "/a%E2%81%84b", ""},
		{"one dot leaders", "/%E2%80%A4%E2%80%A4", ""},
		{"two dot leader", "/%E2%80%A5", ""},
		{"raw two dot leader", "/‥/admin", ""},
		{"vertical two dot leader", "/%EF%B8%B0", ""},
		{"small full stops", "/%EF%B9%92%EF%B9%92", ""},
		{"small reverse solidus", "/a%EF%B9%A8b", ""},
		{"right-to-left override", "/a%E2%80%AEb", ""},
		{"arabic letter mark", "/a%D8%9Cb", ""},
		{"zero width space", "/a%E2%80%8Bb", ""},
		{"soft hyphen", "/a%C2%ADb", ""},
		{"no-break space", "/a%C2%A0b", ""},
		{"medium mathematical space", "/a%E2%81%9Fb", ""},
		{"ideographic space", "/a%E3%80%80b", ""},
		{"line separator", "/a%E2%80%A8b", ""},
		{"byte order mark", "/%EF%BB%BFrestaurant", ""},
		{"tag character", "/a%F3%A0%80%81b", ""},
		{"invalid utf-8", "/a%ffb", ""},
		{"overlong utf-8 slash", "/a%C0%AFb", ""},
		{"overlong utf-8 dot", "/%C0%AE%C0%AE", ""},
		{"surrogate", "/a%ED%A0%80b", ""},
		{"raw invalid utf-8", "/a\xffb", ""},
		// Malformed escapes.
		{"truncated escape", "/a%", ""},
		{"short escape", "/a%2", ""},
		{"non-hex escape", "/a%zz", ""},
		{"half hex escape", "/a%2g", ""},
		{"double percent", "/a%%32e", ""},
		// Shape and size.
		{"empty", "", ""},
		{"relative", "restaurant", ""},
		{"absolute URL", "http://evil.example/", ""},
		{"overlong path", "/" + strings.Repeat("a", maxPathBytes), ""},
		{"overlong encoded path", "/" + strings.Repeat("%61", 200), ""},
		{"too many segments", strings.Repeat("/a", maxSegments+1), ""},
		{"too many segments encoded", strings.Repeat("/%61", maxSegments+1), ""},
		{"too many segments with trailing slash", strings.Repeat("/a", maxSegments) + "/", ""},
		// Queries.
		{"query hash", "/restaurant", "a=1#frag"},
		{"query only hash", "/restaurant", "#"},
		{"query raw nul", "/restaurant", "a=\x00"},
		{"query raw crlf", "/restaurant", "a=1\r\nX-Injected: 1"},
		{"query raw tab", "/restaurant", "a=\t"},
		{"query raw del", "/restaurant", "a=\x7f"},
		{"query raw space", "/restaurant", "a=1 HTTP/1.0"},
		{"query encoded nul", "/restaurant", "a=%00"},
		{"query encoded crlf", "/restaurant", "a=%0d%0aX-Injected:%201"},
		{"query encoded crlf upper", "/restaurant", "a=%0D%0A"},
		{"query encoded del", "/restaurant", "a=%7F"},
		{"query backslash", "/restaurant", "a=\\"},
		{"query truncated escape", "/restaurant", "a=%"},
		{"query short escape", "/restaurant", "a=%4"},
		{"query non-hex escape", "/restaurant", "a=%zz"},
		{"query overlong", "/restaurant", "a=" + strings.Repeat("b", maxQueryBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTarget(tt.path, tt.query)
			if err == nil {
				t.Fatalf("ParseTarget(%q, %q) = %+v, want an error", tt.path, tt.query, got)
			}
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("ParseTarget(%q, %q) error %v does not wrap ErrUnsafePath", tt.path, tt.query, err)
			}
			if got != (Target{}) {
				t.Errorf("ParseTarget(%q, %q) returned %+v with its error, want the zero Target", tt.path, tt.query, got)
			}
		})
	}
}

func TestParseTargetAccepts(t *testing.T) {
	base := mustBase(t, testBase)
	tests := []struct {
		name, path, query string
		wantPath, wantKey string
		wantURL           string
	}{
		{"list", "/restaurant", "", "restaurant", "restaurant", testBase + "restaurant"},
		{"one", "/restaurant/dufva", "", "restaurant/dufva", "restaurant/dufva", testBase + "restaurant/dufva"},
		{"root", "/", "", "", "", testBase},
		{"trailing slash", "/restaurant/", "", "restaurant/", "restaurant/", testBase + "restaurant/"},
		{"dots inside a segment", "/v1.2/a..b", "", "v1.2/a..b", "v1.2/a..b", testBase + "v1.2/a..b"},
		{"unreserved marks", "/a-b_c~d", "", "a-b_c~d", "a-b_c~d", testBase + "a-b_c~d"},
		{"non-ascii letter", "/restaurant/j%C3%B6ns", "", "restaurant/j%C3%B6ns", "restaurant/j%C3%B6ns", testBase + "restaurant/j%C3%B6ns"},
		{"lower-case escape canonical", "/restaurant/j%c3%b6ns", "", "restaurant/j%C3%B6ns", "restaurant/j%C3%B6ns", testBase + "restaurant/j%C3%B6ns"},
		{"raw non-ascii canonical", "/restaurant/jöns", "", "restaurant/j%C3%B6ns", "restaurant/j%C3%B6ns", testBase + "restaurant/j%C3%B6ns"},
		{"needless escape canonical", "/restaurant/%64ufva", "", "restaurant/dufva", "restaurant/dufva", testBase + "restaurant/dufva"},
		{"escaped unreserved canonical", "/%72estaurant/a%2Db%7E", "", "restaurant/a-b~", "restaurant/a-b~", testBase + "restaurant/a-b~"},
		{"query kept", "/restaurant", "lang=sv&day=mon", "restaurant", "restaurant?lang=sv&day=mon", testBase + "restaurant?lang=sv&day=mon"},
		{"query escapes kept as sent", "/restaurant/dufva", "q=j%c3%b6ns&x=%23&y=%2F..%2F", "restaurant/dufva", "restaurant/dufva?q=j%c3%b6ns&x=%23&y=%2F..%2F",
			testBase + "restaurant/dufva?q=j%c3%b6ns&x=%23&y=%2F..%2F"},
		{"query with question mark and slash", "/", "a=b?c/d", "", "?a=b?c/d", testBase + "?a=b?c/d"},
		{"max segments", strings.Repeat("/a", maxSegments), "", strings.Repeat("a/", maxSegments-1) + "a", strings.Repeat("a/", maxSegments-1) + "a",
			testBase + strings.Repeat("a/", maxSegments-1) + "a"},
		{"max path", "/" + strings.Repeat("a", maxPathBytes-1), "", strings.Repeat("a", maxPathBytes-1), strings.Repeat("a", maxPathBytes-1),
			testBase + strings.Repeat("a", maxPathBytes-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTarget(tt.path, tt.query)
			if err != nil {
				t.Fatalf("ParseTarget(%q, %q): %v", tt.path, tt.query, err)
			}
			if got.Path != tt.wantPath || got.RawQuery != tt.query {
				t.Errorf("ParseTarget(%q, %q) = %+v, want Path %q RawQuery %q", tt.path, tt.query, got, tt.wantPath, tt.query)
			}
			if k := got.Key(); k != tt.wantKey {
				t.Errorf("Key() = %q, want %q", k, tt.wantKey)
			}
			if u := base.URL(got); u != tt.wantURL {
				t.Errorf("Base.URL() = %q, want %q", u, tt.wantURL)
			}
			again, err := ParseTarget("/"+got.Path, got.RawQuery)
			if err != nil || again != got {
				t.Errorf("ParseTarget of its own output (%q) = %+v, %v; want %+v", "/"+got.Path, again, err, got)
			}
		})
	}
}

// TestParseTargetCanonicalLength checks that the length limit holds for the
// canonical path, which is what keys the cache and goes to the upstream: raw
// non-ASCII bytes grow threefold when escaped.
func TestParseTargetCanonicalLength(t *testing.T) {
	raw := "/" + strings.Repeat("ö", (maxPathBytes-1)/2) // within the limit as sent
	if len(raw) > maxPathBytes {
		t.Fatalf("test path of %d bytes is over the limit", len(raw))
	}
	got, err := ParseTarget(raw, "")
	if err == nil {
		if len(got.Path) > maxPathBytes {
			t.Fatalf("accepted a %d-byte path as a %d-byte canonical path, over the limit of %d", len(raw), len(got.Path), maxPathBytes)
		}
		return
	}
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("error %v does not wrap ErrUnsafePath", err)
	}
}

// TestParseTargetUnicode walks every rune: whatever ParseTarget accepts in a
// segment is neither a space nor an invisible format character, and does not
// turn into a dot segment or a backslash under compatibility normalisation
// (NFKC), which some servers apply to paths. It asks checkSegment, the rule
// ParseTarget applies to each decoded segment, to stay fast under -race.
func TestParseTargetUnicode(t *testing.T) {
	accepted := 0
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		if checkSegment(s) != nil {
			continue
		}
		accepted++
		if unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cf, unicode.Cc) {
			t.Errorf("accepted %U, a space, separator or format character", r)
		}
		if norm.NFKC.IsNormalString(s) && norm.NFKC.IsNormalString(s+s) {
			continue // stays itself, and it is not ASCII
		}
		for _, n := range []string{norm.NFKC.String(s), norm.NFKC.String(s + s)} {
			for _, seg := range strings.FieldsFunc(n, func(c rune) bool { return c == '/' || c == '\\' }) {
				if seg == "." || seg == ".." {
					t.Errorf("accepted %U, whose NFKC form %q holds a dot segment", r, n)
				}
			}
			if strings.ContainsRune(n, '\\') {
				t.Errorf("accepted %U, whose NFKC form %q holds a backslash", r, n)
			}
		}
	}
	if accepted < 100000 {
		t.Errorf("only %d runes accepted; letters of other scripts must stay allowed", accepted)
	}
	// The same rule through ParseTarget, for a few of each kind.
	for _, r := range []rune{'ö', 'å', 'é', 'ß', 'ж', '中', '😀', 0x2025, 0xfe52, 0xfe68, 0xa0, 0x61c, 0xad} {
		_, err := ParseTarget("/x/"+url.PathEscape(string(r)), "")
		if want := checkSegment(string(r)); (err == nil) != (want == nil) {
			t.Errorf("ParseTarget of %U: %v; checkSegment: %v", r, err, want)
		}
	}
}

func TestParseBase(t *testing.T) {
	good := []struct{ raw, want, path string }{
		{"http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/", "/api/"},
		{"http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api/", "/api/"},
		{"https://menu.example.org", "https://menu.example.org/", "/"},
		{"https://menu.example.org/", "https://menu.example.org/", "/"},
		{"http://[::1]:8080/v1/api", "http://[::1]:8080/v1/api/", "/v1/api/"},
		{"HTTP://127.0.0.1/api/", "http://127.0.0.1/api/", "/api/"},
		{"http://127.0.0.1/a%20b", "http://127.0.0.1/a%20b/", "/a%20b/"},
	}
	for _, tt := range good {
		b, err := ParseBase(tt.raw)
		if err != nil {
			t.Errorf("ParseBase(%q): %v", tt.raw, err)
			continue
		}
		if b.String() != tt.want {
			t.Errorf("ParseBase(%q).String() = %q, want %q", tt.raw, b.String(), tt.want)
		}
		tg, err := ParseTarget("/restaurant", "x=1")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := b.URL(tg), tt.want+"restaurant?x=1"; got != want {
			t.Errorf("ParseBase(%q).URL(restaurant?x=1) = %q, want %q", tt.raw, got, want)
		}
		u, err := url.Parse(b.URL(tg))
		if err != nil || !b.Contains(u) || u.EscapedPath() != tt.path+"restaurant" {
			t.Errorf("ParseBase(%q): URL %q does not parse back below %q (err %v)", tt.raw, b.URL(tg), tt.path, err)
		}
	}

	bad := []struct{ name, raw string }{
		{"empty", ""},
		{"no scheme", "127.0.0.1:8080/api/"},
		{"no scheme host only", "menu.example.org"},
		{"scheme-relative", "//menu.example.org/api/"},
		{"ftp", "ftp://menu.example.org/api/"},
		{"file", "file:///etc/passwd"},
		{"no host", "http:///api/"},
		{"opaque", "http:menu.example.org"},
		{"user info", "http://user:pass@menu.example.org/api/"},
		{"user only", "http://user@menu.example.org/api/"},
		{"query", "http://menu.example.org/api/?key=1"},
		{"empty query", "http://menu.example.org/api/?"},
		{"fragment", "http://menu.example.org/api/#top"},
		{"control character", "http://menu.example.org/api/\n"},
		{"malformed", "http://[::1/api/"},
	}
	for _, tt := range bad {
		if b, err := ParseBase(tt.raw); err == nil {
			t.Errorf("%s: ParseBase(%q) = %q, want an error", tt.name, tt.raw, b.String())
		}
	}
}

func TestBaseContains(t *testing.T) {
	base := mustBase(t, testBase)
	tests := []struct {
		raw  string
		want bool
	}{
		{"http://127.0.0.1:8080/api/", true},
		{"http://127.0.0.1:8080/api/restaurant", true},
		{"http://127.0.0.1:8080/api/restaurant/dufva?x=1", true},
		{"http://127.0.0.1:8080/api", false},
		{"http://127.0.0.1:8080/apix/restaurant", false},
		{"http://127.0.0.1:8080/other", false},
		{"http://127.0.0.1:8080/", false},
		{"http://127.0.0.1:8080/api/../secret", false},
		{"http://127.0.0.1:8080/api/%2e%2e/secret", false},
		{"http://127.0.0.1:8080/api/..%2fsecret", false},
		{"http://127.0.0.1:8080/api/..", false},
		{"https://127.0.0.1:8080/api/restaurant", false},
		{"http://127.0.0.1:8081/api/restaurant", false},
		{"http://127.0.0.1/api/restaurant", false},
		{"http://localhost:8080/api/restaurant", false},
		{"http://evil.example/api/restaurant", false},
		{"http://user@127.0.0.1:8080/api/restaurant", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tt.raw, err)
		}
		if got := base.Contains(u); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestTargetKey(t *testing.T) {
	if k := (Target{Path: "restaurant"}).Key(); k != "restaurant" {
		t.Errorf("Key without query = %q", k)
	}
	if k := (Target{Path: "restaurant", RawQuery: "a=1"}).Key(); k != "restaurant?a=1" {
		t.Errorf("Key with query = %q", k)
	}
}
