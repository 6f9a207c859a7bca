package relay

import (
	"net/http"
	"sync"

	"github.com/gorilla/mux"
)

// RouterOption changes what NewRouter builds.
type RouterOption func(*routerOptions)

type routerOptions struct {
	cors CORS
}

// WithCORS sets the cross-origin policy; without it every origin may read
// the relay's answers, as with the menu API itself.
func WithCORS(c CORS) RouterOption {
	return func(o *routerOptions) { o.cors = c }
}

// NewRouter routes every GET and HEAD to the relay, answers OPTIONS (a
// browser's preflight) itself, other methods with 405 and an Allow header,
// and leaves paths uncleaned so that the relay refuses traversal attempts
// itself instead of redirecting them. Every answer carries the CORS headers.
func NewRouter(r *Relay, opts ...RouterOption) http.Handler {
	o := routerOptions{cors: AllowAllOrigins()}
	for _, opt := range opts {
		opt(&o)
	}
	m := mux.NewRouter().SkipClean(true).UseEncodedPath()
	// Every path goes to the relay, which validates it; a matcher function
	// rather than a path pattern spares a regular expression per request.
	m.MatcherFunc(func(*http.Request, *mux.RouteMatch) bool { return true }).
		Methods(http.MethodGet, http.MethodHead).Handler(r)
	m.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		r.writeError(w, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed; use GET or HEAD", 0)
	})
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.writeError(w, http.StatusBadRequest, "request target must be a path", 0)
	})
	d := &dispatcher{m: m, noVars: map[string]string{}}
	d.matches.New = func() any { return new(mux.RouteMatch) }
	return newCORSHandler(o.cors, d, r.metrics)
}

// dispatcher matches with the mux router and calls the matched handler
// directly. mux's own ServeHTTP stores the route and its variables in the
// request's context, which costs four allocations a request; the relay's
// handlers read neither. The routes have no variables, so every match shares
// one empty, never written map instead of making its own, and the match
// itself, which escapes into mux, comes from a pool.
type dispatcher struct {
	m       *mux.Router
	noVars  map[string]string
	matches sync.Pool // of *mux.RouteMatch
}

func (d *dispatcher) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	match := d.matches.Get().(*mux.RouteMatch)
	*match = mux.RouteMatch{Vars: d.noVars}
	if d.m.Match(req, match) {
		h := match.Handler
		*match = mux.RouteMatch{}
		d.matches.Put(match)
		h.ServeHTTP(w, req)
		return
	}
	d.matches.Put(match)
	d.m.NotFoundHandler.ServeHTTP(w, req)
}
