package menuapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
)

// restaurantsJSON is the stand-in's data: the eighteen restaurants of the
// real API in its order, with its names, regions, links and coordinates, and
// for each the dishes of every weekday (Monday to Friday). The restaurants
// whose parsers give no menu in the real API have none here either.
//
//go:embed data/restaurants.json
var restaurantsJSON []byte

// openAPIJSON describes the API's paths and shapes; /api links to it.
//
//go:embed data/openapi.json
var openAPIJSON []byte

// entry is one restaurant of the data file: the API's list entry plus its
// dishes by lower-case English weekday name.
type entry struct {
	menu.Restaurant
	Week map[string][]string `json:"week"`
}

// weekdays maps the data file's day names to time.Weekday.
func weekdays() map[string]time.Weekday {
	m := make(map[string]time.Weekday, 7)
	for d := time.Sunday; d <= time.Saturday; d++ {
		m[strings.ToLower(d.String())] = d
	}
	return m
}

// loadData decodes and checks the embedded data.
func loadData(raw []byte) ([]entry, error) {
	var f struct {
		Restaurants []entry `json:"restaurants"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding restaurant data: %w", err)
	}
	if len(f.Restaurants) == 0 {
		return nil, fmt.Errorf("restaurant data: no restaurants")
	}
	days := weekdays()
	seen := make(map[string]bool, len(f.Restaurants))
	for _, e := range f.Restaurants {
		if e.Identifier == "" || e.Name == "" || e.Region == "" {
			return nil, fmt.Errorf("restaurant data: entry %q lacks identifier, name or region", e.Identifier)
		}
		if strings.ContainsAny(e.Identifier, "/?#% ") {
			return nil, fmt.Errorf("restaurant data: identifier %q cannot be a path segment", e.Identifier)
		}
		if seen[e.Identifier] {
			return nil, fmt.Errorf("restaurant data: identifier %q twice", e.Identifier)
		}
		seen[e.Identifier] = true
		for day := range e.Week {
			if d, ok := days[day]; !ok || d == time.Saturday || d == time.Sunday {
				return nil, fmt.Errorf("restaurant data: %s: %q is not a weekday (monday to friday)", e.Identifier, day)
			}
		}
	}
	return f.Restaurants, nil
}

// marshal encodes v as the real API does: compact, UTF-8, no HTML escaping.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the package's own plain structs are encoded here.
		panic(fmt.Sprintf("menuapi: encoding %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// answer is a body the API caches, with its header values prepared.
type answer struct {
	body   []byte
	length []string // {Content-Length}
	etag   []string // {W/<hash>}
}

// newAnswer prepares a cached answer. The API's cache (fastapi-cache2)
// sends ETag: W/ and Python's hash() of the body, a signed 64-bit number
// and not a quoted entity-tag; FNV-1a stands in for that hash.
func newAnswer(body []byte) *answer {
	f := fnv.New64a()
	f.Write(body) //nolint:errcheck // a hash never fails
	return &answer{
		body:   body,
		length: []string{strconv.Itoa(len(body))},
		etag:   []string{"W/" + strconv.FormatInt(int64(f.Sum64()), 10)},
	}
}

// bodies are the stand-in's answers, encoded once.
type bodies struct {
	list  *answer
	menus map[string]*[7]*answer // identifier -> answer by time.Weekday
	about map[string]menu.Menu   // identifier -> its menu without dishes
}

func buildBodies(entries []entry) bodies {
	list := menu.RestaurantList{Restaurants: make([]menu.Restaurant, 0, len(entries))}
	b := bodies{menus: make(map[string]*[7]*answer, len(entries)), about: make(map[string]menu.Menu, len(entries))}
	for _, e := range entries {
		list.Restaurants = append(list.Restaurants, e.Restaurant)
		about := menu.Menu{Title: e.Name, Location: e.Region, URL: e.Homepage, MapURL: e.MapURL()}
		b.about[e.Identifier] = about
		var week [7]*answer
		for d := time.Sunday; d <= time.Saturday; d++ {
			dishes := e.Week[strings.ToLower(d.String())]
			m := make([]menu.Dish, 0, len(dishes))
			for _, s := range dishes {
				m = append(m, menu.Dish{Dish: s})
			}
			week[d] = menuAnswer(about, m)
		}
		b.menus[e.Identifier] = &week
	}
	b.list = newAnswer(marshal(list))
	return b
}

// menuAnswer is the answer of a restaurant's menu with the given dishes.
func menuAnswer(about menu.Menu, dishes []menu.Dish) *answer {
	about.Menu = dishes
	return newAnswer(marshal(menu.MenuResponse{Restaurant: about}))
}

// Identifiers returns the identifiers of the stand-in's restaurants in the
// API's order, for load patterns that ask for every menu.
func Identifiers() []string {
	entries, err := loadData(restaurantsJSON)
	if err != nil {
		// The embedded data is checked by the package's tests.
		panic(fmt.Sprintf("menuapi: %v", err))
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Identifier
	}
	return ids
}
