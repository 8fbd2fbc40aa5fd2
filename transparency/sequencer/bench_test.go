package sequencer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// benchLog opens a log on a real temporary directory (real fsyncs).
func benchLog(b *testing.B) (*Log, *store.DB, string) {
	return benchLogReg(b, nil)
}

func benchLogReg(b *testing.B, reg prometheus.Registerer) (*Log, *store.DB, string) {
	b.Helper()
	dir := b.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	k := newKey(b, testOrigin)
	l, err := Open(context.Background(), Config{DB: db, Signer: k.signer, Origin: testOrigin, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l, db, dir
}

// benchEntry is a realistic action decision of about 560 bytes, with a
// request digest that differs for every entry (so it does not compress).
func benchEntry(w, i int) *transparency.Entry {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	return &transparency.Entry{
		Version:       transparency.EntryVersion,
		Type:          "action.decision",
		Time:          testTime.Add(time.Duration(i) * time.Microsecond),
		Actor:         "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Owner:         "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
		Authz:         &transparency.AuthzRef{Credential: "urn:uuid:3f1d1c8e-5b7a-4c1e-9a0e-" + strconv.Itoa(w), Digest: "sha256:" + strings.Repeat("ab", 32)},
		Action:        "message/send",
		Resource:      "inbox/" + strconv.Itoa(i),
		Counterparty:  "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
		Decision:      transparency.DecisionAllowed,
		RequestDigest: transparency.DigestSHA256(sha256.Sum256(n[:])),
	}
}

// runWriters appends n entries with the given number of writers and
// returns the wall time and every append's latency.
func runWriters(b *testing.B, l *Log, n, writers int) (time.Duration, []time.Duration) {
	lat := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n/writers+1)
			for i := w; i < n; i += writers {
				e := benchEntry(w, i)
				t0 := time.Now()
				if _, err := l.Append(context.Background(), e, nil); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[w] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return elapsed, slices.Concat(lat...)
}

func percentileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(float64(len(d)-1)*p)]) / float64(time.Millisecond)
}

// BenchmarkAppend measures durable appends (each one synced, group
// commit) with 1, 8, 64 and 256 concurrent writers on a real disk.
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 8, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			l, _, _ := benchLogReg(b, reg)
			b.ReportAllocs()
			b.ResetTimer()
			elapsed, lat := runWriters(b, l, b.N, writers)
			b.StopTimer()
			if h := histogram(b, reg, "clawnet_log_commit_seconds"); h.GetSampleCount() > 0 {
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1000, "commit-ms")
				b.ReportMetric(float64(b.N)/float64(h.GetSampleCount()), "entries/batch")
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(percentileMs(lat, 0.50), "p50-ms")
			b.ReportMetric(percentileMs(lat, 0.99), "p99-ms")
		})
	}
}

// BenchmarkAppendAtRate offers a steady load of 50,000 appends/s (about
// half of what the log sustains on 2 cores) from 256 writers. It reports
// the latency measured from when each append was due (p50-ms, p99-ms), so
// that falling behind shows up, and the latency of the Append call alone
// (call-p99-ms), which leaves out how late the writer woke up.
func BenchmarkAppendAtRate(b *testing.B) {
	const rate, writers = 50_000, 256
	reg := prometheus.NewRegistry()
	l, _, _ := benchLogReg(b, reg)
	interval := time.Duration(float64(time.Second) * writers / rate)
	lat := make([][]time.Duration, writers)
	call := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the writers over one interval.
			due := start.Add(interval * time.Duration(w) / writers)
			for i := w; i < b.N; i += writers {
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				if _, err := l.Append(context.Background(), benchEntry(w, i), nil); err != nil {
					b.Error(err)
					return
				}
				t1 := time.Now()
				lat[w] = append(lat[w], t1.Sub(due))
				call[w] = append(call[w], t1.Sub(t0))
				due = due.Add(interval)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all, calls := slices.Concat(lat...), slices.Concat(call...)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(percentileMs(all, 0.50), "p50-ms")
	b.ReportMetric(percentileMs(all, 0.99), "p99-ms")
	b.ReportMetric(percentileMs(calls, 0.99), "call-p99-ms")
	if h := histogram(b, reg, "clawnet_log_commit_seconds"); h.GetSampleCount() > 0 {
		b.ReportMetric(float64(b.N)/float64(h.GetSampleCount()), "entries/batch")
	}
}

// BenchmarkInclusionProof measures building and verifying an inclusion
// proof to the latest checkpoint in a log of 100,000 entries.
func BenchmarkInclusionProof(b *testing.B) {
	l, _, _ := benchLog(b)
	runWriters(b, l, 100_000, 256)
	size := l.Size()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := l.InclusionProof(rng.Uint64N(size), size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInclusionProofRecent is BenchmarkInclusionProof for the last
// 10,000 entries, whose tree hashes are all in memory: the case of a
// receipt handed out right after an append.
func BenchmarkInclusionProofRecent(b *testing.B) {
	l, _, _ := benchLog(b)
	runWriters(b, l, 100_000, 256)
	size := l.Size()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := l.InclusionProof(size-1-rng.Uint64N(10_000), size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiptFor measures the receipt an appender gets for its entry,
// against its batch's checkpoint.
func BenchmarkReceiptFor(b *testing.B) {
	l, _, _ := benchLog(b)
	runWriters(b, l, 50_000, 256)
	var recent []Appended
	for i := range 1000 {
		a, err := l.Append(context.Background(), benchEntry(0, 50_000+i), nil)
		if err != nil {
			b.Fatal(err)
		}
		recent = append(recent, a)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.ReceiptFor(recent[i%len(recent)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInclusionProofParallel is BenchmarkInclusionProof from all CPUs.
func BenchmarkInclusionProofParallel(b *testing.B) {
	l, _, _ := benchLog(b)
	runWriters(b, l, 100_000, 256)
	size := l.Size()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		for pb.Next() {
			if _, err := l.InclusionProof(rng.Uint64N(size), size); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBytesPerEntry appends b.N entries, flushes the memtable and
// reports the sstable bytes on disk per entry next to the entry size (run
// it with -benchtime=100000x or more for a stable figure).
func BenchmarkBytesPerEntry(b *testing.B) {
	l, db, _ := benchLog(b)
	b.ResetTimer()
	runWriters(b, l, b.N, 256)
	b.StopTimer()
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	// Sizes from pebble's own accounting, not a walk of the folder: pebble
	// deletes obsolete WAL files and sstables in the background, and a walk
	// that stats a file pebble just removed failed the benchmark.
	m := db.Metrics()
	sst := m.Total().TablesSize
	all := int64(m.DiskSpaceUsage())
	var entryBytes int
	for i := range uint64(min(l.Size(), 1000)) {
		e, err := l.Entry(i)
		if err != nil {
			b.Fatal(err)
		}
		entryBytes += len(e)
	}
	n := float64(l.Size())
	b.ReportMetric(float64(sst)/n, "bytes/entry")
	b.ReportMetric(float64(all)/n, "dir-bytes/entry")
	b.ReportMetric(float64(entryBytes)/float64(min(l.Size(), 1000)), "entry-bytes")
}

func histogram(b *testing.B, reg *prometheus.Registry, name string) *dto.Histogram {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}
