package sequencer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/clawnet/ledger/transparency"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Checkpoint returns the latest committed signed checkpoint, its tree size
// and root. The returned slice must not be modified.
func (l *Log) Checkpoint() (signed []byte, size uint64, root transparency.Hash) {
	st := l.state.Load()
	return st.checkpoint, st.size, st.root
}

// Size returns the committed tree size.
func (l *Log) Size() uint64 { return l.state.Load().size }

// Entry returns the exact bytes of the entry at index (the bytes that were
// hashed), or ErrNotFound if index >= Size().
func (l *Log) Entry(index uint64) ([]byte, error) {
	if size := l.Size(); index >= size {
		return nil, fmt.Errorf("entry %d: %w (tree size %d)", index, ErrNotFound, size)
	}
	v, err := l.db.Get(entryKey(nil, index))
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", index, err)
	}
	return v, nil
}

// LeafHashAt returns the leaf hash of the entry at index, or ErrNotFound if
// index >= Size().
func (l *Log) LeafHashAt(index uint64) (transparency.Hash, error) {
	if size := l.Size(); index >= size {
		return transparency.Hash{}, fmt.Errorf("leaf hash %d: %w (tree size %d)", index, ErrNotFound, size)
	}
	return l.hashAt(0, index)
}

// IndexOf returns the lowest index whose entry has the given leaf hash, or
// ErrNotFound.
func (l *Log) IndexOf(leaf transparency.Hash) (uint64, error) {
	size := l.Size()
	var (
		found bool
		index uint64
	)
	// Keys sort by index within a leaf-hash prefix, so the first confirmed
	// key is the lowest index.
	err := l.db.Scan(leafKey(nil, leaf, 0), leafKey(nil, leaf, size), func(k, _ []byte) (bool, error) {
		i, err := keyIndex(k)
		if err != nil {
			return false, err
		}
		h, err := l.hashAt(0, i)
		if err != nil {
			return false, err
		}
		if h == leaf {
			found, index = true, i
			return false, nil
		}
		return true, nil // same 8-byte prefix, different leaf
	})
	if err != nil {
		return 0, fmt.Errorf("index of leaf %s: %w", leaf, err)
	}
	if !found {
		return 0, fmt.Errorf("index of leaf %s: %w", leaf, ErrNotFound)
	}
	return index, nil
}

// RootAt returns the root hash of the tree of the given size, any size up
// to Size().
func (l *Log) RootAt(size uint64) (transparency.Hash, error) {
	st := l.state.Load()
	if size > st.size {
		return transparency.Hash{}, fmt.Errorf("root at %d: %w: larger than the tree size %d", size, ErrInvalid, st.size)
	}
	return l.rootAt(size, st)
}

func (l *Log) rootAt(size uint64, st *state) (transparency.Hash, error) {
	if size == st.size {
		return st.root, nil
	}
	if size == 0 {
		return transparency.EmptyRoot(), nil
	}
	hs, err := l.nodeHashes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return transparency.Hash{}, fmt.Errorf("root at %d: %w", size, err)
	}
	root := transparency.Hash(hs[len(hs)-1])
	for i := len(hs) - 2; i >= 0; i-- {
		root = transparency.NodeHash(transparency.Hash(hs[i]), root)
	}
	return root, nil
}

