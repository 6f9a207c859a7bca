package loadtest

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// relayHit is a relay's hit as it comes over the wire.
const relayHit = "HTTP/1.1 200 OK\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Age: 3\r\n" +
	"Cache-Control: public, max-age=10\r\n" +
	"Content-Type: application/json\r\n" +
	"Date: Tue, 01 Dec 2026 18:38:44 GMT\r\n" +
	"Etag: \"2pr2b525ouivn\"\r\n" +
	"X-Cache: HIT\r\n" +
	"Content-Length: 22\r\n" +
	"\r\n" +
	`{"detail":"Not Found"}`

// TestReadAnswerAgreesWithNetHTTP reads each response with readAnswer and
// with http.ReadResponse, followed by a second response on the same
// stream, and wants the same status, body size, header value and
// keep-alive from both, and the second response found where it starts.
func TestReadAnswerAgreesWithNetHTTP(t *testing.T) {
	const next = "HTTP/1.1 204 No Content\r\n\r\n"
	cases := []struct {
		name string
		head bool
		raw  string
	}{
		{"relay hit", false, relayHit},
		{"lower-case names, no reason", false, "HTTP/1.1 404\r\ncontent-length: 3\r\nx-cache: miss\r\n\r\n{ }"},
		{"LF line ends", false, "HTTP/1.1 200 OK\nContent-Length: 2\nX-Cache:   STALE  \n\n{}"},
		{"chunked with trailer", false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Cache: HIT\r\n\r\n" +
			"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n"},
		{"chunked wins over length", false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"connection close", false, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
		{"connection keep-alive, close in a list", false, "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n"},
		{"HTTP/1.0 closes by default", false, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"HTTP/1.0 keep-alive", false, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"},
		{"HEAD has no body", true, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Cache: HIT\r\n\r\n"},
		{"304 has no body", false, "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nX-Cache: HIT\r\n\r\n"},
		{"folded line", false, "HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nX-Cache: HIT\r\nContent-Length: 1\r\n\r\n1"},
		{"first of two values", false, "HTTP/1.1 200 OK\r\nX-Cache: HIT\r\nX-Cache: MISS\r\nContent-Length: 0\r\n\r\n"},
		{"no length: until close", false, "HTTP/1.1 200 OK\r\nX-Cache: MISS\r\n\r\nthe rest of the stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.raw + next
			ours := bufio.NewReader(strings.NewReader(stream))
			a, err := readAnswer(ours, tc.head, "X-Cache")
			if err != nil {
				t.Fatalf("readAnswer: %v", err)
			}
			if a.keep { // the next answer starts where this one ended
				if b, err := readAnswer(ours, false, ""); err != nil || b.code != 204 {
					t.Errorf("the answer after it: %+v, %v; want the 204", b, err)
				}
			}
			method := http.MethodGet
			if tc.head {
				method = http.MethodHead
			}
			br := bufio.NewReader(strings.NewReader(stream))
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("http.ReadResponse: %v", err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				t.Fatalf("net/http body: %v", err)
			}
			want := answer{code: resp.StatusCode, n: n, hv: resp.Header.Get("X-Cache"), keep: !resp.Close}
			if a != want {
				t.Errorf("readAnswer %+v, net/http %+v", a, want)
			}
		})
	}
}

// TestReadAnswerLeavesTheNextResponse reads two answers from one stream.
func TestReadAnswerLeavesTheNextResponse(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(relayHit + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + relayHit))
	for i, want := range []int64{22, 2, 22} {
		a, err := readAnswer(br, false, "")
		if err != nil || a.n != want || a.code != 200 || !a.keep {
			t.Fatalf("answer %d: %+v, %v; want 200 with %d bytes, kept", i, a, err, want)
		}
	}
	if _, err := readAnswer(br, false, ""); err != io.ErrUnexpectedEOF {
		t.Errorf("after the last answer: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestReadAnswerRefusesBrokenResponses names what is wrong with each.
func TestReadAnswerRefusesBrokenResponses(t *testing.T) {
	cases := map[string]string{
		"not HTTP":               "SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/2 status line":     "HTTP/2 200 OK\r\n\r\n",
		"letters as code":        "HTTP/1.1 2x0 OK\r\n\r\n",
		"code too short":         "HTTP/1.1 20 OK\r\n\r\n",
		"header without colon":   "HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
		"negative length":        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"conflicting lengths":    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"body cut short":         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"header cut short":       "HTTP/1.1 200 OK\r\nContent-Le",
		"bad chunk size":         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"chunked body cut short": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"line too long":          "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			a, err := readAnswer(bufio.NewReaderSize(strings.NewReader(raw), 4096), false, "")
			if err == nil {
				t.Fatalf("readAnswer accepted it: %+v", a)
			}
		})
	}
}

// BenchmarkReadAnswer compares the load tool's reading of a relay hit with
// http.ReadResponse's.
func BenchmarkReadAnswer(b *testing.B) {
	stream := strings.Repeat(relayHit, 1000)
	r := strings.NewReader(stream)
	br := bufio.NewReaderSize(r, 32<<10)
	reset := func(i int) {
		if i%1000 == 0 {
			r.Reset(stream)
			br.Reset(r)
		}
	}
	b.Run("readAnswer", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			reset(i)
			if _, err := readAnswer(br, false, "X-Cache"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http.ReadResponse", func(b *testing.B) {
		b.ReportAllocs()
		req := &http.Request{Method: http.MethodGet}
		for i := range b.N {
			reset(i)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				b.Fatal(err)
			}
			_ = resp.Header.Get("X-Cache")
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
