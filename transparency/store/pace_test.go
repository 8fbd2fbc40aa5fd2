package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// fakePacer is a pacer on a clock that only sleep advances.
func fakePacer(rate int64) (*pacer, *time.Time, *[]time.Duration) {
	p := newPacer(rate)
	now := time.Unix(1000, 0)
	var slept []time.Duration
	p.now = func() time.Time { return now }
	p.sleep = func(d time.Duration) { slept = append(slept, d); now = now.Add(d) }
	return p, &now, &slept
}

func TestPacerSpacesWrites(t *testing.T) {
	p, _, slept := fakePacer(1 << 20) // 1 MiB/s
	// The first write goes at once, with the burst's credit: 5 ms.
	p.wait(1 << 20)
	if len(*slept) != 0 {
		t.Fatalf("the first write waited %v", *slept)
	}
	// The next pays for the first: 1 s less the 5 ms of credit.
	p.wait(512 << 10)
	if want := time.Second - 5*time.Millisecond; len(*slept) != 1 || (*slept)[0] != want {
		t.Fatalf("the second write waited %v, want [%v]", *slept, want)
	}
	// Then half a second for the second.
	p.wait(1)
	if len(*slept) != 2 || (*slept)[1] != 500*time.Millisecond {
		t.Fatalf("the third write waited %v, want 500ms last", *slept)
	}
	// Over 10 MiB in steps, the total wait is the rate's, whatever the
	// step.
	p2, now2, slept2 := fakePacer(1 << 20)
	start := *now2
	for range 10 * 64 {
		p2.wait(16 << 10)
	}
	p2.wait(0)
	if got, want := now2.Sub(start), 10*time.Second-5*time.Millisecond; got != want {
		t.Fatalf("10 MiB at 1 MiB/s took %v (%d waits), want %v", got, len(*slept2), want)
	}
	if p2.paced.Load() != 10<<20 {
		t.Errorf("paced %d bytes, want %d", p2.paced.Load(), 10<<20)
	}
}

func TestPacerIdleCreditIsBounded(t *testing.T) {
	p, now, slept := fakePacer(1 << 20)
	p.wait(1 << 20)
	*now = now.Add(time.Hour) // idle: no credit beyond the burst
	p.wait(1 << 20)
	p.wait(1)
	if want := time.Second - 5*time.Millisecond; len(*slept) != 1 || (*slept)[0] != want {
		t.Fatalf("after an idle hour the writes waited %v, want [%v]", *slept, want)
	}
}

func TestPacerLift(t *testing.T) {
	p, _, slept := fakePacer(1)
	restore := p.lift()
	p.wait(1 << 20)
	p.wait(1 << 20)
	if len(*slept) != 0 || p.paced.Load() != 0 {
		t.Fatalf("lifted, the writes waited %v and %d bytes were paced", *slept, p.paced.Load())
	}
	restore()
	restore() // once only
	p.wait(2)
	p.wait(1)
	if len(*slept) != 1 {
		t.Fatalf("restored, the writes waited %v; want one wait", *slept)
	}
	// Compactions behind, or pebble stalling writes, lift it too.
	p.backlog.Store(true)
	if p.reserve(1) != 0 {
		t.Fatal("backlogged, a write waited")
	}
	p.backlog.Store(false)
	if p.reserve(1) == 0 {
		t.Fatal("no longer backlogged, a write did not wait")
	}
	l := p.listener()
	l.WriteStallBegin(pebble.WriteStallBeginInfo{Reason: "memtable count limit reached"})
	if p.reserve(1) != 0 {
		t.Fatal("while pebble stalls writes, a write waited")
	}
	l.WriteStallEnd()
	if p.reserve(1) == 0 {
		t.Fatal("after the stall, a write did not wait")
	}
}

func TestPacerFollowsTheLogRate(t *testing.T) {
	p, now, slept := fakePacer(1 << 20)
	p.setLogRate(100 << 10) // 2 x 100 KiB/s is below the base
	if got := p.currentRate(); got != 1<<20 {
		t.Fatalf("rate %v, want the base %v", got, 1<<20)
	}
	p.setLogRate(2 << 20) // 4 MiB/s
	start := *now
	for range 64 {
		p.wait(64 << 10) // 4 MiB
	}
	p.wait(0)
	if got, want := now.Sub(start), time.Second-5*time.Millisecond; got != want {
		t.Fatalf("4 MiB at 2 x 2 MiB/s took %v (%d waits), want %v", got, len(*slept), want)
	}

	// The log's rate: up at once, down slowly.
	var r logRate
	r.observe(0, monitorEvery) // the first sample only sets the counter
	if got := r.observe(10<<20, monitorEvery); got != 100<<20 {
		t.Fatalf("10 MiB in 100 ms: rate %v, want %v", got, 100<<20)
	}
	got := r.observe(10<<20, monitorEvery) // nothing written since
	if want := 0.9 * (100 << 20); got != want {
		t.Fatalf("after an idle interval: rate %v, want %v", got, want)
	}
	for range 100 {
		got = r.observe(10<<20, monitorEvery)
	}
	if got > (100<<20)/1000 {
		t.Fatalf("after 10 idle seconds the rate is still %v", got)
	}
	if got := r.observe(5<<20, monitorEvery); got < 0 || got > (100<<20)/1000 {
		t.Fatalf("a counter that went back (pebble reopened) gave rate %v", got)
	}
}

