package menuapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// send makes one request without following redirects.
func send(t *testing.T, method, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b.Bytes()}
}

func TestStatusCodesAndErrorBodies(t *testing.T) {
	_, srv := newServer(t, Options{Version: "1.2.3"})
	host := strings.TrimPrefix(srv.URL, "http://")
	cases := []struct {
		method, path string
		status       int
		body         string // exact, when not empty
		location     string
	}{
		{"GET", "/api", 200, `{"documentation_swagger":"/api/docs","documentation_redoc":"/api/redoc","openapi":"/api/openapi.json"}`, ""},
		{"GET", "/api/version", 200, `{"version":"1.2.3"}`, ""},
		{"GET", "/api/restaurant/nosuch", 404, `{"detail":"Restaurant not found"}`, ""},
		{"GET", "/api/restaurant/dufva/extra", 404, `{"detail":"Not Found"}`, ""},
		{"GET", "/api/nosuch", 404, `{"detail":"Not Found"}`, ""},
		{"GET", "/api/nosuch/", 404, `{"detail":"Not Found"}`, ""},
		{"GET", "/", 404, `{"detail":"Not Found"}`, ""},
		{"POST", "/nosuch", 404, `{"detail":"Not Found"}`, ""},
		{"GET", "/api/", 307, "", "http://" + host + "/api"},
		{"GET", "/api/restaurant/", 307, "", "http://" + host + "/api/restaurant"},
		{"GET", "/api/restaurant/dufva/", 307, "", "http://" + host + "/api/restaurant/dufva"},
		{"GET", "/api/restaurant//", 307, "", "http://" + host + "/api/restaurant"},
		{"GET", "/api/restaurant/?x=1", 307, "", "http://" + host + "/api/restaurant?x=1"},
		{"POST", "/api/", 307, "", "http://" + host + "/api"},
		{"HEAD", "/api/restaurant", 405, "", ""},
		{"HEAD", "/api", 405, "", ""},
		{"POST", "/api/restaurant", 405, `{"detail":"Method Not Allowed"}`, ""},
		{"PUT", "/api/version", 405, `{"detail":"Method Not Allowed"}`, ""},
		{"DELETE", "/api/restaurant/dufva", 405, `{"detail":"Method Not Allowed"}`, ""},
		{"OPTIONS", "/api/restaurant", 405, `{"detail":"Method Not Allowed"}`, ""},
	}
	for _, c := range cases {
		r := send(t, c.method, srv.URL+c.path)
		if r.status != c.status || (c.body != "" && string(r.body) != c.body) {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.status, r.body, c.status, c.body)
		}
		if got := r.header.Get("Location"); got != c.location {
			t.Errorf("%s %s: Location %q, want %q", c.method, c.path, got, c.location)
		}
		if c.status != 307 {
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
			}
		}
		if c.status == 405 && r.header.Get("Allow") != "GET" {
			t.Errorf("%s %s: Allow %q, want GET", c.method, c.path, r.header.Get("Allow"))
		}
	}
}

var weakETag = regexp.MustCompile(`^W/-?[0-9]+$`)

func TestCacheHeadersAndConditionalRequests(t *testing.T) {
	_, srv := newServer(t, Options{Now: at(t, time.Tuesday)})
	for path, maxAge := range map[string]string{
		"/api":                   "max-age=360000",
		"/api/restaurant":        "max-age=360000",
		"/api/version":           "max-age=360000",
		"/api/restaurant/dufva":  "max-age=10800",
		"/api/restaurant/street": "max-age=10800",
	} {
		r := get(t, srv.URL+path)
		etag := r.header.Get("ETag")
		if r.status != 200 || r.header.Get("Cache-Control") != maxAge || !weakETag.MatchString(etag) {
			t.Errorf("%s: %d, Cache-Control %q, ETag %q; want 200, %q and W/<hash>", path, r.status, r.header.Get("Cache-Control"), etag, maxAge)
			continue
		}
		if again := get(t, srv.URL+path).header.Get("ETag"); again != etag {
			t.Errorf("%s: ETag %q then %q for the same body", path, etag, again)
		}
		nm := send(t, "GET", srv.URL+path, "If-None-Match", etag)
		if nm.status != http.StatusNotModified || len(nm.body) != 0 || nm.header.Get("ETag") != etag {
			t.Errorf("%s with If-None-Match %s: %d, %d bytes, ETag %q; want 304, empty", path, etag, nm.status, len(nm.body), nm.header.Get("ETag"))
		}
		if other := send(t, "GET", srv.URL+path, "If-None-Match", `W/"other"`); other.status != 200 {
			t.Errorf("%s with another If-None-Match: %d, want 200", path, other.status)
		}
		for _, cc := range []string{"no-cache", "no-store", "max-age=0, no-cache"} {
			skip := send(t, "GET", srv.URL+path, "If-None-Match", etag, "Cache-Control", cc)
			if skip.status != 200 || skip.header.Get("ETag") != "" || skip.header.Get("Cache-Control") != "" {
				t.Errorf("%s with Cache-Control %s: %d, ETag %q, Cache-Control %q; want 200 from outside the cache",
					path, cc, skip.status, skip.header.Get("ETag"), skip.header.Get("Cache-Control"))
			}
		}
	}
	// A menu changes with the day, and so does its ETag.
	_, wed := newServer(t, Options{Now: at(t, time.Wednesday)})
	if a, b := get(t, srv.URL+"/api/restaurant/dufva").header.Get("ETag"), get(t, wed.URL+"/api/restaurant/dufva").header.Get("ETag"); a == b {
		t.Errorf("Tuesday's and Wednesday's menus have one ETag %q", a)
	}
	// Errors are not cached.
	if r := get(t, srv.URL+"/api/restaurant/nosuch"); r.header.Get("Cache-Control") != "" || r.header.Get("ETag") != "" {
		t.Errorf("404: Cache-Control %q, ETag %q; want neither", r.header.Get("Cache-Control"), r.header.Get("ETag"))
	}
}

