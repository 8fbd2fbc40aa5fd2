package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test re-execute the test binary as the clawnet command
// (CLAWNET_TEST_MAIN=1), so that signal handling is tested on a real
// process without building a separate binary.
func TestMain(m *testing.M) {
	if os.Getenv("CLAWNET_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSignalShutdown sends SIGINT or SIGTERM to a real clawnet serve
// process and checks that it shuts down cleanly with exit code 0.
func TestSignalShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0", "--data", data)
			cmd.Env = append(os.Environ(), "CLAWNET_TEST_MAIN=1")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr := &syncBuffer{}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			ready := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if v, ok := strings.CutPrefix(sc.Text(), "operator token: "); ok {
						ready <- v
					}
				}
				exited <- cmd.Wait()
			}()
			select {
			case <-ready:
			case err := <-exited:
				t.Fatalf("exited before serving: %v\n%s", err, stderr)
			case <-time.After(startupDeadline):
				cmd.Process.Kill()
				t.Fatalf("not serving in time:\n%s", stderr)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit after %v: %v\n%s", sig, err, stderr)
				}
			case <-time.After(startupDeadline):
				cmd.Process.Kill()
				t.Fatalf("no exit after %v:\n%s", sig, stderr)
			}
			if !stderr.contains("shutting down") || !stderr.contains("log closed") {
				t.Errorf("no orderly shutdown in the logs:\n%s", stderr)
			}
		})
	}
}
