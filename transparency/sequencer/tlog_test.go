package sequencer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/tlog"
)

// tlogStore is an independent Merkle tree: the stored hashes of
// golang.org/x/mod/sumdb/tlog, computed from the log's entry bytes.
type tlogStore struct{ hashes []tlog.Hash }

func (s *tlogStore) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(s.hashes)) {
			return nil, fmt.Errorf("tlog hash %d not stored", x)
		}
		out[i] = s.hashes[x]
	}
	return out, nil
}

func (s *tlogStore) add(t testing.TB, n int64, data []byte) {
	t.Helper()
	hs, err := tlog.StoredHashes(n, data, s)
	if err != nil {
		t.Fatal(err)
	}
	s.hashes = append(s.hashes, hs...)
}

// crossLog is a log of crossSize entries and the same tree built by tlog,
// shared by the cross-check tests (building it is the slow part).
type crossLog struct {
	log *Log
	key testKey
	ref *tlogStore
}

var (
	crossOnce sync.Once
	cross     crossLog
)

// crossSize is the size of the shared cross-check log: 65537 (two full
// levels of tiles and one more leaf), smaller under the race detector.
var crossSize uint64 = 65537

func init() {
	if raceEnabled {
		crossSize = 16385
	}
}

// getCrossLog builds the shared log once. It lives until the test binary
// exits, on an in-memory file system.
func getCrossLog(t *testing.T) crossLog {
	t.Helper()
	crossOnce.Do(func() {
		k := newKey(t, testOrigin)
		db, err := store.Open("cross", store.Options{FS: vfs.NewMem(), CacheSize: 32 << 20})
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(context.Background(), Config{DB: db, Signer: k.signer, Origin: testOrigin})
		if err != nil {
			t.Fatal(err)
		}
		fill(t, l, 0, int(crossSize), 64)
		ref := &tlogStore{}
		for i := range uint64(crossSize) {
			b, err := l.Entry(i)
			if err != nil {
				t.Fatal(err)
			}
			ref.add(t, int64(i), b)
		}
		cross = crossLog{log: l, key: k, ref: ref}
	})
	if cross.log == nil {
		t.Fatal("building the shared cross-check log failed (see the first test)")
	}
	return cross
}

