package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency/monitor"
)

func monitorOnce(t testing.TB, url string, key testKey, dir string, extra ...string) result {
	t.Helper()
	args := append([]string{"monitor", "--server", url, "--key", key.vkey, "--state", dir, "--once"}, extra...)
	return runCLI(t, args...)
}

func loadTestState(t testing.TB, dir string, key testKey) *monitor.State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := monitor.ParseState(b, key.verifier)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// entryTilesRequested returns the entry bundle paths among reqs.
func entryTilesRequested(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if strings.HasPrefix(r, "/log/tile/entries/") {
			out = append(out, strings.TrimPrefix(r, "/log/"))
		}
	}
	return out
}

func evidenceFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "fork-evidence-*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMonitorFollowsLog(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(1300, "entry")
	url := l.serve(t)
	dir := filepath.Join(t.TempDir(), "state")

	// First sync from an empty state: the whole log is verified.
	r := monitorOnce(t, url, key, dir)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "size 1300") {
		t.Fatalf("stdout: %s", r.stdout)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v, want 0700", fi.Mode().Perm())
	}
	st := loadTestState(t, dir, key)
	if st.Size() != 1300 || st.Checkpoint.Root != l.root(1300) {
		t.Fatalf("state size %d root %s", st.Size(), st.Checkpoint.Root)
	}
	reqs := l.requests()
	if !strings.Contains(strings.Join(reqs, " "), "/log/tile/1/000.p/5") {
		t.Fatalf("first sync did not check the level-1 tile: %q", reqs)
	}
	got := entryTilesRequested(reqs)
	want := []string{"tile/entries/000", "tile/entries/001", "tile/entries/002", "tile/entries/003", "tile/entries/004", "tile/entries/005.p/20"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("first sync fetched %q, want %q", got, want)
	}

	// The log grows: the second run only fetches the bundles from the
	// trusted size on (the partial tile 5 again, then tile 6).
	l.grow(1600, "entry")
	monitorOnce(t, url, key, dir).want(t, 0)
	got = entryTilesRequested(l.requests())
	want = []string{"tile/entries/005", "tile/entries/006.p/64"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("incremental sync fetched %q, want %q", got, want)
	}
	if st := loadTestState(t, dir, key); st.Size() != 1600 {
		t.Fatalf("state size %d, want 1600", st.Size())
	}

	// Nothing new: one request for the checkpoint, no tiles, state kept.
	r = monitorOnce(t, url, key, dir)
	r.want(t, 0)
	if reqs := l.requests(); len(reqs) != 1 || reqs[0] != "/log/checkpoint" {
		t.Fatalf("idle round requested %q", reqs)
	}
	if !strings.Contains(r.stdout, "0 new entries") {
		t.Fatalf("stdout: %s", r.stdout)
	}
	if ev := evidenceFiles(t, dir); len(ev) != 0 {
		t.Fatalf("evidence written on success: %v", ev)
	}
}

func TestMonitorEmptyLog(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key)
	url := l.serve(t)
	dir := t.TempDir()
	monitorOnce(t, url, key, dir).want(t, 0)
	if st := loadTestState(t, dir, key); st.Size() != 0 {
		t.Fatalf("state size %d", st.Size())
	}
	l.grow(3, "entry")
	monitorOnce(t, url, key, dir).want(t, 0)
	if st := loadTestState(t, dir, key); st.Size() != 3 {
		t.Fatalf("state size %d", st.Size())
	}
}

// TestMonitorStateLock: a second monitor on a state folder in use is
// refused (exit 2) and changes nothing; once the first lets go, it runs.
func TestMonitorStateLock(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key)
	l.grow(3, "entry")
	url := l.serve(t)
	dir := t.TempDir()
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	res := monitorOnce(t, url, key, dir)
	res.want(t, 2)
	if !strings.Contains(res.stderr, "in use by another clawaudit monitor") {
		t.Fatalf("stderr %q does not say the folder is in use", res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused monitor wrote its state file (stat: %v)", err)
	}
	unlock()
	monitorOnce(t, url, key, dir).want(t, 0)
	if st := loadTestState(t, dir, key); st.Size() != 3 {
		t.Fatalf("state size %d, want 3", st.Size())
	}
}

