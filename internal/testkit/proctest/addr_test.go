package proctest

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestClosedAddrRefuses(t *testing.T) {
	addr := ClosedAddr(t)
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s succeeded, want refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}
