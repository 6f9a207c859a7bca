package frontendtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/browsertest"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
)

// page is a small front end: it asks for the list and one menu with fetch(),
// as the API's own front end does, and writes what it got (or the error)
// into #out as JSON, then adds #done. The relay's base comes from the query
// (?relay=http://...); without it the page asks its own origin, at /api.
// The menu request carries a header that is not CORS-safelisted, so that
// across origins the browser sends a preflight first.
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>lunch</title></head>
<body><pre id="out">waiting</pre>
<script>
(async () => {
  const base = new URLSearchParams(location.search).get("relay") || "/api";
  const out = {};
  try {
    const list = await fetch(base + "/restaurant");
    out.listStatus = list.status;
    out.xCache = list.headers.get("X-Cache");
    const body = await list.json();
    out.count = body.restaurants.length;
    out.jons = body.restaurants.find(r => r.identifier === "jons").name;
    const menu = await fetch(base + "/restaurant/svarta", {headers: {"X-Lunch-Client": "frontendtest"}});
    out.menuStatus = menu.status;
    const m = (await menu.json()).restaurant;
    out.title = m.title;
    out.mapURL = m.map_url;
  } catch (e) {
    out.error = String(e);
  }
  document.getElementById("out").textContent = JSON.stringify(out);
  const done = document.createElement("p");
  done.id = "done";
  done.textContent = "done";
  document.body.appendChild(done);
})();
</script></body></html>
`

// result is what the page wrote.
type result struct {
	ListStatus int    `json:"listStatus"`
	XCache     string `json:"xCache"` // readable on the same origin only
	Count      int    `json:"count"`
	Jons       string `json:"jons"`
	MenuStatus int    `json:"menuStatus"`
	Title      string `json:"title"`
	MapURL     string `json:"mapURL"`
	Error      string `json:"error"`
}

func (r result) ok() bool {
	return r.Error == "" && r.ListStatus == 200 && r.Count == 18 && r.Jons == "Jöns Jacob " &&
		r.MenuStatus == 200 && r.Title == "Svarta Räfven" && strings.HasPrefix(r.MapURL, "https://www.openstreetmap.org/#map=19/")
}

// load opens url in the browser and returns what the page wrote.
func load(t *testing.T, b *browsertest.Browser, url string) result {
	t.Helper()
	if err := b.Do(60*time.Second, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	var r result
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		t.Fatalf("the page wrote %q: %v", text, err)
	}
	return r
}

// upstreamRequests reads how many API requests the stand-in served.
func upstreamRequests(h *menuapi.Handler) uint64 { return h.Requests() }

// TestCrossOriginPage: a page served on one loopback port reads the list
// and a menu through the relay on another. With the relay's default (every
// origin) and with a list naming the page's origin the page gets its data;
// with CORS off, or a list without the page's origin, the browser refuses
// to hand the answers to the page, and the page says so.
func TestCrossOriginPage(t *testing.T) {
	api, apiSrv := relaytest.StandIn(t, menuapi.Options{})
	pageSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	defer pageSrv.Close()
	pageOrigin := pageSrv.URL // http://127.0.0.1:port
	b := browsertest.New(t)

	for _, tc := range []struct {
		name  string
		cors  []string // --cors-origins, if given
		reads bool
	}{
		{"default: every origin", nil, true},
		{"the page's origin listed", []string{"--cors-origins", "https://lunch.example," + pageOrigin}, true},
		{"CORS off", []string{"--cors-origins", ""}, false},
		{"another origin listed", []string{"--cors-origins", "https://lunch.example"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := upstreamRequests(api)
			args := append([]string{"--upstream", apiSrv.URL + "/api/", "--drain-delay", "0s"}, tc.cors...)
			relay := relaytest.Start(t, args...)
			r := load(t, b, pageOrigin+"/?relay="+relay.URL)
			if tc.reads {
				if !r.ok() {
					t.Fatalf("the page through the relay got %+v; want 18 restaurants, jons as %q, Svarta Räfven's menu", r, "Jöns Jacob ")
				}
				// The preflight of the menu request reached neither the
				// cache nor the API: two API calls, the list and the menu.
				if n := upstreamRequests(api) - before; n != 2 {
					t.Errorf("the API served %d requests for the page, want 2 (the preflight must not reach it)", n)
				}
				return
			}
			if r.ok() || !strings.Contains(r.Error, "Failed to fetch") {
				t.Fatalf("the page read the relay's answers without the CORS header: %+v", r)
			}
		})
	}
	cors := 0
	for _, e := range b.Errors() {
		if strings.Contains(e, "CORS policy") {
			cors++
		}
	}
	if cors == 0 {
		t.Errorf("no CORS error in the browser's console for the refused cases: %q", b.Errors())
	}
}
