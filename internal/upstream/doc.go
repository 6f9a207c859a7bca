// Package upstream is the relay's client of the lunch-menu API: it turns a
// request path into a Target that cannot leave the upstream's Base (path
// safety, canonical queries), fetches it within bounds of time, body size and
// concurrency, follows only redirects that stay below the base, and sorts
// every failure into an Outcome that the cache and the metrics act on.
package upstream
