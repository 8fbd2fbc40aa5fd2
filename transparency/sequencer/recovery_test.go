package sequencer

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"golang.org/x/mod/sumdb/tlog"
)

// checkLog checks a log from the outside: every entry parses and hashes to
// its leaf, the tree recomputed by sumdb/tlog from the entries has the
// checkpoint's root, and the checkpoint is signed by k.
func checkLog(t *testing.T, l *Log, k testKey) {
	t.Helper()
	cp, size, root := l.Checkpoint()
	checkCheckpoint(t, k, cp, size, root)
	ref := &tlogStore{}
	for i := range size {
		b, err := l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.ParseEntry(b); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		leaf, err := l.LeafHashAt(i)
		if err != nil || leaf != transparency.LeafHash(b) {
			t.Fatalf("leaf hash %d: %v", i, err)
		}
		ref.add(t, int64(i), b)
	}
	want := tlog.Hash(transparency.EmptyRoot())
	if size > 0 {
		var err error
		if want, err = tlog.TreeHash(int64(size), ref); err != nil {
			t.Fatal(err)
		}
	}
	if tlog.Hash(root) != want {
		t.Fatalf("checkpoint root %s, the entries give %v", root, want)
	}
}

func TestReopen(t *testing.T) {
	k := newKey(t, testOrigin)
	fs := vfs.NewMem()
	db, err := store.Open("db", store.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), Config{DB: db, Signer: k.signer, Origin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 0, 700, 8)
	if _, err := l.Append(context.Background(), testEntry(700), func(tx *store.Tx) error {
		tx.Set([]byte("s/test/state"), []byte("kept"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cp, size, root := l.Checkpoint()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, fs, "db")
	l = openLog(t, db, k, Config{})
	cp2, size2, root2 := l.Checkpoint()
	if !bytes.Equal(cp, cp2) || size != size2 || root != root2 {
		t.Fatalf("reopened at %d %s, want %d %s", size2, root2, size, root)
	}
	if v, err := db.Get([]byte("s/test/state")); err != nil || string(v) != "kept" {
		t.Fatalf("applied state after reopen: %q, %v", v, err)
	}
	checkLog(t, l, k)
	a, err := l.Append(context.Background(), testEntry(701), nil)
	if err != nil || a.Index != size {
		t.Fatalf("append after reopen: %+v, %v; want index %d", a, err, size)
	}
	if _, err := l.ConsistencyProof(size, size+1); err != nil {
		t.Fatal(err)
	}
	checkLog(t, l, k)
}

// TestCrashRecovery crashes the file system (only synced data survives,
// plus a random part of the unsynced data) while writers append, then
// reopens the log on what the crash left: every entry acknowledged before
// the crash must be there, every checkpoint handed out must match the
// recovered tree, and the log must be consistent and writable.
func TestCrashRecovery(t *testing.T) {
	k := newKey(t, testOrigin)
	rng := rand.New(rand.NewPCG(1, 1))
	rounds := 6
	if *long {
		rounds = 200
	}
	for round := range rounds {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			db, err := store.Open("db", store.Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			l, err := Open(context.Background(), Config{DB: db, Signer: k.signer, Origin: testOrigin})
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu    sync.Mutex
				acked = map[uint64]Appended{}
				subj  = map[uint64]int{}
			)
			threshold := 50 + rng.IntN(400)
			reached := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			const writers = 16
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; ; i += writers {
						a, err := l.Append(context.Background(), testEntry(i), nil)
						if err != nil {
							if !errors.Is(err, ErrClosed) {
								t.Errorf("append: %v", err)
							}
							return
						}
						mu.Lock()
						acked[a.Index], subj[a.Index] = a, i
						n := len(acked)
						mu.Unlock()
						if n >= threshold {
							once.Do(func() { close(reached) })
						}
					}
				}()
			}
			<-reached
			mu.Lock()
			before := make(map[uint64]Appended, len(acked))
			for i, a := range acked {
				before[i] = a
			}
			mu.Unlock()
			cfg := vfs.CrashCloneCfg{}
			if round%2 == 1 {
				cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}
			}
			crashed := fs.CrashClone(cfg)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			_ = db.Close()

			db2 := openDB(t, crashed, "db")
			l2 := openLog(t, db2, k, Config{})
			size := l2.Size()
			t.Logf("acknowledged %d before the crash, recovered %d", len(before), size)
			for i, a := range before {
				if i >= size {
					t.Fatalf("acknowledged entry %d lost (recovered size %d)", i, size)
				}
				b, err := l2.Entry(i)
				if err != nil || !bytes.Equal(b, mustMarshal(t, testEntry(subj[i]))) {
					t.Fatalf("acknowledged entry %d: %q, %v", i, b, err)
				}
				root, err := l2.RootAt(a.Size)
				if err != nil {
					t.Fatal(err)
				}
				checkCheckpoint(t, k, a.Checkpoint, a.Size, root)
			}
			checkLog(t, l2, k)
			a, err := l2.Append(context.Background(), testEntry(-1), nil)
			if err != nil || a.Index != size {
				t.Fatalf("append after recovery: %+v, %v", a, err)
			}
		})
	}
}

