package sequencer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/prometheus/client_golang/prometheus"
)

func TestOpenEmptyLog(t *testing.T) {
	k := newKey(t, testOrigin)
	l := openLog(t, memDB(t), k, Config{})
	cp, size, root := l.Checkpoint()
	if size != 0 || l.Size() != 0 {
		t.Fatalf("size %d, want 0", size)
	}
	if root != transparency.EmptyRoot() {
		t.Fatalf("root %s, want the empty root", root)
	}
	checkCheckpoint(t, k, cp, 0, transparency.EmptyRoot())
}

func TestOpenRejectsBadConfig(t *testing.T) {
	k := newKey(t, testOrigin)
	other := newKey(t, "example.com/other")
	db := memDB(t)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no db", Config{Signer: k.signer, Origin: testOrigin}},
		{"no signer", Config{DB: db, Origin: testOrigin}},
		{"no origin", Config{DB: db, Signer: k.signer}},
		{"signer name is not the origin", Config{DB: db, Signer: other.signer, Origin: testOrigin}},
		{"negative batch size", Config{DB: db, Signer: k.signer, Origin: testOrigin, MaxBatchSize: -1}},
		{"negative batch age", Config{DB: db, Signer: k.signer, Origin: testOrigin, MaxBatchAge: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := Open(context.Background(), tc.cfg); err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

// TestConcurrentAppends checks, with many writers, that every acknowledged
// index holds its entry, indexes are unique and dense, every caller's
// checkpoint covers its entry and gives a verifying receipt, and that the
// published checkpoint only grows (each one consistent with the one before).
func TestConcurrentAppends(t *testing.T) {
	k := newKey(t, testOrigin)
	l := openLog(t, memDB(t), k, Config{MaxBatchSize: 64})
	const writers, perWriter = 32, 60

	stop := make(chan struct{})
	watchErr := make(chan error, 1)
	go func() { // a monitor of the published checkpoint
		var last []byte
		var lastSize uint64
		lastRoot := transparency.EmptyRoot()
		for {
			cp, size, root := l.Checkpoint()
			if !bytes.Equal(cp, last) {
				if size < lastSize {
					watchErr <- fmt.Errorf("checkpoint shrank from %d to %d", lastSize, size)
					return
				}
				p, err := l.ConsistencyProof(lastSize, size)
				if err == nil {
					err = transparency.VerifyConsistency(lastSize, size, lastRoot, root, p)
				}
				if err != nil {
					watchErr <- fmt.Errorf("checkpoint %d -> %d: %w", lastSize, size, err)
					return
				}
				last, lastSize, lastRoot = cp, size, root
			}
			select {
			case <-stop:
				watchErr <- nil
				return
			default:
				runtime.Gosched()
			}
		}
	}()

	got := fill(t, l, 0, writers*perWriter, writers)
	close(stop)
	if err := <-watchErr; err != nil {
		t.Fatal(err)
	}
	n := uint64(writers * perWriter)
	if l.Size() != n {
		t.Fatalf("size %d, want %d", l.Size(), n)
	}
	seen := make([]bool, n)
	for i, a := range got {
		if a.Index >= n || seen[a.Index] {
			t.Fatalf("entry %d got index %d: duplicate or out of range", i, a.Index)
		}
		seen[a.Index] = true
		if a.Size <= a.Index {
			t.Fatalf("entry %d: checkpoint size %d does not cover index %d", i, a.Size, a.Index)
		}
		want := mustMarshal(t, testEntry(i))
		if stored, err := l.Entry(a.Index); err != nil || !bytes.Equal(stored, want) {
			t.Fatalf("entry at %d = %q, %v; want %q", a.Index, stored, err, want)
		}
		if a.LeafHash != transparency.LeafHash(want) {
			t.Fatalf("entry %d: wrong leaf hash", i)
		}
		root, err := l.RootAt(a.Size)
		if err != nil {
			t.Fatal(err)
		}
		checkCheckpoint(t, k, a.Checkpoint, a.Size, root)
		if i%5 != 0 {
			continue // receipts for a sample: they are slow under -race
		}
		r, err := l.ReceiptFor(a)
		if err != nil {
			t.Fatalf("ReceiptFor(%d): %v", a.Index, err)
		}
		if r.Checkpoint != string(a.Checkpoint) {
			t.Fatalf("receipt %d is not against the batch's checkpoint", a.Index)
		}
		v, err := transparency.VerifyReceipt(r, k.verifier)
		if err != nil {
			t.Fatalf("receipt %d: %v", a.Index, err)
		}
		if v.Index != a.Index || v.Entry.Subject != testEntry(i).Subject {
			t.Fatalf("receipt %d proves entry %d %q", a.Index, v.Index, v.Entry.Subject)
		}
	}
	for _, index := range []uint64{0, n / 3, n - 1} {
		r, err := l.Receipt(index)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.VerifyReceipt(r, k.verifier); err != nil {
			t.Fatalf("Receipt(%d): %v", index, err)
		}
		leaf, _ := l.LeafHashAt(index)
		if got, err := l.IndexOf(leaf); err != nil || got != index {
			t.Fatalf("IndexOf(leaf %d) = %d, %v", index, got, err)
		}
	}
}

// TestBatching checks that concurrent appends are grouped: one checkpoint
// covers many entries.
func TestBatching(t *testing.T) {
	k := newKey(t, testOrigin)
	const n = 50
	// With a long age and a size bound of n, the batch closes when the n-th
	// entry arrives: exactly one batch.
	l := openLog(t, memDB(t), k, Config{MaxBatchSize: n, MaxBatchAge: time.Hour})
	got := fill(t, l, 0, n, n)
	for _, a := range got {
		if a.Size != n {
			t.Fatalf("entry %d is in a checkpoint of size %d; want one batch of %d", a.Index, a.Size, n)
		}
		if !bytes.Equal(a.Checkpoint, got[0].Checkpoint) {
			t.Fatal("one batch, two checkpoints")
		}
	}
}

var errRejected = errors.New("rejected by test apply")

// TestApplyAtomicWithEntries runs one batch in which Apply functions read
// and write state: the writes of accepted entries commit with them and are
// seen by later Applies of the same batch; a rejected entry leaves neither
// its entry nor its writes; an Apply that writes a "t/" key or panics is
// refused the same way.
func TestApplyAtomicWithEntries(t *testing.T) {
	k := newKey(t, testOrigin)
	db := memDB(t)
	const n = 12
	l := openLog(t, db, k, Config{MaxBatchSize: n, MaxBatchAge: time.Hour})
	counter := []byte("s/test/counter")

	type outcome struct {
		a       Appended
		err     error
		counted uint64 // the counter value the Apply saw
		index   uint64 // tx.Index() as the Apply saw it
	}
	kind := func(i int) string {
		switch i % 4 {
		case 1:
			return "reject"
		case 2:
			if i == 2 {
				return "reserved"
			}
			if i == 6 {
				return "panic"
			}
		}
		return "accept"
	}
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[i]
			o.a, o.err = l.Append(context.Background(), testEntry(i), func(tx *store.Tx) error {
				var c uint64
				if v, err := tx.Get(counter); err == nil {
					fmt.Sscan(string(v), &c)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				o.counted = c
				o.index = tx.Index()
				tx.Set(counter, fmt.Appendf(nil, "%d", c+1))
				tx.Set(fmt.Appendf(nil, "s/test/entry/%d", i), []byte("written"))
				switch kind(i) {
				case "reject":
					return errRejected
				case "reserved":
					tx.Set([]byte("t/cp"), []byte("forged"))
				case "panic":
					panic("test apply panics")
				}
				return nil
			})
		}()
	}
	wg.Wait()

	accepted := 0
	for i, o := range outs {
		_, err := db.Get(fmt.Appendf(nil, "s/test/entry/%d", i))
		switch kind(i) {
		case "accept":
			if o.err != nil {
				t.Fatalf("entry %d: %v", i, o.err)
			}
			accepted++
			// Applies run in log order and see the earlier writes of
			// the batch, so the counter an Apply saw is its index.
			if o.counted != o.a.Index {
				t.Errorf("entry %d at index %d saw counter %d", i, o.a.Index, o.counted)
			}
			if o.index != o.a.Index {
				t.Errorf("entry %d at index %d: its Apply saw tx.Index() %d", i, o.a.Index, o.index)
			}
			if err != nil {
				t.Errorf("state of accepted entry %d not written: %v", i, err)
			}
		default:
			want := errRejected
			switch kind(i) {
			case "reserved":
				want = store.ErrReservedKey
			case "panic":
				want = nil
			}
			if o.err == nil || (want != nil && !errors.Is(o.err, want)) {
				t.Errorf("%s entry %d: err %v, want %v", kind(i), i, o.err, want)
			}
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("state of %s entry %d was written", kind(i), i)
			}
		}
	}
	if l.Size() != uint64(accepted) {
		t.Fatalf("size %d, want %d accepted entries", l.Size(), accepted)
	}
	v, err := db.Get(counter)
	if err != nil || string(v) != fmt.Sprint(accepted) {
		t.Fatalf("counter %q, %v; want %d", v, err, accepted)
	}
	cp, size, root := l.Checkpoint()
	checkCheckpoint(t, k, cp, size, root) // "t/cp" was not overwritten
	// size == accepted and accepted indexes are unique, so this shows
	// that the log holds exactly the accepted entries.
	for i, o := range outs {
		if kind(i) != "accept" {
			continue
		}
		if b, err := l.Entry(o.a.Index); err != nil || !bytes.Equal(b, mustMarshal(t, testEntry(i))) {
			t.Fatalf("entry at %d = %q, %v; want entry %d", o.a.Index, b, err, i)
		}
	}
}

func TestAppendInvalidEntry(t *testing.T) {
	l := openLog(t, memDB(t), newKey(t, testOrigin), Config{})
	bad := testEntry(1)
	bad.Type = "Not A Type"
	for _, e := range []*transparency.Entry{nil, bad} {
		if _, err := l.Append(context.Background(), e, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Append(%v) = %v, want ErrInvalid", e, err)
		}
	}
	if l.Size() != 0 {
		t.Fatal("an invalid entry was appended")
	}
}

// TestAppendCancel covers both sides of a caller giving up: before its
// entry is sequenced (not appended) and after (appended anyway, and the
// caller learns it).
func TestAppendCancel(t *testing.T) {
	l := openLog(t, memDB(t), newKey(t, testOrigin), Config{})
	ctx := context.Background()

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cancelled, testEntry(0), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}

	// A blocks the sequencer inside its Apply while B queues behind it;
	// B's caller gives up before B is sequenced.
	started, release := make(chan struct{}), make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, testEntry(1), func(*store.Tx) error {
			close(started)
			<-release
			return nil
		})
		aDone <- err
	}()
	<-started
	bctx, bcancel := context.WithCancel(ctx)
	bDone := make(chan error, 1)
	go func() {
		_, err := l.Append(bctx, testEntry(2), nil)
		bDone <- err
	}()
	// B is queued once the channel holds it; cancel it there.
	deadline := time.Now().Add(5 * time.Second)
	for len(l.reqs) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("B was never queued")
		}
		time.Sleep(time.Millisecond)
	}
	bcancel()
	if err := <-bDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("B: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}

	// C cancels its own context from inside its Apply: it is already
	// sequenced, so it is committed and its caller gets the result.
	cctx, ccancel := context.WithCancel(ctx)
	a, err := l.Append(cctx, testEntry(3), func(*store.Tx) error { ccancel(); return nil })
	if err != nil {
		t.Fatalf("C: %v", err)
	}
	if l.Size() != 2 || a.Index != 1 {
		t.Fatalf("size %d, C at %d; want A at 0, C at 1 and no B", l.Size(), a.Index)
	}
	want := mustMarshal(t, testEntry(3))
	if b, _ := l.Entry(1); !bytes.Equal(b, want) {
		t.Fatalf("entry 1 = %q, want C", b)
	}
}

