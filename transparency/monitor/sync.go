package monitor

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/clawnet/ledger/transparency"
	"github.com/transparency-dev/merkle/compact"
)

// RollbackError reports a signed checkpoint smaller than the one already
// trusted: the log shows a tree that does not contain what it showed
// before. It matches transparency.ErrVerification.
type RollbackError struct {
	Trusted, Got uint64
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("log rollback: signed checkpoint of size %d is smaller than the trusted size %d", e.Got, e.Trusted)
}

// Is makes a RollbackError match transparency.ErrVerification.
func (e *RollbackError) Is(target error) bool { return target == transparency.ErrVerification }

// RootMismatchError reports that the entries the log served, appended to
// the trusted tree, do not lead to the root of the new signed checkpoint:
// either the log rewrote history or it serves entries it did not sign. It
// matches transparency.ErrVerification.
type RootMismatchError struct {
	Size           uint64
	Computed, Want transparency.Hash
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("log served entries that do not match its checkpoint: recomputed root of size %d is %s, checkpoint says %s", e.Size, e.Computed, e.Want)
}

// Is makes a RootMismatchError match transparency.ErrVerification.
func (e *RootMismatchError) Is(target error) bool { return target == transparency.ErrVerification }

// TileMismatchError reports a hash tile that disagrees with the entries
// the log served: at Level 0, the hash at Index is not the leaf hash of
// entry Index; at Level L > 0, the hash of the tree node at height 8L and
// index Index is not the one computed from the entries. It matches
// transparency.ErrVerification.
type TileMismatchError struct {
	Level            int
	Index            uint64
	Served, Computed transparency.Hash
}

func (e *TileMismatchError) Error() string {
	if e.Level == 0 {
		return fmt.Sprintf("log served a level-0 hash tile that disagrees with its entries: leaf %d is %s in the tile, %s from the entry", e.Index, e.Served, e.Computed)
	}
	return fmt.Sprintf("log served a level-%d hash tile that disagrees with its entries: node %d is %s in the tile, %s from the entries", e.Level, e.Index, e.Served, e.Computed)
}

// Is makes a TileMismatchError match transparency.ErrVerification.
func (e *TileMismatchError) Is(target error) bool { return target == transparency.ErrVerification }

// Sync verifies, tile by tile, that a new checkpoint extends a trusted
// State. Use: Begin; for each TileID of Tiles, in order, AddTile with the
// entry bundle and the level-0 hash tile the log served; for each TileID of
// UpperTiles, CheckUpperTile with the hash tile the log served; then
// Finish. A Sync is used by one goroutine.
type Sync struct {
	trusted *State
	target  *transparency.SignedCheckpoint
	rng     *compact.Range
	tiles   []transparency.TileID
	// done counts the tiles of tiles already added.
	done int
	// nodes holds the hashes of the tree nodes at heights 8, 16, ..., 56
	// completed by the new leaves: what the upper hash tiles must hold.
	nodes map[nodeID]transparency.Hash
	// upper lists the upper hash tiles to check once all leaves are in;
	// checked counts those checked.
	upper   []transparency.TileID
	checked int
}

// nodeID names a tree node by its tile level (height / 8) and its index
// among the nodes of that height.
type nodeID struct {
	level int
	index uint64
}

// Begin starts verifying that target extends trusted (nil means the zero
// State). It fails with a *RollbackError if target is smaller than the
// trusted checkpoint and with a *transparency.ForkError if it has the same
// size and another root.
func Begin(trusted *State, target *transparency.SignedCheckpoint) (*Sync, error) {
	if trusted == nil {
		trusted = &State{}
	}
	if target == nil {
		return nil, fmt.Errorf("begin sync: no target checkpoint")
	}
	size := trusted.Size()
	switch {
	case target.Size < size:
		return nil, &RollbackError{Trusted: size, Got: target.Size}
	case target.Size == size && trusted.Checkpoint != nil && target.Root != trusted.Checkpoint.Root:
		return nil, &transparency.ForkError{Size: size, Root1: trusted.Checkpoint.Root, Root2: target.Root}
	}
	rng, err := rangeFactory.NewRange(0, size, toSlices(trusted.Frontier))
	if err != nil {
		return nil, fmt.Errorf("begin sync: trusted frontier: %w", err)
	}
	return &Sync{
		trusted: trusted, target: target, rng: rng,
		tiles: EntryTiles(size, target.Size),
		nodes: map[nodeID]transparency.Hash{},
	}, nil
}

