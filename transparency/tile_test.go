package transparency_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/clawnet/ledger/transparency"
)

func TestTilePathExamples(t *testing.T) {
	// Examples written out by hand from C2SP tlog-tiles.
	tests := []struct {
		id   transparency.TileID
		path string
	}{
		{transparency.TileID{Level: 0, N: 0, Width: 256}, "tile/0/000"},
		{transparency.TileID{Level: 0, N: 1234067, Width: 256}, "tile/0/x001/x234/067"},
		{transparency.TileID{Level: 2, N: 1234067, Width: 8}, "tile/2/x001/x234/067.p/8"},
		{transparency.TileID{Level: 7, N: 999, Width: 255}, "tile/7/999.p/255"},
		{transparency.TileID{Level: 1, N: 1000, Width: 256}, "tile/1/x001/000"},
		{transparency.TileID{Entries: true, N: 0, Width: 17}, "tile/entries/000.p/17"},
		{transparency.TileID{Entries: true, N: 1234, Width: 256}, "tile/entries/x001/234"},
		{transparency.TileID{Entries: true, N: math.MaxUint64, Width: 1}, "tile/entries/x018/x446/x744/x073/x709/x551/615.p/1"},
	}
	for _, tc := range tests {
		if got := tc.id.Path(); got != tc.path {
			t.Errorf("%+v.Path() = %s, want %s", tc.id, got, tc.path)
		}
		got, err := transparency.ParseTilePath(tc.path)
		if err != nil || got != tc.id {
			t.Errorf("ParseTilePath(%s) = %+v, %v; want %+v", tc.path, got, err, tc.id)
		}
	}
}

// TestTilePathMatchesTlog checks the index encoding against sumdb/tlog,
// whose paths carry the tile height ("tile/8/...") and call the entry
// bundles "data".
func TestTilePathMatchesTlog(t *testing.T) {
	var ns []uint64
	for _, n := range []uint64{0, 1, 9, 10, 99, 100, 999, 1000, 1001, 999_999, 1_000_000, 1_234_067, 1 << 32, 1<<63 - 1, math.MaxUint64} {
		ns = append(ns, n)
		if n > 0 {
			ns = append(ns, n-1)
		}
	}
	for _, n := range ns {
		for _, w := range []int{1, 17, 255, 256} {
			for level := -1; level <= 7; level++ {
				id := transparency.TileID{Entries: level < 0, Level: max(level, 0), N: n, Width: w}
				p := id.Path()
				got, err := transparency.ParseTilePath(p)
				if err != nil || got != id {
					t.Fatalf("ParseTilePath(%s) = %+v, %v; want %+v", p, got, err, id)
				}
				if n > math.MaxInt64 {
					continue
				}
				theirs := tlog.Tile{H: transparency.TileHeight, L: level, N: int64(n), W: w}.Path()
				if want := strings.Replace(strings.Replace(theirs, "tile/8/", "tile/", 1), "tile/data/", "tile/entries/", 1); p != want {
					t.Fatalf("Path = %s, tlog gives %s", p, theirs)
				}
			}
		}
	}
}

// tilePathMutations are non-canonical or invalid tile paths: bad vectors
// and fuzz seeds.
var tilePathMutations = []struct{ name, path string }{
	{"empty", ""},
	{"no-tile-prefix", "0/000"},
	{"leading-slash", "/tile/0/000"},
	{"trailing-slash", "tile/0/000/"},
	{"missing-index", "tile/0"},
	{"missing-index-slash", "tile/0/"},
	{"entries-missing-index", "tile/entries"},
	{"leading-zero-group", "tile/0/x000/001"},
	{"leading-zero-groups", "tile/0/x000/x001/234"},
	{"two-digits", "tile/0/01"},
	{"one-digit", "tile/0/1"},
	{"four-digits", "tile/0/0001"},
	{"non-digit", "tile/0/00a"},
	{"signed-group", "tile/0/+01"},
	{"missing-x", "tile/0/001/234"},
	{"x-on-last-group", "tile/0/x001/x234"},
	{"uppercase-x", "tile/0/X001/234"},
	{"width-zero", "tile/0/000.p/0"},
	{"width-256", "tile/0/000.p/256"},
	{"width-leading-zeros", "tile/0/000.p/007"},
	{"width-plus", "tile/0/000.p/+7"},
	{"width-empty", "tile/0/000.p/"},
	{"width-negative", "tile/0/000.p/-1"},
	{"width-extra-segment", "tile/0/000.p/17/1"},
	{"width-without-p", "tile/0/000/17"},
	{"p-without-width", "tile/0/000.p"},
	{"level-8", "tile/8/000"},
	{"level-two-digits", "tile/00/000"},
	{"level-negative", "tile/-1/000"},
	{"level-data", "tile/data/000"},
	{"tlog-height-prefix", "tile/8/0/000"},
	{"extra-segment", "tile/0/000/extra"},
	{"index-overflow", "tile/0/x018/x446/x744/x073/x709/x551/616"},
	{"index-eight-groups", "tile/0/x001/x000/x000/x000/x000/x000/x000/000"},
	{"space", "tile/0/ 000"},
	{"query", "tile/0/000?x=1"},
}

