// Package frontendtest tests the relay as the backend of a web front end in
// a real headless Chromium (internal/testkit/browsertest), the two ways people
// deploy it: cross-origin, a page on one origin calling the relay on
// another with fetch() (CORS and its preflight), and same-origin, the page
// at / and the relay at /api/ behind one real nginx, with the nginx
// configuration the relay's README (cmd/restaurants/README.md) shows. The
// relay runs in-process in front of the stand-in API on 127.0.0.1 ports; the
// package holds only tests.
package frontendtest