// nodeHashes returns the hashes of complete subtrees of the committed tree:
// from memory when cached (levels >= cacheLevel, and the recent part of the
// levels below), else computed from the stored leaf hashes.
//
// A subtree below cacheLevel spans at most 2^cacheLevel leaves, and the
// uncached nodes of one inclusion proof (its siblings below cacheLevel and
// the leaf) all lie in the same aligned run of 2^cacheLevel leaves: one
// range scan of adjacent level-0 keys, usually a single block, and at most
// 2^cacheLevel - cacheLevel - 1 hash computations replace up to
// cacheLevel + 1 point reads in different parts of the key space. The
// interior hashes stored for those levels are not read here (Open reads
// them to rebuild the frontier); the proof built from them is verified
// against the root before it is returned anyway.
func (l *Log) nodeHashes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	buf := make([]byte, len(ids)*transparency.HashSize)
	var dbBuf [16]int
	fromDB := dbBuf[:0] // indexes into ids of the hashes to compute from stored leaves
	missing := false
	l.cacheMu.RLock()
	for i, id := range ids {
		out[i] = buf[i*transparency.HashSize : (i+1)*transparency.HashSize : (i+1)*transparency.HashSize]
		if h, ok := l.cachedLocked(id.Level, id.Index); ok {
			copy(out[i], h[:])
			continue
		}
		if id.Level >= cacheLevel {
			missing = true
			break
		}
		fromDB = append(fromDB, i)
	}
	l.cacheMu.RUnlock()
	if missing {
		return nil, errors.New("tree cache is missing a committed hash")
	}
	// Group the nodes by their aligned run of 2^cacheLevel leaves and read
	// each run's needed leaves once.
	var leaves [1 << cacheLevel]transparency.Hash
	for len(fromDB) > 0 {
		run := ids[fromDB[0]].Index << ids[fromDB[0]].Level >> cacheLevel
		lo, hi := uint64(1)<<63, uint64(0)
		for _, i := range fromDB {
			id := ids[i]
			first := id.Index << id.Level
			if first>>cacheLevel != run {
				continue
			}
			lo, hi = min(lo, first), max(hi, first+1<<id.Level)
		}
		if err := l.readLeaves(lo, leaves[:hi-lo]); err != nil {
			return nil, err
		}
		rest := fromDB[:0]
		for _, i := range fromDB {
			id := ids[i]
			first := id.Index << id.Level
			if first>>cacheLevel != run {
				rest = append(rest, i)
				continue
			}
			// A scratch copy: subtreeHash overwrites its input, and the
			// nodes asked for may overlap.
			var scratch [1 << cacheLevel]transparency.Hash
			w := copy(scratch[:], leaves[first-lo:first-lo+1<<id.Level])
			h := subtreeHash(scratch[:w])
			copy(out[i], h[:])
		}
		fromDB = rest
	}
	return out, nil
}

// readLeaves reads the stored leaf hashes of indexes [lo, lo+len(dst)) into
// dst with one range scan.
func (l *Log) readLeaves(lo uint64, dst []transparency.Hash) error {
	var kb1, kb2 [len(hashPrefix) + 9]byte
	next := lo
	end := lo + uint64(len(dst))
	err := l.db.Scan(hashKey(kb1[:0], 0, lo), hashKey(kb2[:0], 0, end), func(k, v []byte) (bool, error) {
		i, err := keyIndex(k)
		if err != nil {
			return false, err
		}
		if i != next || len(v) != transparency.HashSize {
			return false, fmt.Errorf("leaf hash %d missing or malformed", next)
		}
		dst[i-lo] = transparency.Hash(v)
		next++
		return true, nil
	})
	if err == nil && next != end {
		err = fmt.Errorf("leaf hash %d missing", next)
	}
	if err != nil {
		return fmt.Errorf("read leaf hashes [%d, %d): %w", lo, end, err)
	}
	return nil
}

// subtreeHash is the RFC 6962 hash of the complete subtree whose leaf
// hashes are hs (a power of two of them, at most 2^cacheLevel). It
// overwrites hs.
func subtreeHash(hs []transparency.Hash) transparency.Hash {
	var in [1 + 2*transparency.HashSize]byte
	in[0] = 1 // RFC 6962 interior node prefix
	for n := len(hs); n > 1; n /= 2 {
		for j := 0; j < n/2; j++ {
			copy(in[1:], hs[2*j][:])
			copy(in[1+transparency.HashSize:], hs[2*j+1][:])
			hs[j] = sha256.Sum256(in[:])
		}
	}
	return hs[0]
}

// cachedLocked returns the hash of the complete subtree (level, index) if it
// is in memory. The caller holds cacheMu.
func (l *Log) cachedLocked(level uint, index uint64) (transparency.Hash, bool) {
	if level >= cacheLevel {
		lv := int(level - cacheLevel)
		if lv < len(l.cache) && index < uint64(len(l.cache[lv])) {
			return l.cache[lv][index], true
		}
		return transparency.Hash{}, false
	}
	r := &l.recent[level]
	if index >= r.base && index-r.base < uint64(len(r.hashes)) {
		return r.hashes[index-r.base], true
	}
	return transparency.Hash{}, false
}

