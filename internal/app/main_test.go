package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// keepGC leaves the test process's garbage collector as it is: Main tunes
// it only when GOGC and GOMEMLIMIT are unset.
var keepGC = map[string]string{"GOGC": "100", "GOMEMLIMIT": "off"}

func TestMainStopsBeforeServing(t *testing.T) {
	busy := listen(t)
	defer busy.Close()
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, 0, "", "RESTAURANTS_CACHE_TTL"},
		{"version", []string{"--version"}, 0, "restaurants v1.2.3\n", ""},
		{"bad flag", []string{"--cache-ttl", "soon"}, 2, "", "restaurants: "},
		{"argument", []string{"extra"}, 2, "", `restaurants: unexpected argument "extra"`},
		{"listen", []string{"--listen", busy.Addr().String(), "--admin-listen", "localhost:0", "--upstream", "http://127.0.0.1:1/api/"}, 1, "", "restaurants: listen tcp " + busy.Addr().String()},
		{"admin listen", []string{"--listen", "127.0.0.1:0", "--admin-listen", busy.Addr().String(), "--upstream", "http://127.0.0.1:1/api/"}, 1, "", "restaurants: listen tcp " + busy.Addr().String()},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), "v1.2.3", c.args, &stdout, &stderr, env(keepGC))
		if code != c.code || !strings.Contains(stdout.String(), c.stdout) || (c.stdout == "" && stdout.Len() > 0) || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
				c.name, code, stdout.String(), stderr.String(), c.code, c.stdout, c.stderr)
		}
	}
}

func TestMainServesUntilCancelled(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`"}`)
	}))
	defer up.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr proctest.Buffer
	vars := map[string]string{"RESTAURANTS_UPSTREAM": up.URL + "/api/", "RESTAURANTS_LOG_FORMAT": "json"}
	for k, v := range keepGC {
		vars[k] = v
	}
	done := make(chan int, 1)
	// Both ports are free ones; the two addresses differ only in how they are written.
	go func() {
		done <- Main(ctx, "test", []string{"--listen", "127.0.0.1:0", "--admin-listen", "localhost:0", "--drain-delay", "0s"},
			&stdout, &stderr, env(vars))
	}()

	// The addresses are in the "serving" log line.
	var serving struct{ Msg, Listen, Admin, Upstream string }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"serving"`) {
				if err := json.Unmarshal([]byte(line), &serving); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
			}
		}
		if serving.Listen != "" {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("Main returned %d before serving: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving log line after 10s: %s", stderr.String())
		}
	}
	if serving.Upstream != up.URL+"/api/" {
		t.Errorf("upstream %q, want the environment's %q", serving.Upstream, up.URL+"/api/")
	}
	for _, want := range []string{"MISS", "HIT"} {
		resp, err := http.Get("http://" + serving.Listen + "/restaurant")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != `{"path":"/api/restaurant"}` || resp.Header.Get("X-Cache") != want {
			t.Fatalf("GET /restaurant: %d X-Cache %q %q, want 200 %s", resp.StatusCode, resp.Header.Get("X-Cache"), body, want)
		}
	}
	if code, _ := get(t, "http://"+serving.Admin+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d, want 200", code)
	}

	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Main = %d after cancel, want 0: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main still serving 10s after cancel")
	}
	if _, err := net.DialTimeout("tcp", serving.Listen, time.Second); err == nil {
		t.Fatal("the relay still accepts connections after Main returned")
	}
	if stdout.String() != "" {
		t.Errorf("stdout %q, want nothing: logs go to stderr", stdout.String())
	}
}
