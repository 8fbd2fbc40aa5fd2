// Package sequencer is the durable ClawNet accountability log: an
// append-only RFC 6962/9162 Merkle tree kept in the shared pebble database
// (transparency/store). One goroutine sequences concurrent appends into
// group-committed batches.
//
// What it promises:
//
//   - Append returns success only after the batch that holds the entry is
//     synced to disk. The batch is ONE store.Batch: the entries, every new
//     tree hash, the leaf-hash index, the writes of the entries' Apply
//     functions and the batch's signed checkpoint. An acknowledged entry
//     survives any crash, and a crash never leaves half a batch.
//   - Indexes are dense and unique and the tree only grows. Each batch that
//     adds at least one entry gets exactly one checkpoint (C2SP
//     tlog-checkpoint, signed as a C2SP signed-note); the stored checkpoint's
//     tree size IS the committed size of the log.
//   - Readers (entries, roots, proofs, receipts, tiles) see committed state
//     only, never anything beyond the latest committed checkpoint.
//   - Every proof is checked with transparency.VerifyInclusion or
//     transparency.VerifyConsistency before it is returned; a proof that does
//     not check out is an internal error, never handed to a client.
//   - On a storage error the log fails closed: every waiting and later
//     append gets ErrFailed until the process opens the log again. The
//     entries of a failed batch are never acknowledged; after a restart
//     they are either all in the log or all absent, depending on what the
//     disk kept.
//
// # Concurrency
//
// Two goroutines write. The sequencer goroutine owns the tree's frontier:
// it takes the queued appends, runs their Apply functions in log order,
// hashes them into the frontier, writes one store.Batch and signs its
// checkpoint. The committer goroutine commits the batches in that order,
// with sync, publishes each one (first the in-memory hash cache, then the
// size, root and checkpoint behind an atomic pointer) and answers its
// callers. The sequencer builds the next batch while the committer syncs
// the previous one, so at most two batches are in flight; an Apply sees
// the writes of the batch in flight too. Readers use only published state.
//
// # Storage layout
//
// The log owns every key under "t/" (store reserves the prefix):
//
//	"t/e/" + 8-byte BE index                  -> entry bytes (exactly the hashed bytes)
//	"t/h/" + 1-byte level + 8-byte BE index    -> 32-byte hash of the complete subtree
//	                                             (level, index); level 0 = leaf hashes
//	"t/l/" + leaf hash[:8] + 8-byte BE index   -> empty (leaf-hash index)
//	"t/cp"                                     -> the latest signed checkpoint
//
// A level-0 C2SP hash tile or entry bundle is a range scan of "t/h/" or
// "t/e/". All hashes at tree levels >= 4 (one per 8 leaves in all, 40 MB
// at 10 million entries) are also kept in memory, and so are all hashes of
// the most recent 32,768 leaves: a proof reads one run of at most 16
// adjacent leaf hashes from pebble (one range scan) and computes its lower
// siblings from them, and reads nothing for a recent entry. Higher hash
// tiles are served from memory.
//
// # Recovery
//
// Open takes the size from "t/cp", rebuilds the frontier from the stored
// hashes and refuses to open if the recomputed root differs from the
// checkpoint's. Keys beyond the checkpoint's size cannot exist (a batch is
// atomic), but Open is defensive: it deletes entries ("t/e/"), tree hashes
// ("t/h/") and the leaf-index keys of those entries beyond the size, logging
// a warning. Leaf-index keys at or beyond the size that have no entry are
// ignored, not deleted: IndexOf only looks below the size and confirms the
// full leaf hash.
package sequencer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

var (
	// ErrNotFound: an index at or beyond the size, an unknown leaf hash, a
	// tile that is not available for the current size.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: a bad argument, such as a tree size beyond the current
	// size or size1 > size2. Always wrapped with context.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the log is closed.
	ErrClosed = errors.New("log closed")
	// ErrFailed: the log hit a storage error it cannot recover from; it
	// refuses all appends until it is opened again.
	ErrFailed = errors.New("log failed")
)

