package harness

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// nginxConfig is the reference an operator would pick instead of the relay:
// nginx's proxy cache with one upstream call per key at a time (cache lock),
// refreshes in the background while the stale copy is served, and keep-alive
// connections to the upstream. It keeps answers for the relay's TTLs: the
// API's own Cache-Control (max-age of hours) and Expires are ignored, as
// the relay beside it ignores them with --fixed-ttl. (The lunch scenario's
// nginx follows them: lunch_nginx.go.)
const nginxConfig = `# written by the restaurants benchmark
daemon off;
master_process on;
worker_processes {{.Workers}};
worker_rlimit_nofile {{.OpenFiles}};
{{if .User}}user {{.User}};
{{end}}pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy_temp;
    fastcgi_temp_path {{.Dir}}/fastcgi_temp;
    uwsgi_temp_path {{.Dir}}/uwsgi_temp;
    scgi_temp_path {{.Dir}}/scgi_temp;
    keepalive_requests 1000000;

    proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=menu:{{.KeysZoneMB}}m max_size={{.CacheMB}}m inactive=60m use_temp_path=off;

    upstream menu_api {
        server {{.Upstream}};
        keepalive 32;
    }

    server {
        listen {{.Listen}} backlog=4096;

        location / {
            proxy_pass http://menu_api/api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache menu;
            proxy_cache_key $request_uri;
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_valid 200 {{.TTL}};
            proxy_cache_valid 404 {{.NegativeTTL}};
            proxy_cache_lock on;
            proxy_cache_lock_timeout {{.UpstreamTimeout}};
            proxy_cache_background_update on;
            proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;
            proxy_read_timeout {{.UpstreamTimeout}};
            add_header X-Cache $upstream_cache_status;
        }
    }
}
`

// nginxParams fills nginxConfig, or the template given.
type nginxParams struct {
	// Template is the configuration's template; empty is nginxConfig.
	Template        string
	Dir             string
	Listen          string
	Upstream        string
	User            string
	Workers         int
	CacheMB         int
	KeysZoneMB      int // shared memory for the cache keys: about 8,000 keys per MiB
	OpenFiles       int // worker_rlimit_nofile
	TTL             string
	NegativeTTL     string
	UpstreamTimeout string
}

// keysZoneMB sizes nginx's key zone for keys distinct keys (about 8,000
// per MiB, nginx's documentation says), with room to spare, 16 MiB at least.
func keysZoneMB(keys int) int {
	return max(16, 2*keys/8000+1)
}

// nginxOpenFiles is the workers' file limit: enough for thousands of
// connections, within this process' hard limit (which an unprivileged
// nginx cannot exceed).
func nginxOpenFiles() int {
	hard := uint64(16384)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		hard = min(hard, lim.Max)
	}
	return int(hard)
}

// nginxSeconds writes d the way proxy_cache_valid reads it: whole seconds,
// rounded up (it takes no milliseconds), at least one.
func nginxSeconds(d time.Duration) string {
	s := max(1, int64((d+time.Second-1)/time.Second))
	return fmt.Sprintf("%ds", s)
}

// renderNginx writes the configuration text.
func renderNginx(p nginxParams) (string, error) {
	t, err := template.New("nginx.conf").Parse(cmp.Or(p.Template, nginxConfig))
	if err != nil {
		return "", fmt.Errorf("nginx.conf template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return "", fmt.Errorf("writing nginx.conf: %w", err)
	}
	return b.String(), nil
}

// ErrNoNginx tells the user how to get nginx.
var ErrNoNginx = errors.New("nginx not found: install it with `apt-get install nginx-light` (the comparison runs without it)")

// findNginx locates the nginx binary.
func findNginx(hint string) (string, error) {
	if hint != "" {
		if _, err := exec.LookPath(hint); err != nil {
			return "", fmt.Errorf("nginx %q: %w", hint, err)
		}
		return hint, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoNginx
}

// startNginx writes a configuration into its own directory under dir and
// runs nginx in the foreground with that prefix.
func startNginx(bin, dir string, p nginxParams) (*process, error) {
	name := "nginx-" + p.Listen[strings.LastIndex(p.Listen, ":")+1:]
	p.Dir = filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(p.Dir, "cache"), 0o755); err != nil {
		return nil, fmt.Errorf("nginx directory: %w", err)
	}
	if os.Geteuid() == 0 {
		// Workers would switch to "nobody" and lose access to the temporary
		// directory; as root, keep them as root (loopback only, temporary).
		p.User = "root"
	}
	conf, err := renderNginx(p)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(p.Dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing nginx.conf: %w", err)
	}
	return start(dir, name, bin, "-p", p.Dir, "-c", confPath, "-e", filepath.Join(p.Dir, "nginx-error.log"))
}
