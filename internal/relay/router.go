package relay

import (
	"net/http"

	"github.com/gorilla/mux"
)

// NewRouter routes every GET and HEAD to the relay, answers other methods
// with 405 and an Allow header, and leaves paths uncleaned so that the relay
// refuses traversal attempts itself instead of redirecting them.
func NewRouter(r *Relay) http.Handler {
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
	return dispatcher{m: m, noVars: map[string]string{}}
}

// dispatcher matches with the mux router and calls the matched handler
// directly. mux's own ServeHTTP stores the route and its variables in the
// request's context, which costs four allocations a request; the relay's
// handlers read neither. The routes have no variables, so every match shares
// one empty, never written map instead of making its own.
type dispatcher struct {
	m      *mux.Router
	noVars map[string]string
}

func (d dispatcher) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	match := mux.RouteMatch{Vars: d.noVars}
	if d.m.Match(req, &match) {
		match.Handler.ServeHTTP(w, req)
		return
	}
	d.m.NotFoundHandler.ServeHTTP(w, req)
}
