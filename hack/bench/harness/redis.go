package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// errNoRedis says how to get redis-server, for the scenarios that need it.
var errNoRedis = errors.New("redis-server is not installed: `make test-deps` or `sudo apt-get install redis-server` installs it")

// redisServer is a redis-server the bench started: on a free loopback
// port, in its own directory under the bench's, with no persistence.
type redisServer struct {
	addr string
}

// url is the server's redis:// URL, as the relay's --shared-cache takes it.
func (r *redisServer) url() string { return "redis://" + r.addr }

// startRedis starts redis-server (Debian's redis-server package), or
// returns errNoRedis when it is not installed.
func (e *env) startRedis(ctx context.Context) (*redisServer, error) {
	bin := tooltest.RedisServer.Find()
	if bin == "" {
		return nil, errNoRedis
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir := filepath.Join(e.dir, "redis-"+port)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("redis directory: %w", err)
	}
	p, err := e.track(start(e.dir, "redis-"+port, bin,
		"--bind", "127.0.0.1", "--port", port, "--dir", dir, "--save", "", "--appendonly", "no",
		"--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning"))
	if err != nil {
		return nil, err
	}
	r := &redisServer{addr: addr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		reply, err := r.do("PING")
		if err == nil && reply == "+PONG" {
			return r, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("redis-server exited before it answered: %v\n%s", p.err, p.tail(4))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("redis-server on %s did not answer within 20s (%q, %v)\n%s", addr, reply, err, p.tail(4))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// flush empties the server, so that a run starts with a cold shared tier.
func (r *redisServer) flush() error {
	reply, err := r.do("FLUSHALL")
	if err != nil {
		return fmt.Errorf("redis FLUSHALL: %w", err)
	}
	if reply != "+OK" {
		return fmt.Errorf("redis FLUSHALL answered %q", reply)
	}
	return nil
}

// do sends one command and returns the first line of the reply.
func (r *redisServer) do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