// EntryTiles lists the entry bundles (C2SP tlog-tiles) that hold the
// entries [from, to) of the tree of size to: full bundles where the tree
// of size to fills them, and a partial bundle of width to mod 256 at the
// end. The level-0 hash tiles have the same indexes and widths.
func EntryTiles(from, to uint64) []transparency.TileID {
	if from >= to {
		return nil
	}
	var out []transparency.TileID
	for n := from / transparency.TileWidth; n <= (to-1)/transparency.TileWidth; n++ {
		w := transparency.TileWidth
		if end := (n + 1) * transparency.TileWidth; end > to {
			w = int(to - n*transparency.TileWidth)
		}
		out = append(out, transparency.TileID{Entries: true, N: n, Width: w})
	}
	return out
}

// Tiles returns the entry bundles still to add, in order.
func (y *Sync) Tiles() []transparency.TileID { return y.tiles[y.done:] }

// Next is the index of the next leaf to verify.
func (y *Sync) Next() uint64 { return y.rng.End() }

// AddTile verifies one entry bundle and its level-0 hash tile, given as
// served, and appends the new leaves to the tree. id must be the next tile
// of Tiles. Each of bundle and hashTile holds either id.Width items or, in
// place of a partial tile, the TileWidth items of the full tile of the same
// index (C2SP tlog-tiles lets a client read the full tile once the partial
// one is gone); items past the target size are then ignored.
//
// Every new entry must be a well-formed, canonical entry and its leaf hash
// must equal the hash tile's hash at its index; a failure of either is an
// ErrVerification, as is a bundle or tile of the wrong shape, since the log
// served it for a tree it signed.
func (y *Sync) AddTile(id transparency.TileID, bundle, hashTile []byte) error {
	if y.done >= len(y.tiles) {
		return fmt.Errorf("add tile %s: sync needs no more tiles", id.Path())
	}
	want := y.tiles[y.done]
	if id != want {
		return fmt.Errorf("add tile %s: want %s", id.Path(), want.Path())
	}
	entries, err := transparency.ParseEntryBundle(bundle)
	if err != nil {
		return fmt.Errorf("%w: tile %s: %v", transparency.ErrVerification, id.Path(), err)
	}
	if len(entries) != id.Width && len(entries) != transparency.TileWidth {
		return fmt.Errorf("%w: tile %s: entry bundle holds %d entries, want %d", transparency.ErrVerification, id.Path(), len(entries), id.Width)
	}
	hashes, err := transparency.ParseHashTile(hashTile)
	if err != nil {
		return fmt.Errorf("%w: level-0 tile for %s: %v", transparency.ErrVerification, id.Path(), err)
	}
	if len(hashes) != id.Width && len(hashes) != transparency.TileWidth {
		return fmt.Errorf("%w: level-0 tile for %s: %d hashes, want %d", transparency.ErrVerification, id.Path(), len(hashes), id.Width)
	}
	base := id.N * transparency.TileWidth
	// Leaves before Next are already in the trusted tree (the start of a
	// partial tile seen last time), leaves past the target are not signed.
	first := y.Next() - base
	last := uint64(want.Width)
	for i := first; i < last; i++ {
		idx := base + i
		if _, err := transparency.ParseEntry(entries[i]); err != nil {
			return fmt.Errorf("%w: logged entry %d is invalid: %v", transparency.ErrVerification, idx, err)
		}
		leaf := transparency.LeafHash(entries[i])
		if hashes[i] != leaf {
			return &TileMismatchError{Index: idx, Served: hashes[i], Computed: leaf}
		}
		if err := y.rng.Append(leaf[:], y.visit); err != nil {
			return fmt.Errorf("add tile %s: %w", id.Path(), err)
		}
	}
	y.done++
	if y.done == len(y.tiles) {
		// All leaves are in: check the root first, since a log that
		// rewrote history also fails the upper tile checks, less clearly.
		if err := y.checkRoot(); err != nil {
			return err
		}
		y.upper = upperTiles(y.nodes, y.target.Size)
	}
	return nil
}

