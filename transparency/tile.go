package transparency

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// C2SP tlog-tiles constants.
const (
	// TileHeight is the height of a tile: each tile holds up to 2^8 hashes.
	TileHeight = 8
	// TileWidth is the number of hashes (or entries) in a full tile.
	TileWidth = 1 << TileHeight
	// maxTileLevel bounds the level of a hash tile; 8*8 = 64 tree levels.
	maxTileLevel = 7
)

// TileID names a C2SP tlog-tiles resource: a hash tile at Level, or the
// entry bundle when Entries is true; N is the tile index; Width is the
// number of hashes or entries (TileWidth for a full tile).
type TileID struct {
	Entries bool
	Level   int
	N       uint64
	Width   int
}

// Path returns the tile's path relative to the log prefix, such as
// "tile/0/x001/234" or "tile/entries/000.p/17".
func (t TileID) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.Level))
	}
	b.WriteByte('/')
	b.WriteString(encodeTileIndex(t.N))
	if t.Width < TileWidth {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.Width))
	}
	return b.String()
}

func encodeTileIndex(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// ParseTilePath parses a path relative to the log prefix ("tile/...") and
// rejects every non-canonical spelling (leading zero groups, a partial
// width of 0 or ≥ 256, a level above 7, anything after the width).
func ParseTilePath(p string) (TileID, error) {
	var t TileID
	bad := func(why string) (TileID, error) {
		return TileID{}, fmt.Errorf("%w: tile path %q: %s", ErrMalformed, truncate(p, 80), why)
	}
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return bad("does not start with tile/")
	}
	first, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("missing tile index")
	}
	if first == "entries" {
		t.Entries = true
	} else {
		if len(first) != 1 || first[0] < '0' || first[0] > '0'+maxTileLevel {
			return bad("level must be a digit 0 to 7 or \"entries\"")
		}
		t.Level = int(first[0] - '0')
	}
	t.Width = TileWidth
	idx := rest
	if i := strings.Index(rest, ".p/"); i >= 0 {
		idx = rest[:i]
		w := rest[i+3:]
		wv, err := strconv.Atoi(w)
		if err != nil || wv < 1 || wv >= TileWidth || strconv.Itoa(wv) != w {
			return bad("partial width must be 1 to 255")
		}
		t.Width = wv
	}
	groups := strings.Split(idx, "/")
	if len(groups) > 7 {
		return bad("tile index too large")
	}
	var n uint64
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			if !strings.HasPrefix(g, "x") {
				return bad("index group without x prefix")
			}
			g = g[1:]
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return bad("index group must be three digits")
		}
		d, _ := strconv.ParseUint(g, 10, 64)
		if n > (1<<64-1-d)/1000 {
			return bad("tile index overflows")
		}
		n = n*1000 + d
	}
	t.N = n
	if t.Path() != p {
		return bad("not in canonical form")
	}
	return t, nil
}

// AppendBundleEntry appends one entry to a C2SP entry bundle: a big-endian
// uint16 length followed by the entry bytes. It panics if the entry is
// longer than MaxEntrySize: a wrapped length would corrupt the bundle
// silently, and no valid entry is that long.
func AppendBundleEntry(bundle, entry []byte) []byte {
	if len(entry) > MaxEntrySize {
		panic(fmt.Sprintf("transparency: entry bundle: entry of %d bytes, more than %d", len(entry), MaxEntrySize))
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}

// ParseEntryBundle splits an entry bundle into its entries. It fails on a
// truncated bundle or on more than TileWidth entries.
func ParseEntryBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(out) == TileWidth {
			return nil, fmt.Errorf("%w: entry bundle: more than %d entries", ErrMalformed, TileWidth)
		}
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: entry bundle: truncated length", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < n {
			return nil, fmt.Errorf("%w: entry bundle: truncated entry", ErrMalformed)
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out, nil
}

// ParseHashTile splits a hash tile into its hashes.
func ParseHashTile(b []byte) ([]Hash, error) {
	if len(b)%HashSize != 0 || len(b) > TileWidth*HashSize {
		return nil, fmt.Errorf("%w: hash tile: %d bytes is not a whole number of up to %d hashes", ErrMalformed, len(b), TileWidth)
	}
	out := make([]Hash, len(b)/HashSize)
	for i := range out {
		copy(out[i][:], b[i*HashSize:])
	}
	return out, nil
}
