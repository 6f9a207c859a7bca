package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCORSOriginsReachTheRelay starts the relay with each kind of
// --cors-origins and reads the header a browser would get.
func TestCORSOriginsReachTheRelay(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"restaurants":[]}`)
	}))
	defer up.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "*"},
		{[]string{"--cors-origins", "https://lunch.example,https://other.example"}, "https://lunch.example"},
		{[]string{"--cors-origins", "https://other.example"}, ""},
		{[]string{"--cors-origins", ""}, ""},
	} {
		args := append([]string{"--upstream", up.URL + "/api/"}, tc.args...)
		cfg, err := ParseFlags(args, func(string) (string, bool) { return "", false }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		a, err := New(ctx, cfg, "test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.main.Handler)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/restaurant", nil)
		req.Header.Set("Origin", "https://lunch.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want || resp.StatusCode != 200 {
			t.Errorf("%v: %d, Access-Control-Allow-Origin = %q, want %q", tc.args, resp.StatusCode, got, tc.want)
		}
		srv.Close()
		a.relay.Close()
		cancel()
	}
}
