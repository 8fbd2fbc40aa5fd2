package monitor

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var long = flag.Bool("long", false, "run the long tests")

// refLog is an in-memory log built with golang.org/x/mod/sumdb/tlog, an
// implementation independent of package transparency and of the compact
// ranges used by Sync.
type refLog struct {
	entries [][]byte
	hashes  []tlog.Hash // tlog stored hashes
}

func (l *refLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *refLog) add(t testing.TB, entry []byte) {
	t.Helper()
	hs, err := tlog.StoredHashes(int64(len(l.entries)), entry, l)
	if err != nil {
		t.Fatal(err)
	}
	l.entries = append(l.entries, entry)
	l.hashes = append(l.hashes, hs...)
}

func (l *refLog) root(t testing.TB, size uint64) transparency.Hash {
	t.Helper()
	h, err := tlog.TreeHash(int64(size), l)
	if err != nil {
		t.Fatal(err)
	}
	return transparency.Hash(h)
}

// bundle encodes the entry bundle for tile id with the length prefixes
// written out by hand, not with transparency.AppendBundleEntry.
func (l *refLog) bundle(id transparency.TileID) []byte {
	var b []byte
	for i := range id.Width {
		e := l.entries[id.N*transparency.TileWidth+uint64(i)]
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b
}

// hashTile is the hash tile at id's level (level 0 for an entry bundle
// id), read by tlog.
func (l *refLog) hashTile(t testing.TB, id transparency.TileID) []byte {
	t.Helper()
	b, err := tlog.ReadTileData(tlog.Tile{H: transparency.TileHeight, L: id.Level, N: int64(id.N), W: id.Width}, l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testEntry(t testing.TB, i int, reason string) []byte {
	t.Helper()
	e := transparency.Entry{
		Version:  transparency.EntryVersion,
		Type:     "operator.note",
		Time:     time.Date(2026, 1, 2, 3, 4, 5, i, time.UTC),
		Decision: transparency.DecisionRecorded,
		Reason:   fmt.Sprintf("%s %d", reason, i),
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRefLog(t testing.TB, n int, reason string) *refLog {
	t.Helper()
	l := &refLog{}
	for i := range n {
		l.add(t, testEntry(t, i, reason))
	}
	return l
}

type testKey struct {
	signer   note.Signer
	verifier note.Verifier
}

func newKey(t testing.TB, name string) testKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
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
	return testKey{s, v}
}

func (k testKey) checkpoint(t testing.TB, size uint64, root transparency.Hash) *transparency.SignedCheckpoint {
	t.Helper()
	signed, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: k.signer.Name(), Size: size, Root: root}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := transparency.OpenCheckpoint(signed, k.verifier)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// syncWith runs a whole Sync, serving tiles from l.
func syncWith(t testing.TB, trusted *State, target *transparency.SignedCheckpoint, l *refLog, hashes *refLog) (*State, error) {
	t.Helper()
	y, err := Begin(trusted, target)
	if err != nil {
		return nil, err
	}
	for _, id := range y.Tiles() {
		if err := y.AddTile(id, l.bundle(id), hashes.hashTile(t, id)); err != nil {
			return nil, err
		}
	}
	for _, id := range y.UpperTiles() {
		if err := y.CheckUpperTile(id, hashes.hashTile(t, id)); err != nil {
			return nil, err
		}
	}
	return y.Finish()
}

func TestEntryTiles(t *testing.T) {
	e := func(n uint64, w int) transparency.TileID {
		return transparency.TileID{Entries: true, N: n, Width: w}
	}
	tests := []struct {
		from, to uint64
		want     []transparency.TileID
	}{
		{0, 0, nil},
		{5, 5, nil},
		{7, 3, nil},
		{0, 1, []transparency.TileID{e(0, 1)}},
		{0, 256, []transparency.TileID{e(0, 256)}},
		{0, 257, []transparency.TileID{e(0, 256), e(1, 1)}},
		{255, 256, []transparency.TileID{e(0, 256)}},
		{256, 300, []transparency.TileID{e(1, 44)}},
		{300, 1000, []transparency.TileID{e(1, 256), e(2, 256), e(3, 232)}},
		{1 << 40, 1<<40 + 1, []transparency.TileID{e(1<<40/256, 1)}},
	}
	for _, tt := range tests {
		got := EntryTiles(tt.from, tt.to)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("EntryTiles(%d, %d) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

// TestSyncAgainstTlog grows a log in steps and checks that each Sync
// verifies, that the frontier leads to the root tlog computes, and that
// the state survives Marshal and ParseState.
func TestSyncAgainstTlog(t *testing.T) {
	k := newKey(t, "example.com/log")
	steps := [][]uint64{
		{0, 1, 2, 3, 255, 256, 257, 511, 512, 513, 1000},
		{0, 1000},
		{0, 0, 300, 300, 600},
		{256, 768, 769},
	}
	full := newRefLog(t, 1000, "entry")
	for _, sizes := range steps {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			var st *State
			for _, size := range sizes {
				target := k.checkpoint(t, size, full.root(t, size))
				next, err := syncWith(t, st, target, full, full)
				if err != nil {
					t.Fatalf("sync %d -> %d: %v", st.Size(), size, err)
				}
				if next.Size() != size {
					t.Fatalf("state size %d, want %d", next.Size(), size)
				}
				b, err := next.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				back, err := ParseState(b, k.verifier)
				if err != nil {
					t.Fatalf("ParseState of own state: %v", err)
				}
				if string(back.Checkpoint.Note) != string(target.Note) || fmt.Sprint(back.Frontier) != fmt.Sprint(next.Frontier) {
					t.Fatalf("state round trip changed it")
				}
				st = back
			}
		})
	}
}

func TestSyncSecurityFailures(t *testing.T) {
	k := newKey(t, "example.com/log")
	good := newRefLog(t, 600, "entry")
	other := newRefLog(t, 600, "rewritten")
	trusted300 := func(t *testing.T) *State {
		st, err := syncWith(t, nil, k.checkpoint(t, 300, good.root(t, 300)), good, good)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	tampered := &refLog{}
	for i := range 600 {
		reason := "entry"
		if i == 400 {
			reason = "tampered"
		}
		tampered.add(t, testEntry(t, i, reason))
	}
	// invalid holds an entry that is not a canonical entry, with a
	// checkpoint that honestly commits to it: the log signed garbage.
	invalid := newRefLog(t, 0, "")
	for i := range 600 {
		e := testEntry(t, i, "entry")
		if i == 450 {
			e = []byte(`{"not":"an entry"}`)
		}
		invalid.add(t, e)
	}
	tests := []struct {
		name    string
		target  func(t *testing.T) *transparency.SignedCheckpoint
		entries *refLog
		hashes  *refLog
		want    any
	}{
		{"rollback", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 299, good.root(t, 299)) }, good, good, new(*RollbackError)},
		{"rollback to empty", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 0, good.root(t, 0)) }, good, good, new(*RollbackError)},
		{"fork same size", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 300, other.root(t, 300)) }, other, other, new(*transparency.ForkError)},
		{"rewritten history", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 600, other.root(t, 600)) }, other, other, new(*RootMismatchError)},
		{"entries do not match checkpoint", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 600, good.root(t, 600)) }, tampered, tampered, new(*RootMismatchError)},
		{"hash tile does not match entries", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 600, good.root(t, 600)) }, good, tampered, new(*TileMismatchError)},
		{"tampered entry with honest tile", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 600, good.root(t, 600)) }, tampered, good, new(*TileMismatchError)},
		{"invalid logged entry", func(t *testing.T) *transparency.SignedCheckpoint { return k.checkpoint(t, 600, invalid.root(t, 600)) }, invalid, invalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := syncWith(t, trusted300(t), tt.target(t), tt.entries, tt.hashes)
			if !errors.Is(err, transparency.ErrVerification) {
				t.Fatalf("err = %v, want ErrVerification", err)
			}
			if tt.want != nil && !errors.As(err, tt.want) {
				t.Fatalf("err = %T %v, want %T", err, err, tt.want)
			}
		})
	}
}

