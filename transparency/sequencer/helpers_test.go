package sequencer

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "example.com/clawnet/test-log"

// testKey is a signed-note key pair for testOrigin.
type testKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

func newKey(t testing.TB, origin string) testKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, verifier: v, vkey: vkey}
}

// memDB opens a store on a fresh in-memory file system, closed at the end
// of the test.
func memDB(t testing.TB) *store.DB {
	t.Helper()
	return openDB(t, vfs.NewMem(), "db")
}

func openDB(t testing.TB, fs vfs.FS, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(dir, store.Options{FS: fs, CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openLog opens a log on db with key k; cfg fields other than DB, Signer
// and Origin are taken from cfg. The log is closed at the end of the test.
func openLog(t testing.TB, db *store.DB, k testKey, cfg Config) *Log {
	t.Helper()
	cfg.DB, cfg.Signer, cfg.Origin = db, k.signer, k.signer.Name()
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

var testTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testEntry returns a distinct valid entry for each i.
func testEntry(i int) *transparency.Entry {
	return &transparency.Entry{
		Version:  transparency.EntryVersion,
		Type:     "test.event",
		Time:     testTime.Add(time.Duration(i) * time.Millisecond),
		Actor:    "did:key:z6MkTestActor",
		Subject:  fmt.Sprintf("subject-%d", i),
		Action:   "message/send",
		Decision: transparency.DecisionAllowed,
	}
}

func mustMarshal(t testing.TB, e *transparency.Entry) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fill appends entries first..first+n-1 with the given number of
// concurrent writers and returns what each Append returned, by entry number
// minus first.
func fill(t testing.TB, l *Log, first, n, writers int) []Appended {
	t.Helper()
	out := make([]Appended, n)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				a, err := l.Append(context.Background(), testEntry(first+i), nil)
				if err != nil {
					errs <- fmt.Errorf("append %d: %w", first+i, err)
					return
				}
				out[i] = a
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// checkCheckpoint opens a signed checkpoint with k and checks its size and
// root.
func checkCheckpoint(t testing.TB, k testKey, signed []byte, size uint64, root transparency.Hash) {
	t.Helper()
	cp, err := transparency.OpenCheckpoint(signed, k.verifier)
	if err != nil {
		t.Fatalf("checkpoint does not open: %v", err)
	}
	if cp.Size != size || cp.Root != root {
		t.Fatalf("checkpoint says size %d root %s, want %d %s", cp.Size, cp.Root, size, root)
	}
}
