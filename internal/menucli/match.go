package menucli

import (
	"slices"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/scilifelab/restaurants/internal/menu"
)

// Fold makes a name comparable the way people type it: accents dropped
// ("Café" and "Cafe", "Räfven" and "Rafven"), case folded, punctuation
// dropped and spaces collapsed ("Livet [Restaurant]" is "livet restaurant").
func Fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	if out, _, err := transform.String(t, s); err == nil {
		s = out
	}
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			switch r { // letters without a decomposition
			case 'ø':
				b.WriteByte('o')
			case 'æ':
				b.WriteString("ae")
			case 'œ':
				b.WriteString("oe")
			case 'ß':
				b.WriteString("ss")
			case 'ł':
				b.WriteByte('l')
			default:
				b.WriteRune(r)
			}
		default:
			space = true
		}
	}
	return b.String()
}

// Find returns the restaurant whose identifier or name is query: the
// identifier in any case, or the name in any case, with or without accents
// and punctuation.
func Find(restaurants []menu.Restaurant, query string) (menu.Restaurant, bool) {
	q := strings.TrimSpace(query)
	for _, r := range restaurants {
		if strings.EqualFold(r.Identifier, q) {
			return r, true
		}
	}
	fq := Fold(q)
	if fq == "" {
		return menu.Restaurant{}, false
	}
	for _, r := range restaurants {
		if Fold(r.Name) == fq {
			return r, true
		}
	}
	return menu.Restaurant{}, false
}

// Suggest returns up to n restaurants whose name or identifier is close
// to query (a few edits away, or containing it as a word), closest first.
func Suggest(restaurants []menu.Restaurant, query string, n int) []menu.Restaurant {
	fq := Fold(query)
	if fq == "" {
		return nil
	}
	type scored struct {
		r    menu.Restaurant
		dist int
	}
	var found []scored
	limit := max(2, len([]rune(fq))/3)
	for _, r := range restaurants {
		name := Fold(r.Name)
		d := min(distance(fq, name), distance(fq, Fold(r.Identifier)))
		for _, word := range strings.Fields(name) { // "rafvn" is close to "Svarta Räfven"
			if len([]rune(word)) >= 3 {
				d = min(d, distance(fq, word)+1)
			}
		}
		if (len(fq) >= 3 && strings.Contains(name, fq)) || wordsMatch(fq, name) {
			d = min(d, 1)
		}
		if d <= limit {
			found = append(found, scored{r, d})
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].dist != found[j].dist {
			return found[i].dist < found[j].dist
		}
		return found[i].r.Name < found[j].r.Name
	})
	out := make([]menu.Restaurant, 0, min(n, len(found)))
	for i := 0; i < len(found) && i < n; i++ {
		out = append(out, found[i].r)
	}
	return out
}

// wordsMatch reports whether every word of q is a word of name, in any
// order, allowing one typo in words of five letters or more ("jorpes cafe"
// and "Café Erik Jorpes").
func wordsMatch(q, name string) bool {
	qw, nw := strings.Fields(q), strings.Fields(name)
	if len(qw) == 0 {
		return false
	}
	for _, w := range qw {
		tolerance := 0
		if len([]rune(w)) >= 5 {
			tolerance = 1
		}
		if !slices.ContainsFunc(nw, func(n string) bool { return distance(w, n) <= tolerance }) {
			return false
		}
	}
	return true
}

// distance is the Levenshtein edit distance between a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
