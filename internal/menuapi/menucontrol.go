package menuapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scilifelab/restaurants/internal/menu"
)

// maxMenuBody bounds the body of PUT /-/menu/{identifier}.
const maxMenuBody = 1 << 20

// menuStateJSON is how /-/menu/{identifier} answers: whether the
// restaurant's menu is replaced, its dishes if so (null if not), and whether
// this request dropped its copy in the stand-in's own cache.
type menuStateJSON struct {
	Identifier string      `json:"identifier"`
	Replaced   bool        `json:"replaced"`
	Menu       []menu.Dish `json:"menu"`
	Evicted    bool        `json:"evicted"`
}

// serveMenu serves /-/menu/{identifier}: GET shows whether the menu is
// replaced, PUT with {"menu":[{"dish":"..."}]} replaces its dishes (every
// day) from now on, DELETE returns to the built-in menu. Neither clears the
// stand-in's own cache, whose copy is served until it expires, unless the
// query says evict=1. Errors are JSON: 404 for an unknown restaurant, 400
// for a bad body or query, 413 for a body over 1 MiB.
func (h *Handler) serveMenu(w http.ResponseWriter, r *http.Request, id string) {
	if !allow(w, r, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete) {
		return
	}
	if _, ok := h.data.menus[id]; !ok {
		h.writeValue(w, http.StatusNotFound, errorJSON{Error: fmt.Sprintf("no restaurant %q", id)})
		return
	}
	evict, err := evictParam(r.URL.Query(), r.Method == http.MethodPut || r.Method == http.MethodDelete)
	if err != nil {
		h.writeValue(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
		return
	}
	switch r.Method {
	case http.MethodPut:
		dishes, err := readMenu(w, r)
		if err != nil {
			status := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				status = http.StatusRequestEntityTooLarge
			}
			h.writeValue(w, status, errorJSON{Error: err.Error()})
			return
		}
		h.cache.replaceMenu(id, dishes, evict)
	case http.MethodDelete:
		h.cache.restoreMenu(id, evict)
	}
	dishes, replaced := h.cache.replaced(id)
	h.writeValue(w, http.StatusOK, menuStateJSON{Identifier: id, Replaced: replaced, Menu: dishes, Evicted: evict})
}

// evictParam reads the query of /-/menu/{identifier}: only evict, a
// boolean ("1", "true"; empty is true), and only where it may change
// something.
func evictParam(q url.Values, allowed bool) (bool, error) {
	evict := false
	for key, vals := range q {
		if key != "evict" || !allowed {
			return false, fmt.Errorf("unknown parameter %q (want evict, with PUT or DELETE)", key)
		}
		v := vals[len(vals)-1]
		if v == "" {
			evict = true
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("parameter evict=%q: want 1 or 0", v)
		}
		evict = b
	}
	return evict, nil
}

// readMenu decodes the body of PUT /-/menu/{identifier}:
// {"menu":[{"dish":"..."}]}, nothing else, every dish named.
func readMenu(w http.ResponseWriter, r *http.Request) ([]menu.Dish, error) {
	const want = `want {"menu":[{"dish":"..."}]}`
	var body struct {
		Menu *[]menu.Dish `json:"menu"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMenuBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("reading the menu: %w (%s)", err, want)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the menu: more after the JSON object (%s)", want)
	}
	if body.Menu == nil {
		return nil, fmt.Errorf("reading the menu: no menu member (%s)", want)
	}
	for i, d := range *body.Menu {
		if d.Dish == "" {
			return nil, fmt.Errorf("reading the menu: dish %d is empty (%s)", i, want)
		}
	}
	return *body.Menu, nil
}
