package menu_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// wednesday is noon on a Wednesday in Stockholm.
func wednesday() time.Time {
	return time.Date(2026, time.November, 25, 11, 0, 0, 0, time.UTC)
}

func standIn(t *testing.T, f menuapi.Faults) *httptest.Server {
	t.Helper()
	h, err := menuapi.New(menuapi.Options{Now: wednesday, Faults: f, Version: "9.9"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, base string, opts ...menu.Option) *menu.Client {
	t.Helper()
	c, err := menu.NewClient(base, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRestaurants(t *testing.T) {
	srv := standIn(t, menuapi.Faults{})
	rs, err := client(t, srv.URL+"/api/").Restaurants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 18 {
		t.Fatalf("%d restaurants, want 18", len(rs))
	}
	var dufva menu.Restaurant
	for _, r := range rs {
		if r.Identifier == "dufva" {
			dufva = r
		}
	}
	want := menu.Restaurant{
		Identifier: "dufva", Name: "Sven Dufva", Region: menu.RegionUppsala, Homepage: "http://svendufva.se/",
		MenuURL: "https://matfest.se/veckans-lunch/", Coordinate: menu.Coordinate{59.84292, 17.64129},
	}
	if dufva != want {
		t.Fatalf("dufva = %+v\nwant    %+v", dufva, want)
	}
	if dufva.Coordinate.Lat() != 59.84292 || dufva.Coordinate.Lon() != 17.64129 {
		t.Fatal("Lat/Lon")
	}
	if got := dufva.MapURL(); got != "https://www.openstreetmap.org/#map=19/59.84292/17.64129" {
		t.Fatalf("MapURL %q", got)
	}
}

func TestBaseURLWithoutTrailingSlash(t *testing.T) {
	srv := standIn(t, menuapi.Faults{})
	c := client(t, srv.URL+"/api")
	if c.BaseURL() != srv.URL+"/api/" {
		t.Fatalf("BaseURL %q", c.BaseURL())
	}
	if _, err := c.Restaurants(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRestaurantMenu(t *testing.T) {
	srv := standIn(t, menuapi.Faults{})
	c := client(t, srv.URL+"/api/")
	m, err := c.Restaurant(context.Background(), "rudbeck")
	if err != nil {
		t.Fatal(err)
	}
	if m.Title != "Bistro Rudbeck" || m.Location != "Uppsala" || m.URL == "" || m.MapURL == "" {
		t.Fatalf("menu %+v", m)
	}
	// Wednesday at Rudbeck: two dishes and an empty one.
	if len(m.Menu) != 3 || len(m.Dishes()) != 2 || m.Closed() {
		t.Fatalf("menu %q, dishes %q", m.Menu, m.Dishes())
	}
	// Delta: no homepage, and a menu the API never parses.
	closed, err := c.Restaurant(context.Background(), "delta")
	if err != nil {
		t.Fatal(err)
	}
	if !closed.Closed() || len(closed.Dishes()) != 0 || closed.URL != "" || closed.MapURL == "" {
		t.Fatalf("delta: %+v", closed)
	}
	v, err := c.Version(context.Background())
	if err != nil || v != "9.9" {
		t.Fatalf("version %q, %v", v, err)
	}
}

func TestNotFound(t *testing.T) {
	srv := standIn(t, menuapi.Faults{})
	c := client(t, srv.URL+"/api/")
	_, err := c.Restaurant(context.Background(), "nosuch")
	var nf *menu.NotFoundError
	if !errors.Is(err, menu.ErrNotFound) || !errors.As(err, &nf) || nf.Detail != menu.DetailNotFound {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), srv.URL+"/api/restaurant/nosuch") {
		t.Fatalf("message %q does not name the URL", err)
	}
	// An identifier cannot leave the restaurant path.
	_, err = c.Restaurant(context.Background(), "../version")
	if !errors.Is(err, menu.ErrNotFound) || !strings.Contains(err.Error(), "restaurant/..%2Fversion") {
		t.Fatalf("err = %v", err)
	}
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.Restaurant(context.Background(), id); err == nil {
			t.Errorf("identifier %q accepted", id)
		}
	}
}

func TestAPIFailures(t *testing.T) {
	cases := []struct {
		fault  menuapi.Faults
		status int
		retry  time.Duration
		text   string
	}{
		{menuapi.Faults{Mode: menuapi.Mode5xx}, 500, 0, "HTTP 500 Internal Server Error"},
		{menuapi.Faults{ErrorRate: 1}, 500, 0, "HTTP 500"},
		{menuapi.Faults{Mode: menuapi.Mode429, RetryAfter: 7 * time.Second}, 429, 7 * time.Second, "HTTP 429 Too Many Requests: Rate limit exceeded (retry after 7s)"},
	}
	for _, tc := range cases {
		srv := standIn(t, tc.fault)
		_, err := client(t, srv.URL+"/api/").Restaurants(context.Background())
		var apiErr *menu.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.RetryAfter != tc.retry {
			t.Errorf("%+v: err = %#v", tc.fault, err)
			continue
		}
		if errors.Is(err, menu.ErrNotFound) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%+v: message %q", tc.fault, err)
		}
	}
}

func TestGarbage(t *testing.T) {
	srv := standIn(t, menuapi.Faults{Mode: menuapi.ModeGarbled})
	_, err := client(t, srv.URL+"/api/").Restaurants(context.Background())
	var invalid *menu.InvalidResponseError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "not the expected JSON") {
		t.Fatalf("err = %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	srv := standIn(t, menuapi.Faults{Mode: menuapi.ModeOversized, OversizeBytes: 64 << 20})
	_, err := client(t, srv.URL+"/api/", menu.WithMaxBodyBytes(64<<10)).Restaurants(context.Background())
	var invalid *menu.InvalidResponseError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "larger than 65536 bytes") {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	srv := standIn(t, menuapi.Faults{Mode: menuapi.ModeSlow, SlowDelay: time.Minute})
	start := time.Now()
	_, err := client(t, srv.URL+"/api/", menu.WithTimeout(100*time.Millisecond)).Restaurants(context.Background())
	var apiErr *menu.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 0 || !apiErr.Timeout() || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestRefused(t *testing.T) {
	addr := proctest.ClosedAddr(t)
	_, err := client(t, "http://"+addr+"/api/").Restaurants(context.Background())
	var apiErr *menu.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 0 || apiErr.Timeout() || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
}

func TestWrongShapes(t *testing.T) {
	bodies := map[string]string{
		"/restaurant":       `{"something":"else"}`,
		"/restaurant/dufva": `{"restaurant":{"title":"x","menu":[]}} trailing`,
		"/version":          `{}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(bodies[r.URL.Path]))
	}))
	defer srv.Close()
	c := client(t, srv.URL)
	var invalid *menu.InvalidResponseError
	if _, err := c.Restaurants(context.Background()); !errors.As(err, &invalid) || !strings.Contains(err.Error(), `no "restaurants"`) {
		t.Errorf("list: %v", err)
	}
	if _, err := c.Restaurant(context.Background(), "dufva"); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "data after") {
		t.Errorf("menu: %v", err)
	}
	if _, err := c.Version(context.Background()); !errors.As(err, &invalid) {
		t.Errorf("version: %v", err)
	}
}

func TestRelayErrorDetailIsKeptOnOneLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte(`{"error":"upstream\nanswered\u001b[31m garbage","status":502}`))
	}))
	defer srv.Close()
	_, err := client(t, srv.URL).Restaurants(context.Background())
	if err == nil || !strings.HasSuffix(err.Error(), "HTTP 502 Bad Gateway: upstream answered [31m garbage") {
		t.Fatalf("err = %q", err)
	}
}

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:8000", "ftp://example.org/", "http://", "http://[::1", "/api/"} {
		if _, err := menu.NewClient(u, nil); err == nil {
			t.Errorf("NewClient(%q) succeeded", u)
		}
	}
	if _, err := menu.NewClient("http://localhost/", nil, menu.WithMaxBodyBytes(0)); err == nil {
		t.Error("max body 0 accepted")
	}
}

func TestOneLine(t *testing.T) {
	if got := menu.OneLine("a\r\n b\tc\u2028d", 0); got != "a b c d" {
		t.Fatalf("%q", got)
	}
	if got := menu.OneLine("åäöåäö", 3); got != "åäö…" {
		t.Fatalf("%q", got)
	}
}

func TestMapURLFormatsLikePython(t *testing.T) {
	for c, want := range map[menu.Coordinate]string{
		{59.84220, 17.63403}: "https://www.openstreetmap.org/#map=19/59.8422/17.63403",
		{59.34910, 18.02600}: "https://www.openstreetmap.org/#map=19/59.3491/18.026",
		{59.34867, 18.0278}:  "https://www.openstreetmap.org/#map=19/59.34867/18.0278",
		{-33.5, 151}:         "https://www.openstreetmap.org/#map=19/-33.5/151.0",
		{0, 0.00001}:         "https://www.openstreetmap.org/#map=19/0.0/1e-05",
		{0.0001, 1e16}:       "https://www.openstreetmap.org/#map=19/0.0001/1e+16",
	} {
		if got := menu.MapURL(c); got != want {
			t.Errorf("MapURL(%v) = %q, want %q", c, got, want)
		}
	}
}