var long = flag.Bool("long", false, "run the long soak tests (many crash rounds)")

// walInjector fails the operations of the given kinds on pebble's WAL files
// once it is switched on.
func walInjector(kinds ...errorfs.OpKind) *errorfs.Toggle {
	return &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !strings.HasSuffix(op.Path, ".log") {
			return nil
		}
		for _, k := range kinds {
			if op.Kind == k {
				return errorfs.ErrInjected
			}
		}
		return nil
	})}
}

// TestStorageErrorFailsLog injects a WAL write or sync error: the batch
// must not be acknowledged, the log must go to ErrFailed for that batch and
// every later append, keep serving its committed state, and reopen
// consistent once the disk works again.
func TestStorageErrorFailsLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kinds []errorfs.OpKind
	}{
		{"write", []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}},
		{"sync", []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKey(t, testOrigin)
			mem := vfs.NewMem()
			inj := walInjector(tc.kinds...)
			db, err := store.Open("db", store.Options{FS: errorfs.Wrap(mem, inj)})
			if err != nil {
				t.Fatal(err)
			}
			l, err := Open(context.Background(), Config{DB: db, Signer: k.signer, Origin: testOrigin})
			if err != nil {
				t.Fatal(err)
			}
			fill(t, l, 0, 100, 4)
			cp, size, _ := l.Checkpoint()

			inj.On()
			_, err = l.Append(context.Background(), testEntry(100), nil)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("append during a %s error: %v, want ErrFailed", tc.name, err)
			}
			if !errors.Is(l.Err(), ErrFailed) {
				t.Fatalf("Err() = %v, want ErrFailed", l.Err())
			}
			inj.Off() // the log stays failed even when the disk is back
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := l.Append(context.Background(), testEntry(200+i), nil); !errors.Is(err, ErrFailed) {
						t.Errorf("append after failure: %v, want ErrFailed", err)
					}
				}()
			}
			wg.Wait()
			cp2, size2, _ := l.Checkpoint()
			if size2 != size || !bytes.Equal(cp, cp2) {
				t.Fatalf("the failed batch was published: size %d -> %d", size, size2)
			}
			if _, err := l.InclusionProof(5, size); err != nil {
				t.Fatalf("reads after failure: %v", err)
			}
			if err := l.Close(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close = %v, want ErrFailed", err)
			}
			_ = db.Close() // may fail: pebble saw the error too

			l2 := openLog(t, openDB(t, mem, "db"), k, Config{})
			// The failed batch was never acknowledged; whether it is in
			// the log now depends on what reached the disk (here: all of
			// it after a failed sync, none of it after a failed write).
			if l2.Size() != size && l2.Size() != size+1 {
				t.Fatalf("reopened size %d, want %d or %d", l2.Size(), size, size+1)
			}
			t.Logf("acknowledged %d, reopened with %d", size, l2.Size())
			checkLog(t, l2, k)
			if _, err := l2.Append(context.Background(), testEntry(300), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenRefusesBadState(t *testing.T) {
	k := newKey(t, testOrigin)
	otherKey := newKey(t, testOrigin)
	otherOrigin := newKey(t, "example.com/other-log")
	for _, tc := range []struct {
		name    string
		key     testKey
		corrupt func(t *testing.T, db *store.DB)
		want    string
	}{
		{"another key with the same origin", otherKey, nil, "no signature by the configured key"},
		{"another origin", otherOrigin, nil, "origin"},
		{"corrupt frontier hash", k, func(t *testing.T, db *store.DB) {
			b := db.NewBatch()
			b.Set(hashKey(nil, 9, 0), make([]byte, 32))
			mustCommit(t, b)
		}, "corrupt"},
		{"missing frontier hash", k, func(t *testing.T, db *store.DB) {
			b := db.NewBatch()
			b.Delete(hashKey(nil, 9, 0))
			mustCommit(t, b)
		}, "rebuild frontier"},
		{"checkpoint with another root", k, func(t *testing.T, db *store.DB) {
			cp, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: testOrigin, Size: 600, Root: transparency.Hash{9}}, k.signer)
			if err != nil {
				t.Fatal(err)
			}
			b := db.NewBatch()
			b.Set(cpKey, cp)
			mustCommit(t, b)
		}, "corrupt"},
		{"checkpoint beyond the stored tree", k, func(t *testing.T, db *store.DB) {
			cp, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: testOrigin, Size: 1000, Root: transparency.Hash{9}}, k.signer)
			if err != nil {
				t.Fatal(err)
			}
			b := db.NewBatch()
			b.Set(cpKey, cp)
			mustCommit(t, b)
		}, "rebuild frontier"},
		{"garbage checkpoint", k, func(t *testing.T, db *store.DB) {
			b := db.NewBatch()
			b.Set(cpKey, []byte("garbage"))
			mustCommit(t, b)
		}, "bad stored checkpoint"},
		{"missing cached hash", k, func(t *testing.T, db *store.DB) {
			// Not on the frontier of 600 = 512+64+16+8, but cached.
			b := db.NewBatch()
			b.Delete(hashKey(nil, 8, 1))
			mustCommit(t, b)
		}, "load tree level 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := memDB(t)
			l := openLog(t, db, k, Config{})
			fill(t, l, 0, 600, 8)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.corrupt != nil {
				tc.corrupt(t, db)
			}
			l2, err := Open(context.Background(), Config{DB: db, Signer: tc.key.signer, Origin: tc.key.signer.Name()})
			if err == nil {
				l2.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v; want an error about %q", err, tc.want)
			}
		})
	}
}

