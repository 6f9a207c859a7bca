package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as pause when the child marker is set.
func TestMain(m *testing.M) {
	if os.Getenv("PAUSE_TEST_CHILD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "PAUSE_TEST_CHILD=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// not PID 1, it warns once its signal handlers are in place
		warned := make(chan bool, 1)
		go func() {
			line, _ := bufio.NewReader(stderr).ReadString('\n')
			warned <- strings.HasPrefix(line, "Warning: pause should be the first process")
			_, _ = io.Copy(io.Discard, stderr)
		}()
		select {
		case ok := <-warned:
			if !ok {
				_ = cmd.Process.Kill()
				t.Fatal("pause did not print its warning (not PID 1) first")
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("pause printed nothing within 30s")
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// still running after a moment: it pauses
		select {
		case err := <-done:
			t.Fatalf("pause exited by itself: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("after %v: exit %v, want 0", sig, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("pause did not exit on %v", sig)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--version")
	cmd.Env = append(os.Environ(), "PAUSE_TEST_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "pause.go "+version+"\n" {
		t.Errorf("--version printed %q", out)
	}
}
