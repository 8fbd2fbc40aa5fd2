package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
)

// startupDeadline bounds every wait in these tests; it is a deadline, not
// a sleep: each wait returns as soon as its event happens.
const startupDeadline = 30 * time.Second

// running is a "clawnet serve" started in-process with run().
type running struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan int    // the exit code
	lines  chan string // stdout, line by line
	stderr *syncBuffer
	// From the startup lines.
	url, origin, vkey, tokenPath string
}

func startServe(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &running{t: t, cancel: cancel, done: make(chan int, 1), lines: make(chan string, 16), stderr: &syncBuffer{}}
	go func() {
		code := run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), pw, r.stderr)
		pw.Close()
		r.done <- code
	}()
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(startupDeadline):
			t.Errorf("clawnet serve did not exit")
		}
	})
	for i, prefix := range []string{
		"clawnet ledger serving on http://", "log origin: ", "log verifier key: ", "operator token: ",
	} {
		var line string
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("clawnet serve exited before printing line %d:\n%s", i+1, r.stderr)
			}
			line = l
		case <-time.After(startupDeadline):
			t.Fatalf("clawnet serve printed no line %d in time:\n%s", i+1, r.stderr)
		}
		v, ok := strings.CutPrefix(line, prefix)
		if !ok {
			t.Fatalf("line %d = %q, want prefix %q", i+1, line, prefix)
		}
		switch i {
		case 0:
			r.url = "http://" + v
		case 1:
			r.origin = v
		case 2:
			r.vkey = v
		case 3:
			r.tokenPath = v
		}
	}
	return r
}

// stop cancels the context (as SIGINT would) and returns the exit code.
func (r *running) stop() int {
	r.t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for Cleanup
		return code
	case <-time.After(startupDeadline):
		r.t.Fatalf("clawnet serve did not exit after cancel:\n%s", r.stderr)
		return -1
	}
}

// runExit runs clawnet to completion and returns its exit code and output.
func runExit(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), startupDeadline)
	defer cancel()
	code = run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

