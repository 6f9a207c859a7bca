package harness

import (
	"context"
	"time"
)

// lunchNginxConfig is nginx's proxy cache as an operator would set it up
// in front of this API: it follows the API's Cache-Control (nginx does by
// default; no proxy_ignore_headers), revalidates expired copies with the
// API's ETag, serves the stale copy while one background request
// refreshes it (no time limit, unlike a stale-while-revalidate window),
// and asks for a key once at a time. proxy_cache_valid applies only to
// answers that name no lifetime.
const lunchNginxConfig = `# written by the restaurants benchmark (lunch scenario)
daemon off;
master_process on;
worker_processes {{.Workers}};
worker_rlimit_nofile {{.OpenFiles}};
{{if .User}}user {{.User}};
{{end}}pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy_temp;
    fastcgi_temp_path {{.Dir}}/fastcgi_temp;
    uwsgi_temp_path {{.Dir}}/uwsgi_temp;
    scgi_temp_path {{.Dir}}/scgi_temp;

    proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=menu:{{.KeysZoneMB}}m max_size={{.CacheMB}}m inactive=60m use_temp_path=off;

    upstream menu_api {
        server {{.Upstream}};
        keepalive 8;
    }

    server {
        listen {{.Listen}};

        location / {
            proxy_pass http://menu_api/api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache menu;
            proxy_cache_key $request_uri;
            proxy_cache_valid 200 {{.TTL}};
            proxy_cache_revalidate on;
            proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;
            proxy_cache_background_update on;
            proxy_cache_lock on;
            proxy_cache_lock_timeout {{.UpstreamTimeout}};
            proxy_read_timeout {{.UpstreamTimeout}};
            add_header X-Cache $upstream_cache_status;
        }
    }
}
`

// lunchNginxParams are the lunch scenario's nginx settings (Listen and
// Upstream aside).
func lunchNginxParams(workers int) nginxParams {
	return nginxParams{Template: lunchNginxConfig, Workers: workers, CacheMB: 16, KeysZoneMB: keysZoneMB(len(lunchKeys())),
		OpenFiles: nginxOpenFiles(), TTL: nginxSeconds(lunchNginxTTL), UpstreamTimeout: nginxSeconds(lunchTimeout)}
}

// startLunchNginx starts nginx with lunchNginxConfig in front of up.
func (e *env) startLunchNginx(ctx context.Context, up *standIn) (*system, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := lunchNginxParams(e.opts.NginxWorkers)
	p.Listen, p.Upstream = addr, up.addr
	proc, err := e.track(startNginx(e.opts.NginxBin, e.dir, p))
	if err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, proc, addr, 10*time.Second); err != nil {
		return nil, err
	}
	return processSystem(&system{name: SystemNginx, base: "http://" + addr, upstream: up}, proc), nil
}