// DefaultMaxBatchSize is the batch size bound when Config.MaxBatchSize is 0.
const DefaultMaxBatchSize = 4096

// Config configures Open. Each field's comment is its documentation.
type Config struct {
	// DB is the shared database; the log owns the keys under "t/". The log
	// does not close it.
	DB *store.DB
	// Signer signs checkpoints; Signer.Name() must equal Origin.
	Signer note.Signer
	// Origin is the checkpoint origin line, which names the log.
	Origin string
	// MaxBatchSize bounds the entries per batch; 0 means DefaultMaxBatchSize.
	MaxBatchSize int
	// MaxBatchAge is how long the sequencer may wait for more entries after
	// it took the first one of a batch. 0 means don't wait: a batch is
	// whatever queued up while the previous batch was syncing (natural
	// group commit), which gives the lowest latency.
	MaxBatchAge time.Duration
	// Clock is used only for metrics and logs (entries carry their own
	// time); nil means time.Now.
	Clock func() time.Time
	// Logger receives the log's messages; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics (clawnet_log_*); nil means no metrics.
	// Close unregisters them.
	Registerer prometheus.Registerer
}

// Apply is run by the sequencer goroutine, serially, in log order, just
// before its entry is added to the batch. It may read and write state
// through tx: reads see the writes of every earlier entry, even of a batch
// that is still being committed; its writes commit atomically with the
// entry. An error rejects that one entry: Append returns the error (once
// the batches before it are committed), nothing of the entry or of tx is
// written, and the rest of the batch goes on. Writing a key under "t/" is
// refused the same way. Apply must not block: the whole log waits for it.
// A panic in Apply is recovered and rejects the entry. tx.Index() is the
// index the entry gets if apply succeeds.
type Apply func(tx *store.Tx) error

// Appended is the outcome of a successful Append.
type Appended struct {
	// Index is the entry's position in the log.
	Index uint64
	// LeafHash is the RFC 6962 leaf hash of the entry bytes.
	LeafHash transparency.Hash
	// Checkpoint is the signed checkpoint of the batch that holds the entry
	// (its size > Index). It is shared by the whole batch: do not modify it.
	Checkpoint []byte
	// Size is that checkpoint's tree size.
	Size uint64
	// Entry is the exact entry bytes that were logged (shared with the
	// log: do not modify). ReceiptFor uses it instead of reading the entry.
	Entry []byte
}

// cacheLevel is the lowest tree level whose hashes are all kept in memory:
// one hash per 8 leaves in all, 40 MB for 10 million entries (levels >= 6
// took 10 MB but left six levels to pebble, and a random proof on a large
// log missed the block cache up to seven times). A proof reads the rest
// from one aligned run of at most 2^cacheLevel stored leaf hashes, nothing
// for recent entries.
const cacheLevel = 4

// recentLeaves is how much of the most recent part of the tree has all its
// hashes below cacheLevel in memory (4 MB at most), so that receipts and
// proofs for fresh entries, by far the most frequent, read nothing from
// pebble. A variable so that tests can make it small.
var recentLeaves = 1 << 15

// nodeHasher computes RFC 6962 interior node hashes for the frontier
// without allocating per node: the sequencer goroutine owns it, and the
// hashes it returns live in a slab that is reused once the frontier no
// longer points into it (build copies the frontier at the end of each
// batch).
type nodeHasher struct {
	buf  [1 + 2*transparency.HashSize]byte
	slab []byte
}

func (n *nodeHasher) hashChildren(left, right []byte) []byte {
	n.buf[0] = 1 // RFC 6962 interior node prefix
	copy(n.buf[1:], left)
	copy(n.buf[1+transparency.HashSize:], right)
	sum := sha256.Sum256(n.buf[:])
	if cap(n.slab)-len(n.slab) < transparency.HashSize {
		n.slab = make([]byte, 0, 256*transparency.HashSize)
	}
	n.slab = append(n.slab, sum[:]...)
	return n.slab[len(n.slab)-transparency.HashSize : len(n.slab) : len(n.slab)]
}

