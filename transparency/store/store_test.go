package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func openMem(t *testing.T, fs vfs.FS) *DB {
	t.Helper()
	db, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func commit(t *testing.T, db *DB, kv ...string) {
	t.Helper()
	b := db.NewBatch()
	for i := 0; i < len(kv); i += 2 {
		b.Set([]byte(kv[i]), []byte(kv[i+1]))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func wantValue(t *testing.T, get func([]byte) ([]byte, error), key, want string) {
	t.Helper()
	v, err := get([]byte(key))
	if want == "" {
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
		}
		return
	}
	if err != nil || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, v, err, want)
	}
}

func TestGetCommitAndReopen(t *testing.T) {
	fs := vfs.NewMem()
	db := openMem(t, fs)
	wantValue(t, db.Get, "d/a", "")
	commit(t, db, "d/a", "1", "d/b", "2")
	wantValue(t, db.Get, "d/a", "1")
	// Get returns a copy that the caller may keep and modify.
	v, _ := db.Get([]byte("d/a"))
	v[0] = 'X'
	wantValue(t, db.Get, "d/a", "1")

	b := db.NewBatch()
	b.Delete([]byte("d/a"))
	b.Discard()
	wantValue(t, db.Get, "d/a", "1") // a discarded batch writes nothing

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openMem(t, fs)
	defer db.Close()
	wantValue(t, db.Get, "d/a", "1")
	wantValue(t, db.Get, "d/b", "2")
}

func TestScan(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	for i := 0; i < 10; i++ {
		commit(t, db, fmt.Sprintf("d/%02d", i), fmt.Sprint(i))
	}
	commit(t, db, "v/x", "outside")
	var got []string
	err := db.Scan([]byte("d/03"), []byte("d/07"), func(k, v []byte) (bool, error) {
		got = append(got, string(k)+"="+string(v))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "d/03=3 d/04=4 d/05=5 d/06=6"; fmt.Sprint(got) != "["+want+"]" {
		t.Fatalf("Scan = %v, want [%s]", got, want)
	}
	// Stopping early and failing.
	n := 0
	_ = db.Scan([]byte("d/"), []byte("d0"), func(k, v []byte) (bool, error) { n++; return n < 2, nil })
	if n != 2 {
		t.Fatalf("Scan did not stop when asked: %d calls", n)
	}
	boom := errors.New("boom")
	if err := db.Scan([]byte("d/"), []byte("d0"), func(k, v []byte) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Fatalf("Scan error = %v, want boom", err)
	}
}

// TestTxLayers checks the read order of a Tx: its own writes, then the
// batch's earlier writes, then the committed database; and that Apply moves
// the writes into both the batch and pending, committing atomically.
func TestTxLayers(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	commit(t, db, "d/committed", "c", "d/shadowed", "old", "d/deleted-by-batch", "x")

	pending := map[string][]byte{}
	batch := db.NewBatch()

	first := NewTx(db, pending, 0)
	first.Set([]byte("d/shadowed"), []byte("batch"))
	first.Delete([]byte("d/deleted-by-batch"))
	first.Set([]byte("d/new"), []byte("n1"))
	if err := first.Apply(batch, pending); err != nil {
		t.Fatal(err)
	}

	second := NewTx(db, pending, 0)
	wantValue(t, second.Get, "d/committed", "c")
	wantValue(t, second.Get, "d/shadowed", "batch")
	wantValue(t, second.Get, "d/deleted-by-batch", "")
	wantValue(t, second.Get, "d/new", "n1")
	second.Set([]byte("d/new"), []byte("n2"))
	wantValue(t, second.Get, "d/new", "n2")
	second.Delete([]byte("d/committed"))
	wantValue(t, second.Get, "d/committed", "")
	second.Set([]byte("d/empty"), nil)
	if v, err := second.Get([]byte("d/empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("a key set to nil must read back as present and empty, got %q, %v", v, err)
	}
	if err := second.Apply(batch, pending); err != nil {
		t.Fatal(err)
	}

	// Nothing is visible in the database before the batch commits.
	wantValue(t, db.Get, "d/shadowed", "old")
	wantValue(t, db.Get, "d/new", "")
	if err := batch.Commit(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, db.Get, "d/shadowed", "batch")
	wantValue(t, db.Get, "d/new", "n2")
	wantValue(t, db.Get, "d/committed", "")
	wantValue(t, db.Get, "d/deleted-by-batch", "")
	if v, err := db.Get([]byte("d/empty")); err != nil || len(v) != 0 {
		t.Fatalf("d/empty = %q, %v", v, err)
	}
}

// TestTxReservedPrefix checks that a Tx cannot write the log's keys and
// that a refused Tx writes nothing, not even its other keys.
func TestTxReservedPrefix(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	for _, key := range []string{"t/cp", "t/e/\x00", "t/"} {
		pending := map[string][]byte{}
		batch := db.NewBatch()
		tx := NewTx(db, pending, 0)
		tx.Set([]byte("d/ok"), []byte("1"))
		tx.Set([]byte(key), []byte("forged"))
		if err := tx.Apply(batch, pending); !errors.Is(err, ErrReservedKey) {
			t.Fatalf("Apply with %q = %v, want ErrReservedKey", key, err)
		}
		if len(pending) != 0 {
			t.Fatalf("a refused Tx left pending writes: %v", pending)
		}
		if err := batch.Commit(); err != nil {
			t.Fatal(err)
		}
		wantValue(t, db.Get, "d/ok", "")
		wantValue(t, db.Get, key, "")
	}
	// A delete of a log key is refused too.
	tx := NewTx(db, nil, 0)
	tx.Delete([]byte("t/cp"))
	if err := tx.Apply(db.NewBatch(), map[string][]byte{}); !errors.Is(err, ErrReservedKey) {
		t.Fatalf("Apply deleting t/cp = %v, want ErrReservedKey", err)
	}
}

func TestLast(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	if k, err := db.Last([]byte("d/"), []byte("d0")); err != nil || k != nil {
		t.Fatalf("empty: %q, %v", k, err)
	}
	for _, k := range []string{"c/99", "d/03", "d/01", "d/07", "e/00"} {
		commit(t, db, k, "v")
	}
	for _, tc := range []struct{ start, end, want string }{
		{"d/", "d0", "d/07"},
		{"d/", "d/07", "d/03"}, // end is exclusive
		{"d/04", "d/07", ""},
		{"a", "z", "e/00"},
	} {
		k, err := db.Last([]byte(tc.start), []byte(tc.end))
		if err != nil || string(k) != tc.want {
			t.Errorf("Last(%q, %q) = %q, %v; want %q", tc.start, tc.end, k, err, tc.want)
		}
	}
}
