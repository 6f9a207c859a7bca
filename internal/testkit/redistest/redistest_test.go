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
