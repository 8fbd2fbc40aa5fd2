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
	// The backlog's lift is counted once however often it is reported.
	p.setBacklog(true)
	p.setBacklog(true)
	if p.reserve(1) != 0 {
		t.Fatal("backlogged, a write waited")
	}
	p.setBacklog(false)
	if p.reserve(1) == 0 {
		t.Fatal("no longer backlogged, a write did not wait")
	}
	if p.lifts.Load() != 0 {
		t.Fatalf("lifts %d after every lift ended", p.lifts.Load())
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
		"a memtable queued": func(m *pebble.Metrics) { m.MemTable.Count = 3 },
		"L0 sublevels":      func(m *pebble.Metrics) { m.Levels[0].Sublevels = 6 },
		"compaction debt":   func(m *pebble.Metrics) { m.Compact.EstimatedDebt = 256 << 20 },
	} {
		m2 := m
		set(&m2)
		if !backlogged(&m2) {
			t.Errorf("%s: not backlogged", name)
		}
	}
}

func TestPacerMonitorLiftsWhileBacklogged(t *testing.T) {
	p := newPacer(1)
	behind := make(chan bool, 1)
	behind <- true
	state := true
	metrics := func() *pebble.Metrics {
		select {
		case state = <-behind:
		default:
		}
		var m pebble.Metrics
		if state {
			m.MemTable.Count = liftMemtables
		}
		return &m
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go p.monitor(metrics, stop, done)
	defer func() { close(stop); <-done }()
	waitFor(t, "the cap lifted", func() bool { return p.lifts.Load() == 1 })
	behind <- false
	waitFor(t, "the cap back", func() bool { return p.lifts.Load() == 0 })
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