// TestClose checks that Close answers every queued append (committed, or
// ErrClosed for those that came too late), loses none that it
// acknowledged, and refuses appends afterwards.
func TestClose(t *testing.T) {
	k := newKey(t, testOrigin)
	db := memDB(t)
	l := openLog(t, db, k, Config{})
	const writers = 16
	var acked sync.Map
	var closedErrs atomic.Int64
	var wg sync.WaitGroup
	firstDone := make(chan struct{})
	var once sync.Once
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += writers {
				a, err := l.Append(context.Background(), testEntry(i), nil)
				if errors.Is(err, ErrClosed) {
					closedErrs.Add(1)
					return
				}
				if err != nil {
					t.Errorf("append %d: %v", i, err)
					return
				}
				acked.Store(a.Index, i)
				once.Do(func() { close(firstDone) })
			}
		}()
	}
	<-firstDone
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if closedErrs.Load() != writers {
		t.Fatalf("%d writers saw ErrClosed, want %d", closedErrs.Load(), writers)
	}
	if _, err := l.Append(context.Background(), testEntry(0), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	size := l.Size()
	l2 := openLog(t, db, k, Config{})
	if l2.Size() != size {
		t.Fatalf("reopened size %d, want %d", l2.Size(), size)
	}
	count := 0
	acked.Range(func(key, value any) bool {
		count++
		b, err := l2.Entry(key.(uint64))
		if err != nil || !bytes.Equal(b, mustMarshal(t, testEntry(value.(int)))) {
			t.Errorf("acknowledged entry %d lost: %v", key, err)
		}
		return true
	})
	if uint64(count) != size {
		t.Fatalf("%d acknowledged, size %d", count, size)
	}
}

