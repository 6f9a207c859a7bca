package menucli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/scilifelab/restaurants/internal/menu"
)

// Result is the JSON output for one restaurant: its list entry as the API
// sends it, the map link of its menu (the API's map_url), today's dishes
// (empty ones left out) and whether it is closed today.
type Result struct {
	menu.Restaurant
	MapURL string   `json:"map_url"`
	Dishes []string `json:"dishes"`
	Closed bool     `json:"closed"`
}

// NotFound is the JSON output when no restaurant has the name asked for.
type NotFound struct {
	Error       string            `json:"error"`
	Suggestions []menu.Restaurant `json:"suggestions"`
	Restaurants []menu.Restaurant `json:"restaurants"`
}

// output prints results as JSON, aligned text (terminal) or plain text.
type output struct {
	w        io.Writer
	terminal bool
	json     bool
}

// groupByRegion returns the restaurants of region (all if empty), Uppsala's
// first, then Solna's, then any other region's, by name within a region.
func groupByRegion(all []menu.Restaurant, region string) []menu.Restaurant {
	out := make([]menu.Restaurant, 0, len(all))
	for _, r := range all {
		if region == "" || Fold(r.Region) == Fold(region) {
			out = append(out, r)
		}
	}
	rank := func(region string) int {
		switch region {
		case menu.RegionUppsala:
			return 0
		case menu.RegionSolna:
			return 1
		}
		return 2
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank(a.Region) != rank(b.Region) {
			return rank(a.Region) < rank(b.Region)
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		return Fold(a.Name) < Fold(b.Name)
	})
	return out
}

func (o output) writeJSON(v any) error {
	enc := json.NewEncoder(o.w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// list prints the restaurants, already grouped by region.
func (o output) list(rs []menu.Restaurant) error {
	if o.json {
		return o.writeJSON(menu.RestaurantList{Restaurants: rs})
	}
	var b strings.Builder
	if !o.terminal {
		for _, r := range rs {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", clean(r.Region), clean(r.Identifier), clean(r.Name))
		}
		return o.flush(&b)
	}
	width := 0
	for _, r := range rs {
		width = max(width, utf8.RuneCountInString(clean(r.Identifier)))
	}
	region := ""
	for i, r := range rs {
		if i == 0 || r.Region != region {
			if i > 0 {
				b.WriteByte('\n')
			}
			region = r.Region
			fmt.Fprintf(&b, "%s\n", clean(region))
		}
		fmt.Fprintf(&b, "  %s  %s\n", pad(clean(r.Identifier), width), clean(r.Name))
	}
	if len(rs) == 0 {
		b.WriteString("No restaurants.\n")
	}
	return o.flush(&b)
}

// notFound prints the not-found answer: in JSON the error and suggestions
// with the list, in text the list (the error goes to stderr).
func (o output) notFound(msg string, suggestions, rs []menu.Restaurant) error {
	if o.json {
		if suggestions == nil {
			suggestions = []menu.Restaurant{}
		}
		return o.writeJSON(NotFound{Error: msg, Suggestions: suggestions, Restaurants: rs})
	}
	return o.list(rs)
}

// menu prints one restaurant's menu of today and where to find it.
func (o output) menu(r menu.Restaurant, m menu.Menu) error {
	if r.Homepage == "" {
		r.Homepage = m.URL
	}
	mapURL := m.MapURL
	if mapURL == "" && r.Coordinate != (menu.Coordinate{}) {
		mapURL = r.MapURL()
	}
	if r.Name == "" {
		r.Name = m.Title
	}
	if r.Region == "" {
		r.Region = m.Location
	}
	dishes := m.Dishes()
	if o.json {
		return o.writeJSON(Result{Restaurant: r, MapURL: mapURL, Dishes: dishes, Closed: len(dishes) == 0})
	}
	var b strings.Builder
	menuPage := r.MenuURL
	if menuPage == "" {
		menuPage = r.Homepage
	}
	indent := ""
	if o.terminal {
		indent = "  "
	}
	if r.Region != "" {
		fmt.Fprintf(&b, "%s (%s)\n", clean(label(r)), clean(r.Region))
	} else {
		fmt.Fprintf(&b, "%s\n", clean(label(r)))
	}
	if len(dishes) == 0 {
		fmt.Fprintf(&b, "%sNo lunch menu today: closed, or the menu is not published.\n", indent)
		if menuPage != "" {
			fmt.Fprintf(&b, "%sSee the menu page: %s\n", indent, clean(menuPage))
		} else {
			fmt.Fprintf(&b, "%sNo menu page is known.\n", indent)
		}
	}
	width := len(fmt.Sprint(len(dishes)))
	for i, d := range dishes {
		if o.terminal {
			fmt.Fprintf(&b, "  %*d. %s\n", width, i+1, clean(d))
		} else {
			fmt.Fprintf(&b, "%s\n", clean(d))
		}
	}
	links := [][2]string{{"Homepage", r.Homepage}, {"Menu", r.MenuURL}, {"Map", mapURL}}
	if o.terminal {
		b.WriteByte('\n')
	}
	for _, l := range links {
		if l[1] == "" {
			continue
		}
		if o.terminal {
			fmt.Fprintf(&b, "  %-9s %s\n", l[0], clean(l[1]))
		} else {
			fmt.Fprintf(&b, "%s: %s\n", strings.ToLower(l[0]), clean(l[1]))
		}
	}
	return o.flush(&b)
}

func (o output) flush(b *strings.Builder) error {
	if _, err := io.WriteString(o.w, b.String()); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// clean makes text from the network safe for a terminal: one line, no
// control characters.
func clean(s string) string { return menu.OneLine(s, 0) }

func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}
