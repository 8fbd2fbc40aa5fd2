// Package store is the one pebble database of a ClawNet ledger: the log and
// the state of every other package live in it, so that a state change and
// the log entry that records it commit in one synced batch.
//
// Keys are namespaced by a one-byte-plus-slash prefix owned by one package:
//
//	"t/"  transparency (entries, tree hashes, checkpoints)
//	"d/"  did (owners, agents, hosted DIDs, contacts)
//	"v/"  vc (credentials, status lists)
//	"s/"  server (requests, escalations, inboxes)
//
// Writes reach the database only through the log's sequencer (a Tx handed
// to an apply function) or through Batch for maintenance, and are durable
// (fsynced) once Commit returns.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrNotFound is returned by Get for a key that is not present.
var ErrNotFound = errors.New("not found")

// Options configure Open.
type Options struct {
	// FS is the file system; nil means the real disk. Tests use vfs.NewMem().
	FS vfs.FS
	// Logger receives pebble's own messages at debug level; nil discards them.
	Logger *slog.Logger
	// CacheSize is the block cache size in bytes on top of one memtable
	// (see Open); 0 means DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes; 0 means
	// DefaultMemTableSize.
	MemTableSize int64
	// TableWriteRate caps, in bytes per second, how fast memtable flushes
	// and compactions write table files, so that the log's fsyncs do not
	// queue behind them (pace.go): the least rate, raised with the log's
	// own write rate, and lifted while pebble is behind. 0 means
	// DefaultTableWriteRate; negative means no cap.
	TableWriteRate int64
}

// Defaults of Options, chosen for the 256 MB RSS budget of a log of 10
// million entries under proof load (spec/benchmarks.md). Pebble allocates
// its cache and memtables with C malloc, and RSS grew by about twice the
// cache capacity (CacheSize + MemTableSize, see Open) under proof load, so
// the capacity went from 128 to 56 MiB. A random inclusion proof reads one
// block of leaf hashes, which at 10 million entries (~450 MB of leaf
// hashes) is seldom cached at any affordable size; a miss is a pread from
// the page cache. 48 MiB memtables kept the append rate of 64 MiB ones
// (32 MiB lost about 10 %).
const (
	DefaultCacheSize    = 8 << 20
	DefaultMemTableSize = 48 << 20
)

// DB is the database. It is safe for concurrent use.
type DB struct {
	pdb *pebble.DB
	// pace paces table writes; nil without a cap. stopPace and
	// paceDone stop its monitor, once.
	pace     *pacer
	stopPace chan struct{}
	paceDone chan struct{}
	stopOnce sync.Once
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, o Options) (*DB, error) {
	po := &pebble.Options{
		FS:                 o.FS,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{o.Logger},
		MemTableSize:       DefaultMemTableSize,
	}
	if o.MemTableSize > 0 {
		po.MemTableSize = uint64(o.MemTableSize)
	}
	size := o.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	// Pebble reserves the size of each live memtable out of the block
	// cache: without room for one memtable on top of size, the cache holds
	// no blocks at all while the log takes appends and every read goes to
	// the file (a server that appended and served proofs on a 100k-entry
	// log lost half its proof rate so). The capacity is also pebble's
	// memory budget: memtables plus cached blocks stay within size +
	// MemTableSize (the cache shrinks while a memtable flushes), and a
	// read-mostly server, whose memtable stays small, gives nearly all of
	// it to blocks. What C malloc keeps around them is bounded by
	// mallocArenas (malloc_cgo.go).
	c := pebble.NewCache(size + int64(po.MemTableSize))
	defer c.Unref()
	po.Cache = c
	if po.FS == nil {
		po.FS = vfs.Default
	}
	rate := o.TableWriteRate
	if rate == 0 {
		rate = DefaultTableWriteRate
	}
	var pace *pacer
	if rate > 0 {
		pace = newPacer(rate)
		po.FS = pacedFS{FS: po.FS, p: pace}
		po.EventListener = pace.listener()
	}
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	db := &DB{pdb: pdb, pace: pace}
	if pace != nil {
		db.stopPace, db.paceDone = make(chan struct{}), make(chan struct{})
		go pace.monitor(pdb.Metrics, db.stopPace, db.paceDone)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.pace != nil {
		db.stopOnce.Do(func() { close(db.stopPace) })
		<-db.paceDone
		// Close flushes nothing (the WAL holds the memtable), but a
		// running compaction finishes unpaced.
		defer db.pace.lift()()
	}
	return db.pdb.Close()
}

// unpaced lifts the table-write cap, if any, until the returned function
// is called.
func (db *DB) unpaced() func() {
	if db.pace == nil {
		return func() {}
	}
	return db.pace.lift()
}

// Get returns a copy of the value of key, or ErrNotFound.
func (db *DB) Get(key []byte) ([]byte, error) {
	v, closer, err := db.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store get: %w", err)
	}
	out := bytes.Clone(v)
	if closer != nil {
		_ = closer.Close()
	}
	return out, nil
}

// Scan calls fn for every key in [start, end) in order, until fn returns
// false or an error. Key and value are only valid during the call.
func (db *DB) Scan(start, end []byte, fn func(key, value []byte) (bool, error)) error {
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("store scan: %w", err)
		}
		more, err := fn(it.Key(), v)
		if err != nil {
			it.Close()
			return err
		}
		if !more {
			break
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return fmt.Errorf("store scan: %w", err)
	}
	return it.Close()
}

// Last returns a copy of the greatest key in [start, end), or nil if there
// is none.
func (db *DB) Last(start, end []byte) ([]byte, error) {
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return nil, fmt.Errorf("store last: %w", err)
	}
	var k []byte
	if it.Last() {
		k = bytes.Clone(it.Key())
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, fmt.Errorf("store last: %w", err)
	}
	return k, it.Close()
}

// Batch is a set of writes that commit atomically. It is not safe for
// concurrent use.
type Batch struct {
	b *pebble.Batch
}

// NewBatch starts a batch.
func (db *DB) NewBatch() *Batch { return &Batch{b: db.pdb.NewBatch()} }

// Set records a write of key to value. Both are copied.
func (b *Batch) Set(key, value []byte) { _ = b.b.Set(key, value, nil) }

// Delete records a deletion of key.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// Len is the number of bytes in the batch's representation.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch and syncs it to stable storage. The batch cannot
// be used afterwards.
func (b *Batch) Commit() error {
	err := b.b.Commit(pebble.Sync)
	_ = b.b.Close()
	if err != nil {
		return fmt.Errorf("store commit: %w", err)
	}
	return nil
}

// Discard drops the batch without writing it.
func (b *Batch) Discard() { _ = b.b.Close() }

// Metrics returns pebble's own metrics, for diagnostics.
func (db *DB) Metrics() *pebble.Metrics { return db.pdb.Metrics() }

// Flush flushes the memtable to sstables, at full speed; used by
// benchmarks that measure bytes on disk.
func (db *DB) Flush() error {
	defer db.unpaced()()
	return db.pdb.Flush()
}

// Compact compacts the whole key space, at full speed; used by benchmarks.
func (db *DB) Compact() error {
	defer db.unpaced()()
	return db.pdb.Compact(nil, []byte{0xff}, []byte{0xff, 0xff, 0xff, 0xff}, true)
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l != nil {
		p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	if p.l != nil {
		p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	if p.l != nil {
		p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
	panic(fmt.Sprintf(format, args...))
}

// PrefixEnd returns the smallest key greater than every key with prefix p,
// or nil (no upper bound) if there is none: p is empty or all 0xff.
func PrefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
