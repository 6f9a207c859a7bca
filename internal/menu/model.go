package menu

import (
	"math"
	"strconv"
	"strings"
)

// The regions the API knows.
const (
	RegionUppsala = "Uppsala"
	RegionSolna   = "Solna"
)

// Coordinate is a position as the API sends it: [latitude, longitude].
type Coordinate [2]float64

// Lat returns the latitude.
func (c Coordinate) Lat() float64 { return c[0] }

// Lon returns the longitude.
func (c Coordinate) Lon() float64 { return c[1] }

// Restaurant is one entry of the list answered by GET /api/restaurant, with
// the API's members in the API's order. Homepage and MenuURL may be empty,
// and Name may carry stray spaces ("Jöns Jacob "): the API's data is sent as
// it is.
type Restaurant struct {
	Coordinate Coordinate `json:"coordinate"`
	Homepage   string     `json:"homepage"`
	Identifier string     `json:"identifier"`
	MenuURL    string     `json:"menuUrl"`
	Name       string     `json:"name"`
	Region     string     `json:"region"`
}

// MapURL returns the OpenStreetMap link of the restaurant as the API builds
// its menu's map_url from the coordinate.
func (r Restaurant) MapURL() string {
	return MapURL(r.Coordinate)
}

// MapURL returns the API's OpenStreetMap link of a coordinate:
// https://www.openstreetmap.org/#map=19/{lat}/{lon}, the numbers formatted
// as Python's str(float) does (pyFloat).
func MapURL(c Coordinate) string {
	return "https://www.openstreetmap.org/#map=19/" + pyFloat(c.Lat()) + "/" + pyFloat(c.Lon())
}

// pyFloat formats f as Python's str(float): the shortest digits that read
// back as f (59.8422, not the 59.84220 of the API's data file), always with
// a fraction ("151.0"), and in exponent form below 1e-4 or from 1e16 on.
func pyFloat(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64) // 1e-05, 1.5e+16: as Python writes them
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// RestaurantList is the body of GET /api/restaurant.
type RestaurantList struct {
	Restaurants []Restaurant `json:"restaurants"`
}

// Dish is one line of a day's menu. Its text may be empty.
type Dish struct {
	Dish string `json:"dish"`
}

// Menu is today's menu of one restaurant, as GET /api/restaurant/{identifier}
// answers it inside its "restaurant" member. Location is the region, URL the
// homepage and MapURL the OpenStreetMap link built from the coordinate.
type Menu struct {
	Title    string `json:"title"`
	Location string `json:"location"`
	URL      string `json:"url"`
	MapURL   string `json:"map_url"`
	Menu     []Dish `json:"menu"`
}

// Dishes returns the menu's dishes with surrounding space trimmed and empty
// entries left out.
func (m Menu) Dishes() []string {
	out := make([]string, 0, len(m.Menu))
	for _, d := range m.Menu {
		if s := strings.TrimSpace(d.Dish); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Closed reports whether the menu has no dish at all (closed, a weekend, or
// a menu not published).
func (m Menu) Closed() bool { return len(m.Dishes()) == 0 }

// MenuResponse is the body of GET /api/restaurant/{identifier}.
type MenuResponse struct {
	Restaurant Menu `json:"restaurant"`
}

// Version is the body of GET /api/version.
type Version struct {
	Version string `json:"version"`
}

// Index is the body of GET /api: links to the API's documentation.
type Index struct {
	DocumentationSwagger string `json:"documentation_swagger"`
	DocumentationRedoc   string `json:"documentation_redoc"`
	OpenAPI              string `json:"openapi"`
}

// ErrorBody is the body of the API's errors, such as
// 404 {"detail": "Restaurant not found"}.
type ErrorBody struct {
	Detail string `json:"detail"`
}

// DetailNotFound is the detail of the API's 404 for an unknown identifier.
const DetailNotFound = "Restaurant not found"