// reset lets the slab be reused: nothing may point into it any more.
func (n *nodeHasher) reset() { n.slab = n.slab[:0] }

// state is the published, committed state of the log. A *state is never
// modified after it is stored in Log.state.
type state struct {
	size       uint64
	root       transparency.Hash
	checkpoint []byte
}

// Log is the durable log. Its methods are safe for concurrent use.
type Log struct {
	db       *store.DB
	signer   note.Signer
	origin   string
	maxBatch int
	maxAge   time.Duration
	clock    func() time.Time
	logger   *slog.Logger
	metrics  *metrics

	// reqs carries appends to the sequencer goroutine. Append sends on it
	// while holding sendMu for reading; Close sets closed and closes reqs
	// while holding sendMu for writing, so nothing is sent on a closed
	// channel and everything sent before Close is sequenced.
	reqs   chan *request
	sendMu sync.RWMutex
	closed bool // guarded by sendMu

	// done is closed when both goroutines have exited.
	done           chan struct{}
	unregisterOnce sync.Once // Close unregisters the metrics once

	// failure is set once, by the committer goroutine (or the sequencer
	// on a bug), when the log fails.
	failure atomic.Pointer[error]

	// state is the latest committed state. Written by the committer
	// goroutine after each commit (and by Open before it starts); read by
	// anyone.
	state atomic.Pointer[state]
	// lastCP is the checkpoint ReceiptFor parsed last: the entries of a
	// batch share theirs, so their receipts parse it once.
	lastCP atomic.Pointer[parsedCheckpoint]

	// cache holds the hashes of tree levels >= cacheLevel:
	// cache[level-cacheLevel][index]. The committer goroutine appends to
	// it after a commit and before publishing the state that needs the new
	// hashes, so every reader that loaded a state finds all the hashes of
	// that state here. Guarded by cacheMu.
	cacheMu sync.RWMutex
	cache   [][]transparency.Hash
	// recent[level] holds the last hashes of each level below cacheLevel
	// (at least recentLeaves>>level of them once the tree is that big).
	// Maintained like cache, guarded by cacheMu.
	recent [cacheLevel]recentRun

	// The sequencer goroutine builds batches and hands them to the
	// committer goroutine on toCommit; the committer hands each one back
	// on free once it has answered its callers. There are pipelineDepth
	// batches, so the sequencer builds the next batch while the committer
	// syncs the previous one, and waits when both are in flight.
	toCommit chan *batchBuf
	free     chan *batchBuf

	// Owned by the sequencer goroutine (and by Open before it starts it);
	// no lock.
	work     *compact.Range    // the frontier of every batch built so far
	cur      *batchBuf         // the batch being built
	seq      uint64            // sequence number of the last batch built
	pending  map[string][]byte // Apply writes of the batches not known committed
	owner    map[string]uint64 // which batch wrote each key of pending last
	txWrites map[string][]byte // scratch: one Tx's writes
	keyBuf   []byte            // scratch for keys
	visitFn  compact.VisitFn   // l.visit, bound once
	visitErr error             // a frontier node out of order (a bug)
	hasher   nodeHasher        // node hashes of the frontier
	factory  *compact.RangeFactory
}

// pipelineDepth is the number of batches in flight: one syncing, one
// being built.
const pipelineDepth = 2

// batchBuf is one batch on its way from the sequencer goroutine, which
// builds it, to the committer goroutine, which commits it, publishes it
// and answers its callers. It belongs to whichever goroutine last received
// it on a channel; its slices are reused from batch to batch.
type batchBuf struct {
	seq      uint64
	batch    *store.Batch // nil if no entry was added
	added    []*request   // callers whose entry is in the batch, in log order
	rejected []*request   // callers whose Apply failed (r.err is set)
	size     uint64       // tree size after the batch
	root     transparency.Hash
	cp       []byte       // the batch's signed checkpoint
	levels   [64]levelRun // new tree hashes of the batch, by level
	leaves   []leafRec    // leaf-index records of the batch
	keys     []string     // state keys written by the batch's Applies
	start    time.Time
}

