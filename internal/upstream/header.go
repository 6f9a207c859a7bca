package upstream

import (
	"net/http"
	"slices"
	"strings"
)

// EncodeHeader writes header fields as "Name: value" lines, names sorted,
// the form in which the cache tiers keep an answer's cache header fields.
// A name or value holding CR or LF is left out.
func EncodeHeader(h http.Header) string {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		for _, v := range h[name] {
			if strings.ContainsAny(name+v, "\r\n") {
				continue
			}
			b.WriteString(name + ": " + v + "\n")
		}
	}
	return b.String()
}

// DecodeHeader reads what EncodeHeader wrote; a line without ": " is
// skipped.
func DecodeHeader(s string) http.Header {
	h := make(http.Header, 4)
	for line := range strings.Lines(s) {
		if name, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ": "); ok {
			h.Add(name, v)
		}
	}
	return h
}