func TestAddTileShape(t *testing.T) {
	k := newKey(t, "example.com/log")
	full := newRefLog(t, 512, "entry")
	// Size 100: a single partial tile, e(0, 100).
	target := k.checkpoint(t, 100, full.root(t, 100))
	e := func(n uint64, w int) transparency.TileID {
		return transparency.TileID{Entries: true, N: n, Width: w}
	}
	tests := []struct {
		name     string
		id       transparency.TileID
		bundle   []byte
		hashTile []byte
		security bool
	}{
		{"wrong tile index", e(1, 100), full.bundle(e(1, 100)), full.hashTile(t, e(1, 100)), false},
		{"narrower than needed", e(0, 99), full.bundle(e(0, 99)), full.hashTile(t, e(0, 99)), false},
		{"full id for a partial tile", e(0, 256), full.bundle(e(0, 256)), full.hashTile(t, e(0, 256)), false},
		{"hash tile id instead of bundle", transparency.TileID{N: 0, Width: 100}, full.bundle(e(0, 100)), full.hashTile(t, e(0, 100)), false},
		{"bundle too short", e(0, 100), full.bundle(e(0, 99)), full.hashTile(t, e(0, 100)), true},
		{"bundle neither partial nor full", e(0, 100), full.bundle(e(0, 150)), full.hashTile(t, e(0, 100)), true},
		{"truncated bundle", e(0, 100), full.bundle(e(0, 100))[:100], full.hashTile(t, e(0, 100)), true},
		{"hash tile too short", e(0, 100), full.bundle(e(0, 100)), full.hashTile(t, e(0, 99)), true},
		{"hash tile neither partial nor full", e(0, 100), full.bundle(e(0, 100)), full.hashTile(t, e(0, 101)), true},
		{"hash tile not whole hashes", e(0, 100), full.bundle(e(0, 100)), full.hashTile(t, e(0, 100))[1:], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, err := Begin(nil, target)
			if err != nil {
				t.Fatal(err)
			}
			err = y.AddTile(tt.id, tt.bundle, tt.hashTile)
			if err == nil {
				t.Fatal("AddTile accepted it")
			}
			if got := errors.Is(err, transparency.ErrVerification); got != tt.security {
				t.Fatalf("err = %v, security failure %v, want %v", err, got, tt.security)
			}
		})
	}

	// Full tiles in place of the partial one are accepted (C2SP tlog-tiles
	// fallback), independently for the bundle and the hash tile, and the
	// leaves past the target are ignored.
	for _, mix := range []struct{ fullBundle, fullHashes bool }{{true, true}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("fallback %+v", mix), func(t *testing.T) {
			target := k.checkpoint(t, 300, full.root(t, 300))
			y, err := Begin(nil, target)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range y.Tiles() {
				bid, hid := id, id
				if mix.fullBundle {
					bid = e(id.N, transparency.TileWidth)
				}
				if mix.fullHashes {
					hid = e(id.N, transparency.TileWidth)
				}
				if err := y.AddTile(id, full.bundle(bid), full.hashTile(t, hid)); err != nil {
					t.Fatalf("tile %s: %v", id.Path(), err)
				}
			}
			for _, id := range y.UpperTiles() {
				if err := y.CheckUpperTile(id, full.hashTile(t, id)); err != nil {
					t.Fatalf("tile %s: %v", id.Path(), err)
				}
			}
			if _, err := y.Finish(); err != nil {
				t.Fatalf("finish after full-tile fallback: %v", err)
			}
			if err := y.AddTile(e(2, 1), nil, nil); err == nil {
				t.Fatal("AddTile after the last tile accepted")
			}
		})
	}

	// Finish before all tiles were added is refused.
	y, err := Begin(nil, target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := y.Finish(); err == nil {
		t.Fatal("Finish without tiles accepted")
	}
}