// hashAt returns the hash of a committed complete subtree, from memory or
// from the database.
func (l *Log) hashAt(level uint, index uint64) (transparency.Hash, error) {
	l.cacheMu.RLock()
	h, ok := l.cachedLocked(level, index)
	l.cacheMu.RUnlock()
	if ok {
		return h, nil
	}
	return l.storedHash(level, index)
}

func toHashes(hs [][]byte) []transparency.Hash {
	out := make([]transparency.Hash, len(hs))
	for i, h := range hs {
		out[i] = transparency.Hash(h)
	}
	return out
}

// InclusionProof returns the RFC 9162 inclusion proof of the entry at index
// in the tree of the given size (index < size <= Size()). The proof is
// verified against RootAt(size) before it is returned.
func (l *Log) InclusionProof(index, size uint64) ([]transparency.Hash, error) {
	inc, err := l.ProveInclusion(index, size)
	return inc.Proof, err
}

// Inclusion is an inclusion proof together with what it was verified
// against.
type Inclusion struct {
	Index, Size uint64
	// LeafHash is the stored leaf hash of the entry at Index.
	LeafHash transparency.Hash
	// Root is the root of the tree of Size that Proof was verified against.
	Root  transparency.Hash
	Proof []transparency.Hash
}

// ProveInclusion is InclusionProof that also returns the leaf hash and the
// root that the proof was verified against, so that a caller (the HTTP
// handler) neither reads the leaf hash again nor repeats the verification.
func (l *Log) ProveInclusion(index, size uint64) (Inclusion, error) {
	st := l.state.Load()
	if size > st.size {
		return Inclusion{}, fmt.Errorf("inclusion proof: %w: tree size %d is larger than the log's %d", ErrInvalid, size, st.size)
	}
	if index >= size {
		return Inclusion{}, fmt.Errorf("inclusion proof: %w: index %d is not below tree size %d", ErrInvalid, index, size)
	}
	l.metrics.inclusionProofs.Inc()
	p, root, leaf, err := l.inclusion(index, size, st)
	if err != nil {
		return Inclusion{}, err
	}
	return Inclusion{Index: index, Size: size, LeafHash: leaf, Root: root, Proof: p}, nil
}

// inclusion builds and verifies an inclusion proof; it also returns the
// root it was verified against and the leaf hash. index < size <= st.size.
func (l *Log) inclusion(index, size uint64, st *state) ([]transparency.Hash, transparency.Hash, transparency.Hash, error) {
	var root, leaf transparency.Hash
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, root, leaf, fmt.Errorf("inclusion proof %d in %d: %w", index, size, err)
	}
	// The leaf goes with the siblings: it lies in the same run of leaves
	// as the lowest ones, so nodeHashes reads them all with one scan.
	n := len(nodes.IDs)
	hs, err := l.nodeHashes(append(nodes.IDs[:n:n], compact.NewNodeID(0, index)))
	if err != nil {
		return nil, root, leaf, fmt.Errorf("inclusion proof %d in %d: %w", index, size, err)
	}
	leaf = transparency.Hash(hs[n])
	hs, err = nodes.Rehash(hs[:n], transparency.Hasher.HashChildren)
	if err != nil {
		return nil, root, leaf, fmt.Errorf("inclusion proof %d in %d: %w", index, size, err)
	}
	p := toHashes(hs)
	if root, err = l.rootAt(size, st); err != nil {
		return nil, root, leaf, fmt.Errorf("inclusion proof %d in %d: %w", index, size, err)
	}
	if err := transparency.VerifyInclusion(index, size, leaf, p, root); err != nil {
		l.logger.Error("built an inclusion proof that does not verify", "index", index, "size", size, "err", err)
		return nil, root, leaf, fmt.Errorf("inclusion proof %d in %d: internal error: the proof built from the stored tree does not verify", index, size)
	}
	return p, root, leaf, nil
}