func TestServeLifecycle(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	r := startServe(t, "--addr", "127.0.0.1:0", "--data", data)

	if want := "clawnet.local/" + strings.TrimPrefix(r.url, "http://"); r.origin != want {
		t.Errorf("origin = %q, want %q (derived from the address)", r.origin, want)
	}
	if r.tokenPath != filepath.Join(data, "operator.token") {
		t.Errorf("token path = %q", r.tokenPath)
	}
	verifier, err := transparency.NewVerifier(r.vkey)
	if err != nil || verifier.Name() != r.origin {
		t.Fatalf("printed verifier key %q: %v", r.vkey, err)
	}
	for _, f := range []struct {
		name string
		perm os.FileMode
	}{{"", 0o700}, {"log.key", 0o600}, {"log.vkey", 0o644}, {"operator.token", 0o600}} {
		fi, err := os.Stat(filepath.Join(data, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&^f.perm != 0 {
			t.Errorf("%s: mode %v, want at most %v", f.name, fi.Mode().Perm(), f.perm)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(data, "log.vkey")); strings.TrimSpace(string(b)) != r.vkey {
		t.Errorf("log.vkey = %q, printed %q", b, r.vkey)
	}

	var h server.HealthResponse
	if code := getJSON(t, r.url+"/healthz", &h); code != 200 || h.Status != "ok" || h.TreeSize != 0 {
		t.Errorf("healthz = %d %+v", code, h)
	}
	resp, err := http.Get(r.url + "/log/key")
	if err != nil {
		t.Fatal(err)
	}
	keyBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(keyBody) != r.vkey+"\n" {
		t.Errorf("/log/key = %q, want the printed key", keyBody)
	}
	resp, err = http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"clawnet_http_requests_total", "go_goroutines"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// An operator note, with the token from the printed path.
	token, err := os.ReadFile(r.tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	rc := postNote(t, r.url, strings.TrimSpace(string(token)), "before restart")
	if _, err := transparency.VerifyReceipt(rc, verifier); err != nil {
		t.Fatalf("receipt from the running server: %v", err)
	}

	if code := r.stop(); code != 0 {
		t.Fatalf("exit code %d after cancel:\n%s", code, r.stderr)
	}
	if !r.stderr.contains("shutting down") || !r.stderr.contains("log closed") {
		t.Errorf("no shutdown logs:\n%s", r.stderr)
	}

	// A restart on another port keeps the key, the origin and the entry.
	keyBefore, _ := os.ReadFile(filepath.Join(data, "log.key"))
	r2 := startServe(t, "--addr", "127.0.0.1:0", "--data", data)
	if r2.vkey != r.vkey || r2.origin != r.origin {
		t.Errorf("restart: key %q origin %q; want %q %q", r2.vkey, r2.origin, r.vkey, r.origin)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(data, "log.key")); !bytes.Equal(keyBefore, keyAfter) {
		t.Errorf("restart rewrote log.key")
	}
	if code := getJSON(t, r2.url+"/healthz", &h); code != 200 || h.TreeSize != 1 {
		t.Errorf("healthz after restart = %d %+v, want tree_size 1", code, h)
	}
	// The receipt handed out before the restart is still in the log.
	resp, err = http.Get(r2.url + "/log/v1/receipts/0")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rc2, err := transparency.ParseReceipt(body)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := transparency.VerifyReceipt(rc2, verifier); err != nil || !bytes.Equal(v.EntryBytes, rc.Entry) {
		t.Errorf("receipt after restart: %v", err)
	}
	if code := r2.stop(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, r2.stderr)
	}

	// An explicit --log-origin equal to the stored one is fine; another
	// one is refused before anything is opened or written.
	r3 := startServe(t, "--addr", "127.0.0.1:0", "--data", data, "--log-origin", r.origin)
	if code := r3.stop(); code != 0 {
		t.Fatalf("matching --log-origin: exit %d", code)
	}
	code, _, stderr := runExit(t, "serve", "--addr", "127.0.0.1:0", "--data", data, "--log-origin", "other.example/log")
	if code != 1 || !strings.Contains(stderr, "--log-origin") || !strings.Contains(stderr, r.origin) {
		t.Errorf("mismatched --log-origin: exit %d, stderr:\n%s", code, stderr)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(data, "log.key")); !bytes.Equal(keyBefore, keyAfter) {
		t.Errorf("a refused start rewrote log.key")
	}
}

func postNote(t *testing.T, url, token, reason string) *transparency.Receipt {
	t.Helper()
	body, _ := json.Marshal(server.OperatorNoteRequest{Reason: reason})
	req, _ := http.NewRequest("POST", url+"/log/v1/entries", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST note: %d %s", resp.StatusCode, b)
	}
	rc, err := transparency.ParseReceipt(b)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestServeExplicitOrigin(t *testing.T) {
	data := t.TempDir()
	r := startServe(t, "--addr", "127.0.0.1:0", "--data", data, "--log-origin", "ledger.example.com/log", "--max-batch-size", "16", "--max-batch-age", "1ms", "--table-write-rate", "0")
	if r.origin != "ledger.example.com/log" || !strings.HasPrefix(r.vkey, "ledger.example.com/log+") {
		t.Errorf("origin %q, key %q", r.origin, r.vkey)
	}
	resp, err := http.Get(r.url + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, _ := transparency.NewVerifier(r.vkey)
	if c, err := transparency.OpenCheckpoint(cp, v); err != nil || c.Origin != "ledger.example.com/log" || c.Size != 0 {
		t.Errorf("checkpoint %q: %v", cp, err)
	}
	if code := r.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestServeRefusesBadKeys: a data directory whose keys are incomplete,
// corrupt or mismatched is refused with a clear message, and no key file is
// created or changed.
func TestServeRefusesBadKeys(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "a.example/log")
	if err != nil {
		t.Fatal(err)
	}
	_, otherVkey, err := note.GenerateKey(rand.Reader, "a.example/log")
	if err != nil {
		t.Fatal(err)
	}
	_, renamedVkey, err := note.GenerateKey(rand.Reader, "b.example/log")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.Repeat("ab", 32) + "\n"
	for _, tc := range []struct {
		name  string
		files map[string]string // "db" makes a database directory
		want  string            // in stderr
	}{
		{"vkey without key", map[string]string{"log.vkey": vkey}, "log.key is missing"},
		{"key without vkey, key corrupt", map[string]string{"log.key": "PRIVATE+KEY+garbage"}, "cannot be rebuilt"},
		{"corrupt key", map[string]string{"log.key": "PRIVATE+KEY+garbage", "log.vkey": vkey}, "not a valid note signer key"},
		{"corrupt vkey", map[string]string{"log.key": skey, "log.vkey": "nonsense"}, "not a valid note verifier key"},
		{"mismatched pair", map[string]string{"log.key": skey, "log.vkey": otherVkey}, "not a key pair"},
		{"pair with other names", map[string]string{"log.key": skey, "log.vkey": renamedVkey}, "not a key pair"},
		{"database without keys", map[string]string{"db": ""}, "no log.key"},
		{"short token", map[string]string{"log.key": skey, "log.vkey": vkey, "operator.token": "secret\n"}, "operator.token"},
		{"empty token", map[string]string{"log.key": skey, "log.vkey": vkey, "operator.token": ""}, "operator.token"},
		{"unreadable key", map[string]string{"log.key/": "", "log.vkey": vkey}, "read log key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(data, name)
				if name == "db" || strings.HasSuffix(name, "/") {
					if err := os.MkdirAll(p, 0o700); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, ok := tc.files["operator.token"]; !ok {
				os.WriteFile(filepath.Join(data, "operator.token"), []byte(token), 0o600)
			}
			before := snapshot(t, data)
			code, stdout, stderr := runExit(t, "serve", "--addr", "127.0.0.1:0", "--data", data)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("refused start printed %q", stdout)
			}
			if strings.Contains(stderr, "PRIVATE+KEY") && !strings.Contains(tc.files["log.key"], "garbage") {
				t.Errorf("stderr leaks the private key: %s", stderr)
			}
			if after := snapshot(t, data); after != before {
				t.Errorf("refused start changed the data directory:\n%s\n->\n%s", before, after)
			}
		})
	}
}

// TestServeRebuildsMissingVerifierKey: a first start that died between
// writing log.key and log.vkey leaves only log.key; the next start derives
// the verifier key from it, writes it, and serves with it.
func TestServeRebuildsMissingVerifierKey(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "a.example/log")
	if err != nil {
		t.Fatal(err)
	}
	// Keys whose base64 data holds a '+' once broke the derivation.
	for i := 0; i < 200; i++ {
		sk, vk, err := note.GenerateKey(rand.Reader, "a.example/log")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := verifierKeyOf(sk); err != nil || got != vk {
			t.Fatalf("verifierKeyOf(%d-th key) = %q, %v; want %q", i, got, err, vk)
		}
	}
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startServe(t, "--addr", "127.0.0.1:0", "--data", data)
	if r.vkey != vkey {
		t.Fatalf("served verifier key %q, want the one of log.key %q", r.vkey, vkey)
	}
	b, err := os.ReadFile(filepath.Join(data, "log.vkey"))
	if err != nil || strings.TrimSpace(string(b)) != vkey {
		t.Fatalf("log.vkey = %q, %v; want %q", b, err, vkey)
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.stderr)
	}
}

// snapshot lists the data directory's top-level files with their contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		b.WriteString(e.Name())
		if !e.IsDir() {
			c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			b.WriteString("=" + string(c))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"no command", nil, 2, "usage: clawnet"},
		{"help", []string{"help"}, 2, "serve"},
		{"--help", []string{"--help"}, 2, "usage: clawnet"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"help serve", []string{"help", "serve"}, 2, "-log-origin"},
		{"serve -h", []string{"serve", "-h"}, 2, "-max-batch-age"},
		{"unknown flag", []string{"serve", "--nope"}, 2, "flag provided but not defined"},
		{"bad log level", []string{"serve", "--log-level", "loud"}, 2, "--log-level"},
		{"positional argument", []string{"serve", "extra"}, 2, "unexpected argument"},
		{"negative batch size", []string{"serve", "--max-batch-size", "-1"}, 2, "negative"},
		{"bad batch age", []string{"serve", "--max-batch-age", "soon"}, 2, "invalid value"},
		{"negative table write rate", []string{"serve", "--table-write-rate", "-1"}, 2, "--table-write-rate -1"},
		{"huge table write rate", []string{"serve", "--table-write-rate", "2000000"}, 2, "--table-write-rate 2000000"},
		{"origin with space", []string{"serve", "--log-origin", "a b"}, 2, "space"},
		{"origin with plus", []string{"serve", "--log-origin", "a+b"}, 2, "'+'"},
		{"empty data", []string{"serve", "--data", ""}, 2, "--data"},
		{"address in use or bad", []string{"serve", "--addr", "256.0.0.1:1", "--data", dir}, 1, "listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runExit(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.code, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a failed start left files in the data directory: %v", ents)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }

// TestServeWaitsForBackgroundLoops: serve closes the log and the database
// only after its background loops have stopped. A round of the escalation
// expiry loop is held in progress while serve shuts down: serve must not
// return (and close the database under it) until the round ends. Before
// the fix, CI saw "panic: pebble: closed" from a round that started as
// serve was stopping.
func TestServeWaitsForBackgroundLoops(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	testHookExpire = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	t.Cleanup(func() { testHookExpire = nil })
	r := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"))
	select {
	case <-entered:
	case <-time.After(startupDeadline):
		t.Fatal("the expiry loop did not start")
	}
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code
		close(release)
		t.Fatalf("serve returned (exit %d) while its expiry loop was still running", code)
	case <-time.After(200 * time.Millisecond):
		// Still waiting, as it should: let the round finish.
	}
	close(release)
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d after the loop ended:\n%s", code, r.stderr)
	}
}
