// Addresses on the loopback interface for tests.
package proctest

import (
	"net"
	"testing"
)

// ClosedAddr returns a host:port on 127.0.0.1 where nothing listens, so that
// a connection to it is refused: the port was just taken and given back.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