// levelRun holds the new hashes of one tree level in a batch: they are
// consecutive, from index first.
type levelRun struct {
	first  uint64
	hashes []transparency.Hash
}

// recentRun is the tail of one tree level: hashes of indexes base,
// base+1, ...
type recentRun struct {
	base   uint64
	hashes []transparency.Hash
}

// leafRec is a leaf-index key without its prefix, sortable as integers.
type leafRec struct{ prefix, index uint64 }

// Request states: a request is queued until the sequencer takes it
// (sequenced) or its caller gives up first (cancelled). Whoever wins the
// compare-and-swap decides the request's fate.
const (
	reqQueued int32 = iota
	reqSequenced
	reqCancelled
)

// request is one Append in flight. The caller's goroutine fills it and
// sends it; from then on the sequencer and then the committer goroutine own
// it (passed along with its batch), until one of them writes res and err
// and signals done, which hands the request back to the caller.
type request struct {
	entry  []byte
	leaf   transparency.Hash
	digest hash.Hash // SHA-256, reused with the request
	apply  Apply
	state  atomic.Int32
	done   chan struct{} // buffered 1
	res    Appended
	err    error
}

var requestPool = sync.Pool{New: func() any {
	return &request{done: make(chan struct{}, 1), digest: sha256.New()}
}}