func TestParseTilePathRejects(t *testing.T) {
	for _, tc := range tilePathMutations {
		t.Run(tc.name, func(t *testing.T) {
			id, err := transparency.ParseTilePath(tc.path)
			if errClass(err) != "malformed" || id != (transparency.TileID{}) {
				t.Fatalf("ParseTilePath(%q) = %+v, %v; want ErrMalformed", tc.path, id, err)
			}
		})
	}
}

func TestEntryBundleRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		entries [][]byte
	}{
		{"one", [][]byte{[]byte(baseEntryJSON)}},
		{"empty entry", [][]byte{{}, []byte("x")}},
		{"largest entry", [][]byte{bytes.Repeat([]byte("e"), transparency.MaxEntrySize)}},
		{"full tile", func() [][]byte {
			var es [][]byte
			for i := range transparency.TileWidth {
				es = append(es, fmt.Appendf(nil, "entry %d", i))
			}
			return es
		}()},
		{"sample entries", func() [][]byte {
			var es [][]byte
			for i := range 17 {
				es = append(es, mustMarshal(t, sampleEntry(i)))
			}
			return es
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			for _, e := range tc.entries {
				b = transparency.AppendBundleEntry(b, e)
			}
			got, err := transparency.ParseEntryBundle(b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.entries, bytes.Equal) {
				t.Fatalf("round trip lost entries: %d of %d", len(got), len(tc.entries))
			}
			// C2SP layout: a big-endian uint16 length, then the bytes.
			if n := binary.BigEndian.Uint16(b); int(n) != len(tc.entries[0]) {
				t.Fatalf("first length prefix %d, want %d", n, len(tc.entries[0]))
			}
		})
	}
}

func TestEntryBundleTruncated(t *testing.T) {
	entries := [][]byte{[]byte("first"), []byte(baseEntryJSON), []byte("third entry")}
	var b []byte
	boundaries := map[int]int{0: 0} // byte offset -> entries before it
	for i, e := range entries {
		b = transparency.AppendBundleEntry(b, e)
		boundaries[len(b)] = i + 1
	}
	for cut := 0; cut < len(b); cut++ {
		got, err := transparency.ParseEntryBundle(b[:cut])
		if n, ok := boundaries[cut]; ok {
			if err != nil || !slices.EqualFunc(got, entries[:n], bytes.Equal) {
				t.Fatalf("cut at entry boundary %d: %d entries, %v", cut, len(got), err)
			}
			continue
		}
		if errClass(err) != "malformed" || got != nil {
			t.Fatalf("bundle truncated to %d of %d bytes: %d entries, %v; want ErrMalformed", cut, len(b), len(got), err)
		}
	}
	t.Run("more than a tile", func(t *testing.T) {
		var b []byte
		for range transparency.TileWidth + 1 {
			b = transparency.AppendBundleEntry(b, []byte("e"))
		}
		if _, err := transparency.ParseEntryBundle(b); errClass(err) != "malformed" {
			t.Fatalf("bundle of 257 entries: %v, want ErrMalformed", err)
		}
	})
	t.Run("length beyond the data", func(t *testing.T) {
		if _, err := transparency.ParseEntryBundle([]byte{0xff, 0xff, 'x'}); errClass(err) != "malformed" {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
}

func TestAppendBundleEntryRefusesOversized(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("AppendBundleEntry accepted an entry whose length does not fit the uint16 prefix")
		}
	}()
	transparency.AppendBundleEntry(nil, make([]byte, transparency.MaxEntrySize+1))
}

func TestParseHashTile(t *testing.T) {
	tree := syntheticTree(t, 3)
	for _, n := range []int{1, 2, 256} {
		var b []byte
		var want []transparency.Hash
		for i := range n {
			h := transparency.LeafHash(tree.entries[i%3])
			h[0] = byte(i)
			want = append(want, h)
			b = append(b, h[:]...)
		}
		got, err := transparency.ParseHashTile(b)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ParseHashTile of %d hashes: %d, %v", n, len(got), err)
		}
	}
	for _, n := range []int{1, 31, 33, 257 * 32, 256*32 + 1} {
		if _, err := transparency.ParseHashTile(make([]byte, n)); errClass(err) != "malformed" {
			t.Errorf("ParseHashTile of %d bytes: %v, want ErrMalformed", n, err)
		}
	}
}
