package frontendtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/browsertest"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// readmeNginx is the nginx server block the relay's README
// (cmd/restaurants/README.md) shows for a front end at / and the relay at
// /api/ on one origin: the one ```nginx block there.
func readmeNginx(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "cmd", "restaurants", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) != 1 {
		t.Fatalf("cmd/restaurants/README.md has %d ```nginx blocks, want the one same-origin example", len(blocks))
	}
	return string(blocks[0][1])
}

// replaceOnce replaces old by new in s, failing unless old is there once:
// the README's example must keep the values this test puts its own in for.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("the README's nginx example has %q %d times, want once:\n%s", old, n, s)
	}
	return strings.Replace(s, old, new, 1)
}

// nginxMain wraps the README's server block into a configuration nginx runs
// with on loopback, unprivileged paths only.
const nginxMain = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    types { text/html html; application/javascript js; }
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy_temp;
    fastcgi_temp_path %[1]s/fastcgi_temp;
    uwsgi_temp_path %[1]s/uwsgi_temp;
    scgi_temp_path %[1]s/scgi_temp;
%[2]s
}
`

// startNginx runs nginx in the foreground with conf, after checking it
// with nginx -t, and waits until addr accepts connections.
func startNginx(t *testing.T, dir, conf, addr string) {
	t.Helper()
	bin := tooltest.Require(t, tooltest.Nginx)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")}
	if out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the README's example: %v\n%s\n%s", err, out, conf)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s%s", err, log.String(), errLog)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s after 20s", addr)
		}
	}
}

// TestSameOriginBehindNginx: the page at / and the relay at /api/ behind
// one nginx, configured as the README shows, with the relay's upstream at
// the API's host root so that /api/restaurant is asked as
// <host>/api/restaurant and nothing is rewritten. CORS is off in the relay:
// one origin needs none.
func TestSameOriginBehindNginx(t *testing.T) {
	api, apiSrv := relaytest.StandIn(t, menuapi.Options{})
	relay := relaytest.Start(t, "--upstream", apiSrv.URL+"/", "--cors-origins", "", "--drain-delay", "0s")

	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"client_body", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := proctest.ClosedAddr(t)
	server := readmeNginx(t)
	server = replaceOnce(t, server, "listen 80;", "listen "+addr+";")
	server = replaceOnce(t, server, "/srv/lunch-menu", site)
	server = replaceOnce(t, server, "http://127.0.0.1:8000", relay.URL)
	startNginx(t, dir, fmt.Sprintf(nginxMain, dir, server), addr)

	b := browsertest.New(t)
	before := api.Requests()
	r := load(t, b, "http://"+addr+"/")
	if !r.ok() {
		t.Fatalf("the page at / got %+v; want 18 restaurants, jons as %q, Svarta Räfven's menu through /api/", r, "Jöns Jacob ")
	}
	if r.XCache != "MISS" && r.XCache != "HIT" {
		t.Errorf("X-Cache %q: the answer did not come from the relay", r.XCache)
	}
	if n := api.Requests() - before; n != 2 {
		t.Errorf("the API served %d requests, want 2 (the list and one menu)", n)
	}
	// A path the front end routes itself gets its page too (try_files).
	if r := load(t, b, "http://"+addr+"/restaurant/svarta"); !r.ok() {
		t.Errorf("a front-end route: %+v", r)
	}
	if errs := b.Errors(); len(errs) != 0 {
		t.Errorf("the browser's console has errors: %q", errs)
	}
}