// ConsistencyProof returns the RFC 9162 consistency proof between the trees
// of sizes size1 <= size2 <= Size(). It is verified against RootAt(size1)
// and RootAt(size2) before it is returned. It is empty if size1 is 0 or
// size1 == size2.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([]transparency.Hash, error) {
	st := l.state.Load()
	if size2 > st.size {
		return nil, fmt.Errorf("consistency proof: %w: tree size %d is larger than the log's %d", ErrInvalid, size2, st.size)
	}
	if size1 > size2 {
		return nil, fmt.Errorf("consistency proof: %w: old size %d is larger than new size %d", ErrInvalid, size1, size2)
	}
	l.metrics.proofs.WithLabelValues("consistency").Inc()
	wrap := func(err error) error { return fmt.Errorf("consistency proof %d to %d: %w", size1, size2, err) }
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, wrap(err)
	}
	hs, err := l.nodeHashes(nodes.IDs)
	if err != nil {
		return nil, wrap(err)
	}
	hs, err = nodes.Rehash(hs, transparency.Hasher.HashChildren)
	if err != nil {
		return nil, wrap(err)
	}
	p := toHashes(hs)
	root1, err := l.rootAt(size1, st)
	if err != nil {
		return nil, wrap(err)
	}
	root2, err := l.rootAt(size2, st)
	if err != nil {
		return nil, wrap(err)
	}
	if err := transparency.VerifyConsistency(size1, size2, root1, root2, p); err != nil {
		l.logger.Error("built a consistency proof that does not verify", "size1", size1, "size2", size2, "err", err)
		return nil, wrap(errors.New("internal error: the proof built from the stored tree does not verify"))
	}
	return p, nil
}

// Receipt returns a receipt for the entry at index against the latest
// checkpoint, or ErrNotFound if index >= Size().
func (l *Log) Receipt(index uint64) (*transparency.Receipt, error) {
	st := l.state.Load()
	if index >= st.size {
		return nil, fmt.Errorf("receipt %d: %w (tree size %d)", index, ErrNotFound, st.size)
	}
	l.metrics.inclusionProofs.Inc()
	p, _, _, err := l.inclusion(index, st.size, st)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	entry, err := l.Entry(index)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	return &transparency.Receipt{
		Format:         transparency.ReceiptFormat,
		Index:          index,
		Entry:          entry,
		InclusionProof: p,
		Checkpoint:     string(st.checkpoint),
	}, nil
}

// ReceiptFor returns a receipt for an appended entry against the checkpoint
// in a, so that the caller gets a receipt for exactly its batch. It fails
// with ErrInvalid if a does not describe an entry of this log.
func (l *Log) ReceiptFor(a Appended) (*transparency.Receipt, error) {
	st := l.state.Load()
	if a.Size > st.size || a.Index >= a.Size {
		return nil, fmt.Errorf("receipt: %w: index %d, size %d, log size %d", ErrInvalid, a.Index, a.Size, st.size)
	}
	var cp transparency.Checkpoint
	if last := l.lastCP.Load(); last != nil && bytes.Equal(last.signed, a.Checkpoint) {
		cp = last.cp
	} else {
		var err error
		if cp, err = parseStoredCheckpoint(a.Checkpoint, l.origin, l.signer.KeyHash()); err != nil {
			return nil, fmt.Errorf("receipt: %w: %w", ErrInvalid, err)
		}
		l.lastCP.Store(&parsedCheckpoint{signed: bytes.Clone(a.Checkpoint), cp: cp})
	}
	if cp.Size != a.Size {
		return nil, fmt.Errorf("receipt: %w: checkpoint size %d is not %d", ErrInvalid, cp.Size, a.Size)
	}
	l.metrics.inclusionProofs.Inc()
	p, root, leaf, err := l.inclusion(a.Index, a.Size, st)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if root != cp.Root {
		return nil, fmt.Errorf("receipt: %w: the checkpoint's root is not the log's root at size %d", ErrInvalid, a.Size)
	}
	if leaf != a.LeafHash {
		return nil, fmt.Errorf("receipt: %w: leaf hash of entry %d is not %s", ErrInvalid, a.Index, a.LeafHash)
	}
	entry := a.Entry
	if entry == nil || transparency.LeafHash(entry) != leaf {
		if entry, err = l.db.Get(entryKey(nil, a.Index)); err != nil {
			return nil, fmt.Errorf("receipt: entry %d: %w", a.Index, err)
		}
	}
	return &transparency.Receipt{
		Format:         transparency.ReceiptFormat,
		Index:          a.Index,
		Entry:          entry,
		InclusionProof: p,
		Checkpoint:     string(a.Checkpoint),
	}, nil
}

