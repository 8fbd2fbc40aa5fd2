package sequencer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func FuzzParseStoredCheckpoint(f *testing.F) {
	k := newKey(f, testOrigin)
	other := newKey(f, testOrigin)
	for _, c := range []transparency.Checkpoint{
		{Origin: testOrigin, Size: 0, Root: transparency.EmptyRoot()},
		{Origin: testOrigin, Size: 12345, Root: transparency.Hash{1, 2, 3}},
		{Origin: testOrigin, Size: 7, Root: transparency.Hash{4}, Extensions: []string{"ext line"}},
	} {
		signed, err := transparency.SignCheckpoint(c, k.signer)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
		// A second, foreign signature before ours.
		foreign, err := transparency.SignCheckpoint(c, other.signer)
		if err != nil {
			f.Fatal(err)
		}
		i := bytes.Index(foreign, []byte("\n\n"))
		f.Add(append(append([]byte(nil), foreign...), signed[i+2:]...))
		f.Add(foreign)
	}
	f.Add([]byte("example.com/clawnet/test-log\n1\nAAAA\n\n— x y\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseStoredCheckpoint(b, testOrigin, k.signer.KeyHash())
		if err != nil {
			if !errors.Is(err, errBadStoredCheckpoint) {
				t.Fatalf("error %v is not errBadStoredCheckpoint", err)
			}
			return
		}
		if c.Origin != testOrigin {
			t.Fatalf("origin %q accepted", c.Origin)
		}
		// The body parsed is exactly the text before the signatures.
		if !bytes.HasPrefix(b, []byte(c.Text()+"\n")) {
			t.Fatalf("parsed body %q is not the start of %q", c.Text(), b)
		}
		if !strings.Contains(string(b[len(c.Text()):]), "— "+testOrigin+" ") {
			t.Fatal("accepted without a signature line by the origin's key")
		}
	})
}

// fuzzLog is a log of 700 entries and its tlog reference, shared by the
// fuzz targets.
var fuzzLog = sync.OnceValues(func() (*Log, *tlogStore) {
	skey, _, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		panic(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	db, err := store.Open("fuzz", store.Options{FS: vfs.NewMem(), CacheSize: 8 << 20})
	if err != nil {
		panic(err)
	}
	l, err := Open(context.Background(), Config{DB: db, Signer: signer, Origin: testOrigin})
	if err != nil {
		panic(err)
	}
	ref := &tlogStore{}
	for i := range 700 {
		e := testEntry(i)
		if _, err := l.Append(context.Background(), e, nil); err != nil {
			panic(err)
		}
		b, _ := e.Marshal()
		hs, err := tlog.StoredHashes(int64(i), b, ref)
		if err != nil {
			panic(err)
		}
		ref.hashes = append(ref.hashes, hs...)
	}
	return l, ref
})

// FuzzReadTile asks for arbitrary tiles: each one is either served with
// exactly the data sumdb/tlog computes for it, or refused with ErrNotFound
// (beyond the tree) or ErrInvalid (not a tile).
func FuzzReadTile(f *testing.F) {
	for _, s := range []struct {
		entries bool
		level   int
		n       uint64
		width   int
	}{
		{false, 0, 0, 256}, {false, 0, 2, 188}, {false, 0, 2, 189}, {false, 1, 0, 2}, {false, 1, 0, 3},
		{true, 0, 1, 256}, {true, 0, 2, 188}, {true, 0, 2, 200}, {false, 7, 0, 1}, {false, 8, 0, 1},
		{false, 0, 1 << 63, 1}, {true, 0, 0, 0}, {false, -1, 0, 1},
	} {
		f.Add(s.entries, s.level, s.n, s.width)
	}
	f.Fuzz(func(t *testing.T, entries bool, level int, n uint64, width int) {
		l, ref := fuzzLog()
		id := transparency.TileID{Entries: entries, Level: level, N: n, Width: width}
		got, err := l.ReadTile(id)
		valid := width >= 1 && width <= 256 && (entries || (level >= 0 && level <= 7))
		if !valid {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ReadTile(%+v) = %v, want ErrInvalid", id, err)
			}
			return
		}
		size := l.Size()
		avail := size
		if !entries {
			avail = size >> (8 * uint(level))
		}
		exists := n < 1<<56 && n*256+uint64(width) <= avail
		if !exists {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadTile(%+v) = %v, want ErrNotFound", id, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ReadTile(%+v): %v", id, err)
		}
		var want []byte
		if entries {
			for i := n * 256; i < n*256+uint64(width); i++ {
				b, _ := testEntry(int(i)).Marshal()
				want = transparency.AppendBundleEntry(want, b)
			}
		} else {
			want, err = tlog.ReadTileData(tlog.Tile{H: 8, L: level, N: int64(n), W: width}, ref)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("ReadTile(%+v) differs from the reference", id)
		}
	})
}

// FuzzProofs asks for arbitrary proofs: each is either refused with
// ErrInvalid, exactly when its arguments are out of range, or equal to
// sumdb/tlog's and verifying.
func FuzzProofs(f *testing.F) {
	for _, s := range [][3]uint64{{0, 1, 700}, {5, 256, 700}, {699, 699, 700}, {700, 700, 700}, {3, 9, 4}, {1 << 63, 1, 1 << 63}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, index, size1, size2 uint64) {
		l, ref := fuzzLog()
		size := l.Size()
		p, err := l.InclusionProof(index, size2)
		if index >= size2 || size2 > size {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("InclusionProof(%d, %d) = %v, want ErrInvalid", index, size2, err)
			}
		} else {
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", index, size2, err)
			}
			want, err := tlog.ProveRecord(int64(size2), int64(index), ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != len(want) {
				t.Fatalf("InclusionProof(%d, %d) has %d hashes, want %d", index, size2, len(p), len(want))
			}
			for i := range p {
				if tlog.Hash(p[i]) != want[i] {
					t.Fatalf("InclusionProof(%d, %d) differs from tlog at %d", index, size2, i)
				}
			}
		}
		c, err := l.ConsistencyProof(size1, size2)
		if size1 > size2 || size2 > size {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ConsistencyProof(%d, %d) = %v, want ErrInvalid", size1, size2, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
		}
		if size1 > 0 {
			want, err := tlog.ProveTree(int64(size2), int64(size1), ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != len(want) {
				t.Fatalf("ConsistencyProof(%d, %d) has %d hashes, want %d", size1, size2, len(c), len(want))
			}
			for i := range c {
				if tlog.Hash(c[i]) != want[i] {
					t.Fatalf("ConsistencyProof(%d, %d) differs from tlog at %d", size1, size2, i)
				}
			}
		} else if len(c) != 0 {
			t.Fatalf("ConsistencyProof(0, %d) is not empty", size2)
		}
	})
}