func TestParseStateRejects(t *testing.T) {
	k := newKey(t, "example.com/log")
	l := newRefLog(t, 5, "entry")
	st, err := syncWith(t, nil, k.checkpoint(t, 5, l.root(t, 5)), l, l)
	if err != nil {
		t.Fatal(err)
	}
	good, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseState(good, k.verifier); err != nil {
		t.Fatalf("good state: %v", err)
	}
	sameName := newKey(t, "example.com/log")
	otherFrontier := strings.Replace(string(good), st.Frontier[0].String(), transparency.LeafHash([]byte("x")).String(), 1)
	tests := []struct {
		name string
		b    string
		v    note.Verifier
	}{
		{"another key with the same name", string(good), sameName.verifier},
		{"tampered frontier", otherFrontier, k.verifier},
		{"short frontier", `{"version":1,"checkpoint":` + jsonString(string(st.Checkpoint.Note)) + `,"frontier":["` + st.Frontier[0].String() + `"]}`, k.verifier},
		{"unknown version", strings.Replace(string(good), `"version": 1`, `"version": 2`, 1), k.verifier},
		{"unknown field", strings.Replace(string(good), `"version": 1`, `"version": 1, "x": 1`, 1), k.verifier},
		{"trailing data", string(good) + "{}", k.verifier},
		{"not json", "hello", k.verifier},
		{"empty", "", k.verifier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseState([]byte(tt.b), tt.v)
			if !errors.Is(err, transparency.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := (&State{}).Marshal(); err == nil {
		t.Fatal("zero State marshalled")
	}
}

func jsonString(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

func FuzzParseState(f *testing.F) {
	k := newKey(f, "example.com/log")
	for _, n := range []int{0, 1, 3, 300} {
		l := newRefLog(f, n, "entry")
		st, err := syncWith(f, nil, k.checkpoint(f, uint64(n), l.root(f, uint64(n))), l, l)
		if err != nil {
			f.Fatal(err)
		}
		b, err := st.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"checkpoint":"","frontier":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(b, k.verifier)
		if err != nil {
			if !errors.Is(err, transparency.ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			return
		}
		// Anything accepted must re-encode to a state that parses to the
		// same checkpoint and frontier.
		again, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseState(again, k.verifier)
		if err != nil {
			t.Fatalf("re-encoded state does not parse: %v", err)
		}
		if string(back.Checkpoint.Note) != string(st.Checkpoint.Note) || fmt.Sprint(back.Frontier) != fmt.Sprint(st.Frontier) {
			t.Fatal("round trip changed the state")
		}
	})
}

func TestUpperTiles(t *testing.T) {
	k := newKey(t, "example.com/log")
	l := newRefLog(t, 1300, "entry")
	h := func(level int, n uint64, w int) transparency.TileID {
		return transparency.TileID{Level: level, N: n, Width: w}
	}
	tests := []struct {
		from, to uint64
		want     []transparency.TileID
	}{
		{0, 255, nil},
		{0, 256, []transparency.TileID{h(1, 0, 1)}},
		{0, 600, []transparency.TileID{h(1, 0, 2)}},
		{300, 511, nil},
		{300, 512, []transparency.TileID{h(1, 0, 2)}},
		{512, 1300, []transparency.TileID{h(1, 0, 5)}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%d", tt.from, tt.to), func(t *testing.T) {
			var trusted *State
			if tt.from > 0 {
				var err error
				if trusted, err = syncWith(t, nil, k.checkpoint(t, tt.from, l.root(t, tt.from)), l, l); err != nil {
					t.Fatal(err)
				}
			}
			y, err := Begin(trusted, k.checkpoint(t, tt.to, l.root(t, tt.to)))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range y.Tiles() {
				if len(y.UpperTiles()) != 0 {
					t.Fatal("upper tiles listed before all leaves are in")
				}
				if err := y.AddTile(id, l.bundle(id), l.hashTile(t, id)); err != nil {
					t.Fatal(err)
				}
			}
			if got := y.UpperTiles(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("UpperTiles = %v, want %v", got, tt.want)
			}
			if len(tt.want) > 0 {
				if _, err := y.Finish(); err == nil {
					t.Fatal("Finish before the upper tiles were checked")
				}
			}
			for _, id := range y.UpperTiles() {
				if err := y.CheckUpperTile(id, l.hashTile(t, id)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := y.Finish(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckUpperTileRejects(t *testing.T) {
	k := newKey(t, "example.com/log")
	good := newRefLog(t, 600, "entry")
	other := newRefLog(t, 600, "other")
	h1 := transparency.TileID{Level: 1, N: 0, Width: 2}
	tests := []struct {
		name     string
		id       transparency.TileID
		data     []byte
		security bool
	}{
		{"tile of another log", h1, other.hashTile(t, h1), true},
		{"one hash", h1, good.hashTile(t, h1)[:32], true},
		{"not whole hashes", h1, good.hashTile(t, h1)[1:], true},
		{"three hashes", h1, append(good.hashTile(t, h1), good.hashTile(t, h1)[:32]...), true},
		{"wrong level", transparency.TileID{Level: 2, N: 0, Width: 2}, good.hashTile(t, h1), false},
		{"wrong width", transparency.TileID{Level: 1, N: 0, Width: 1}, good.hashTile(t, h1)[:32], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trusted, err := syncWith(t, nil, k.checkpoint(t, 300, good.root(t, 300)), good, good)
			if err != nil {
				t.Fatal(err)
			}
			y, err := Begin(trusted, k.checkpoint(t, 600, good.root(t, 600)))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range y.Tiles() {
				if err := y.AddTile(id, good.bundle(id), good.hashTile(t, id)); err != nil {
					t.Fatal(err)
				}
			}
			err = y.CheckUpperTile(tt.id, tt.data)
			if err == nil {
				t.Fatal("CheckUpperTile accepted it")
			}
			if got := errors.Is(err, transparency.ErrVerification); got != tt.security {
				t.Fatalf("err = %v, security %v, want %v", err, got, tt.security)
			}
			var tm *TileMismatchError
			if tt.name == "tile of another log" && (!errors.As(err, &tm) || tm.Level != 1 || tm.Index != 1) {
				t.Fatalf("err = %v, want a level-1 TileMismatchError at node 1", err)
			}
		})
	}
}

// TestSyncTwoTileLevels syncs past 65536 entries, so that level-1 tiles
// fill and a level-2 tile appears, all cross-checked against tlog's tiles.
func TestSyncTwoTileLevels(t *testing.T) {
	if !*long {
		t.Skip("builds a log of 65,800 entries; run with -long")
	}
	k := newKey(t, "example.com/log")
	l := &refLog{}
	for i := range 65800 {
		l.add(t, testEntry(t, i, "e"))
	}
	var st *State
	for _, size := range []uint64{65000, 65536, 65800} {
		y, err := Begin(st, k.checkpoint(t, size, l.root(t, size)))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range y.Tiles() {
			if err := y.AddTile(id, l.bundle(id), l.hashTile(t, id)); err != nil {
				t.Fatal(err)
			}
		}
		levels := map[int]bool{}
		for _, id := range y.UpperTiles() {
			levels[id.Level] = true
			if err := y.CheckUpperTile(id, l.hashTile(t, id)); err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
		}
		if size == 65536 && !levels[2] {
			t.Fatalf("size %d: no level-2 tile checked", size)
		}
		if st, err = y.Finish(); err != nil {
			t.Fatal(err)
		}
	}
}
