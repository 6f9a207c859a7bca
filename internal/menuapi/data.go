package menuapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
)

// restaurantsJSON is the stand-in's data: the twelve restaurants of the real
// API, each with a menu per weekday (Monday to Friday).
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

// bodies are the stand-in's answers, encoded once.
type bodies struct {
	list  []byte
	menus map[string]*[7][]byte // identifier -> body by time.Weekday
}

func buildBodies(entries []entry) bodies {
	list := menu.RestaurantList{Restaurants: make([]menu.Restaurant, 0, len(entries))}
	b := bodies{menus: make(map[string]*[7][]byte, len(entries))}
	for _, e := range entries {
		list.Restaurants = append(list.Restaurants, e.Restaurant)
		var week [7][]byte
		for d := time.Sunday; d <= time.Saturday; d++ {
			dishes := e.Week[strings.ToLower(d.String())]
			m := menu.Menu{Title: e.Name, Location: e.Region, URL: e.Homepage, MapURL: e.OSM, Menu: make([]menu.Dish, 0, len(dishes))}
			for _, s := range dishes {
				m.Menu = append(m.Menu, menu.Dish{Dish: s})
			}
			week[d] = marshal(menu.MenuResponse{Restaurant: m})
		}
		b.menus[e.Identifier] = &week
	}
	b.list = marshal(list)
	return b
}