// parsedCheckpoint is a signed checkpoint that parseStoredCheckpoint
// accepted, and what it parsed.
type parsedCheckpoint struct {
	signed []byte
	cp     transparency.Checkpoint
}

// ReadTile returns a C2SP tlog-tiles resource: the hash tile at level
// t.Level (tree level 8*t.Level) or the entry bundle, N, of width t.Width.
// It is available (else ErrNotFound) when its 256*N+Width hashes or entries
// exist in the committed tree: a full tile once complete, a partial tile
// once at least that many exist.
func (l *Log) ReadTile(t transparency.TileID) ([]byte, error) {
	if t.Width < 1 || t.Width > transparency.TileWidth || (!t.Entries && (t.Level < 0 || t.Level > 7)) {
		return nil, fmt.Errorf("tile %+v: %w", t, ErrInvalid)
	}
	size := l.Size()
	avail := size
	if !t.Entries {
		avail = size >> (transparency.TileHeight * uint(t.Level))
	}
	w := uint64(t.Width)
	if t.N > avail/transparency.TileWidth || avail-t.N*transparency.TileWidth < w {
		return nil, fmt.Errorf("tile %s: %w (tree size %d)", t.Path(), ErrNotFound, size)
	}
	start := t.N * transparency.TileWidth
	if t.Entries {
		return l.readBundle(start, w)
	}
	if t.Level == 0 {
		return l.readLeafTile(start, w)
	}
	level := uint(transparency.TileHeight * t.Level)
	out := make([]byte, 0, w*transparency.HashSize)
	l.cacheMu.RLock()
	defer l.cacheMu.RUnlock()
	lv := int(level - cacheLevel)
	if lv >= len(l.cache) || start+w > uint64(len(l.cache[lv])) {
		return nil, fmt.Errorf("tile %s: tree cache is missing a committed hash", t.Path())
	}
	for _, h := range l.cache[lv][start : start+w] {
		out = append(out, h[:]...)
	}
	return out, nil
}

func (l *Log) readBundle(start, w uint64) ([]byte, error) {
	out := make([]byte, 0, w*256)
	next := start
	err := l.db.Scan(entryKey(nil, start), entryKey(nil, start+w), func(k, v []byte) (bool, error) {
		i, err := keyIndex(k)
		if err != nil {
			return false, err
		}
		if i != next {
			return false, fmt.Errorf("entry %d missing", next)
		}
		next++
		out = transparency.AppendBundleEntry(out, v)
		return true, nil
	})
	if err == nil && next != start+w {
		err = fmt.Errorf("entry %d missing", next)
	}
	if err != nil {
		return nil, fmt.Errorf("entry bundle at %d: %w", start, err)
	}
	return out, nil
}

func (l *Log) readLeafTile(start, w uint64) ([]byte, error) {
	out := make([]byte, 0, w*transparency.HashSize)
	next := start
	err := l.db.Scan(hashKey(nil, 0, start), hashKey(nil, 0, start+w), func(k, v []byte) (bool, error) {
		i, err := keyIndex(k)
		if err != nil {
			return false, err
		}
		if i != next || len(v) != transparency.HashSize {
			return false, fmt.Errorf("leaf hash %d missing or malformed", next)
		}
		next++
		out = append(out, v...)
		return true, nil
	})
	if err == nil && next != start+w {
		err = fmt.Errorf("leaf hash %d missing", next)
	}
	if err != nil {
		return nil, fmt.Errorf("hash tile at level 0, %d: %w", start, err)
	}
	return out, nil
}