func mustCommit(t *testing.T, b *store.Batch) {
	t.Helper()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRemovesKeysBeyondSize plants entries, hashes and leaf-index keys
// beyond the checkpoint (which a crash cannot leave, but a bug or a hand
// could): Open deletes them and the log goes on from the checkpoint.
func TestOpenRemovesKeysBeyondSize(t *testing.T) {
	k := newKey(t, testOrigin)
	db := memDB(t)
	l := openLog(t, db, k, Config{})
	fill(t, l, 0, 300, 4)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stray := mustMarshal(t, testEntry(-7))
	strayLeaf := transparency.LeafHash(stray)
	planted := [][]byte{
		entryKey(nil, 300), leafKey(nil, strayLeaf, 300),
		entryKey(nil, 1000),
		hashKey(nil, 0, 300), hashKey(nil, 1, 150), hashKey(nil, 8, 1), hashKey(nil, 20, 0),
	}
	b := db.NewBatch()
	for _, key := range planted {
		v := stray
		if key[2] == 'h' {
			v = make([]byte, 32)
		} else if key[2] == 'l' {
			v = nil
		}
		b.Set(key, v)
	}
	mustCommit(t, b)

	l2 := openLog(t, db, k, Config{})
	if l2.Size() != 300 {
		t.Fatalf("size %d, want 300", l2.Size())
	}
	for _, key := range planted {
		if _, err := db.Get(key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("planted key %q still there: %v", key, err)
		}
	}
	a, err := l2.Append(context.Background(), testEntry(300), nil)
	if err != nil || a.Index != 300 {
		t.Fatalf("append: %+v, %v", a, err)
	}
	if _, err := l2.IndexOf(strayLeaf); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IndexOf(stray) = %v, want ErrNotFound", err)
	}
	checkLog(t, l2, k)
}

