package menucli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

// noonOn returns a clock stopped at noon (Stockholm) on a day of the week of
// Monday 2026-11-23.
func noonOn(d time.Weekday) func() time.Time {
	t := time.Date(2026, time.November, 23+(int(d)+6)%7, 11, 0, 0, 0, time.UTC)
	return func() time.Time { return t }
}

func standIn(t *testing.T, day time.Weekday, f menuapi.Faults) string {
	t.Helper()
	h, err := menuapi.New(menuapi.Options{Now: noonOn(day), Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/"
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, terminal bool, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, Env{
		Stdout: &out, Stderr: &errOut, Terminal: terminal,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	r := result{code, out.String(), errOut.String()}
	if r.stderr != "" && (strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n")) {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
	return r
}

// api runs the command line against the API at base.
func api(t *testing.T, base string, args ...string) result {
	t.Helper()
	return run(t, false, nil, append([]string{"--api", base}, args...)...)
}

func TestListGroupedByRegion(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := api(t, base)
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("%+v", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 18 {
		t.Fatalf("%d lines, want 18:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("line %q is not region, identifier, name", l)
		}
		if want := map[bool]string{true: "Uppsala", false: "Solna"}[i < 6]; f[0] != want {
			t.Errorf("line %d: region %q, want %q (Uppsala first)", i, f[0], want)
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %q ends in a space", l)
		}
	}
	if lines[0] != "Uppsala\trudbeck\tBistro Rudbeck" || lines[6] != "Solna\tbiomedicum\tCafé Biomedicum" {
		t.Errorf("not sorted by name within region:\n%s", r.stdout)
	}
	// The API names jons "Jöns Jacob " with a trailing space.
	if !strings.Contains(r.stdout, "\nSolna\tjons\tJöns Jacob\n") {
		t.Errorf("no line for jons, its name trimmed:\n%s", r.stdout)
	}
}

func TestListInATerminal(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := run(t, true, nil, "--api", base)
	if r.code != ExitOK {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"Uppsala\n  rudbeck     Bistro Rudbeck\n", "\n\nSolna\n  biomedicum  Café Biomedicum\n",
		"  jons        Jöns Jacob\n", "  svarta      Svarta Räfven\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestRegionFilter(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := api(t, base, "--region", "solna")
	if r.code != ExitOK || strings.Count(r.stdout, "\n") != 12 || strings.Contains(r.stdout, "Uppsala") {
		t.Fatalf("%+v", r)
	}
	r = api(t, base, "--region", "Stockholm")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `--region "Stockholm": want Uppsala or Solna`) {
		t.Fatalf("%+v", r)
	}
	// A name outside the region is not found there.
	r = api(t, base, "--region", "Uppsala", "jorpes")
	if r.code != ExitNotFound || !strings.Contains(r.stderr, `no restaurant named "jorpes" in Uppsala`) {
		t.Fatalf("%+v", r)
	}
}

func TestFindByIdentifierNameCaseAndAccents(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	for _, args := range [][]string{
		{"jorpes"}, {"JORPES"}, {"Café Erik Jorpes"}, {"Cafe Erik Jorpes"}, {"cafe erik jorpes"},
		{"  CAFÉ  erik   JORPES "}, {"Cafe", "Erik", "Jorpes"},
	} {
		r := api(t, base, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "Café Erik Jorpes (Solna)\nNo lunch menu today") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	for _, args := range [][]string{{"Svarta Räfven"}, {"svarta", "rafven"}, {"SVARTA"}} {
		r := api(t, base, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "Svarta Räfven (Solna)\nHögrevsgryta med rotfruktsmos\nRöding med sandefjordsås\n") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	for q, want := range map[string]string{
		"svarta rafven": "Svarta Räfven", "Jons Jacob": "Jöns Jacob", "Jöns Jacob ": "Jöns Jacob", "jöns  jacob": "Jöns Jacob",
		"haga gatukok": "Haga gatukök", "sthlm street lunch": "STHLM Street Lunch", "Mai Thai Express": "Mai Thai Express",
		"livet restaurant": "Livet [Restaurant]", "Livet [Restaurant]": "Livet [Restaurant]", "sven dufva": "Sven Dufva",
	} {
		if r := api(t, base, q); r.code != ExitOK || !strings.HasPrefix(r.stdout, want+" (") {
			t.Errorf("%q: %+v", q, r)
		}
	}
}

func TestFlagsAfterTheName(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := run(t, false, nil, "Svarta", "Räfven", "--json", "--api", base)
	var res Result
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Identifier != "svarta" {
		t.Fatalf("%+v", r)
	}
}

func TestMenuInATerminalIsNumberedAndAligned(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := run(t, true, nil, "--api", base, "bikupan")
	want := "Restaurang Bikupan (Uppsala)\n" +
		"  1. Pannbiff med löksky, kokt potatis och pressgurka\n" +
		"  2. Laxfilé med citronsås och dillpotatis\n" +
		"  3. Vegetarisk: Grönsakslasagne\n" +
		"\n" +
		"  Homepage  https://www.hors.se/uppsala/17/3/restaurang-bikupan/\n" +
		"  Menu      https://www.hors.se/uppsala/17/3/restaurang-bikupan/\n" +
		"  Map       https://www.openstreetmap.org/#map=19/59.8422/17.63403\n"
	if r.code != ExitOK || r.stdout != want {
		t.Fatalf("code %d, got:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
}

func TestEmptyDishesAreSkipped(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := api(t, base, "rudbeck") // Wednesday: two dishes and an empty one
	want := "Bistro Rudbeck (Uppsala)\nStekt fläsk med löksås och kokt potatis\nRödbetsrisotto med chèvre\nhomepage: "
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("%+v", r)
	}
	var res Result
	r = api(t, base, "--json", "rudbeck")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Dishes) != 2 || res.Closed {
		t.Fatalf("%+v: %v", res, err)
	}
}

func TestClosedRestaurantGivesItsMenuPage(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	// The API never has a menu for Jorpes (its parser gives none).
	r := api(t, base, "Café Erik Jorpes")
	if r.code != ExitOK || !strings.Contains(r.stdout, "No lunch menu today") ||
		!strings.Contains(r.stdout, "See the menu page: https://ki.hors.se/17/4/cafe-erik-jorpes/\n") {
		t.Fatalf("%+v", r)
	}
	// Glada has dishes in the API, and so here.
	if r := api(t, base, "Den Glada Restaurangen"); r.code != ExitOK || strings.Contains(r.stdout, "No lunch menu today") {
		t.Fatalf("glada: %+v", r)
	}
	var res Result
	r = api(t, base, "--json", "jorpes")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.Closed || res.Dishes == nil || len(res.Dishes) != 0 {
		t.Fatalf("%s: %v", r.stdout, err)
	}
	if !strings.Contains(r.stdout, `"dishes": []`) {
		t.Fatalf("dishes not an empty array: %s", r.stdout)
	}
	// On a Saturday every restaurant is closed.
	r = api(t, standIn(t, time.Saturday, menuapi.Faults{}), "dufva")
	if r.code != ExitOK || !strings.Contains(r.stdout, "See the menu page: https://matfest.se/veckans-lunch/") {
		t.Fatalf("%+v", r)
	}
}

func TestRestaurantWithoutLinks(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	// The API has no homepage and no menu page for delta and haga.
	for _, id := range []string{"delta", "haga"} {
		r := api(t, base, id)
		if r.code != ExitOK || strings.Contains(r.stdout, "homepage:") || strings.Contains(r.stdout, "menu:") ||
			!strings.Contains(r.stdout, "No menu page is known.") || !strings.Contains(r.stdout, "map: https://www.openstreetmap.org/#map=19/") {
			t.Fatalf("%s: %+v", id, r)
		}
		r = run(t, true, nil, "--api", base, id)
		if r.code != ExitOK || strings.Contains(r.stdout, "Homepage") || strings.Contains(r.stdout, "Menu ") || !strings.Contains(r.stdout, "  Map       https://") {
			t.Fatalf("%s in a terminal: %+v", id, r)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := api(t, base, "--json", "dufva")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != ExitOK {
		t.Fatalf("%+v: %v", r, err)
	}
	// The API's list entry, the API's map_url, and the two fields of the
	// command line's own: nothing else.
	wantKeys := []string{"closed", "coordinate", "dishes", "homepage", "identifier", "map_url", "menuUrl", "name", "region"}
	var gotKeys []string
	for k := range got {
		gotKeys = append(gotKeys, k)
	}
	slices.Sort(gotKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("members %v, want %v", gotKeys, wantKeys)
	}
	if got["map_url"] != "https://www.openstreetmap.org/#map=19/59.84292/17.64129" {
		t.Errorf("map_url %v", got["map_url"])
	}
	if d := got["dishes"].([]any); len(d) != 3 || d[0] != "Dagens kött: Flygande Jacob med ris" {
		t.Errorf("dishes %v", d)
	}
	var list menu.RestaurantList
	r = api(t, base, "--json", "--region", "Uppsala")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Restaurants) != 6 {
		t.Fatalf("%+v: %v", r, err)
	}
	if strings.Contains(r.stdout, "osm") {
		t.Errorf("--json lists an osm member the API does not have:\n%s", r.stdout)
	}
}

// TestJSONKeepsTheAPIsValues: --json passes the API's data on as it is,
// odd values included; only the text output tidies them.
func TestJSONKeepsTheAPIsValues(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	var res Result
	if r := api(t, base, "--json", "jons"); json.Unmarshal([]byte(r.stdout), &res) != nil || res.Name != "Jöns Jacob " {
		t.Errorf("jons: %+v, want the name %q", r, "Jöns Jacob ")
	}
	res = Result{}
	if r := api(t, base, "--json", "delta"); json.Unmarshal([]byte(r.stdout), &res) != nil ||
		res.Homepage != "" || res.MenuURL != "" || !res.Closed || !strings.Contains(r.stdout, `"homepage": ""`) {
		t.Errorf("delta: %+v", r)
	}
	var list menu.RestaurantList
	r := api(t, base, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Restaurants) != 18 {
		t.Fatalf("%+v: %v", r, err)
	}
	regions := map[string]int{}
	for _, x := range list.Restaurants {
		regions[x.Region]++
	}
	if regions[menu.RegionUppsala] != 6 || regions[menu.RegionSolna] != 12 {
		t.Errorf("regions %v", regions)
	}
}

func TestNearMissSuggests(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	for q, want := range map[string]string{
		"Svarta Rafvn":    `did you mean "Svarta Räfven"?`,
		"dufa":            `did you mean "Sven Dufva"?`,
		"Cafe Eric Jorps": `did you mean "Café Erik Jorpes"?`,
		"jorpes cafe":     `"Café Erik Jorpes"`,
		"Rudbek":          `did you mean "Bistro Rudbeck"?`,
		"Jons Jakob":      `did you mean "Jöns Jacob"?`, // the API's "Jöns Jacob ", trimmed
		"Livet":           "",                           // the identifier: found
	} {
		r := api(t, base, q)
		if want == "" {
			if r.code != ExitOK {
				t.Errorf("%q: %+v", q, r)
			}
			continue
		}
		if r.code != ExitNotFound || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "no restaurant named") {
			t.Errorf("%q: code %d, stderr %q, want %q", q, r.code, r.stderr, want)
		}
		if strings.Count(r.stdout, "\n") != 18 {
			t.Errorf("%q: want the list on stdout, got %q", q, r.stdout)
		}
	}
	r := api(t, base, "pizza hut")
	if r.code != ExitNotFound || strings.Contains(r.stderr, "did you mean") {
		t.Fatalf("%+v", r)
	}
	var nf NotFound
	r = api(t, base, "--json", "svarta rafvn")
	if err := json.Unmarshal([]byte(r.stdout), &nf); err != nil || r.code != ExitNotFound ||
		len(nf.Suggestions) == 0 || nf.Suggestions[0].Identifier != "svarta" || len(nf.Restaurants) != 18 || nf.Error == "" {
		t.Fatalf("%+v: %v", r, err)
	}
}

func TestAPIDown(t *testing.T) {
	addr := proctest.ClosedAddr(t)
	r := api(t, "http://"+addr+"/api/", "dufva")
	if r.code != ExitAPI || r.stdout != "" || !strings.Contains(r.stderr, "cannot reach the menu API") || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("%+v", r)
	}
}

func TestAPIFailures(t *testing.T) {
	cases := map[string]struct {
		f    menuapi.Faults
		want string
	}{
		"garbage": {menuapi.Faults{Mode: menuapi.ModeGarbled}, "the menu API answered garbage"},
		"5xx":     {menuapi.Faults{Mode: menuapi.Mode5xx}, "the menu API failed: GET "},
		"429":     {menuapi.Faults{Mode: menuapi.Mode429}, "HTTP 429 Too Many Requests: Rate limit exceeded (retry after 5s)"},
		"huge":    {menuapi.Faults{Mode: menuapi.ModeOversized}, "body larger than"},
	}
	for name, c := range cases {
		r := api(t, standIn(t, time.Wednesday, c.f), "dufva")
		if r.code != ExitAPI || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

func TestTimeout(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{Mode: menuapi.ModeSlow, SlowDelay: time.Minute})
	start := time.Now()
	r := api(t, base, "--timeout", "200ms", "dufva")
	if r.code != ExitAPI || !strings.Contains(r.stderr, "did not answer within 200ms") {
		t.Fatalf("%+v", r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestMenuMissingAfterListing(t *testing.T) {
	// A relay or API that lists a restaurant but answers 404 for its menu.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/restaurant" {
			w.Write([]byte(`{"restaurants":[{"identifier":"dufva","name":"Sven Dufva","region":"Uppsala"}]}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"detail":"Restaurant not found"}`))
	}))
	defer srv.Close()
	r := api(t, srv.URL+"/", "dufva")
	if r.code != ExitNotFound || !strings.Contains(r.stderr, `lists "Sven Dufva" (dufva) but has no menu for it`) {
		t.Fatalf("%+v", r)
	}
	r = api(t, srv.URL+"/wrong/", "dufva")
	if r.code != ExitAPI || !strings.Contains(r.stderr, "is --api right?") {
		t.Fatalf("%+v", r)
	}
}

func TestTerminalEscapesAreRemoved(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/restaurant" {
			w.Write([]byte(`{"restaurants":[{"identifier":"x","name":"Evil\u001b]0;pwned\u0007 Bar","region":"Solna"}]}`))
			return
		}
		w.Write([]byte(`{"restaurant":{"title":"x","location":"Solna","url":"","map_url":"","menu":[{"dish":"Soup\u001b[2J\nand bread"}]}}`))
	}))
	defer srv.Close()
	r := run(t, true, nil, "--api", srv.URL, "x")
	if r.code != ExitOK || strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, "1. Soup [2J and bread\n") {
		t.Fatalf("%q", r.stdout)
	}
}

func TestUsage(t *testing.T) {
	r := run(t, false, nil, "--help")
	if r.code != ExitOK || !strings.Contains(r.stdout, "Usage: restaurant-menu") || !strings.Contains(r.stdout, "[$RESTAURANTS_API]") ||
		!strings.Contains(r.stdout, DefaultAPI) || !strings.Contains(r.stdout, "Exit status: 0 found") {
		t.Fatalf("%+v", r)
	}
	for _, args := range [][]string{{"--bogus"}, {"--timeout", "0s"}, {"--timeout", "soon"}, {"--api", "ftp://example.org/"}, {"--api", "localhost:8000"}, {"--json=maybe"}} {
		r := run(t, false, nil, args...)
		if r.code != ExitUsage || r.stdout != "" || !strings.HasPrefix(r.stderr, "restaurant-menu: ") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	r = run(t, false, map[string]string{"RESTAURANTS_TIMEOUT": "never"})
	if r.code != ExitUsage || !strings.Contains(r.stderr, "RESTAURANTS_TIMEOUT") {
		t.Fatalf("%+v", r)
	}
}

func TestAPIFromEnvironmentAndFlagWins(t *testing.T) {
	base := standIn(t, time.Wednesday, menuapi.Faults{})
	r := run(t, false, map[string]string{"RESTAURANTS_API": base}, "dufva")
	if r.code != ExitOK {
		t.Fatalf("env: %+v", r)
	}
	r = run(t, false, map[string]string{"RESTAURANTS_API": "http://127.0.0.1:1/"}, "--api", base, "dufva")
	if r.code != ExitOK {
		t.Fatalf("flag over env: %+v", r)
	}
}