// Open loads the log from cfg.DB (recovering from whatever a crash left, see
// the package doc) and starts the sequencer and committer goroutines. On an
// empty log it signs and stores a checkpoint for size 0. At most one Log may
// be open on a database at a time.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.DB == nil {
		return nil, errors.New("open log: no database")
	}
	if cfg.Signer == nil {
		return nil, errors.New("open log: no checkpoint signer")
	}
	if cfg.Origin == "" {
		return nil, errors.New("open log: empty origin")
	}
	if cfg.Signer.Name() != cfg.Origin {
		return nil, fmt.Errorf("open log: signer name %q is not the origin %q", cfg.Signer.Name(), cfg.Origin)
	}
	if cfg.MaxBatchSize < 0 || cfg.MaxBatchAge < 0 {
		return nil, errors.New("open log: negative batch bound")
	}
	l := &Log{
		db:       cfg.DB,
		signer:   cfg.Signer,
		origin:   cfg.Origin,
		maxBatch: cfg.MaxBatchSize,
		maxAge:   cfg.MaxBatchAge,
		clock:    cfg.Clock,
		logger:   cfg.Logger,
		pending:  map[string][]byte{},
		owner:    map[string]uint64{},
		txWrites: map[string][]byte{},
		done:     make(chan struct{}),
		toCommit: make(chan *batchBuf, pipelineDepth),
		free:     make(chan *batchBuf, pipelineDepth),
	}
	for range pipelineDepth {
		l.free <- &batchBuf{}
	}
	if l.maxBatch == 0 {
		l.maxBatch = DefaultMaxBatchSize
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.visitFn = l.visit
	l.factory = &compact.RangeFactory{Hash: l.hasher.hashChildren}
	l.reqs = make(chan *request, l.maxBatch)

	start := l.clock()
	if err := l.load(ctx); err != nil {
		return nil, fmt.Errorf("open log %q: %w", l.origin, err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("open log %q: metrics: %w", l.origin, err)
	}
	l.metrics = m
	st := l.state.Load()
	m.treeSize.Set(float64(st.size))
	l.logger.Info("log opened", "origin", l.origin, "size", st.size, "root", st.root.String(),
		"took", l.clock().Sub(start))
	go l.run()
	go l.commitLoop()
	return l, nil
}

// Append encodes e (in the caller's goroutine), queues it, and returns once
// the batch that holds it is synced to disk. apply may be nil; see Apply.
//
// If ctx ends before the sequencer took the entry, the entry is not
// appended and Append returns ctx's error. If the sequencer already took
// it, Append waits for the outcome of its batch (one commit) so that the
// caller learns the truth.
func (l *Log) Append(ctx context.Context, e *transparency.Entry, apply Apply) (Appended, error) {
	if e == nil {
		l.metrics.appendErrors.Inc()
		return Appended{}, fmt.Errorf("append: %w: nil entry", ErrInvalid)
	}
	if err := l.Err(); err != nil {
		l.metrics.appendErrors.Inc()
		return Appended{}, fmt.Errorf("append: %w", err)
	}
	b, err := e.Marshal()
	if err != nil {
		l.metrics.appendErrors.Inc()
		return Appended{}, fmt.Errorf("append: %w: %w", ErrInvalid, err)
	}
	return l.append(ctx, b, apply)
}

func (l *Log) append(ctx context.Context, entry []byte, apply Apply) (Appended, error) {
	if err := ctx.Err(); err != nil {
		return Appended{}, fmt.Errorf("append: %w", err)
	}
	r := requestPool.Get().(*request)
	r.entry = entry
	// The leaf hash is computed here, not in the sequencer, with the
	// request's own digest (transparency.LeafHash allocates one per call).
	r.digest.Reset()
	r.digest.Write([]byte{0}) // RFC 6962 leaf prefix
	r.digest.Write(entry)
	r.digest.Sum(r.leaf[:0])
	r.apply = apply
	r.res, r.err = Appended{}, nil
	r.state.Store(reqQueued)

	l.sendMu.RLock()
	if l.closed {
		l.sendMu.RUnlock()
		l.recycle(r)
		l.metrics.appendErrors.Inc()
		return Appended{}, fmt.Errorf("append: %w", ErrClosed)
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.sendMu.RUnlock()
		l.recycle(r)
		return Appended{}, fmt.Errorf("append: %w", ctx.Err())
	}
	l.sendMu.RUnlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			// The sequencer will skip r but may still look at it, so r
			// is left to the garbage collector, not put back in the pool.
			return Appended{}, fmt.Errorf("append: %w", ctx.Err())
		}
		<-r.done
	}
	res, err := r.res, r.err
	l.recycle(r)
	if err != nil {
		l.metrics.appendErrors.Inc()
	}
	return res, err
}

func (l *Log) recycle(r *request) {
	r.entry, r.apply, r.res, r.err = nil, nil, Appended{}, nil
	requestPool.Put(r)
}

// Close stops accepting appends (they get ErrClosed), finishes and syncs
// every batch already queued, answers its callers and stops both
// goroutines. It does not close the database. It returns Err().
func (l *Log) Close() error {
	l.sendMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.reqs)
	}
	l.sendMu.Unlock()
	<-l.done
	l.unregisterOnce.Do(l.metrics.unregister)
	return l.Err()
}

// Err returns nil, or an error wrapping ErrFailed and its cause once the log
// has failed.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail puts the log in the failed state (the first cause wins).
func (l *Log) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	if l.failure.CompareAndSwap(nil, &err) {
		l.logger.Error("log failed; refusing appends until restarted", "origin", l.origin, "err", cause)
	}
	return l.Err()
}