// TestRecentWindow shrinks the in-memory window of recent tree hashes so
// that proofs cross from memory to the database, before and after a
// reopen (which reloads the window), and checks every proof against
// sumdb/tlog.
func TestRecentWindow(t *testing.T) {
	saved := recentLeaves
	recentLeaves = 64
	t.Cleanup(func() { recentLeaves = saved })

	k := newKey(t, testOrigin)
	db := memDB(t)
	ref := &tlogStore{}
	var refN uint64 // entries in ref
	check := func(l *Log) {
		t.Helper()
		size := l.Size()
		for ; refN < size; refN++ {
			b, err := l.Entry(refN)
			if err != nil {
				t.Fatal(err)
			}
			ref.add(t, int64(refN), b)
		}
		root, err := l.RootAt(size)
		if err != nil {
			t.Fatal(err)
		}
		for i := range size {
			p, err := l.InclusionProof(i, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			want, err := tlog.ProveRecord(int64(size), int64(i), ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != len(want) {
				t.Fatalf("InclusionProof(%d, %d): %d hashes, want %d", i, size, len(p), len(want))
			}
			for j := range p {
				if tlog.Hash(p[j]) != want[j] {
					t.Fatalf("InclusionProof(%d, %d) differs from tlog", i, size)
				}
			}
			leaf, err := l.LeafHashAt(i)
			if err != nil || transparency.VerifyInclusion(i, size, leaf, p, root) != nil {
				t.Fatalf("leaf %d: %v", i, err)
			}
		}
		// Roots and consistency proofs of every older size read the
		// uncached levels from stored leaves too.
		for s1 := uint64(1); s1 <= size; s1++ {
			r1, err := l.RootAt(s1)
			if err != nil {
				t.Fatalf("RootAt(%d): %v", s1, err)
			}
			want, err := tlog.TreeHash(int64(s1), ref)
			if err != nil {
				t.Fatal(err)
			}
			if tlog.Hash(r1) != want {
				t.Fatalf("RootAt(%d) differs from tlog.TreeHash", s1)
			}
			if s1%7 != 1 && s1 != size {
				continue
			}
			p, err := l.ConsistencyProof(s1, size)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", s1, size, err)
			}
			wantP, err := tlog.ProveTree(int64(size), int64(s1), ref)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(toTlog(p), wantP) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from tlog.ProveTree", s1, size)
			}
		}
		l.cacheMu.RLock()
		defer l.cacheMu.RUnlock()
		for level, r := range l.recent {
			if w := recentLeaves >> level; len(r.hashes) > 2*w || r.base+uint64(len(r.hashes)) != size>>level {
				t.Fatalf("recent level %d: %d hashes from %d, window %d, size %d", level, len(r.hashes), r.base, w, size)
			}
		}
	}
	l := openLog(t, db, k, Config{MaxBatchSize: 7})
	fill(t, l, 0, 600, 8)
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, db, k, Config{MaxBatchSize: 7})
	check(l)
	fill(t, l, 600, 301, 8)
	check(l)
}

// TestTamperedStoredLeaf changes or removes stored leaf hashes outside the
// in-memory window: the proofs that read them must fail (the log verifies
// every proof before returning it), never come back wrong, and proofs that
// do not touch them must still verify.
func TestTamperedStoredLeaf(t *testing.T) {
	saved := recentLeaves
	recentLeaves = 16
	t.Cleanup(func() { recentLeaves = saved })

	const n, victim = 200, 37
	tests := []struct {
		name   string
		tamper func(b *store.Batch)
	}{
		{"flipped bit", func(b *store.Batch) {
			h := make([]byte, transparency.HashSize)
			h[0] = 1
			b.Set(hashKey(nil, 0, victim), h)
		}},
		{"short value", func(b *store.Batch) { b.Set(hashKey(nil, 0, victim), []byte("short")) }},
		{"missing", func(b *store.Batch) { b.Delete(hashKey(nil, 0, victim)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKey(t, testOrigin)
			db := memDB(t)
			l := openLog(t, db, k, Config{})
			fill(t, l, 0, n, 4)
			_, size, root := l.Checkpoint()
			b := db.NewBatch()
			tc.tamper(b)
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			for i := range uint64(n) {
				// Below level 4 (the levels not in memory) the proof of
				// every leaf of the victim's run of 16 covers the victim.
				p, err := l.InclusionProof(i, size)
				if i/16 == victim/16 {
					if err == nil {
						t.Fatalf("InclusionProof(%d) read a tampered leaf and did not fail", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("InclusionProof(%d): %v", i, err)
				}
				e, err := l.Entry(i)
				if err != nil {
					t.Fatal(err)
				}
				if err := transparency.VerifyInclusion(i, size, transparency.LeafHash(e), p, root); err != nil {
					t.Fatalf("InclusionProof(%d) does not verify: %v", i, err)
				}
			}
			if _, err := l.ConsistencyProof(victim+1, size); err == nil {
				t.Fatalf("ConsistencyProof(%d, %d) read a tampered leaf and did not fail", victim+1, size)
			}
		})
	}
}
