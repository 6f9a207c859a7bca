package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scilifelab/restaurants/internal/upstream"
)

// fakePurger records what it was asked to purge and answers with err.
type fakePurger struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakePurger) Purge(_ context.Context, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, path)
	return f.err
}

func (f *fakePurger) PurgeAll(_ context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "*")
	return f.err
}

func (f *fakePurger) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// serve sends one request from remote (host:port) with an optional bearer
// token, and decodes the JSON answer.
func serve(t *testing.T, h http.Handler, method, path, remote, token string) (int, http.Header, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	if ct := w.Header().Get("Content-Type"); ct == "application/json" {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, w.Body.String(), err)
		}
	}
	return w.Code, w.Header(), body
}

func newAdmin(p Purger, token string) http.Handler {
	return NewHandler(Config{Readiness: new(Readiness), Gatherer: prometheus.NewRegistry(), Pprof: true, Token: token, Purger: p})
}

const remotePeer = "10.244.1.7:51234"

func TestRestrictedRoutesAnswerLoopbackPeers(t *testing.T) {
	p := &fakePurger{}
	h := newAdmin(p, "")
	for _, peer := range []string{"127.0.0.1:40000", "127.3.4.5:1", "[::1]:40000", "[::ffff:127.0.0.1]:40000"} {
		if code, _, body := serve(t, h, http.MethodDelete, "/cache/restaurant/dufva", peer, ""); code != 200 || body["purged"] != "/restaurant/dufva" {
			t.Fatalf("DELETE from %s = %d %v, want 200 purged /restaurant/dufva", peer, code, body)
		}
	}
	if code, _, _ := serve(t, h, http.MethodGet, "/debug/pprof/cmdline", "127.0.0.1:40000", ""); code != 200 {
		t.Fatalf("pprof from loopback = %d, want 200", code)
	}
	if got := p.seen(); len(got) != 4 || got[0] != "/restaurant/dufva" {
		t.Fatalf("purger saw %v", got)
	}
}

func TestRestrictedRoutesAnswerTheToken(t *testing.T) {
	p := &fakePurger{}
	h := newAdmin(p, "s3cret-token")
	if code, _, body := serve(t, h, http.MethodDelete, "/cache", remotePeer, "s3cret-token"); code != 200 || body["purged"] != "*" {
		t.Fatalf("DELETE /cache with the token = %d %v, want 200 purged *", code, body)
	}
	if code, _, _ := serve(t, h, http.MethodGet, "/debug/pprof/", remotePeer, "s3cret-token"); code != 200 {
		t.Fatalf("pprof with the token = %d, want 200", code)
	}
	if got := p.seen(); len(got) != 1 || got[0] != "*" {
		t.Fatalf("purger saw %v, want [*]", got)
	}
}

func TestRestrictedRoutesRefuseOthers(t *testing.T) {
	p := &fakePurger{}
	cases := []struct {
		name, token, sent, remote string
	}{
		{"no token configured, remote peer", "", "", remotePeer},
		{"no token configured, one sent", "", "anything", remotePeer},
		{"token configured, none sent", "s3cret-token", "", remotePeer},
		{"wrong token", "s3cret-token", "s3cret-tokem", remotePeer},
		{"prefix of the token", "s3cret-token", "s3cret", remotePeer},
		{"a public address", "s3cret-token", "", "192.0.2.1:80"},
		{"an unparsable peer", "s3cret-token", "", "localhost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newAdmin(p, c.token)
			for _, req := range []struct{ method, path string }{
				{http.MethodDelete, "/cache/restaurant/dufva"},
				{http.MethodDelete, "/cache"},
				{http.MethodGet, "/debug/pprof/"},
				{http.MethodGet, "/debug/pprof/cmdline"},
			} {
				code, hdr, body := serve(t, h, req.method, req.path, c.remote, c.sent)
				if code != http.StatusForbidden || body["status"] != float64(403) || body["error"] == "" || hdr.Get("Content-Type") != "application/json" {
					t.Fatalf("%s %s = %d %v, want a 403 JSON error", req.method, req.path, code, body)
				}
			}
			// Health, readiness and metrics stay open to anyone.
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, _, _ := serve(t, h, http.MethodGet, path, c.remote, ""); code == http.StatusForbidden {
					t.Fatalf("GET %s from %s = 403, want it open", path, c.remote)
				}
			}
		})
	}
	if got := p.seen(); len(got) != 0 {
		t.Fatalf("refused requests reached the purger: %v", got)
	}
}

func TestPurgeErrorsAndMethods(t *testing.T) {
	const local = "127.0.0.1:40000"
	bad := &fakePurger{err: fmt.Errorf("purge: %w: dot segment", upstream.ErrUnsafePath)}
	if code, _, body := serve(t, newAdmin(bad, ""), http.MethodDelete, "/cache/a@b", local, ""); code != 400 || body["status"] != float64(400) {
		t.Fatalf("invalid path = %d %v, want a 400 JSON error", code, body)
	}
	down := &fakePurger{err: errors.New("shared cache: connection refused")}
	if code, _, body := serve(t, newAdmin(down, ""), http.MethodDelete, "/cache", local, ""); code != http.StatusBadGateway || body["status"] != float64(502) {
		t.Fatalf("failing purge = %d %v, want a 502 JSON error", code, body)
	}
	ok := &fakePurger{}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		code, hdr, body := serve(t, newAdmin(ok, ""), m, "/cache/restaurant/dufva", local, "")
		if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != http.MethodDelete || body["status"] != float64(405) {
			t.Fatalf("%s /cache/... = %d Allow=%q %v, want 405 with Allow: DELETE", m, code, hdr.Get("Allow"), body)
		}
	}
	if got := ok.seen(); len(got) != 0 {
		t.Fatalf("other methods reached the purger: %v", got)
	}
	// Without a Purger there is no purge API at all.
	h := NewHandler(Config{Readiness: new(Readiness), Gatherer: prometheus.NewRegistry()})
	if code, _, _ := serve(t, h, http.MethodDelete, "/cache", local, ""); code != http.StatusNotFound {
		t.Fatalf("DELETE /cache without a purger = %d, want 404", code)
	}
}
