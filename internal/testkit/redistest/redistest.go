// Package redistest runs a real redis-server (Debian's redis-server
// package) for tests: on a free loopback port, in the test's temporary
// directory, with no persistence, stopped when the test ends. It can be
// killed and started again on the same port, for tests of what the relay
// does when its shared tier goes away and comes back. StartWith adds server
// arguments (a user list, say) or serves TLS only, with certificates that
// Certificates makes.
package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port string
	opts Options

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Options change how StartWith runs the server.
type Options struct {
	// Args are more server arguments, e.g. "--aclfile", path.
	Args []string
	// TLS, when set, makes the server speak TLS only (--port 0 and
	// --tls-port), with this certificate; clients need no certificate.
	TLS *TLSFiles
}

// TLSFiles are the PEM files of a server certificate and its key.
type TLSFiles struct{ Cert, Key string }

// Start starts redis-server for the test, or skips (fails under CI) when it
// is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts redis-server for the test with opts. A server whose
// default user is off counts as started once it answers NOAUTH.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := tooltest.Require(t, tooltest.RedisServer)
	_, port, err := net.SplitHostPort(proctest.ClosedAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port, opts: opts}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", s.port) }

// URL is the server's redis:// URL, rediss:// with TLS.
func (s *Server) URL() string {
	if s.opts.TLS != nil {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Kill stops the server at once (SIGKILL), as a crashed or deleted pod does.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty, and waits until
// it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{"--bind", "127.0.0.1", "--port", s.port}
	if t := s.opts.TLS; t != nil {
		args = []string{"--bind", "127.0.0.1", "--port", "0", "--tls-port", s.port,
			"--tls-cert-file", t.Cert, "--tls-key-file", t.Key, "--tls-auth-clients", "no"}
	}
	args = append(args, "--dir", s.dir, "--save", "", "--appendonly", "no", "--protected-mode", "yes",
		"--logfile", filepath.Join(s.dir, "redis.log"), "--daemonize", "no")
	cmd := exec.Command(s.bin, append(args, s.opts.Args...)...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := s.ping(); err == nil {
			return
		} else if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer within 20s: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Do sends one command in the inline protocol and returns the first line of
// the reply, for tests that look inside the engine. Over TLS it does not
// check the server's certificate: it is the test's own server.
func (s *Server) Do(args ...string) (string, error) {
	var c net.Conn
	var err error
	if s.opts.TLS != nil {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own server
		c, err = d.Dial("tcp", s.Addr())
	} else {
		c, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func (s *Server) ping() error {
	reply, err := s.Do("PING")
	if err != nil {
		return err
	}
	if reply != "+PONG" && !strings.HasPrefix(reply, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}
