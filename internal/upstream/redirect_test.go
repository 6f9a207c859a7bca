package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestFetchFollowsTheBaseWithoutItsSlash: the menu API answers <host>/api/
// with 307 to <host>/api, so GET / on the relay (the base itself) must
// follow that one redirect, and only it: every other redirect that leaves
// the base stays refused.
func TestFetchFollowsTheBaseWithoutItsSlash(t *testing.T) {
	cases := []struct {
		name     string
		from     string // path asked, below the base
		query    string
		location string // {host} is the upstream's host:port, {port} its port
		follow   bool
	}{
		{name: "relative", location: "/api", follow: true},
		{name: "absolute", location: "http://{host}/api", follow: true},
		{name: "query kept", query: "x=1", location: "/api?x=1", follow: true},
		{name: "301", location: "/api", follow: true},
		{name: "query changed", query: "x=1", location: "/api?x=2"},
		{name: "query added", location: "/api?x=1"},
		{name: "more than the slash", location: "/ap"},
		{name: "case", location: "/API"},
		{name: "to the root", location: "/"},
		{name: "dot-dot", location: "/api/../secret"},
		{name: "encoded", location: "/%61pi"},
		{name: "other scheme", location: "https://{host}/api"},
		{name: "other host name", location: "http://localhost:{port}/api"},
		{name: "user info", location: "http://user:pass@{host}/api"},
		{name: "from below the base", from: "/restaurant", location: "/api"},
		{name: "from a slash below the base", from: "/restaurant/", location: "/api"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var asked []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				asked = append(asked, r.URL.RequestURI())
				mu.Unlock()
				from := "/api" + c.from
				if c.from == "" {
					from = "/api/"
				}
				switch r.URL.EscapedPath() {
				case from:
					_, port, _ := net.SplitHostPort(r.Host)
					loc := strings.NewReplacer("{host}", r.Host, "{port}", port).Replace(c.location)
					w.Header().Set("Location", loc)
					code := http.StatusTemporaryRedirect
					if c.name == "301" {
						code = http.StatusMovedPermanently
					}
					w.WriteHeader(code)
				case "/api":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"openapi":"/api/openapi.json"}`)
				default:
					w.WriteHeader(http.StatusTeapot)
				}
			}))
			defer srv.Close()
			client := newTestClient(t, srv, nil)
			path := "/"
			if c.from != "" {
				path = c.from
			}
			resp, err := client.Fetch(context.Background(), mustTarget(t, path, c.query), Validators{})
			mu.Lock()
			defer mu.Unlock()
			if c.follow {
				if err != nil {
					t.Fatalf("redirect to %q not followed: %v", c.location, err)
				}
				if resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), "openapi") {
					t.Fatalf("redirect to %q: %d %q", c.location, resp.Status, resp.Body)
				}
				if len(asked) != 2 {
					t.Errorf("upstream asked %q, want the base and its redirect", asked)
				}
				return
			}
			ue := wantError(t, resp, err, HTTPError)
			if !strings.Contains(ue.Error(), "leaves the upstream base") {
				t.Errorf("redirect to %q: error %q does not say it leaves the base", c.location, ue.Error())
			}
			if len(asked) != 1 {
				t.Errorf("upstream asked %q, want only the first request", asked)
			}
		})
	}
}

func TestDropsTrailingSlash(t *testing.T) {
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	api := mustBase(t, "https://menu.example/api/")
	root := mustBase(t, "https://menu.example/")
	for _, c := range []struct {
		base     Base
		from, to string
		want     bool
	}{
		{api, "https://menu.example/api/", "https://menu.example/api", true},
		{api, "https://menu.example/api/?a=b", "https://menu.example/api?a=b", true},
		{api, "https://menu.example/api/", "http://menu.example/api", false},
		{api, "https://menu.example/api/", "https://menu.example:8443/api", false},
		{api, "https://menu.example/api/restaurant/", "https://menu.example/api/restaurant", false}, // inside the base anyway
		{api, "https://menu.example/api/x", "https://menu.example/api", false},
		{api, "https://other.example/api/", "https://menu.example/api", false},
		{root, "https://menu.example/", "https://menu.example", false},
		{root, "https://menu.example/", "https://menu.example/", false},
	} {
		if got := c.base.DropsTrailingSlash(parse(c.from), parse(c.to)); got != c.want {
			t.Errorf("base %s: %s -> %s = %v, want %v", c.base, c.from, c.to, got, c.want)
		}
	}
}
