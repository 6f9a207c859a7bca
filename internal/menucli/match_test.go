package menucli

import (
	"testing"

	"github.com/scilifelab/restaurants/internal/menu"
)

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Café Erik Jorpes":   "cafe erik jorpes",
		"  Svarta   Räfven ": "svarta rafven",
		"Livet [Restaurant]": "livet restaurant",
		"Jöns Jacob":         "jons jacob",
		"HAGA GATUKÖK":       "haga gatukok",
		"Smørrebrød Æble":    "smorrebrod aeble",
		"Cafe\u0301":         "cafe", // decomposed accent
		"--":                 "",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"räfven", "rafven", 1}, {"dufa", "dufva", 1}} {
		if got := distance(c.a, c.b); got != c.d {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestFindAndSuggest(t *testing.T) {
	rs := []menu.Restaurant{
		{Identifier: "svarta", Name: "Svarta Räfven"},
		{Identifier: "nanna", Name: "Restaurang Nanna Svartz"},
		{Identifier: "bikupan", Name: "Restaurang Bikupan"},
	}
	if r, ok := Find(rs, "NANNA"); !ok || r.Identifier != "nanna" {
		t.Fatal("identifier in upper case not found")
	}
	if _, ok := Find(rs, "Räfven"); ok {
		t.Fatal("a part of a name is not the name")
	}
	if _, ok := Find(rs, "  "); ok {
		t.Fatal("blank found something")
	}
	s := Suggest(rs, "svarta", 3)
	if len(s) == 0 || s[0].Identifier != "svarta" {
		t.Fatalf("suggestions %v", s)
	}
	if s := Suggest(rs, "restaurang", 1); len(s) != 1 {
		t.Fatalf("limit: %v", s)
	}
	if s := Suggest(rs, "mcdonalds", 3); len(s) != 0 {
		t.Fatalf("unrelated: %v", s)
	}
}