func TestBacklogged(t *testing.T) {
	var m pebble.Metrics
	m.MemTable.Count = 2 // the mutable memtable and one flushing
	m.Levels[0].Sublevels = 5
	m.Compact.EstimatedDebt = 255 << 20
	if backlogged(&m) {
		t.Fatal("backlogged below every threshold")
	}
	for name, set := range map[string]func(*pebble.Metrics){
		"L0 sublevels":    func(m *pebble.Metrics) { m.Levels[0].Sublevels = 6 },
		"compaction debt": func(m *pebble.Metrics) { m.Compact.EstimatedDebt = 256 << 20 },
	} {
		m2 := m
		set(&m2)
		if !backlogged(&m2) {
			t.Errorf("%s: not backlogged", name)
		}
	}
}

func TestPacerMonitor(t *testing.T) {
	p := newPacer(1 << 20)
	type sample struct {
		behind bool
		wal    uint64 // bytes added per reading
	}
	samples := make(chan sample, 1)
	samples <- sample{behind: true}
	cur := sample{behind: true}
	var wal uint64
	metrics := func() *pebble.Metrics {
		select {
		case cur = <-samples:
		default:
		}
		var m pebble.Metrics
		if cur.behind {
			m.Levels[0].Sublevels = liftSublevels
		}
		wal += cur.wal
		m.WAL.BytesWritten = wal
		return &m
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go p.monitor(metrics, stop, done)
	defer func() { close(stop); <-done }()
	waitFor(t, "the cap lifted", func() bool { return !p.capped() })
	samples <- sample{wal: 100 << 20} // 1 GiB/s
	waitFor(t, "the cap back, raised with the log's rate", func() bool {
		return p.capped() && p.currentRate() >= 1.5*(1<<30) // 2 x 100 MiB per 100 ms
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPacedFSPacesOnlyTables(t *testing.T) {
	p, _, _ := fakePacer(1 << 30)
	fs := pacedFS{FS: vfs.NewMem(), p: p}
	for _, name := range []string{"000001.log", "MANIFEST-000001", "OPTIONS-000003", "000002.sst", "000003.blob"} {
		f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.paced.Load(); got != 200 {
		t.Fatalf("paced %d bytes, want 200 (the .sst and .blob files only)", got)
	}
	if fs.Unwrap() != fs.FS {
		t.Error("Unwrap does not return the wrapped file system")
	}
}

// fill writes n bytes of values in batches, enough to rotate a small
// memtable.
func fill(t *testing.T, db *DB, n int) {
	t.Helper()
	v := bytes.Repeat([]byte{'x'}, 1000)
	for i := 0; i < n/1000; i += 100 {
		b := db.NewBatch()
		for j := i; j < i+100; j++ {
			b.Set([]byte(fmt.Sprintf("d/%08d", j)), v)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// The store paces the flushes pebble starts by itself.
func TestOpenPacesFlushes(t *testing.T) {
	db, err := Open("db", Options{FS: vfs.NewMem(), MemTableSize: 1 << 20, TableWriteRate: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fill(t, db, 4<<20)
	waitFor(t, "a flush", func() bool { return db.Metrics().Flush.Count > 0 })
	if db.pace.paced.Load() == 0 {
		t.Fatal("pebble flushed, but no table bytes were paced")
	}
	wantValue(t, db.Get, "d/00000001", string(bytes.Repeat([]byte{'x'}, 1000)))

	// No cap: nothing paced.
	db2, err := Open("db", Options{FS: vfs.NewMem(), TableWriteRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if db2.pace != nil {
		t.Error("a negative rate left a pacer")
	}
}

// An explicit Flush and Compact run at full speed: at 1 byte/s a paced
// flush would take weeks.
func TestExplicitFlushAndCompactAreNotPaced(t *testing.T) {
	db, err := Open("db", Options{FS: vfs.NewMem(), TableWriteRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, db, 200<<10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		if err := db.Flush(); err != nil {
			errc <- err
			return
		}
		errc <- db.Compact()
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Flush and Compact did not finish within a minute: they were paced")
	}
	if db.pace.paced.Load() != 0 {
		t.Errorf("%d bytes paced during an explicit flush and compaction", db.pace.paced.Load())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A second Close is pebble's panic ("pebble: closed"), as before the pacer,
// not a close of the monitor's closed channel.
func TestCloseTwice(t *testing.T) {
	db, err := Open("db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil && fmt.Sprint(r) != "pebble: closed" {
			t.Fatalf("second Close panicked: %v", r)
		}
	}()
	_ = db.Close()
}
