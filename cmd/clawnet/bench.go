package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

// logBenchResult is what `clawnet bench log --json` prints.
type logBenchResult struct {
	AppendsPerS   float64 `json:"appends_per_s"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
	EntryBytes    float64 `json:"entry_bytes"`
	Writers       int     `json:"writers"`
	Entries       int     `json:"entries"`
}

func init() {
	registerCommand(command{name: "bench", summary: "measure the log in process (bench log)", run: cmdBench})
}

func cmdBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "log" {
		fmt.Fprintln(stderr, "usage: clawnet bench log --writers N --entries M [--json] [--dir DIR]")
		return 2
	}
	fs := flag.NewFlagSet("clawnet bench log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	writers := fs.Int("writers", 64, "concurrent writers")
	entries := fs.Int("entries", 100000, "entries to append in all")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	dir := fs.String("dir", "", "folder for the database (default: a temporary folder, removed afterwards)")
	maxBatch := fs.Int("max-batch-size", 0, "sequencer batch size bound (0 = default)")
	maxAge := fs.Duration("max-batch-age", 0, "sequencer batch age bound (0 = default)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *writers < 1 || *entries < 1 {
		fmt.Fprintln(stderr, "clawnet bench log: --writers and --entries must be positive and no arguments are taken")
		return 2
	}
	res, err := benchLog(ctx, *dir, *writers, *entries, *maxBatch, *maxAge)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet bench log: %v\n", err)
		return 1
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stdout, "durable appends: %d entries by %d writers\n", res.Entries, res.Writers)
	fmt.Fprintf(stdout, "  throughput     %.0f appends/s\n", res.AppendsPerS)
	fmt.Fprintf(stdout, "  latency        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", res.P50ms, res.P99ms, res.MaxMs)
	fmt.Fprintf(stdout, "  disk           %.1f bytes/entry (entries average %.1f bytes)\n", res.BytesPerEntry, res.EntryBytes)
	return 0
}

func benchLog(ctx context.Context, dir string, writers, entries, maxBatch int, maxAge time.Duration) (*logBenchResult, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "clawnet-bench-log-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	db, err := store.Open(filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	const origin = "clawnet.local/bench"
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	l, err := sequencer.Open(ctx, sequencer.Config{DB: db, Signer: signer, Origin: origin, MaxBatchSize: maxBatch, MaxBatchAge: maxAge})
	if err != nil {
		return nil, err
	}
	base := l.Size()

	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, entries)
		entBytes atomic.Int64
		firstErr error
		wg       sync.WaitGroup
	)
	digest := transparency.DigestSHA256([32]byte{1, 2, 3})
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, entries/writers+1)
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for {
				i := next.Add(1) - 1
				if i >= int64(entries) {
					return
				}
				// A realistic action decision, about 400 bytes.
				e := &transparency.Entry{
					Version: transparency.EntryVersion, Type: "action.decision", Time: time.Now(),
					Actor:         "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
					Owner:         "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
					Authz:         &transparency.AuthzRef{Credential: fmt.Sprintf("urn:uuid:bench-%08d", i%1000), Digest: digest},
					Action:        "message/send",
					Resource:      fmt.Sprintf("calendar/2026/meeting-%d", i),
					Counterparty:  "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
					Decision:      transparency.DecisionAllowed,
					Reason:        "scope work/message matched",
					RequestDigest: digest,
				}
				t0 := time.Now()
				_, err := l.Append(ctx, e, nil)
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				if b, err := e.Marshal(); err == nil {
					entBytes.Add(int64(len(b)))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	if got := l.Size() - base; got != uint64(entries) {
		return nil, fmt.Errorf("log grew by %d entries, want %d", got, entries)
	}
	// Bytes on disk: flush the memtable and compact, then count the
	// sstables (the WAL is only a transient copy of what they hold).
	if err := db.Flush(); err != nil {
		return nil, err
	}
	if err := db.Compact(); err != nil {
		return nil, err
	}
	var sst int64
	err = filepath.WalkDir(filepath.Join(dir, "db"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".sst") {
			info, err := d.Info()
			if err != nil {
				return err
			}
			sst += info.Size()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	return &logBenchResult{
		AppendsPerS:   float64(entries) / elapsed.Seconds(),
		P50ms:         pct(0.50),
		P99ms:         pct(0.99),
		MaxMs:         float64(lat[len(lat)-1]) / float64(time.Millisecond),
		BytesPerEntry: float64(sst) / float64(l.Size()),
		EntryBytes:    float64(entBytes.Load()) / float64(entries),
		Writers:       writers,
		Entries:       entries,
	}, nil
}