// TestNegative checks the error of every read with an argument out of
// range.
func TestNegative(t *testing.T) {
	k := newKey(t, testOrigin)
	l := openLog(t, memDB(t), k, Config{})
	got := fill(t, l, 0, 300, 8)
	const n = 300
	forged := newKey(t, testOrigin)
	forgedCP, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: testOrigin, Size: got[0].Size, Root: transparency.Hash{1}}, forged.signer)
	if err != nil {
		t.Fatal(err)
	}
	wrongRoot, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: testOrigin, Size: got[0].Size, Root: transparency.Hash{1}}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	withCP := func(a Appended, cp []byte) Appended { a.Checkpoint = cp; return a }
	withLeaf := func(a Appended) Appended { a.LeafHash[0] ^= 1; return a }
	withIndex := func(a Appended, i uint64) Appended { a.Index = i; return a }
	withSize := func(a Appended, s uint64) Appended { a.Size = s; return a }
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"entry at size", func() error { _, err := l.Entry(n); return err }, ErrNotFound},
		{"entry far beyond", func() error { _, err := l.Entry(1<<64 - 1); return err }, ErrNotFound},
		{"leaf hash at size", func() error { _, err := l.LeafHashAt(n); return err }, ErrNotFound},
		{"unknown leaf", func() error { _, err := l.IndexOf(transparency.Hash{7}); return err }, ErrNotFound},
		{"root beyond size", func() error { _, err := l.RootAt(n + 1); return err }, ErrInvalid},
		{"inclusion index = size", func() error { _, err := l.InclusionProof(10, 10); return err }, ErrInvalid},
		{"inclusion index > size", func() error { _, err := l.InclusionProof(11, 10); return err }, ErrInvalid},
		{"inclusion size 0", func() error { _, err := l.InclusionProof(0, 0); return err }, ErrInvalid},
		{"inclusion size > current", func() error { _, err := l.InclusionProof(0, n+1); return err }, ErrInvalid},
		{"inclusion huge", func() error { _, err := l.InclusionProof(1<<64-2, 1<<64-1); return err }, ErrInvalid},
		{"consistency size1 > size2", func() error { _, err := l.ConsistencyProof(5, 4); return err }, ErrInvalid},
		{"consistency size2 > current", func() error { _, err := l.ConsistencyProof(1, n+1); return err }, ErrInvalid},
		{"receipt at size", func() error { _, err := l.Receipt(n); return err }, ErrNotFound},
		{"receipt for forged checkpoint", func() error { _, err := l.ReceiptFor(withCP(got[0], forgedCP)); return err }, ErrInvalid},
		{"receipt for checkpoint with wrong root", func() error { _, err := l.ReceiptFor(withCP(got[0], wrongRoot)); return err }, ErrInvalid},
		{"receipt for garbage checkpoint", func() error { _, err := l.ReceiptFor(withCP(got[0], []byte("junk"))); return err }, ErrInvalid},
		// ReceiptFor keeps the checkpoint it parsed last: a cached one is
		// checked against the tree as a fresh one is.
		{"receipt for checkpoint with wrong root, parsed before", func() error {
			_, _ = l.ReceiptFor(withCP(got[0], wrongRoot))
			_, err := l.ReceiptFor(withCP(got[0], wrongRoot))
			return err
		}, ErrInvalid},
		{"receipt for forged checkpoint right after a good receipt", func() error {
			if _, err := l.ReceiptFor(got[0]); err != nil {
				return fmt.Errorf("good receipt: %v", err) // not ErrInvalid: fails the case
			}
			_, err := l.ReceiptFor(withCP(got[0], forgedCP))
			return err
		}, ErrInvalid},
		{"receipt for wrong leaf", func() error { _, err := l.ReceiptFor(withLeaf(got[0])); return err }, ErrInvalid},
		{"receipt for index beyond its size", func() error { _, err := l.ReceiptFor(withIndex(got[0], got[0].Size)); return err }, ErrInvalid},
		{"receipt for size beyond the log", func() error { _, err := l.ReceiptFor(withSize(got[0], n+1)); return err }, ErrInvalid},
		{"receipt for another batch's checkpoint", func() error {
			var other Appended
			for _, a := range got {
				if a.Size != got[0].Size {
					other = a
					break
				}
			}
			if other.Size == 0 {
				return ErrInvalid // a single batch: nothing to mix up
			}
			_, err := l.ReceiptFor(withCP(got[0], other.Checkpoint))
			return err
		}, ErrInvalid},
		{"tile width 0", func() error { _, err := l.ReadTile(transparency.TileID{Width: 0}); return err }, ErrInvalid},
		{"tile width 257", func() error { _, err := l.ReadTile(transparency.TileID{Width: 257}); return err }, ErrInvalid},
		{"tile level 8", func() error { _, err := l.ReadTile(transparency.TileID{Level: 8, Width: 1}); return err }, ErrInvalid},
		{"tile level -1", func() error { _, err := l.ReadTile(transparency.TileID{Level: -1, Width: 1}); return err }, ErrInvalid},
		{"full leaf tile 1 of 300", func() error { _, err := l.ReadTile(transparency.TileID{N: 1, Width: 256}); return err }, ErrNotFound},
		{"partial leaf tile too wide", func() error { _, err := l.ReadTile(transparency.TileID{N: 1, Width: 45}); return err }, ErrNotFound},
		{"bundle too wide", func() error {
			_, err := l.ReadTile(transparency.TileID{Entries: true, N: 1, Width: 45})
			return err
		}, ErrNotFound},
		{"level 1 tile of 300", func() error { _, err := l.ReadTile(transparency.TileID{Level: 1, Width: 2}); return err }, ErrNotFound},
		{"tile index overflow", func() error { _, err := l.ReadTile(transparency.TileID{N: 1<<64 - 1, Width: 1}); return err }, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The edges that do exist.
	if _, err := l.ReadTile(transparency.TileID{N: 1, Width: 44}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadTile(transparency.TileID{Level: 1, Width: 1}); err != nil {
		t.Fatal(err)
	}
	if p, err := l.ConsistencyProof(0, n); err != nil || len(p) != 0 {
		t.Fatalf("ConsistencyProof(0, n) = %v, %v; want empty", p, err)
	}
	if p, err := l.ConsistencyProof(n, n); err != nil || len(p) != 0 {
		t.Fatalf("ConsistencyProof(n, n) = %v, %v; want empty", p, err)
	}
}

func TestIndexOfLowestIndex(t *testing.T) {
	l := openLog(t, memDB(t), newKey(t, testOrigin), Config{})
	ctx := context.Background()
	// The same entry three times: IndexOf finds the first.
	var idx []uint64
	for _, i := range []int{1, 2, 1, 3, 1} {
		a, err := l.Append(ctx, testEntry(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, a.Index)
	}
	leaf := transparency.LeafHash(mustMarshal(t, testEntry(1)))
	if got, err := l.IndexOf(leaf); err != nil || got != idx[0] {
		t.Fatalf("IndexOf = %d, %v; want %d", got, err, idx[0])
	}
	leaf3 := transparency.LeafHash(mustMarshal(t, testEntry(3)))
	if got, err := l.IndexOf(leaf3); err != nil || got != idx[3] {
		t.Fatalf("IndexOf = %d, %v; want %d", got, err, idx[3])
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	k := newKey(t, testOrigin)
	db := memDB(t)
	l := openLog(t, db, k, Config{Registerer: reg})
	fill(t, l, 0, 40, 4)
	_, _ = l.Append(context.Background(), testEntry(99), func(*store.Tx) error { return errRejected })
	if _, err := l.InclusionProof(3, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ConsistencyProof(3, 40); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// value returns the value of a counter or gauge, or the sample count
	// of a histogram, of the series with the given label value.
	value := func(name, label string) (float64, bool) {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
					continue
				}
				switch {
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
			}
		}
		return 0, false
	}
	for _, tc := range []struct {
		name, label string
		want        float64
	}{
		{"clawnet_log_appends_total", "", 40},
		{"clawnet_log_append_errors_total", "", 1},
		{"clawnet_log_tree_size", "", 40},
		{"clawnet_log_proofs_total", "inclusion", 1},
		{"clawnet_log_proofs_total", "consistency", 1},
	} {
		if got, ok := value(tc.name, tc.label); !ok || got != tc.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", tc.name, tc.label, got, ok, tc.want)
		}
	}
	// Every batch was observed once in each histogram.
	batches, ok1 := value("clawnet_log_batch_size", "")
	commits, ok2 := value("clawnet_log_commit_seconds", "")
	if !ok1 || !ok2 || batches < 1 || batches > 40 || commits != batches {
		t.Errorf("batch_size count %v, commit_seconds count %v", batches, commits)
	}
	// A second log on the same registry fails while the first is open,
	// and works once it is closed.
	if _, err := Open(context.Background(), Config{DB: db, Signer: k.signer, Origin: testOrigin, Registerer: reg}); err == nil {
		t.Fatal("two logs registered the same metrics")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	openLog(t, db, k, Config{Registerer: reg})
}

// TestApplyAcrossBatches runs Applies that read and increment one counter
// from many writers with small batches, so that a batch is built while the
// previous one is still being committed: every Apply must see the writes
// of every entry before it in the log, committed or not.
func TestApplyAcrossBatches(t *testing.T) {
	db := memDB(t)
	l := openLog(t, db, newKey(t, testOrigin), Config{MaxBatchSize: 3})
	counter := []byte("s/test/counter")
	const writers, per = 16, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				var saw uint64
				a, err := l.Append(context.Background(), testEntry(w*per+i), func(tx *store.Tx) error {
					if v, err := tx.Get(counter); err == nil {
						fmt.Sscan(string(v), &saw)
					} else if !errors.Is(err, store.ErrNotFound) {
						return err
					}
					if (w*per+i)%7 == 3 {
						return errRejected // rejected: its write must not count
					}
					tx.Set(counter, fmt.Appendf(nil, "%d", saw+1))
					return nil
				})
				if (w*per+i)%7 == 3 {
					if !errors.Is(err, errRejected) {
						t.Errorf("rejected append: %v", err)
					}
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if saw != a.Index {
					t.Errorf("entry at index %d saw counter %d", a.Index, saw)
				}
			}
		}()
	}
	wg.Wait()
	v, err := db.Get(counter)
	if err != nil || string(v) != fmt.Sprint(l.Size()) {
		t.Fatalf("counter %q, %v; want %d", v, err, l.Size())
	}
}