func (y *Sync) checkRoot() error {
	root, err := rangeRoot(y.rng)
	if err != nil {
		return err
	}
	if root != y.target.Root {
		return &RootMismatchError{Size: y.target.Size, Computed: root, Want: y.target.Root}
	}
	return nil
}

// visit records the nodes whose height is a multiple of the tile height:
// each is one hash of an upper hash tile.
func (y *Sync) visit(id compact.NodeID, hash []byte) {
	if id.Level == 0 || id.Level%transparency.TileHeight != 0 {
		return
	}
	var h transparency.Hash
	copy(h[:], hash)
	y.nodes[nodeID{level: int(id.Level / transparency.TileHeight), index: id.Index}] = h
}

// upperTiles lists, by level then index, the hash tiles above level 0 that
// hold the given nodes, with their widths in the tree of the given size.
func upperTiles(nodes map[nodeID]transparency.Hash, size uint64) []transparency.TileID {
	seen := map[transparency.TileID]bool{}
	var out []transparency.TileID
	for n := range nodes {
		// Nodes of this level that exist in the tree: size / 256^level.
		count := size >> (transparency.TileHeight * n.level)
		tn := n.index / transparency.TileWidth
		w := min(count-tn*transparency.TileWidth, transparency.TileWidth)
		id := transparency.TileID{Level: n.level, N: tn, Width: int(w)}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b transparency.TileID) int {
		if c := cmp.Compare(a.Level, b.Level); c != 0 {
			return c
		}
		return cmp.Compare(a.N, b.N)
	})
	return out
}

// UpperTiles returns the hash tiles above level 0 that hold tree nodes
// completed by the new entries, to be checked with CheckUpperTile. It is
// empty until all of Tiles were added.
func (y *Sync) UpperTiles() []transparency.TileID { return y.upper[y.checked:] }

// CheckUpperTile verifies a hash tile above level 0, given as served: each
// hash of a node completed by the new entries must be the one computed
// from them, so that clients reading proofs from the tiles (C2SP
// tlog-tiles) get the tree the monitor verified. id must be the next tile
// of UpperTiles; data holds id.Width hashes, or the TileWidth hashes of the
// full tile in place of a partial one.
func (y *Sync) CheckUpperTile(id transparency.TileID, data []byte) error {
	if y.checked >= len(y.upper) {
		return fmt.Errorf("check tile %s: sync needs no more upper tiles", id.Path())
	}
	if want := y.upper[y.checked]; id != want {
		return fmt.Errorf("check tile %s: want %s", id.Path(), want.Path())
	}
	hashes, err := transparency.ParseHashTile(data)
	if err != nil {
		return fmt.Errorf("%w: tile %s: %v", transparency.ErrVerification, id.Path(), err)
	}
	if len(hashes) != id.Width && len(hashes) != transparency.TileWidth {
		return fmt.Errorf("%w: tile %s: %d hashes, want %d", transparency.ErrVerification, id.Path(), len(hashes), id.Width)
	}
	base := id.N * transparency.TileWidth
	for i := range id.Width {
		idx := base + uint64(i)
		want, ok := y.nodes[nodeID{level: id.Level, index: idx}]
		if ok && hashes[i] != want {
			return &TileMismatchError{Level: id.Level, Index: idx, Served: hashes[i], Computed: want}
		}
	}
	y.checked++
	return nil
}

// Finish checks that every tile was verified and that the recomputed root
// equals the target checkpoint's root, and returns the new trusted State.
// It fails with a *RootMismatchError if the served entries do not lead to
// the signed root (AddTile of the last tile reports that first).
func (y *Sync) Finish() (*State, error) {
	if y.done != len(y.tiles) || y.Next() != y.target.Size {
		return nil, fmt.Errorf("finish sync: verified %d of %d leaves", y.Next(), y.target.Size)
	}
	if y.checked != len(y.upper) {
		return nil, fmt.Errorf("finish sync: checked %d of %d upper hash tiles", y.checked, len(y.upper))
	}
	if err := y.checkRoot(); err != nil {
		return nil, err
	}
	return &State{Checkpoint: y.target, Frontier: fromSlices(y.rng.Hashes())}, nil
}
