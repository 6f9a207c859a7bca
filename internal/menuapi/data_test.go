package menuapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
)

// upstreamData is an unchanged copy of the real API's list of restaurants
// (its public source's restaurants.json), against which the stand-in's own
// data file is held so that the two cannot drift apart silently.
const upstreamData = "testdata/upstream-restaurants.json"

// The restaurants whose parsers in the real API always give an empty menu.
var alwaysEmpty = []string{"biomedicum", "delta", "haga", "jorpes", "kraemer", "livet", "maethai", "street"}

func readUpstream(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(upstreamData)
	if err != nil {
		t.Fatalf("reading the API's data: %v", err)
	}
	return raw
}

// TestListIsTheAPIsList compares the stand-in's list with the API's data
// file field by field, in order, and then byte for byte with the API's own
// encoding of that file (compact, UTF-8, members in the file's order, which
// is alphabetical, and floats in their shortest form as Python writes them).
func TestListIsTheAPIsList(t *testing.T) {
	raw := readUpstream(t)
	var want menu.RestaurantList
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("the API's data does not fit menu.Restaurant: %v", err)
	}
	_, srv := newServer(t, Options{})
	r := get(t, srv.URL+"/api/restaurant")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	var got menu.RestaurantList
	dec = json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the stand-in's list: %v", err)
	}
	if len(got.Restaurants) != len(want.Restaurants) {
		t.Fatalf("%d restaurants, the API has %d", len(got.Restaurants), len(want.Restaurants))
	}
	for i, w := range want.Restaurants {
		if g := got.Restaurants[i]; g != w {
			t.Errorf("restaurant %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		t.Fatal(err)
	}
	if wantBody := bytes.TrimSpace(b.Bytes()); !bytes.Equal(r.body, wantBody) {
		t.Errorf("the list is not the API's encoding of its data:\n got %s\nwant %s", r.body, wantBody)
	}
}

// TestTheAPIsOddValuesAreKept pins what a client must cope with.
func TestTheAPIsOddValuesAreKept(t *testing.T) {
	_, srv := newServer(t, Options{})
	var list menu.RestaurantList
	if err := json.Unmarshal(get(t, srv.URL+"/api/restaurant").body, &list); err != nil {
		t.Fatal(err)
	}
	regions := map[string]int{}
	byID := map[string]menu.Restaurant{}
	var ids []string
	for _, r := range list.Restaurants {
		regions[r.Region]++
		byID[r.Identifier] = r
		ids = append(ids, r.Identifier)
	}
	if len(list.Restaurants) != 18 || regions[menu.RegionUppsala] != 6 || regions[menu.RegionSolna] != 12 {
		t.Errorf("%d restaurants by region %v, want 18: 6 in Uppsala, 12 in Solna", len(list.Restaurants), regions)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("identifiers not in the API's order: %v", ids)
	}
	if byID["jons"].Name != "Jöns Jacob " {
		t.Errorf("jons is named %q, want the API's %q with its trailing space", byID["jons"].Name, "Jöns Jacob ")
	}
	for _, id := range []string{"delta", "haga"} {
		if r := byID[id]; r.Homepage != "" || r.MenuURL != "" {
			t.Errorf("%s: homepage %q, menuUrl %q, want both empty as in the API", id, r.Homepage, r.MenuURL)
		}
	}
	if _, ok := byID["tallrik"]; ok {
		t.Error("tallrik is listed; the API removed it")
	}
	if strings.Contains(string(get(t, srv.URL+"/api/restaurant").body), "osm") {
		t.Error("the list has an osm member; the API dropped it")
	}
}

func TestMenuHasTheAPIsShape(t *testing.T) {
	_, srv := newServer(t, Options{Now: at(t, time.Wednesday)})
	var list menu.RestaurantList
	if err := json.Unmarshal(get(t, srv.URL+"/api/restaurant").body, &list); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Restaurants {
		r := get(t, srv.URL+"/api/restaurant/"+e.Identifier)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", e.Identifier, r.status)
		}
		body := decode(t, r)
		if got := keys(body); !slices.Equal(got, []string{"restaurant"}) {
			t.Fatalf("%s: members %v", e.Identifier, got)
		}
		m := body["restaurant"].(map[string]any)
		if got := keys(m); !slices.Equal(got, []string{"location", "map_url", "menu", "title", "url"}) {
			t.Fatalf("%s: restaurant members %v", e.Identifier, got)
		}
		if m["title"] != e.Name || m["location"] != e.Region || m["url"] != e.Homepage || m["map_url"] != e.MapURL() {
			t.Errorf("%s: detail %v does not match list entry %+v", e.Identifier, m, e)
		}
		for _, d := range m["menu"].([]any) {
			if got := keys(d.(map[string]any)); !slices.Equal(got, []string{"dish"}) {
				t.Errorf("%s: dish members %v", e.Identifier, got)
			}
		}
	}
}