// TestMonitorPartialTileFallback serves a checkpoint older than the tree
// and no partial tiles where the full tile exists, as C2SP tlog-tiles
// allows: the monitor reads the full tiles instead.
func TestMonitorPartialTileFallback(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(600, "entry")
	stale := uint64(300)
	l.set(func(l *fakeLog) { l.cpSize = &stale; l.dropPartials = true })
	url := l.serve(t)
	dir := t.TempDir()
	monitorOnce(t, url, key, dir).want(t, 0)
	if st := loadTestState(t, dir, key); st.Size() != 300 {
		t.Fatalf("state size %d", st.Size())
	}
	reqs := strings.Join(l.requests(), " ")
	for _, p := range []string{"/log/tile/entries/001.p/44", "/log/tile/entries/001", "/log/tile/0/001.p/44", "/log/tile/0/001"} {
		if !strings.Contains(reqs, p) {
			t.Errorf("requests %q lack %s", reqs, p)
		}
	}
}

func TestMonitorSecurityFailures(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	sameName := newTestKey(t, "example.com/log")
	tests := []struct {
		name string
		// misbehave changes the log after the monitor trusted size 600.
		misbehave func(t *testing.T, l *fakeLog)
		// inEvidence must appear in the evidence file.
		inEvidence []string
	}{
		{"same size, different root", func(t *testing.T, l *fakeLog) {
			forked := newFakeLog(t, l.key).grow(600, "forked")
			l.set(func(l *fakeLog) { l.cpRaw = forked.checkpoint(600) })
		}, []string{"log fork"}},
		{"rewritten history, larger", func(t *testing.T, l *fakeLog) {
			forked := newFakeLog(t, l.key).grow(900, "forked")
			l.set(func(l *fakeLog) { l.entries, l.hashes = forked.entries, forked.hashes })
		}, []string{"do not match its checkpoint"}},
		{"smaller size", func(t *testing.T, l *fakeLog) {
			s := uint64(599)
			l.set(func(l *fakeLog) { l.cpSize = &s })
		}, []string{"rollback"}},
		{"entries do not match the checkpoint", func(t *testing.T, l *fakeLog) {
			l.grow(900, "entry")
			other := newFakeLog(t, l.key).grow(900, "other")
			// All tiles of another log: the tiles agree with the entries,
			// the root does not.
			l.set(func(l *fakeLog) { l.bundleSrc, l.hashSrc, l.upperSrc = other, other, other })
		}, []string{"do not match its checkpoint"}},
		{"level-0 tile does not match the entries", func(t *testing.T, l *fakeLog) {
			l.grow(900, "entry")
			other := newFakeLog(t, l.key).grow(900, "other")
			l.set(func(l *fakeLog) { l.hashSrc = other })
		}, []string{"hash tile that disagrees"}},
		{"level-1 tile does not match the entries", func(t *testing.T, l *fakeLog) {
			l.grow(900, "entry")
			other := newFakeLog(t, l.key).grow(900, "other")
			l.set(func(l *fakeLog) { l.upperSrc = other })
		}, []string{"level-1 hash tile that disagrees"}},
		{"entry bundle does not match the level-0 tile", func(t *testing.T, l *fakeLog) {
			l.grow(900, "entry")
			other := newFakeLog(t, l.key).grow(900, "other")
			l.set(func(l *fakeLog) { l.bundleSrc = other })
		}, []string{"hash tile that disagrees"}},
		{"malformed logged entry", func(t *testing.T, l *fakeLog) {
			l.appendRaw([]byte(`{"v":1,"type":"operator.note"}`))
		}, []string{"logged entry 600 is invalid"}},
		{"checkpoint signed by another key with the same name", func(t *testing.T, l *fakeLog) {
			l.grow(700, "entry")
			l.set(func(l *fakeLog) { l.cpRaw = signCheckpoint(t, sameName, 700, l.rootLocked(700)) })
		}, []string{"no signature by the log key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newFakeLog(t, key).grow(600, "entry")
			url := l.serve(t)
			dir := t.TempDir()
			monitorOnce(t, url, key, dir).want(t, 0)
			trusted := l.checkpoint(600)
			before, err := os.ReadFile(filepath.Join(dir, stateFile))
			if err != nil {
				t.Fatal(err)
			}

			tt.misbehave(t, l)
			r := monitorOnce(t, url, key, dir)
			r.want(t, 1)
			ev := evidenceFiles(t, dir)
			if len(ev) != 1 {
				t.Fatalf("evidence files %v, want one", ev)
			}
			b, err := os.ReadFile(ev[0])
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{string(trusted), "SECURITY FAILURE", "--- checkpoint served by the log"}, tt.inEvidence...)
			for _, s := range want {
				if !strings.Contains(string(b), s) {
					t.Errorf("evidence lacks %q:\n%s", s, b)
				}
			}
			if !strings.Contains(r.stdout, string(trusted)) || !strings.Contains(r.stderr, ev[0]) {
				t.Errorf("evidence not printed or its file not named:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
			if !strings.HasSuffix(ev[0], "fork-evidence-1772600767.txt") {
				t.Errorf("evidence file %s is not named after the injected clock", ev[0])
			}
			// The trusted state is unchanged, and the failure repeats.
			after, err := os.ReadFile(filepath.Join(dir, stateFile))
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Fatal("state changed after a security failure")
			}
			monitorOnce(t, url, key, dir).want(t, 1)
			if ev := evidenceFiles(t, dir); len(ev) != 2 {
				t.Fatalf("second failure: evidence files %v, want two", ev)
			}
		})
	}
}

