package relaytest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/menu"
	"github.com/scilifelab/restaurants/internal/menuapi"
)

// The relay answers in front of the stand-in, and its admin listener says
// it is ready.
func TestStartServesTheRelayInFrontOfTheStandIn(t *testing.T) {
	api, up := StandIn(t, menuapi.Options{})
	r := Start(t, "--upstream", up.URL+"/api/", "--drain-delay", "0s")
	for range 2 {
		resp, err := http.Get(r.URL + "/restaurant")
		if err != nil {
			t.Fatal(err)
		}
		var list menu.RestaurantList
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(list.Restaurants) != 18 {
			t.Fatalf("GET /restaurant: %d, %d restaurants, %v; want the stand-in's 18", resp.StatusCode, len(list.Restaurants), err)
		}
	}
	if n := api.Requests(); n != 1 {
		t.Errorf("the stand-in served %d requests for two of one key, want 1", n)
	}
	resp, err := http.Get(r.AdminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d, want 200", resp.StatusCode)
	}
}

// Stop shuts the relay down cleanly, once: its port refuses connections
// after it.
func TestStopEndsTheRelay(t *testing.T) {
	_, up := StandIn(t, menuapi.Options{})
	cfg, err := app.ParseFlags([]string{"--upstream", up.URL + "/api/", "--drain-delay", "0s"}, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Serve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop = %v, want nil after a clean shutdown", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop again = %v, want nil", err)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(r.URL, "http://"), time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("the relay still accepts connections after Stop")
	}
}

// A configuration the relay refuses is an error, not a relay.
func TestServeRefusesABadConfig(t *testing.T) {
	if r, err := Serve(app.Config{Upstream: "ftp://127.0.0.1/api/"}); err == nil {
		r.Stop()
		t.Fatal("Serve accepted an ftp:// upstream")
	}
}