// TestMapURLIsBuiltAsTheAPIBuildsIt: from the coordinate, with the numbers
// as Python prints the floats the API reads from its data file.
func TestMapURLIsBuiltAsTheAPIBuildsIt(t *testing.T) {
	_, srv := newServer(t, Options{})
	for id, want := range map[string]string{
		"bikupan":    "https://www.openstreetmap.org/#map=19/59.8422/17.63403", // 59.84220 in the file
		"biomedicum": "https://www.openstreetmap.org/#map=19/59.3491/18.026",   // 59.34910, 18.02600
		"nanna":      "https://www.openstreetmap.org/#map=19/59.34867/18.0278",
		"elma":       "https://www.openstreetmap.org/#map=19/59.83928/17.638",
	} {
		var m menu.MenuResponse
		if err := json.Unmarshal(get(t, srv.URL+"/api/restaurant/"+id).body, &m); err != nil {
			t.Fatal(err)
		}
		if m.Restaurant.MapURL != want {
			t.Errorf("%s: map_url %q, want %q", id, m.Restaurant.MapURL, want)
		}
	}
}

func TestWhichMenusAreEmpty(t *testing.T) {
	var with []string
	for _, e := range mustEntries(t) {
		if !slices.Contains(alwaysEmpty, e.Identifier) {
			with = append(with, e.Identifier)
		}
	}
	if len(with) != 10 || !slices.Contains(with, "glada") {
		t.Fatalf("restaurants with menus: %v, want the ten the API has dishes for, glada among them", with)
	}
	week := map[time.Weekday]map[string][]string{}
	for d := time.Monday; d <= time.Friday; d++ {
		_, srv := newServer(t, Options{Now: at(t, d)})
		week[d] = map[string][]string{}
		for _, id := range with {
			week[d][id] = dishes(t, srv.URL, id)
			if len(week[d][id]) == 0 {
				t.Errorf("%s: no dishes on %s", id, d)
			}
		}
		for _, id := range alwaysEmpty {
			if got := dishes(t, srv.URL, id); len(got) != 0 {
				t.Errorf("%s on %s: %q, want the empty menu the API gives", id, d, got)
			}
		}
	}
	for _, id := range with {
		for d := time.Tuesday; d <= time.Friday; d++ {
			if slices.Equal(week[d][id], week[d-1][id]) {
				t.Errorf("%s: same menu on %s and %s: %q", id, d-1, d, week[d][id])
			}
		}
	}
	for _, d := range []time.Weekday{time.Saturday, time.Sunday} {
		_, srv := newServer(t, Options{Now: at(t, d)})
		for _, e := range mustEntries(t) {
			if got := dishes(t, srv.URL, e.Identifier); len(got) != 0 {
				t.Errorf("%s on %s: %q, want an empty menu", e.Identifier, d, got)
			}
		}
	}
}

func mustEntries(t *testing.T) []entry {
	t.Helper()
	entries, err := loadData(restaurantsJSON)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// dishes returns the dishes served for id.
func dishes(t *testing.T, base, id string) []string {
	t.Helper()
	r := get(t, base+"/api/restaurant/"+id)
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", id, r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"menu":[`) {
		t.Fatalf("%s: menu is not a JSON array: %s", id, r.body)
	}
	var m struct {
		Restaurant struct{ Menu []struct{ Dish string } }
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, d := range m.Restaurant.Menu {
		out = append(out, d.Dish)
	}
	return out
}

func TestWeekdayFollowsStockholmTime(t *testing.T) {
	// Sunday 23:30 UTC is Monday 00:30 in Stockholm (UTC+1 in November).
	sundayNightUTC := time.Date(2026, time.November, 29, 23, 30, 0, 0, time.UTC)
	_, srv := newServer(t, Options{Now: func() time.Time { return sundayNightUTC }, Location: stockholm(t)})
	_, monday := newServer(t, Options{Now: at(t, time.Monday)})
	got, want := dishes(t, srv.URL, "dufva"), dishes(t, monday.URL, "dufva")
	if len(got) == 0 || !slices.Equal(got, want) {
		t.Fatalf("got %q, want Monday's %q", got, want)
	}
}

func TestSomeDishesAreEmptyStrings(t *testing.T) {
	_, srv := newServer(t, Options{Now: at(t, time.Monday)})
	if got := dishes(t, srv.URL, "bikupan"); !slices.Contains(got, "") {
		t.Fatalf("bikupan on Monday: %q, want an empty dish among them", got)
	}
}