// run is the sequencer goroutine: it collects appends into batches and
// builds them.
func (l *Log) run() {
	defer close(l.toCommit)
	reqs := make([]*request, 0, l.maxBatch)
	var timer *time.Timer
	for {
		buf := <-l.free
		r, ok := <-l.reqs
		if !ok {
			return
		}
		reqs = append(reqs[:0], r)
		open := true
	drain:
		for len(reqs) < l.maxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					open = false
					break drain
				}
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		if open && l.maxAge > 0 && len(reqs) < l.maxBatch {
			if timer == nil {
				timer = time.NewTimer(l.maxAge)
			} else {
				timer.Reset(l.maxAge)
			}
		wait:
			for len(reqs) < l.maxBatch {
				select {
				case r, ok := <-l.reqs:
					if !ok {
						open = false
						break wait
					}
					reqs = append(reqs, r)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
		}
		l.build(buf, reqs)
		l.toCommit <- buf
		clear(reqs)
		if !open {
			return
		}
	}
}

// answer hands a request back to its caller.
func answer(r *request, res Appended, err error) {
	r.res, r.err = res, err
	r.done <- struct{}{}
}

// build turns requests into a batch: it runs their Apply functions, adds
// their entries to the frontier, writes everything into one store.Batch
// and signs the batch's checkpoint. Runs on the sequencer goroutine.
func (l *Log) build(buf *batchBuf, reqs []*request) {
	// The batch that last used buf is committed (or failed): its state
	// writes are in the database now, so Applies no longer need them from
	// pending, unless a later batch wrote the key again.
	for _, k := range buf.keys {
		if l.owner[k] == buf.seq {
			delete(l.pending, k)
			delete(l.owner, k)
		}
	}
	l.seq++
	*buf = batchBuf{
		seq: l.seq, added: buf.added[:0], rejected: buf.rejected[:0],
		levels: buf.levels, leaves: buf.leaves[:0], keys: buf.keys[:0],
		start: l.clock(),
	}
	for i := range buf.levels {
		buf.levels[i].hashes = buf.levels[i].hashes[:0]
	}
	l.cur = buf
	if l.Err() != nil {
		// The committer answers them all with the failure.
		for _, r := range reqs {
			if r.state.CompareAndSwap(reqQueued, reqSequenced) {
				buf.added = append(buf.added, r)
			}
		}
		return
	}
	buf.batch = l.db.NewBatch()
	for _, r := range reqs {
		if !r.state.CompareAndSwap(reqQueued, reqSequenced) {
			continue // its caller gave up first
		}
		if r.apply != nil {
			if err := l.runApply(r.apply); err != nil {
				r.err = err
				buf.rejected = append(buf.rejected, r)
				continue
			}
		}
		idx := l.work.End()
		buf.leaves = append(buf.leaves, leafRec{binary.BigEndian.Uint64(r.leaf[:leafPrefixLen]), idx})
		if err := l.work.Append(r.leaf[:], l.visitFn); err != nil && l.visitErr == nil {
			l.visitErr = fmt.Errorf("append leaf %d to the frontier: %w", idx, err)
		}
		buf.added = append(buf.added, r)
	}
	// The frontier may hold r.leaf[:] of requests that the committer will
	// answer and recycle, and hashes in the hasher's slab: copy it into
	// memory of its own.
	l.work = l.copyRange(l.work)
	l.hasher.reset()
	if l.visitErr != nil {
		// A bug: fail, and let the committer answer the callers.
		l.fail(l.visitErr)
		return
	}
	if len(buf.added) == 0 {
		buf.batch.Discard()
		buf.batch = nil
		return
	}
	buf.size = l.work.End()
	rootb, err := l.work.GetRootHash(nil)
	if err != nil {
		l.fail(fmt.Errorf("root of size %d: %w", buf.size, err))
		return
	}
	buf.root = transparency.Hash(rootb)
	buf.cp, err = transparency.SignCheckpoint(transparency.Checkpoint{Origin: l.origin, Size: buf.size, Root: buf.root}, l.signer)
	if err != nil {
		l.fail(fmt.Errorf("sign checkpoint of size %d: %w", buf.size, err))
		return
	}
	l.writeBatch(buf)
	buf.batch.Set(cpKey, buf.cp)
}

// commitLoop is the committer goroutine: it commits the batches in the
// order they were built, publishes each and answers its callers.
func (l *Log) commitLoop() {
	defer close(l.done)
	for buf := range l.toCommit {
		l.finish(buf)
		l.free <- buf
	}
}

// finish commits one batch (unless the log has failed), publishes it and
// answers its callers. Runs on the committer goroutine.
func (l *Log) finish(buf *batchBuf) {
	if buf.batch != nil && l.Err() == nil {
		commitStart := l.clock()
		err := commit(buf.batch)
		commitTime := l.clock().Sub(commitStart)
		l.metrics.commitSeconds.Observe(commitTime.Seconds())
		if err != nil {
			l.fail(fmt.Errorf("commit batch of %d entries (size %d): %w", len(buf.added), buf.size, err))
		} else if err := l.extendCache(buf); err != nil {
			// The batch is on disk, but the in-memory tree is
			// inconsistent: stop rather than serve wrong proofs. A
			// restart reloads it.
			l.fail(err)
		} else {
			l.state.Store(&state{size: buf.size, root: buf.root, checkpoint: buf.cp})
			l.metrics.appends.Add(float64(len(buf.added)))
			l.metrics.batchSize.Observe(float64(len(buf.added)))
			l.metrics.treeSize.Set(float64(buf.size))
			first := buf.size - uint64(len(buf.added))
			for i, r := range buf.added {
				answer(r, Appended{Index: first + uint64(i), LeafHash: r.leaf, Checkpoint: buf.cp, Size: buf.size, Entry: r.entry}, nil)
			}
			for _, r := range buf.rejected {
				answer(r, Appended{}, r.err)
			}
			l.logger.Debug("batch committed", "entries", len(buf.added), "size", buf.size,
				"commit", commitTime, "took", l.clock().Sub(buf.start))
			buf.batch = nil
			clear(buf.added)
			clear(buf.rejected)
			return
		}
	} else if buf.batch != nil {
		buf.batch.Discard()
	}
	buf.batch = nil
	// No commit: the log failed, during this batch or before it. The
	// rejected callers get the failure too, since their Apply may have
	// seen state that never became durable.
	if err := l.Err(); err != nil {
		err = fmt.Errorf("append: %w", err)
		for _, r := range buf.added {
			answer(r, Appended{}, err)
		}
		for _, r := range buf.rejected {
			answer(r, Appended{}, err)
		}
	} else {
		for _, r := range buf.rejected {
			answer(r, Appended{}, r.err)
		}
	}
	clear(buf.added)
	clear(buf.rejected)
}

// commit commits and syncs b. Pebble treats a failed WAL write or sync as
// fatal and calls its logger's Fatalf, which store turns into a panic; the
// panic is in this goroutine, after pebble released its locks. It is turned
// into an error so that the log fails closed (ErrFailed, reads still
// served) instead of taking the whole process down from inside a library.
// Pebble's commit pipeline is unusable afterwards, and after a failed sync
// the batch may even be visible in pebble's memtable, so the database must
// be closed and opened again (restart the process) before the log is.
func commit(b *store.Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store commit: pebble gave up: %v", p)
		}
	}()
	return b.Commit()
}