func TestMonitorOperationalErrors(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(10, "entry")
	url := l.serve(t)

	t.Run("unreachable", func(t *testing.T) {
		r := monitorOnce(t, deadURL(t), key, t.TempDir())
		r.want(t, 2)
		if !strings.Contains(r.stderr, "hint:") {
			t.Errorf("no hint: %s", r.stderr)
		}
	})
	t.Run("log failed", func(t *testing.T) {
		failing := newFakeLog(t, key)
		failing.set(func(l *fakeLog) { l.failStatus = 503 })
		r := monitorOnce(t, failing.serve(t), key, t.TempDir())
		r.want(t, 2)
		if !strings.Contains(r.stderr, "log_failed") {
			t.Errorf("stderr lacks the server's error code: %s", r.stderr)
		}
	})
	t.Run("tile missing", func(t *testing.T) {
		// A checkpoint for a tree larger than the tiles served: 404.
		missing := newFakeLog(t, key).grow(10, "entry")
		missing.set(func(l *fakeLog) { l.cpRaw = signCheckpoint(t, key, 20, l.rootLocked(10)) })
		monitorOnce(t, missing.serve(t), key, t.TempDir()).want(t, 2)
	})
	t.Run("malformed checkpoint", func(t *testing.T) {
		bad := newFakeLog(t, key)
		bad.set(func(l *fakeLog) { l.cpRaw = []byte("not a note") })
		monitorOnce(t, bad.serve(t), key, t.TempDir()).want(t, 2)
	})
	t.Run("damaged state", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, stateFile, []byte(`{"version":1}`))
		monitorOnce(t, url, key, dir).want(t, 2)
	})
	t.Run("state of another key", func(t *testing.T) {
		dir := t.TempDir()
		monitorOnce(t, url, key, dir).want(t, 0)
		other := newTestKey(t, "example.com/log")
		r := monitorOnce(t, url, other, dir)
		r.want(t, 2)
		if !strings.Contains(r.stderr, "move the folder away") {
			t.Errorf("no hint: %s", r.stderr)
		}
	})
	t.Run("state dir is a file", func(t *testing.T) {
		f := writeFile(t, t.TempDir(), "file", []byte("x"))
		monitorOnce(t, url, key, f).want(t, 2)
	})
	for _, args := range [][]string{
		{"monitor", "--key", key.vkey, "--state", t.TempDir(), "--once"},
		{"monitor", "--server", url, "--state", t.TempDir(), "--once"},
		{"monitor", "--server", url, "--key", key.vkey, "--once"},
		{"monitor", "--server", url, "--key", key.vkey, "--state", t.TempDir(), "--interval", "0s"},
		{"monitor", "--server", url, "--key", key.vkey, "--state", t.TempDir(), "extra"},
		{"monitor", "--server", "127.0.0.1:8080", "--key", key.vkey, "--state", t.TempDir(), "--once"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			runCLI(t, args...).want(t, 2)
		})
	}
}

