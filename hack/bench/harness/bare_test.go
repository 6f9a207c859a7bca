package harness

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
)

// fieldNames are the header field names of an answer, without those that
// a client's transport drops.
func fieldNames(t *testing.T, url string) ([]string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(resp.Header))
	if resp.ContentLength >= 0 {
		names = append(names, "Content-Length")
		slices.Sort(names)
	}
	return slices.Compact(names), body
}

// The bare reference with a relay's headers writes the very fields of a
// relay's hit, so that what it costs over the bare handler is what those
// fields cost.
func TestBareRelayHeadersAreARelayHitsFields(t *testing.T) {
	_, up := relaytest.StandIn(t, menuapi.Options{})
	r := relaytest.Start(t, "--upstream", up.URL+"/api/", "--drain-delay", "0s")
	_, _ = fieldNames(t, r.URL+"/restaurant/dufva") // the miss
	want, body := fieldNames(t, r.URL+"/restaurant/dufva")

	bare := httptest.NewServer(BareRelayHeadersHandler(body))
	defer bare.Close()
	got, gotBody := fieldNames(t, bare.URL+"/restaurant/dufva")
	if !slices.Equal(got, want) {
		t.Fatalf("bare handler with relay headers writes %v, a relay hit %v", got, want)
	}
	if string(gotBody) != string(body) {
		t.Fatalf("bare handler body %q, want %q", gotBody, body)
	}
	plain := httptest.NewServer(BareHandler(body))
	defer plain.Close()
	if names, _ := fieldNames(t, plain.URL+"/"); len(names) != 3 {
		t.Fatalf("the bare handler writes %v, want Content-Length, Content-Type and Date", names)
	}
}
