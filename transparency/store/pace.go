package store

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Pacing of pebble's table writes.
//
// Every append waits for the write-ahead log's fdatasync. When a memtable
// flush or a compaction writes tens of megabytes of table files at full
// speed on the same disk, those fdatasyncs queue behind the table data:
// measured on the benchmark machine, syncs that take 0.1–0.3 ms took 2–8
// ms for the 100–300 ms of each flush and compaction, and at 5,000
// actions/s most requests slower than 10 ms fell in those windows
// (spec/benchmarks.md, issue 5, round 5). Writing the table files at a
// bounded rate spreads the same bytes over a longer time, so that each log
// sync finds little table data ahead of it. This is the rate limiter of
// RocksDB (Options.rate_limiter) for flushes and compactions, with one
// difference: the cap is lifted whenever pebble falls behind (a memtable
// queued behind the one being flushed, L0 piling up, compaction debt), so
// that pacing never turns into a write stall; and it is lifted while an
// explicit Flush or Compact runs.
//
// Only table (".sst") and blob (".blob") files are paced: the log's WAL,
// the MANIFEST and everything else are written at full speed.

// DefaultTableWriteRate is the pace of table writes when Options leave it
// zero: 32 MiB/s. At the benchmark's saturation (≈ 11,000 actions/s)
// flushes and compactions write ≈ 30 MB/s of tables; above that the cap
// is lifted by backlogged.
const DefaultTableWriteRate = 32 << 20

// Thresholds of backlogged: pebble stalls writes at 2 queued memtables and
// at 12 L0 sublevels (its defaults, which Open keeps).
const (
	liftMemtables = 3         // the mutable one, the one flushing and one more queued
	liftSublevels = 6         // half of L0StopWritesThreshold
	liftDebt      = 256 << 20 // bytes of estimated compaction debt
	// backlogEvery is how often the monitor reads pebble's metrics.
	backlogEvery = 100 * time.Millisecond
)

// backlogged reports whether pebble's flushes or compactions are behind
// enough that pacing them could stall writes.
func backlogged(m *pebble.Metrics) bool {
	return m.MemTable.Count >= liftMemtables ||
		m.Levels[0].Sublevels >= liftSublevels ||
		m.Compact.EstimatedDebt >= liftDebt
}

// pacer spaces writes so that, over time, they do not exceed rate bytes per
// second. A write proceeds at once if the bytes before it have been paid
// for; otherwise it waits until they have. Up to burst bytes of credit
// accumulate while nothing is written, so a write after an idle time is
// not delayed. Safe for concurrent use: a flush and a compaction share one
// pacer, since they share the disk.
type pacer struct {
	rate  float64       // bytes per second
	burst time.Duration // credit kept while idle
	// lifts > 0 means no cap: pebble is backlogged, or an explicit
	// Flush or Compact is running.
	lifts atomic.Int32
	// backlog is the monitor's verdict, as a lift it holds (0 or 1).
	backlog atomic.Bool
	// paced counts the bytes written under the cap (for tests and
	// diagnostics).
	paced atomic.Int64

	now   func() time.Time
	sleep func(time.Duration)

	mu   sync.Mutex
	next time.Time // when the bytes granted so far are paid for
}

func newPacer(rate int64) *pacer {
	return &pacer{
		rate:  float64(rate),
		burst: 5 * time.Millisecond,
		now:   time.Now,
		sleep: time.Sleep,
	}
}

// reserve grants n bytes and returns how long the caller must wait before
// writing them.
func (p *pacer) reserve(n int) time.Duration {
	if p.lifts.Load() > 0 {
		return 0
	}
	p.paced.Add(int64(n))
	cost := time.Duration(float64(n) / p.rate * float64(time.Second))
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if earliest := now.Add(-p.burst); p.next.Before(earliest) {
		p.next = earliest
	}
	wait := p.next.Sub(now)
	p.next = p.next.Add(cost)
	if wait < 0 {
		return 0
	}
	return wait
}

// wait paces a write of n bytes.
func (p *pacer) wait(n int) {
	if d := p.reserve(n); d > 0 {
		p.sleep(d)
	}
}

// lift removes the cap until the returned function is called.
func (p *pacer) lift() (restore func()) {
	p.lifts.Add(1)
	var once sync.Once
	return func() { once.Do(func() { p.lifts.Add(-1) }) }
}

// setBacklog records the monitor's verdict, lifting the cap while true.
func (p *pacer) setBacklog(b bool) {
	if p.backlog.Swap(b) != b {
		if b {
			p.lifts.Add(1)
		} else {
			p.lifts.Add(-1)
		}
	}
}

// monitor sets p's backlog from metrics every backlogEvery until stop is
// closed, then closes done.
func (p *pacer) monitor(metrics func() *pebble.Metrics, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(backlogEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.setBacklog(backlogged(metrics()))
		}
	}
}

// pacedFS paces the writes of the table files it creates.
type pacedFS struct {
	vfs.FS
	p *pacer
}

func isTable(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

func (fs pacedFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !isTable(name) {
		return f, err
	}
	return pacedFile{File: f, p: fs.p}, nil
}

// Unwrap returns the file system pacedFS wraps.
func (fs pacedFS) Unwrap() vfs.FS { return fs.FS }

type pacedFile struct {
	vfs.File
	p *pacer
}

func (f pacedFile) Write(b []byte) (int, error) {
	f.p.wait(len(b))
	return f.File.Write(b)
}

func (f pacedFile) WriteAt(b []byte, off int64) (int, error) {
	f.p.wait(len(b))
	return f.File.WriteAt(b, off)
}