// runApply runs one Apply on a fresh Tx that sees the database and the
// writes of every batch not yet known to be committed, and, if it
// succeeds, moves its writes into the batch and into pending.
func (l *Log) runApply(apply Apply) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.logger.Error("apply panicked; entry rejected", "panic", p)
			err = fmt.Errorf("append: apply panicked: %v", p)
		}
	}()
	tx := store.NewTx(l.db, l.pending, l.work.End())
	if err := apply(tx); err != nil {
		return err
	}
	clear(l.txWrites)
	if err := tx.Apply(l.cur.batch, l.txWrites); err != nil {
		return fmt.Errorf("append: apply: %w", err)
	}
	for k, v := range l.txWrites {
		l.pending[k] = v
		l.owner[k] = l.cur.seq
		l.cur.keys = append(l.cur.keys, k)
	}
	return nil
}

// visit records a new complete subtree hash of the batch being built.
func (l *Log) visit(id compact.NodeID, hash []byte) {
	run := &l.cur.levels[id.Level]
	if len(run.hashes) == 0 {
		run.first = id.Index
	} else if id.Index != run.first+uint64(len(run.hashes)) && l.visitErr == nil {
		l.visitErr = fmt.Errorf("frontier: node (%d, %d) out of order", id.Level, id.Index)
	}
	run.hashes = append(run.hashes, transparency.Hash(hash))
}

