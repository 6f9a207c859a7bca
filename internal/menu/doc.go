// Package menu holds the model of the lunch-menu API (its JSON shapes) and a
// small client for it. The shapes follow the public API served at
// https://menu.dckube.scilifelab.se/api/ field for field, so the stand-in
// upstream, the relay's tests, the load tool and the command line all speak
// the same language.
package menu
