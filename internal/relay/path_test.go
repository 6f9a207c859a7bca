package relay

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawGet sends a request line exactly as given, without any client's
// normalisation, and returns the relay's response.
func rawGet(t *testing.T, addr, target string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestTraversalAndSSRFAttemptsAreRefused(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	addr := strings.TrimPrefix(f.server.URL, "http://")
	for _, target := range []string{
		"/../etc/passwd",
		"/restaurant/../../admin",
		"/restaurant/..",
		"/./restaurant",
		"/%2e%2e/admin",
		"/%2E%2E/admin",
		"/.%2e/admin",
		"/restaurant/%2e%2e%2f%2e%2e%2fadmin",
		"/restaurant%2f..%2fadmin",
		"/restaurant%2Fdufva",
		"//evil.example/x",
		"///evil.example/x",
		"/restaurant//dufva",
		`/restaurant\..\admin`,
		"/restaurant%5c..%5cadmin",
		"/@evil.example/x",
		"/restaurant/%40evil.example",
		"/restaurant/dufva%00",
		"/restaurant/dufva%0d%0aX-Injected:%201",
		"/restaurant/%7f",
		"/restaurant/%e2%80%ae",
		"/restaurant/%ef%bc%8f..",
		"/restaurant?x=%00",
		"/restaurant?x=%0a",
		"/" + strings.Repeat("a/", 40),
		"/" + strings.Repeat("x", 600),
		"*",
	} {
		resp, body := rawGet(t, addr, target)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %q: status %d, want 400", target, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %q: Content-Type %q, body %q", target, ct, body)
			continue
		}
		expectError(t, resp, body, http.StatusBadRequest)
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("upstream calls = %d, want 0", n)
	}
}

// Request targets that net/http itself cannot parse never reach the relay:
// the server answers 400 in plain text, and nothing goes upstream.
func TestUnparseableTargetsNeverReachUpstream(t *testing.T) {
	f := newFixture(t, jsonHandler(200, listJSON), defaults())
	addr := strings.TrimPrefix(f.server.URL, "http://")
	for _, target := range []string{"/restaurant/dufva%", "/restaurant/dufva%zz", "/restaurant/a b"} {
		if resp, _ := rawGet(t, addr, target); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %q: status %d, want 400", target, resp.StatusCode)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("upstream calls = %d, want 0", n)
	}
}

// An absolute-form target names a host, which the relay ignores: only the
// path is relayed, to the configured upstream.
func TestAbsoluteFormTargetStaysOnTheUpstream(t *testing.T) {
	var got string
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Host + r.URL.RequestURI()
		jsonHandler(200, listJSON)(w, r)
	}, defaults())
	addr := strings.TrimPrefix(f.server.URL, "http://")
	if resp, _ := rawGet(t, addr, "http://evil.example/restaurant"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if want := strings.TrimPrefix(f.upstream.URL, "http://") + "/api/restaurant"; got != want {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

func TestEverydayPathsPass(t *testing.T) {
	var got []string
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RequestURI())
		jsonHandler(200, listJSON)(w, r)
	}, defaults())
	addr := strings.TrimPrefix(f.server.URL, "http://")
	for _, target := range []string{"/", "/restaurant", "/restaurant/", "/restaurant/dufva", "/version", "/restaurant/j%C3%B6ns", "/restaurant?day=mon"} {
		if resp, _ := rawGet(t, addr, target); resp.StatusCode != 200 {
			t.Errorf("GET %q: status %d, want 200", target, resp.StatusCode)
		}
	}
	// The query is checked, but not forwarded: /restaurant is cached already.
	want := []string{"/api/", "/api/restaurant", "/api/restaurant/", "/api/restaurant/dufva", "/api/version", "/api/restaurant/j%C3%B6ns"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("upstream saw %v, want %v", got, want)
	}

	o := defaults()
	o.forwardQuery = true
	got = nil
	f = newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RequestURI())
		jsonHandler(200, listJSON)(w, r)
	}, o)
	if resp, _ := rawGet(t, strings.TrimPrefix(f.server.URL, "http://"), "/restaurant?day=mon&lang=sv%20se"); resp.StatusCode != 200 {
		t.Fatalf("GET with a query: status %d, want 200", resp.StatusCode)
	}
	if want := "/api/restaurant?day=mon&lang=sv+se"; len(got) != 1 || got[0] != want {
		t.Fatalf("with ForwardQuery the upstream saw %v, want [%s]", got, want)
	}
}
