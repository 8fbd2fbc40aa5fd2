package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// commitKeys writes keys (empty values) in one batch.
func commitKeys(t *testing.T, db *DB, keys ...string) {
	t.Helper()
	b := db.NewBatch()
	for _, k := range keys {
		b.Set([]byte(k), nil)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestFilterAnswersAfterLoadWithoutFalseNegatives(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	var stored []string
	for i := range 1000 {
		stored = append(stored, fmt.Sprintf("s/action/did:key:z%d/id-%d", i%7, i))
	}
	commitKeys(t, db, stored...)
	commitKeys(t, db, "s/actiom/x", "s/actioo/y", "s/events/z") // neighbours of the prefix

	f := NewFilter([]byte("s/action/"))
	// Until it is loaded it says "maybe" to everything.
	if f.Loaded() || !f.MayContain([]byte("s/action/never")) {
		t.Fatal("an unloaded filter must answer maybe")
	}
	if err := f.Load(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	if !f.Loaded() {
		t.Fatal("not loaded after Load")
	}
	for _, k := range stored {
		if !f.MayContain([]byte(k)) {
			t.Fatalf("stored key %q: no", k)
		}
	}
	// Absent keys under the prefix are nearly all ruled out.
	maybe := 0
	const absent = 20_000
	for i := range absent {
		if f.MayContain(fmt.Appendf(nil, "s/action/did:key:z%d/other-%d", i%7, i)) {
			maybe++
		}
	}
	if maybe > absent/50 {
		t.Errorf("%d of %d absent keys answered maybe; want ≤ 2 %%", maybe, absent)
	}
	// Keys outside the prefix are not its business: always maybe.
	for _, k := range []string{"s/actiom/x", "s/events/z", "s/action", ""} {
		if !f.MayContain([]byte(k)) {
			t.Errorf("key %q outside the prefix: no", k)
		}
	}
	// A key added after the load (a new decision) is a maybe at once:
	// one the filter ruled out before.
	var k []byte
	for i := 0; k == nil; i++ {
		if c := fmt.Appendf(nil, "s/action/did:key:z1/new-%d", i); !f.MayContain(c) {
			k = c
		}
	}
	f.Add(k)
	if !f.MayContain(k) {
		t.Error("added key: no")
	}
}

// TestFilterGrowsWithoutFalseNegatives adds more keys than the first layer
// takes: every one stays a maybe, and absent keys stay mostly ruled out.
func TestFilterGrowsWithoutFalseNegatives(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	f := NewFilter([]byte("p/"))
	if err := f.Load(t.Context(), db); err != nil { // an empty database
		t.Fatal(err)
	}
	n := 3*filterFirstBlocks*256/filterBitsPerKey + 17 // into the third layer
	key := func(i int) []byte { return fmt.Appendf(nil, "p/%08d", i) }
	for i := range n {
		f.Add(key(i))
	}
	if len(f.layers) != 3 {
		t.Errorf("%d layers for %d keys; want 3", len(f.layers), n)
	}
	for i := range n {
		if !f.MayContain(key(i)) {
			t.Fatalf("key %d of %d: no", i, n)
		}
	}
	maybe := 0
	for i := n; i < 2*n; i++ {
		if f.MayContain(key(i)) {
			maybe++
		}
	}
	if maybe > n/50 {
		t.Errorf("%d of %d absent keys answered maybe; want ≤ 2 %%", maybe, n)
	}
}

// TestFilterLoadWhileWriting: keys written and added while Load runs are
// all maybes afterwards, whether Load read them or the writer added them.
func TestFilterLoadWhileWriting(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	for i := range 50 {
		b := db.NewBatch()
		for j := range 200 {
			b.Set(fmt.Appendf(nil, "a/old-%d-%d", i, j), nil)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	f := NewFilter([]byte("a/"))
	var wg sync.WaitGroup
	var written [][]byte
	wg.Go(func() {
		// The writer's order: add, then write (as an Apply adds the key it
		// sets before the batch commits).
		for i := range 5000 {
			k := fmt.Appendf(nil, "a/new-%d", i)
			f.Add(k)
			b := db.NewBatch()
			b.Set(k, nil)
			if err := b.Commit(); err != nil {
				t.Error(err)
				return
			}
			written = append(written, k)
		}
	})
	if err := f.Load(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := db.Scan([]byte("a/"), []byte("b"), func(k, _ []byte) (bool, error) {
		if !f.MayContain(k) {
			return false, fmt.Errorf("stored key %q: no", k)
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(written) != 5000 {
		t.Fatalf("wrote %d keys", len(written))
	}
}

// TestFilterLoadCanceled: a load stopped by its context leaves the filter
// answering maybe to everything (the caller reads the store, as without
// a filter).
func TestFilterLoadCanceled(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	var keys []string
	for i := range 5000 {
		keys = append(keys, fmt.Sprintf("k/%d", i))
	}
	commitKeys(t, db, keys...)
	f := NewFilter([]byte("k/"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.Load(ctx, db); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a canceled context: %v", err)
	}
	if f.Loaded() || !f.MayContain([]byte("k/absent")) {
		t.Error("a canceled load must leave the filter answering maybe")
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ p, want []byte }{
		{[]byte("s/action/"), []byte("s/action0")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("\xff\xff"), nil},
		{nil, nil},
	} {
		if got := PrefixEnd(tc.p); !bytes.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
