package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func runCmd(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut, env(vars))
	return code, out.String(), errOut.String()
}

func TestJSONReportAndEnv(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()

	// -n from the environment, -c from the command line.
	code, out, errOut := runCmd(t, map[string]string{"LOADTEST_N": "40"}, "-c", "2", "-json", srv.URL+"/a", srv.URL+"/missing 3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Requests    int64            `json:"requests"`
		Connections int              `json:"connections"`
		StatusCodes map[string]int64 `json:"status_codes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if rep.Requests != 40 || rep.Connections != 2 || rep.StatusCodes["200"]+rep.StatusCodes["404"] != 40 || rep.StatusCodes["404"] == 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestTargetsFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(file, []byte("# two targets\n"+srv.URL+"/a 2\n"+srv.URL+"/b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, nil, "-n", "10", "-file", file)
	if code != 0 || !strings.Contains(out, "200: 10") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "-file", file, srv.URL); code != 2 || !strings.Contains(errOut, "not both") {
		t.Errorf("file and args: exit %d %q", code, errOut)
	}
}

func TestMaxErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	code, _, errOut := runCmd(t, nil, "-n", "10", "-c", "1", srv.URL)
	if code != 1 || !strings.Contains(errOut, "10 errors") || !strings.Contains(errOut, "-max-errors 0") {
		t.Errorf("default budget: exit %d %q, want 1 and a message", code, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "-n", "10", "-max-errors", "10", srv.URL); code != 0 {
		t.Errorf("budget 10: exit %d %q, want 0", code, errOut)
	}
	if code, _, _ := runCmd(t, map[string]string{"LOADTEST_MAX_ERRORS": "-1"}, "-n", "10", srv.URL); code != 0 {
		t.Errorf("budget -1: exit %d, want 0", code)
	}
}

func TestUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vars map[string]string
		args []string
		want string
	}{
		"no target":        {nil, nil, "no target"},
		"unbounded":        {nil, []string{"-d", "0", "http://127.0.0.1:1/"}, "duration"},
		"bad env":          {map[string]string{"LOADTEST_C": "many"}, []string{"http://127.0.0.1:1/"}, "LOADTEST_C"},
		"bad url":          {nil, []string{"127.0.0.1:8000/x"}, "scheme"},
		"bad header":       {nil, []string{"-header", "novalue", "http://127.0.0.1:1/"}, "Name: value"},
		"zero connections": {nil, []string{"-c", "0", "http://127.0.0.1:1/"}, "at least one"},
		"bad progress":     {nil, []string{"-progress", "sometimes", "http://127.0.0.1:1/"}, "auto, always or never"},
		"bad flag value":   {nil, []string{"-d", "soon", "http://127.0.0.1:1/"}, "-d"},
		"unknown flag":     {nil, []string{"-bogus", "http://127.0.0.1:1/"}, "bogus"},
	} {
		code, _, errOut := runCmd(t, tc.vars, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line with %q", name, code, errOut, tc.want)
		}
	}
	if code, _, errOut := runCmd(t, nil, "-help"); code != 0 || !strings.Contains(errOut, "LOADTEST_RATE") {
		t.Errorf("-help: exit %d, usage %q should name the environment variables", code, errOut)
	}
}

func TestHeadersAndMetricsFailure(t *testing.T) {
	var got lockedString
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.set(r.Header.Get("X-Test") + "|" + r.Host)
	}))
	defer srv.Close()
	code, _, errOut := runCmd(t, nil, "-n", "1", "-header", "X-Test: yes", "-header", "Host: relay.example", srv.URL)
	if code != 0 || got.get() != "yes|relay.example" {
		t.Errorf("exit %d %q, header+host seen %q", code, errOut, got.get())
	}
	code, _, errOut = runCmd(t, nil, "-n", "1", "-metrics", "http://127.0.0.1:1/metrics", srv.URL)
	if code != 1 || !strings.Contains(errOut, "metrics") {
		t.Errorf("unreachable metrics: exit %d %q, want 1", code, errOut)
	}
}

type lockedString struct {
	mu sync.Mutex
	s  string
}

func (l *lockedString) set(s string) { l.mu.Lock(); l.s = s; l.mu.Unlock() }

func (l *lockedString) get() string { l.mu.Lock(); defer l.mu.Unlock(); return l.s }

func TestControlProgressAndStop(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var stdout, stderr proctest.Buffer
	done := make(chan int, 1)
	begin := time.Now()
	go func() {
		done <- Main(context.Background(), []string{"-c", "2", "-d", "2m", "-json", "-progress", "never", "-control", "127.0.0.1:0", srv.URL}, &stdout, &stderr, env(nil))
	}()
	var base string
	deadline := time.Now().Add(30 * time.Second)
	for base == "" && time.Now().Before(deadline) {
		if _, rest, ok := strings.Cut(stderr.String(), "control on "); ok {
			base, _, _ = strings.Cut(rest, " ")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("no control address announced on stderr: %q", stderr.String())
	}
	t.Cleanup(func() { // a failed check must not leave the run going
		if resp, err := http.Post(base+"/stop", "", nil); err == nil {
			resp.Body.Close()
		}
	})
	get := func(method, path string) (int, controlStatus, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var st controlStatus
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &st)
		return resp.StatusCode, st, string(raw)
	}
	// progress comes once a second: wait for a snapshot with requests in it
	var st controlStatus
	for time.Now().Before(deadline) {
		var code int
		if code, st, _ = get(http.MethodGet, "/progress"); code != http.StatusOK {
			t.Fatalf("GET /progress: %d", code)
		}
		if st.Requests > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Requests == 0 || st.ElapsedSeconds <= 0 || st.Stopping {
		t.Fatalf("progress %+v: want requests, elapsed time, not stopping", st)
	}
	if code, _, body := get(http.MethodGet, "/stop"); code != http.StatusMethodNotAllowed || !strings.Contains(body, "use POST") {
		t.Errorf("GET /stop: %d %s, want 405 saying to POST", code, body)
	}
	if code, _, body := get(http.MethodGet, "/nothing"); code != http.StatusNotFound || !strings.Contains(body, "/progress") {
		t.Errorf("GET /nothing: %d %s, want 404 naming the endpoints", code, body)
	}
	if code, st, _ := get(http.MethodPost, "/stop"); code != http.StatusAccepted || !st.Stopping {
		t.Fatalf("POST /stop: %d %+v, want 202 and stopping", code, st)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after a stop: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end within 30 s of POST /stop")
	}
	var rep Report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	if rep.Requests == 0 || rep.Errors() != 0 || rep.ElapsedSeconds >= 120 || time.Since(begin) >= 2*time.Minute {
		t.Errorf("report of the stopped run: %d requests, %d errors, elapsed %.1fs: want requests, no errors, well short of 2m", rep.Requests, rep.Errors(), rep.ElapsedSeconds)
	}
	if _, err := http.Get(base + "/progress"); err == nil {
		t.Error("the control address still answers after the run")
	}
}

func TestControlListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errOut := runCmd(t, nil, "-n", "1", "-control", ln.Addr().String(), "http://127.0.0.1:1/")
	if code != 1 || !strings.Contains(errOut, "-control "+ln.Addr().String()) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("address in use: exit %d %q, want 1 and one line naming -control", code, errOut)
	}
}