func TestCORSLikeTheAPI(t *testing.T) {
	_, srv := newServer(t, Options{})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/restaurant", 200},
		{"GET", "/api/restaurant/nosuch", 404},
		{"GET", "/api/nosuch", 404},
		{"POST", "/api/restaurant", 405},
	} {
		r := send(t, c.method, srv.URL+c.path, "Origin", "http://page.example")
		if r.status != c.status || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s from a page: %d, Access-Control-Allow-Origin %q; want %d, *", c.method, c.path, r.status, r.header.Get("Access-Control-Allow-Origin"), c.status)
		}
	}
	if r := get(t, srv.URL+"/api/restaurant"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("without Origin: Access-Control-Allow-Origin %q; the API sends none", r.header.Get("Access-Control-Allow-Origin"))
	}
	ok := send(t, "OPTIONS", srv.URL+"/api/restaurant/dufva", "Origin", "http://page.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "accept")
	if ok.status != 200 || string(ok.body) != "OK" || ok.header.Get("Access-Control-Allow-Origin") != "*" ||
		ok.header.Get("Access-Control-Allow-Methods") != "GET" || ok.header.Get("Access-Control-Max-Age") == "" {
		t.Errorf("preflight: %d %q %v", ok.status, ok.body, ok.header)
	}
	for hdr, want := range map[[2]string]string{
		{"POST", ""}:                "Disallowed CORS method",
		{"GET", "x-requested-with"}: "Disallowed CORS headers",
		{"PUT", "x-a"}:              "Disallowed CORS method, headers",
	} {
		r := send(t, "OPTIONS", srv.URL+"/api/restaurant", "Origin", "http://page.example",
			"Access-Control-Request-Method", hdr[0], "Access-Control-Request-Headers", hdr[1])
		if r.status != 400 || string(r.body) != want {
			t.Errorf("preflight for %v: %d %q, want 400 %q", hdr, r.status, r.body, want)
		}
	}
}

func TestBodiesAreCompactUTF8(t *testing.T) {
	_, srv := newServer(t, Options{Now: at(t, time.Monday)})
	for _, path := range []string{"/api", "/api/restaurant", "/api/restaurant/jons", "/api/restaurant/svarta", "/api/version"} {
		r := get(t, srv.URL+path)
		var compact bytes.Buffer
		if err := json.Compact(&compact, r.body); err != nil || !bytes.Equal(compact.Bytes(), r.body) {
			t.Errorf("%s: not compact JSON (%v): %s", path, err, r.body)
		}
		if bytes.Contains(r.body, []byte(`\u`)) {
			t.Errorf("%s: escaped characters where the API sends UTF-8: %s", path, r.body)
		}
	}
	if r := get(t, srv.URL+"/api/restaurant/jons"); !bytes.Contains(r.body, []byte(`"title":"Jöns Jacob "`)) {
		t.Errorf("jons: %s, want the title with its trailing space", r.body)
	}
}

func TestDocsPagesPointAtTheOpenAPIDocument(t *testing.T) {
	_, srv := newServer(t, Options{})
	spec := decode(t, get(t, srv.URL+"/api/openapi.json"))
	paths, _ := spec["paths"].(map[string]any)
	for _, p := range []string{"/api", "/api/restaurant", "/api/restaurant/{identifier}", "/api/version"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	if strings.Contains(string(get(t, srv.URL+"/api/openapi.json").body), "osm") {
		t.Error("openapi.json still describes osm, which the API dropped")
	}
	index := decode(t, get(t, srv.URL+"/api"))
	for _, key := range []string{"documentation_swagger", "documentation_redoc"} {
		link := index[key].(string)
		r := get(t, srv.URL+link)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s (%s): %d %q", key, link, r.status, r.header.Get("Content-Type"))
		}
		page := string(r.body)
		if !strings.Contains(page, `href="/api/openapi.json"`) {
			t.Errorf("%s: no link to /api/openapi.json", link)
		}
		for p := range paths {
			if !strings.Contains(page, "GET "+p) {
				t.Errorf("%s: does not list GET %s", link, p)
			}
		}
	}
}
