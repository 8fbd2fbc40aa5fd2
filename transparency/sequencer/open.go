package sequencer

import (
	"context"
	"errors"
	"fmt"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/transparency-dev/merkle/compact"
)

// load reads the committed state from the database (see Recovery in the
// package doc) and sets l.work, l.cache and l.state. It runs before the
// sequencer goroutine starts.
func (l *Log) load(ctx context.Context) error {
	signed, err := l.db.Get(cpKey)
	if errors.Is(err, store.ErrNotFound) {
		return l.create(ctx)
	}
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := parseStoredCheckpoint(signed, l.origin, l.signer.KeyHash())
	if err != nil {
		return err
	}
	size := cp.Size

	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := l.storedHash(id.Level, id.Index)
		if err != nil {
			return fmt.Errorf("rebuild frontier of size %d: %w", size, err)
		}
		hashes[i] = h[:]
	}
	tree, err := l.factory.NewRange(0, size, hashes)
	if err != nil {
		return fmt.Errorf("rebuild frontier of size %d: %w", size, err)
	}
	root := transparency.EmptyRoot()
	if size > 0 {
		r, err := tree.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("rebuild frontier of size %d: %w", size, err)
		}
		root = transparency.Hash(r)
	}
	if root != cp.Root {
		return fmt.Errorf("stored tree hashes of size %d give root %s but the stored checkpoint says %s: the database is corrupt, refusing to open", size, root, cp.Root)
	}
	if err := l.removeBeyond(ctx, size); err != nil {
		return err
	}
	if err := l.loadCache(ctx, size); err != nil {
		return err
	}
	l.work = tree
	l.state.Store(&state{size: size, root: root, checkpoint: signed})
	return nil
}

// create starts an empty log: it removes any stray log keys and commits a
// signed checkpoint for size 0.
func (l *Log) create(ctx context.Context) error {
	if err := l.removeBeyond(ctx, 0); err != nil {
		return err
	}
	root := transparency.EmptyRoot()
	cp, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: l.origin, Size: 0, Root: root}, l.signer)
	if err != nil {
		return fmt.Errorf("sign checkpoint of size 0: %w", err)
	}
	b := l.db.NewBatch()
	b.Set(cpKey, cp)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("store checkpoint of size 0: %w", err)
	}
	l.work = l.factory.NewEmptyRange(0)
	l.state.Store(&state{size: 0, root: root, checkpoint: cp})
	return nil
}

// storedHash reads the hash of the complete subtree (level, index) from the
// database.
func (l *Log) storedHash(level uint, index uint64) (transparency.Hash, error) {
	var h transparency.Hash
	v, err := l.db.Get(hashKey(nil, level, index))
	if err != nil {
		return h, fmt.Errorf("tree hash (%d, %d): %w", level, index, err)
	}
	if len(v) != transparency.HashSize {
		return h, fmt.Errorf("tree hash (%d, %d): %d bytes", level, index, len(v))
	}
	return transparency.Hash(v), nil
}

// loadCache reads the in-memory caches of the tree of the given size: every
// stored hash at levels >= cacheLevel into l.cache and the most recent ones
// below into l.recent, checking that each level is dense.
func (l *Log) loadCache(ctx context.Context, size uint64) error {
	l.cache = l.cache[:0]
	for level := uint(0); level < 64 && size>>level > 0; level++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := size >> level
		var from uint64
		if level < cacheLevel {
			from = n - min(n, uint64(recentLeaves>>level))
		}
		hs, err := l.loadLevel(level, from, n)
		if err != nil {
			return err
		}
		if level < cacheLevel {
			l.recent[level] = recentRun{base: from, hashes: hs}
		} else {
			l.cache = append(l.cache, hs)
		}
	}
	return nil
}

// loadLevel reads the stored hashes of one level, indexes [from, to).
func (l *Log) loadLevel(level uint, from, to uint64) ([]transparency.Hash, error) {
	// Little spare room: at 10 million entries the levels kept in memory
	// are 40 MB, and the Go heap limit of clawnet serve follows the live
	// heap; appends grow the slices as needed.
	hs := make([]transparency.Hash, 0, (to-from)+(to-from)/64+256)
	err := l.db.Scan(hashKey(nil, level, from), hashKey(nil, level, to), func(k, v []byte) (bool, error) {
		i, err := keyIndex(k)
		if err != nil {
			return false, err
		}
		if i != from+uint64(len(hs)) || len(v) != transparency.HashSize {
			return false, fmt.Errorf("tree hash (%d, %d) missing or malformed", level, from+uint64(len(hs)))
		}
		hs = append(hs, transparency.Hash(v))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load tree level %d: %w", level, err)
	}
	if uint64(len(hs)) != to-from {
		return nil, fmt.Errorf("load tree level %d: %d hashes, want %d", level, len(hs), to-from)
	}
	return hs, nil
}

// removeBeyond deletes the entries, their leaf-index keys and the tree
// hashes that lie beyond size. A batch is atomic, so there should be none;
// if there are, the database was changed behind the log's back, and the
// checkpoint (the committed size) wins.
func (l *Log) removeBeyond(ctx context.Context, size uint64) error {
	b := l.db.NewBatch()
	defer func() {
		if b != nil {
			b.Discard()
		}
	}()
	var entries, hashes int
	err := l.db.Scan(entryKey(nil, size), []byte("t/e0"), func(k, v []byte) (bool, error) {
		i, err := keyIndex(k)
		if err != nil {
			return false, err
		}
		b.Delete(k)
		b.Delete(leafKey(nil, transparency.LeafHash(v), i))
		entries++
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("scan entries beyond %d: %w", size, err)
	}
	for level := uint(0); level < 64; level++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := l.db.Scan(hashKey(nil, level, size>>level), hashKey(nil, level+1, 0), func(k, _ []byte) (bool, error) {
			b.Delete(k)
			hashes++
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("scan tree hashes beyond %d: %w", size, err)
		}
	}
	if entries == 0 && hashes == 0 {
		return nil
	}
	l.logger.Warn("removing log keys beyond the checkpoint", "size", size, "entries", entries, "hashes", hashes)
	err = b.Commit()
	b = nil
	if err != nil {
		return fmt.Errorf("remove keys beyond %d: %w", size, err)
	}
	return nil
}
