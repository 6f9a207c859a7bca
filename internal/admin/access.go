package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// restricted wraps the handlers that change state or expose internals
// (pprof, the purge API): they answer only to a peer on the loopback
// interface (what kubectl port-forward and kubectl exec deliver inside the
// pod) or to a request bearing the admin token. Anything else gets a 403.
func restricted(token string, next http.Handler) http.Handler {
	var want [sha256.Size]byte
	if token != "" {
		want = sha256.Sum256([]byte(token))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopbackPeer(r.RemoteAddr) || (token != "" && bearerMatches(r.Header.Get("Authorization"), want)) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusForbidden, "forbidden: only loopback peers or a bearer admin token")
	})
}

// loopbackPeer reports whether addr (a request's RemoteAddr) is in
// 127.0.0.0/8 or is ::1, IPv4-mapped forms included.
func loopbackPeer(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// bearerMatches compares the header's bearer token with the wanted token's
// digest in constant time; hashing first keeps the token's length out of
// the comparison's timing too.
func bearerMatches(header string, want [sha256.Size]byte) bool {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
