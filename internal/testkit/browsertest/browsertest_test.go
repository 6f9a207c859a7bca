package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A page's script runs, its result is read back, and its console error and
// uncaught exception are kept: the things tests of pages rely on.
func TestBrowserRunsScriptsAndKeepsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><p id="out">waiting</p>
<script>document.getElementById("out").textContent = "ran " + (6 * 7); console.error("boom");
setTimeout(function () { null.x; }, 0);</script>`))
	}))
	defer srv.Close()
	b := New(t)
	if err := b.Do(30*time.Second, chromedp.Navigate(srv.URL), chromedp.WaitVisible("#out")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text("#out"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "ran 42" {
		t.Errorf("page text %q, want %q: the script did not run", text, "ran 42")
	}
	var errs []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if errs = b.Errors(); len(errs) >= 2 {
			break
		}
	}
	joined := strings.Join(errs, "\n")
	if len(errs) != 2 || !strings.Contains(joined, "boom") || !strings.Contains(joined, "exception") {
		t.Errorf("errors %q, want the console error \"boom\" and one uncaught exception", errs)
	}
}
