package main

// This file runs clawaudit against the real server (server.New over a real
// sequencer and pebble store). Only tests import those packages; the
// binary does not (TestImportsOnlyPureCode).

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

type realLog struct {
	t     *testing.T
	log   *sequencer.Log
	url   string
	vkey  string
	token string
}

func startRealServer(t *testing.T) *realLog {
	t.Helper()
	const origin = "clawaudit.e2e.test/log"
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: origin})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	token := "e2e-operator-token"
	s, err := server.New(server.Config{Log: l, VerifierKey: vkey, OperatorToken: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	return &realLog{t: t, log: l, url: srv.URL, vkey: vkey, token: token}
}

func (r *realLog) get(path string) []byte {
	r.t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}

// postNote appends an operator note over HTTP and returns the receipt JSON.
func (r *realLog) postNote(reason string) []byte {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+"/log/v1/entries", strings.NewReader(fmt.Sprintf(`{"reason":%q}`, reason)))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("POST entry: %d %v %s", resp.StatusCode, err, b)
	}
	return b
}

// appendMany appends n entries through the Go API, concurrently so that
// the sequencer batches them.
func (r *realLog) appendMany(n int) {
	r.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e := &transparency.Entry{
					Version: transparency.EntryVersion, Type: "operator.note",
					Time:     time.Date(2026, 5, 6, 7, 8, 9, i, time.UTC),
					Decision: transparency.DecisionRecorded, Reason: fmt.Sprintf("bulk %d", i),
				}
				if _, err := r.log.Append(context.Background(), e, nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		r.t.Fatal(err)
	}
}

func TestEndToEndRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	rl := startRealServer(t)
	dir := t.TempDir()

	// The key served at /log/key is the one the log was started with;
	// clawaudit reads it from a file, as a user would save it.
	served := rl.get("/log/key")
	if strings.TrimSpace(string(served)) != rl.vkey {
		t.Fatalf("/log/key = %q, want %q", served, rl.vkey)
	}
	keyFile := writeFile(t, dir, "log.vkey", served)

	// verify: a receipt from POST, and one from GET /log/v1/receipts.
	rcpt := writeFile(t, dir, "post.json", rl.postNote("first note"))
	r := runCLI(t, "verify", rcpt, "--key", keyFile)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "type operator.note, decision recorded") {
		t.Fatalf("stdout: %s", r.stdout)
	}
	rl.postNote("second note")
	fetched := writeFile(t, dir, "get.json", rl.get("/log/v1/receipts/0"))
	runCLI(t, "verify", fetched, rcpt, "--key", rl.vkey).want(t, 0)
	tampered := writeFile(t, dir, "tampered.json", bytes.Replace(rl.get("/log/v1/receipts/1"), []byte(`"index": 1`), []byte(`"index": 0`), 1))
	runCLI(t, "verify", tampered, "--key", rl.vkey).want(t, 1)

	// monitor: a first sync, then an incremental one over several tiles.
	state := filepath.Join(dir, "state")
	runCLI(t, "monitor", "--server", rl.url, "--key", keyFile, "--state", state, "--once").want(t, 0)
	old := writeFile(t, dir, "old.cp", rl.get("/log/checkpoint"))
	rl.appendMany(1100)
	r = runCLI(t, "monitor", "--server", rl.url, "--key", keyFile, "--state", state, "--once")
	r.want(t, 0)
	if st := loadStateFile(t, state, rl.vkey); st.Size() != 1102 {
		t.Fatalf("monitor state size %d, want 1102\n%s", st.Size(), r.stdout)
	}

	// consistency between the two checkpoints, with the proof from the
	// server and from a saved server response.
	newer := writeFile(t, dir, "new.cp", rl.get("/log/checkpoint"))
	runCLI(t, "consistency", old, newer, "--key", keyFile, "--server", rl.url).want(t, 0)
	proof := writeFile(t, dir, "proof.json", rl.get("/log/v1/proof/consistency?from=2&to=1102"))
	runCLI(t, "consistency", "--key", keyFile, old, newer, "--proof", proof).want(t, 0)
	runCLI(t, "consistency", "--key", keyFile, old, old).want(t, 0)
	// A proof for other sizes is refused, and a real proof does not make a
	// forged checkpoint consistent.
	other := writeFile(t, dir, "other.json", rl.get("/log/v1/proof/consistency?from=1&to=1102"))
	runCLI(t, "consistency", "--key", keyFile, old, newer, "--proof", other).want(t, 2)
}

func loadStateFile(t *testing.T, dir, vkey string) interface{ Size() uint64 } {
	t.Helper()
	v, err := transparency.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return loadTestState(t, dir, testKey{verifier: v})
}
