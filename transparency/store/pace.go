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
// RocksDB (Options.rate_limiter) for flushes and compactions, adapted so
// that pacing never turns into a write stall: the pace follows the log's
// own write rate (at least the base rate, at least logRateFactor times the
// bytes per second the WAL takes), and the cap is lifted altogether while
// compactions are behind (L0 piling up, compaction debt), while pebble
// stalls writes, and while an explicit Flush or Compact runs.
//
// Only table (".sst") and blob (".blob") files are paced: the log's WAL,
// the MANIFEST and everything else are written at full speed.

// DefaultTableWriteRate is the least pace of table writes when Options
// leave it zero: 32 MiB/s. The pace rises with the log's own write rate
// (logRateFactor).
const DefaultTableWriteRate = 32 << 20

const (
	// logRateFactor: table writes may go at this many times the rate at
	// which the WAL is written. A flush writes about 0.8 bytes of table
	// per WAL byte (measured at 11,000 actions/s), so at 2 it ends well
	// before the next memtable fills, and a workload that writes the WAL
	// faster than the base rate allows gets a higher pace at once. At 4,
	// appends at 50,000/s were hardly paced and kept their tail; compactions
	// that fall behind lift the cap (backlogged).
	logRateFactor = 2
	// The cap is lifted at half of pebble's L0 stall threshold (12
	// sublevels, its default, which Open keeps) and at this much
	// estimated compaction debt, and while pebble stalls writes.
	liftSublevels = 6
	liftDebt      = 256 << 20
	// monitorEvery is how often the monitor reads pebble's metrics; the
	// log's write rate decays with a time constant of ten of them.
	monitorEvery = 100 * time.Millisecond
	rateDecay    = 0.1
)

// backlogged reports whether compactions are behind enough that pacing
// them could lead pebble to stall writes.
func backlogged(m *pebble.Metrics) bool {
	return m.Levels[0].Sublevels >= liftSublevels || m.Compact.EstimatedDebt >= liftDebt
}

// pacer spaces writes so that, over time, they do not exceed rate bytes per
// second. A write proceeds at once if the bytes before it have been paid
// for; otherwise it waits until they have. Up to burst bytes of credit
// accumulate while nothing is written, so a write after an idle time is
// not delayed. Safe for concurrent use: a flush and a compaction share one
// pacer, since they share the disk.
type pacer struct {
	base  float64       // the least rate, bytes per second
	burst time.Duration // credit kept while idle
	// lifts > 0 means no cap: an explicit Flush or Compact is running.
	lifts atomic.Int32
	// backlog (compactions behind) and stalled (pebble stalls writes)
	// lift the cap while true.
	backlog, stalled atomic.Bool
	// paced counts the bytes written under the cap (for tests and
	// diagnostics).
	paced atomic.Int64

	now   func() time.Time
	sleep func(time.Duration)

	mu   sync.Mutex
	rate float64   // the current rate, >= base
	next time.Time // when the bytes granted so far are paid for
}

func newPacer(rate int64) *pacer {
	return &pacer{
		base:  float64(rate),
		rate:  float64(rate),
		burst: 5 * time.Millisecond,
		now:   time.Now,
		sleep: time.Sleep,
	}
}

func (p *pacer) capped() bool {
	return p.lifts.Load() == 0 && !p.backlog.Load() && !p.stalled.Load()
}

// reserve grants n bytes and returns how long the caller must wait before
// writing them.
func (p *pacer) reserve(n int) time.Duration {
	if !p.capped() {
		return 0
	}
	p.paced.Add(int64(n))
	p.mu.Lock()
	defer p.mu.Unlock()
	cost := time.Duration(float64(n) / p.rate * float64(time.Second))
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

// setLogRate sets the rate from the log's write rate in bytes per second.
func (p *pacer) setLogRate(logRate float64) {
	p.mu.Lock()
	p.rate = max(p.base, logRateFactor*logRate)
	p.mu.Unlock()
}

// currentRate is the rate in bytes per second.
func (p *pacer) currentRate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate
}

// logRate follows the WAL's write rate from its byte counter: it rises at
// once to the rate of the last interval and decays slowly, so that a
// burst of appends raises the pace before its memtable is full.
type logRate struct {
	last    uint64
	smooth  float64
	started bool
}

func (r *logRate) observe(walBytes uint64, interval time.Duration) float64 {
	if !r.started || walBytes < r.last {
		r.last, r.started = walBytes, true
		return r.smooth
	}
	inst := float64(walBytes-r.last) / interval.Seconds()
	r.last = walBytes
	r.smooth = max(inst, r.smooth+rateDecay*(inst-r.smooth))
	return r.smooth
}

// monitor follows pebble's metrics every monitorEvery until stop is
// closed, then closes done.
func (p *pacer) monitor(metrics func() *pebble.Metrics, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	var lr logRate
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m := metrics()
			p.setLogRate(lr.observe(m.WAL.BytesWritten, monitorEvery))
			p.backlog.Store(backlogged(m))
		}
	}
}

// listener lifts the cap while pebble stalls writes.
func (p *pacer) listener() *pebble.EventListener {
	return &pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) { p.stalled.Store(true) },
		WriteStallEnd:   func() { p.stalled.Store(false) },
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
