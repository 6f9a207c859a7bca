package menuapi

import (
	"strconv"
	"sync"
	"time"

	"github.com/scilifelab/restaurants/internal/menu"
)

// Default lifetimes of the stand-in's own cache, the real API's: it sends
// them as Cache-Control max-age on a fresh answer.
const (
	DefaultListMaxAge = 360000 * time.Second // /api, the list and the version
	DefaultMenuMaxAge = 10800 * time.Second  // a menu
)

// cacheKey names an answer in the stand-in's own cache: a route, and for a
// menu the restaurant. As in the real API a menu is cached per restaurant,
// not per day: the copy computed on a Friday is served on Saturday until it
// expires.
type cacheKey struct {
	route route
	id    string
}

// cacheEntry is a computed answer and the instant its lifetime runs out.
type cacheEntry struct {
	a       *answer
	expires time.Time
}

// ownCache is the stand-in's own cache (fastapi-cache2's role in the real
// API) and the menus replaced at run time. One lock guards both, so that a
// compute, which reads the content and stores it in one step, can never
// store a menu that a replacement with eviction has already dropped.
//
// Concurrent misses of one key each compute, as in the real API, whose
// cache has no lock per key; the last one stores its copy. That is what a
// relay in front of it must coalesce.
type ownCache struct {
	mu        sync.RWMutex
	entries   map[cacheKey]cacheEntry
	overrides map[string]override  // identifier -> its replaced menu
	about     map[string]menu.Menu // identifier -> its menu without dishes
}

// override is a restaurant's menu replaced at run time, served every day
// of the week (weekends too, so that a test sees it whatever day it runs).
type override struct {
	dishes []menu.Dish
	a      *answer
}

func newOwnCache(about map[string]menu.Menu) *ownCache {
	return &ownCache{entries: make(map[cacheKey]cacheEntry), overrides: make(map[string]override), about: about}
}

// lookup returns k's entry if it is still fresh at now.
func (c *ownCache) lookup(k cacheKey, now time.Time) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

// compute takes k's answer as the API computes it at the instant now()
// returns (builtIn picks the built-in answer at that instant, used unless
// the menu was replaced) and, if lifetime is positive, stores it for that
// long. It returns the entry and that instant.
func (c *ownCache) compute(k cacheKey, now func() time.Time, lifetime time.Duration, builtIn func(time.Time) *answer) (cacheEntry, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	a := builtIn(t)
	if k.route == routeMenu {
		if o, ok := c.overrides[k.id]; ok {
			a = o.a
		}
	}
	e := cacheEntry{a: a, expires: t.Add(lifetime)}
	if lifetime > 0 {
		c.entries[k] = e
	}
	return e, t
}

// replaceMenu makes dishes restaurant id's menu, every day, from now on;
// if evict it also drops the menu's cached copy, else that copy is served
// until it expires, as the real API does when a restaurant's page changes.
func (c *ownCache) replaceMenu(id string, dishes []menu.Dish, evict bool) {
	o := override{dishes: append([]menu.Dish{}, dishes...)}
	o.a = menuAnswer(c.about[id], o.dishes)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.overrides[id] = o
	if evict {
		delete(c.entries, cacheKey{route: routeMenu, id: id})
	}
}

// restoreMenu returns restaurant id to its built-in menu; evict as in
// replaceMenu.
func (c *ownCache) restoreMenu(id string, evict bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.overrides, id)
	if evict {
		delete(c.entries, cacheKey{route: routeMenu, id: id})
	}
}

// replaced returns the dishes that replace restaurant id's menu, if any.
func (c *ownCache) replaced(id string) ([]menu.Dish, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.overrides[id]
	return o.dishes, ok
}

// maxAge is the Cache-Control value for an answer whose lifetime has left
// left: whole seconds, rounded down, as the real API's in-memory cache
// reports them.
func maxAge(left time.Duration) []string {
	return []string{"max-age=" + strconv.FormatInt(int64(max(left, 0)/time.Second), 10)}
}