// writeBatch writes the entries, tree hashes and leaf-index keys of a
// batch, in key order within each kind: pebble inserts a batch into its
// memtable in batch order and is much faster on sorted runs.
func (l *Log) writeBatch(buf *batchBuf) {
	first := buf.size - uint64(len(buf.added))
	for i, r := range buf.added {
		l.keyBuf = entryKey(l.keyBuf[:0], first+uint64(i))
		buf.batch.Set(l.keyBuf, r.entry)
	}
	for level := range buf.levels {
		run := &buf.levels[level]
		for i := range run.hashes {
			l.keyBuf = hashKey(l.keyBuf[:0], uint(level), run.first+uint64(i))
			buf.batch.Set(l.keyBuf, run.hashes[i][:])
		}
	}
	slices.SortFunc(buf.leaves, func(a, b leafRec) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	})
	for _, lr := range buf.leaves {
		l.keyBuf = append(l.keyBuf[:0], leafPrefix...)
		l.keyBuf = binary.BigEndian.AppendUint64(l.keyBuf, lr.prefix)
		l.keyBuf = binary.BigEndian.AppendUint64(l.keyBuf, lr.index)
		buf.batch.Set(l.keyBuf, nil)
	}
}

// copyRange deep-copies a frontier into fresh memory, so that the copy
// shares no hash with the original or with any request.
func (l *Log) copyRange(r *compact.Range) *compact.Range {
	hs := r.Hashes()
	buf := make([]byte, len(hs)*transparency.HashSize)
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = buf[i*transparency.HashSize : (i+1)*transparency.HashSize : (i+1)*transparency.HashSize]
		copy(out[i], h)
	}
	c, err := l.factory.NewRange(r.Begin(), r.End(), out)
	if err != nil {
		panic(fmt.Sprintf("sequencer: copy of a valid range failed: %v", err)) // cannot happen: same sizes
	}
	return c
}

// extendCache adds the hashes of a committed batch to the in-memory
// caches: those at levels >= cacheLevel to cache, the others to recent
// (dropping the oldest). Each level must grow at its end; anything else is
// a bug. Runs on the committer goroutine.
func (l *Log) extendCache(buf *batchBuf) error {
	l.cacheMu.Lock()
	defer l.cacheMu.Unlock()
	for level := range cacheLevel {
		run := &buf.levels[level]
		if len(run.hashes) == 0 {
			continue
		}
		r := &l.recent[level]
		if run.first != r.base+uint64(len(r.hashes)) {
			return fmt.Errorf("recent tree hashes: level %d ends at %d, batch starts at %d", level, r.base+uint64(len(r.hashes)), run.first)
		}
		r.hashes = append(r.hashes, run.hashes...)
		if w := recentLeaves >> level; len(r.hashes) > 2*w {
			drop := len(r.hashes) - w
			r.hashes = r.hashes[:copy(r.hashes, r.hashes[drop:])]
			r.base += uint64(drop)
		}
	}
	for level := cacheLevel; level < len(buf.levels); level++ {
		run := &buf.levels[level]
		if len(run.hashes) == 0 {
			continue
		}
		lv := level - cacheLevel
		for len(l.cache) <= lv {
			l.cache = append(l.cache, nil)
		}
		if run.first != uint64(len(l.cache[lv])) {
			return fmt.Errorf("tree cache: level %d has %d hashes, batch starts at %d", level, len(l.cache[lv]), run.first)
		}
		l.cache[lv] = append(l.cache[lv], run.hashes...)
	}
	return nil
}
