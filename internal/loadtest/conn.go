package loadtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// userAgent identifies the load tool's requests.
const userAgent = "restaurants-loadtest"

// endpoint is where a target's requests go: scheme and host:port.
type endpoint struct {
	tls        bool
	addr       string // host:port to dial
	serverName string // for TLS
}

// wireRequest is a request serialized once, ready to be written as is.
type wireRequest struct {
	ep  endpoint
	raw []byte
}

// newWireRequest serializes an HTTP/1.1 request for rawURL with keep-alive.
func newWireRequest(method, rawURL string, header http.Header) (wireRequest, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return wireRequest{}, fmt.Errorf("target %q: %w", rawURL, err)
	}
	ep := endpoint{tls: u.Scheme == "https", serverName: u.Hostname()}
	port := u.Port()
	if port == "" {
		port = "80"
		if ep.tls {
			port = "443"
		}
	}
	ep.addr = net.JoinHostPort(u.Hostname(), port)
	host := u.Host
	if h := header.Get("Host"); h != "" {
		host = h
	}
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(u.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(host)
	b.WriteString("\r\n")
	if header.Get("User-Agent") == "" {
		b.WriteString("User-Agent: " + userAgent + "\r\n")
	}
	for name, values := range header {
		if strings.EqualFold(name, "Host") {
			continue
		}
		for _, v := range values {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	return wireRequest{ep: ep, raw: []byte(b.String())}, nil
}

// conn is one keep-alive connection owned by one worker.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	ep     endpoint
	stop   func() bool // unregisters the cancel hook
	reused bool        // at least one answer was read on it
}

// dial opens a connection to ep; ctx canceled later unblocks its I/O.
func dial(ctx context.Context, ep endpoint, timeout time.Duration, insecure bool) (*conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", ep.addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	if ep.tls {
		tc := tls.Client(nc, &tls.Config{
			ServerName:         ep.serverName,
			InsecureSkipVerify: insecure, //nolint:gosec // asked for by the user
			NextProtos:         []string{"http/1.1"},
		})
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 32<<10), ep: ep}
	c.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	return c, nil
}

func (c *conn) close() {
	c.stop()
	c.nc.Close()
}

// errRetry marks a failure on a reused connection before any answer byte:
// the server closed an idle keep-alive connection; the request is sent again.
var errRetry = errors.New("keep-alive connection closed by the server")

// roundTrip writes the request and reads the whole answer; head tells that
// the request is a HEAD, header names the header whose value is kept.
func (c *conn) roundTrip(w wireRequest, head bool, header string, deadline time.Time) (answer, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return answer{}, err
	}
	if _, err := c.nc.Write(w.raw); err != nil {
		if c.reused {
			return answer{}, errRetry
		}
		return answer{}, fmt.Errorf("writing request: %w", err)
	}
	if _, err := c.br.Peek(1); err != nil {
		if c.reused && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return answer{}, errRetry
		}
		return answer{}, fmt.Errorf("reading answer: %w", err)
	}
	a, err := readAnswer(c.br, head, header)
	if err != nil {
		a.keep = false
		return a, fmt.Errorf("reading answer: %w", err)
	}
	c.reused = true
	return a, nil
}
