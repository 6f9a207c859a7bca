package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http/httputil"
	"strconv"
)

// answer is what the load tool keeps of an HTTP/1.x response.
type answer struct {
	code int
	n    int64  // body bytes
	hv   string // the value of the header asked for, if any
	keep bool   // the connection may carry the next request
}

// readAnswer reads one HTTP/1.x response from br and discards its body. It
// parses only what a load generator needs: the status, the framing of the
// body (Content-Length, chunked, or until close), whether the connection
// stays open, and one header's value. Unlike http.ReadResponse it builds no
// header map and copies no field it does not keep, so that a response's
// fields cost the client little beside the server under test. head tells
// that the request was a HEAD, whose answer has no body.
func readAnswer(br *bufio.Reader, head bool, header string) (answer, error) {
	var a answer
	line, err := readLine(br)
	if err != nil {
		return a, err
	}
	var http10 bool
	a.code, http10, err = parseStatusLine(line)
	if err != nil {
		return a, err
	}
	a.keep = !http10
	length := int64(-1)
	var chunked bool
	for {
		line, err := readLine(br)
		if err != nil {
			return a, fmt.Errorf("header: %w", err)
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // an obsolete folded line continues a field the tool does not keep
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return a, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case equalFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return a, fmt.Errorf("bad Content-Length %q", value)
			}
			if length >= 0 && n != length {
				return a, fmt.Errorf("conflicting Content-Length %d and %d", length, n)
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			chunked = hasToken(value, "chunked")
		case equalFold(name, "connection"):
			if hasToken(value, "close") {
				a.keep = false
			} else if http10 && hasToken(value, "keep-alive") {
				a.keep = true
			}
		}
		if header != "" && a.hv == "" && equalFold(name, header) {
			a.hv = string(value)
		}
	}
	switch {
	case head, a.code/100 == 1, a.code == 204, a.code == 304:
		return a, nil
	case chunked:
		a.n, err = io.Copy(io.Discard, httputil.NewChunkedReader(br))
		if err != nil {
			return a, fmt.Errorf("chunked body: %w", err)
		}
		for { // the trailer section, ended by an empty line
			line, err := readLine(br)
			if err != nil {
				return a, fmt.Errorf("trailer: %w", err)
			}
			if len(line) == 0 {
				return a, nil
			}
		}
	case length >= 0:
		for a.n < length {
			d, err := br.Discard(int(min(length-a.n, 1<<30)))
			a.n += int64(d)
			if err != nil {
				return a, fmt.Errorf("body: %w", noEOF(err))
			}
		}
		return a, nil
	default: // the body runs until the server closes the connection
		a.keep = false
		a.n, err = io.Copy(io.Discard, br)
		return a, err
	}
}

// readLine reads one line, without its CR LF; a line longer than br's
// buffer is an error.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("line too long")
		}
		return nil, noEOF(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// noEOF turns an end of stream inside a response into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseStatusLine reads "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (code int, http10 bool, err error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	switch line[7] {
	case '0':
		http10 = true
	case '1':
	default:
		return 0, false, fmt.Errorf("unsupported protocol in status line %q", line)
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("malformed status code in %q", line)
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, false, fmt.Errorf("malformed status code in %q", line)
	}
	return code, http10, nil
}

// equalFold reports whether b equals s, ignoring ASCII case. Header names
// are ASCII; bytes.EqualFold, which folds Unicode, takes twice as long
// here (BenchmarkReadAnswer: 190 against 440 ns).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		t := s[i]
		if 'A' <= t && t <= 'Z' {
			t += 'a' - 'A'
		}
		if c != t {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token, ignoring case.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte{','})
		if equalFold(bytes.TrimSpace(t), token) {
			return true
		}
	}
	return false
}
