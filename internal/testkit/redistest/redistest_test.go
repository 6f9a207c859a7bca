package redistest

import "testing"

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if r, err := s.Do("SET", "k", "v"); err != nil || r != "+OK" {
		t.Fatalf("SET: %q, %v", r, err)
	}
	s.Kill()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("a killed server still answers")
	}
	s.Restart()
	if r, err := s.Do("EXISTS", "k"); err != nil || r != ":0" {
		t.Fatalf("after a restart EXISTS k = %q, %v; want an empty server", r, err)
	}
}

func TestTLSOnly(t *testing.T) {
	c := Certificates(t, "localhost", "127.0.0.1")
	s := StartWith(t, Options{TLS: &c.Server})
	if r, err := s.Do("PING"); err != nil || r != "+PONG" {
		t.Fatalf("PING over TLS: %q, %v", r, err)
	}
	if s.URL() != "rediss://"+s.Addr() {
		t.Fatalf("URL %q, want rediss://", s.URL())
	}
}