func TestMonitorProgressBar(t *testing.T) {
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(256*progressMinTiles+1, "entry")
	url := l.serve(t)
	r := monitorOnce(t, url, key, t.TempDir(), "--progress")
	r.want(t, 0)
	if !strings.Contains(r.stderr, "verifying entries") {
		t.Fatalf("no progress bar on stderr: %q", r.stderr)
	}
	// Without --progress and with stderr not a terminal: no bar.
	l.grow(256*2*progressMinTiles, "entry")
	r = monitorOnce(t, url, key, t.TempDir())
	r.want(t, 0)
	if r.stderr != "" {
		t.Fatalf("stderr not empty: %q", r.stderr)
	}
}

// startMonitorLoop runs "clawaudit monitor" without --once and returns a
// channel with its result.
func startMonitorLoop(t *testing.T, ctx context.Context, url string, key testKey, dir string) <-chan result {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		done <- runCLICtx(t, ctx, "monitor", "--server", url, "--key", key.vkey, "--state", dir, "--interval", "2ms")
	}()
	return done
}

// waitRequests waits for n checkpoint requests, or fails at the deadline.
func waitRequests(t *testing.T, notify <-chan string, n int, done <-chan result) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for n > 0 {
		select {
		case p := <-notify:
			if p == "/log/checkpoint" {
				n--
			}
		case r := <-done:
			t.Fatalf("monitor exited early: %d\n%s\n%s", r.code, r.stdout, r.stderr)
		case <-deadline:
			t.Fatal("timed out waiting for monitor rounds")
		}
	}
}

// drain empties a notification channel: every request handled until now
// has sent its notification already, since fakeLog sends it under its lock.
func drain(c <-chan string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestMonitorLoop(t *testing.T) {
	key := newTestKey(t, "example.com/log")

	t.Run("follows growth until cancelled", func(t *testing.T) {
		l := newFakeLog(t, key).grow(10, "entry")
		notify := make(chan string, 64)
		l.set(func(l *fakeLog) { l.notify = notify })
		url := l.serve(t)
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startMonitorLoop(t, ctx, url, key, dir)
		waitRequests(t, notify, 2, done)
		l.grow(300, "entry")
		// Rounds notified so far may have seen a part of the growth; the
		// second round from now saw all of it and finished.
		drain(notify)
		waitRequests(t, notify, 2, done)
		cancel()
		r := <-done
		r.want(t, 0)
		if st := loadTestState(t, dir, key); st.Size() != 300 {
			t.Fatalf("state size %d, want 300\n%s", st.Size(), r.stdout)
		}
	})

	t.Run("survives an outage", func(t *testing.T) {
		l := newFakeLog(t, key).grow(10, "entry")
		notify := make(chan string, 64)
		l.set(func(l *fakeLog) { l.notify = notify; l.failStatus = 503 })
		url := l.serve(t)
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startMonitorLoop(t, ctx, url, key, dir)
		waitRequests(t, notify, 2, done)
		l.set(func(l *fakeLog) { l.failStatus = 0 })
		drain(notify)
		waitRequests(t, notify, 2, done)
		cancel()
		r := <-done
		r.want(t, 0)
		if !strings.Contains(r.stderr, "retrying") {
			t.Errorf("outage not logged: %s", r.stderr)
		}
		if st := loadTestState(t, dir, key); st.Size() != 10 {
			t.Fatalf("state size %d", st.Size())
		}
	})

	t.Run("stops on a fork", func(t *testing.T) {
		l := newFakeLog(t, key).grow(10, "entry")
		notify := make(chan string, 64)
		l.set(func(l *fakeLog) { l.notify = notify })
		url := l.serve(t)
		dir := t.TempDir()
		done := startMonitorLoop(t, context.Background(), url, key, dir)
		waitRequests(t, notify, 1, done)
		forked := newFakeLog(t, key).grow(10, "forked")
		l.set(func(l *fakeLog) { l.cpRaw = forked.checkpoint(10) })
		select {
		case r := <-done:
			r.want(t, 1)
		case <-time.After(10 * time.Second):
			t.Fatal("monitor did not stop on a fork")
		}
		if ev := evidenceFiles(t, dir); len(ev) != 1 {
			t.Fatalf("evidence files %v", ev)
		}
	})
}

func TestStateFileAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two, longer", "3"} {
		if err := writeFileAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	// No temporary files are left behind.
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("dir holds %v, %v", ents, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