// crossSizes are the tree sizes checked against tlog: every size up to 300,
// then powers of two and their neighbours, and a few others.
func crossSizes() []uint64 {
	var out []uint64
	for s := uint64(1); s <= 300; s++ {
		out = append(out, s)
	}
	for p := uint64(512); p <= crossSize; p *= 2 {
		out = append(out, p-1, p, p+1)
	}
	for _, s := range []uint64{1000, 4097, 12345, 40000, crossSize} {
		if s <= crossSize {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func toTlog(hs []transparency.Hash) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		out[i] = tlog.Hash(h)
	}
	return out
}

func TestCrossCheckRoots(t *testing.T) {
	c := getCrossLog(t)
	if got := c.log.Size(); got != crossSize {
		t.Fatalf("size %d, want %d", got, crossSize)
	}
	for _, size := range crossSizes() {
		want, err := tlog.TreeHash(int64(size), c.ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.log.RootAt(size)
		if err != nil {
			t.Fatalf("RootAt(%d): %v", size, err)
		}
		if tlog.Hash(got) != want {
			t.Fatalf("RootAt(%d) = %s, tlog says %s", size, got, want)
		}
	}
	_, size, root := c.log.Checkpoint()
	if want, _ := tlog.TreeHash(int64(size), c.ref); tlog.Hash(root) != want {
		t.Fatalf("checkpoint root %s, tlog says %s", root, want)
	}
}

// proofIndexes are the leaf indexes checked in a tree of the given size: all
// of them in small trees, the edges and a random sample in larger ones.
func proofIndexes(size uint64, rng *rand.Rand) []uint64 {
	if size <= 64 {
		out := make([]uint64, size)
		for i := range out {
			out[i] = uint64(i)
		}
		return out
	}
	out := []uint64{0, 1, size / 2, size - 2, size - 1}
	for range 6 {
		out = append(out, rng.Uint64N(size))
	}
	return out
}

func TestCrossCheckInclusionProofs(t *testing.T) {
	c := getCrossLog(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range crossSizes() {
		root, err := c.log.RootAt(size)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range proofIndexes(size, rng) {
			got, err := c.log.InclusionProof(i, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			want, err := tlog.ProveRecord(int64(size), int64(i), c.ref)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(toTlog(got), want) {
				t.Fatalf("InclusionProof(%d, %d) differs from tlog.ProveRecord:\n got %v\nwant %v", i, size, got, want)
			}
			leaf, err := c.log.LeafHashAt(i)
			if err != nil {
				t.Fatal(err)
			}
			if err := transparency.VerifyInclusion(i, size, leaf, got, root); err != nil {
				t.Fatalf("InclusionProof(%d, %d) does not verify: %v", i, size, err)
			}
		}
	}
}

func TestCrossCheckConsistencyProofs(t *testing.T) {
	c := getCrossLog(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size2 := range crossSizes() {
		root2, err := c.log.RootAt(size2)
		if err != nil {
			t.Fatal(err)
		}
		olds := []uint64{1, size2 / 2, size2 - 1, size2, rng.Uint64N(size2) + 1}
		if size2 <= 40 {
			olds = olds[:0]
			for s := uint64(1); s <= size2; s++ {
				olds = append(olds, s)
			}
		}
		for _, size1 := range olds {
			if size1 == 0 {
				continue
			}
			got, err := c.log.ConsistencyProof(size1, size2)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
			}
			want, err := tlog.ProveTree(int64(size2), int64(size1), c.ref)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(toTlog(got), want) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from tlog.ProveTree:\n got %v\nwant %v", size1, size2, got, want)
			}
			root1, err := c.log.RootAt(size1)
			if err != nil {
				t.Fatal(err)
			}
			if err := transparency.VerifyConsistency(size1, size2, root1, root2, got); err != nil {
				t.Fatalf("ConsistencyProof(%d, %d) does not verify: %v", size1, size2, err)
			}
		}
	}
}

// tileReader reads the log's tiles the way a tlog client reads a tile
// server: each tlog.Tile (height 8) maps to a transparency.TileID.
type tileReader struct {
	t   testing.TB
	log *Log
}

func (r tileReader) Height() int { return transparency.TileHeight }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tl := range tiles {
		if tl.H != transparency.TileHeight {
			return nil, fmt.Errorf("tile height %d", tl.H)
		}
		id := transparency.TileID{Entries: tl.L == -1, Level: tl.L, N: uint64(tl.N), Width: tl.W}
		if id.Entries {
			id.Level = 0
		}
		// Both implementations must name the tile alike; tlog's paths
		// also carry the height, and call the entry bundles "data".
		want := strings.Replace(strings.Replace(tl.Path(), "tile/8/", "tile/", 1), "tile/data/", "tile/entries/", 1)
		if id.Path() != want {
			r.t.Errorf("tile path %q, tlog says %q", id.Path(), tl.Path())
		}
		b, err := r.log.ReadTile(id)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func TestTilesThroughTlog(t *testing.T) {
	c := getCrossLog(t)
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []uint64{1, 2, 255, 256, 257, 511, 512, 513, 1000, 65535, 65536, crossSize}
	for _, size := range sizes {
		if size > crossSize {
			continue
		}
		root, err := c.log.RootAt(size)
		if err != nil {
			t.Fatal(err)
		}
		thr := tlog.TileHashReader(tlog.Tree{N: int64(size), Hash: tlog.Hash(root)}, tileReader{t: t, log: c.log})
		got, err := tlog.TreeHash(int64(size), thr)
		if err != nil {
			t.Fatalf("tlog.TreeHash(%d) through tiles: %v", size, err)
		}
		if got != tlog.Hash(root) {
			t.Fatalf("tlog.TreeHash(%d) through tiles = %v, want %s", size, got, root)
		}
		for _, i := range proofIndexes(size, rng) {
			p, err := tlog.ProveRecord(int64(size), int64(i), thr)
			if err != nil {
				t.Fatalf("tlog.ProveRecord(%d, %d) through tiles: %v", size, i, err)
			}
			leaf, err := c.log.LeafHashAt(i)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, int64(size), tlog.Hash(root), int64(i), tlog.Hash(leaf)); err != nil {
				t.Fatalf("tlog.CheckRecord(%d, %d): %v", size, i, err)
			}
			hs := make([]transparency.Hash, len(p))
			for j := range p {
				hs[j] = transparency.Hash(p[j])
			}
			if err := transparency.VerifyInclusion(i, size, leaf, hs, root); err != nil {
				t.Fatalf("proof through tiles (%d, %d) does not verify: %v", i, size, err)
			}
		}
	}
}

func TestEntryBundlesRoundTrip(t *testing.T) {
	c := getCrossLog(t)
	size := c.log.Size()
	tiles := []transparency.TileID{
		{Entries: true, N: 0, Width: 256},
		{Entries: true, N: 0, Width: 1},
		{Entries: true, N: 3, Width: 17},
		{Entries: true, N: size/256 - 1, Width: 256},
		{Entries: true, N: size / 256, Width: int(size % 256)},
	}
	for _, id := range tiles {
		b, err := c.log.ReadTile(id)
		if err != nil {
			t.Fatalf("ReadTile(%s): %v", id.Path(), err)
		}
		entries, err := transparency.ParseEntryBundle(b)
		if err != nil {
			t.Fatalf("bundle %s: %v", id.Path(), err)
		}
		if len(entries) != id.Width {
			t.Fatalf("bundle %s has %d entries, want %d", id.Path(), len(entries), id.Width)
		}
		for j, e := range entries {
			idx := id.N*256 + uint64(j)
			want, err := c.log.Entry(idx)
			if err != nil {
				t.Fatal(err)
			}
			if string(e) != string(want) {
				t.Fatalf("bundle %s entry %d = %q, want %q", id.Path(), idx, e, want)
			}
			// The stored bytes are the appended entry: it parses, and
			// its leaf hash is the tree's leaf.
			if _, err := transparency.ParseEntry(e); err != nil {
				t.Fatalf("entry %d: %v", idx, err)
			}
			leaf, err := c.log.LeafHashAt(idx)
			if err != nil {
				t.Fatal(err)
			}
			if transparency.LeafHash(e) != leaf {
				t.Fatalf("entry %d does not hash to its leaf", idx)
			}
		}
	}
	// Tiles beyond the size are not available.
	for _, id := range []transparency.TileID{
		{Entries: true, N: size / 256, Width: 256},
		{Entries: true, N: size / 256, Width: int(size%256) + 1},
		{Entries: true, N: size/256 + 1, Width: 1},
		{Level: 0, N: size / 256, Width: 256},
		{Level: 1, N: 1, Width: 1},
		{Level: 2, N: 0, Width: 2},
		{Level: 3, N: 0, Width: 1},
		{Level: 0, N: 1 << 60, Width: 1},
		{Entries: true, N: 1<<64 - 1, Width: 255},
	} {
		if _, err := c.log.ReadTile(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadTile(%s) = %v, want ErrNotFound", id.Path(), err)
		}
	}
}
