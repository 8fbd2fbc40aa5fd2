package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

// The bench command measures the log (spec/benchmarks.md):
//
//	clawnet bench log     drives a log in process and reports durable
//	                      appends/s, append latency, bytes on disk per
//	                      entry and the process's peak RSS;
//	clawnet bench proofs  is a load generator for GET
//	                      /log/v1/proof/inclusion on a running server that
//	                      verifies a sample of the proofs it gets.

func benchUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet bench log --writers N --entries M [--rate R] [--json] [--dir DIR | --data DIR]
      append M entries with N concurrent writers to a log in process; print
      appends/s, latency, bytes on disk per entry and peak RSS
  clawnet bench proofs --server URL [--clients N] [--duration D] [--json]
      request inclusion proofs from a running server with N keep-alive clients
      for D, verifying a sample of them; print proofs/s, latency and errors
  clawnet bench actions [--server URL] [--agents N] [--duration D] [--rate R] [--json]
      set up N agents with delegation credentials, then drive signed allowed
      actions (POST /v1/actions) for D, verifying a sample of the receipts;
      print actions/s, latency and errors
`)
}

func init() {
	registerCommand(command{name: "bench", summary: "measure the log (bench log) or a running server (bench proofs, resolve, credentials, actions)", run: cmdBench})
}

func cmdBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		benchUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "log":
		return cmdBenchLog(ctx, args[1:], stdout, stderr)
	case "proofs":
		return cmdBenchProofs(ctx, args[1:], stdout, stderr)
	case "resolve":
		return cmdBenchResolve(ctx, args[1:], stdout, stderr)
	case "credentials":
		return cmdBenchCredentials(ctx, args[1:], stdout, stderr)
	case "actions":
		return cmdBenchActions(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		benchUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "clawnet bench: unknown command %q\n", args[0])
	benchUsage(stderr)
	return exitUsage
}

// logBenchResult is what `clawnet bench log --json` prints. The first four
// keys are the ones issue 2 requires; the others help to read them.
type logBenchResult struct {
	AppendsPerS   float64 `json:"appends_per_s"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
	MaxMs         float64 `json:"max_ms"`
	// CallP50ms and CallP99ms time the Append call alone. Without --rate
	// they equal p50_ms and p99_ms; with it, p50_ms and p99_ms count from
	// when each append was due, which adds how late the writer woke up
	// and shows a log that falls behind the offered rate.
	CallP50ms float64 `json:"call_p50_ms"`
	CallP99ms float64 `json:"call_p99_ms"`
	// DiskBytesPerEntry counts every file of the database folder (WAL,
	// manifest, options) after the final flush and compaction, where
	// BytesPerEntry counts the sstables only.
	DiskBytesPerEntry float64 `json:"disk_bytes_per_entry"`
	// EntryBytes is the average size of an entry as stored (sampled).
	EntryBytes float64 `json:"entry_bytes"`
	// MaxRSSMB is the peak resident set of the whole process (getrusage
	// ru_maxrss), including the final compaction.
	MaxRSSMB float64 `json:"max_rss_mb"`
	Writers  int     `json:"writers"`
	Entries  int     `json:"entries"`
	// Rate is the offered load in appends/s; 0 means as fast as possible.
	Rate float64 `json:"rate"`
	// TreeSize is the log's size afterwards (more than Entries when --data
	// held a log already).
	TreeSize  uint64  `json:"tree_size"`
	DurationS float64 `json:"duration_s"`
}

// logBenchConfig configures benchLog.
type logBenchConfig struct {
	// dir is a folder for a throwaway database (in dir/db); "" means a
	// temporary folder, removed afterwards. Exclusive with data.
	dir string
	// data is a data folder in the layout of `clawnet serve --data`: log
	// key, verifier key, operator token and the database, created when
	// missing and kept afterwards so that clawnet serve can serve it.
	data string
	// origin names a log created in data; "" means benchOrigin.
	origin string
	// writers append concurrently; entries is the total to append.
	writers, entries int
	// rate is the offered load in appends/s over all writers: append i is
	// due at start + i/rate, and its latency counts from that due time
	// (so that a stalled log is not hidden by writers that stop sending:
	// no coordinated omission). 0 means closed loop, as fast as possible,
	// and latency counts from the call.
	rate float64
	// maxBatch and maxAge are the sequencer's bounds; 0 = its defaults.
	maxBatch int
	maxAge   time.Duration
	// now stamps the entries; nil means time.Now.
	now func() time.Time
	// progress, if not nil, receives a line every progressEvery.
	progress      io.Writer
	progressEvery time.Duration
	logger        *slog.Logger
	// appendsDone, if not nil, is called when the last append returned,
	// before the flush and compaction (it stops the CPU profile).
	appendsDone func()
}

// benchOrigin names a log that the bench creates.
const benchOrigin = "clawnet.local/bench"

func cmdBenchLog(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clawnet bench log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg logBenchConfig
	fs.IntVar(&cfg.writers, "writers", 64, "concurrent writers")
	fs.IntVar(&cfg.entries, "entries", 100000, "entries to append in all")
	fs.Float64Var(&cfg.rate, "rate", 0, "offered load in appends/s spread over the writers (0: as fast as possible)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	fs.StringVar(&cfg.dir, "dir", "", "folder for a throwaway database (default: a temporary folder, removed afterwards)")
	fs.StringVar(&cfg.data, "data", "", "data `directory` laid out like clawnet serve --data (keys, token, db); kept, so that clawnet serve can serve the log")
	fs.StringVar(&cfg.origin, "log-origin", "", "origin of a log created in --data (default \""+benchOrigin+"\")")
	fs.IntVar(&cfg.maxBatch, "max-batch-size", 0, "sequencer batch size bound (0 = default)")
	fs.DurationVar(&cfg.maxAge, "max-batch-age", 0, "sequencer batch age bound (0 = default)")
	progress := fs.Bool("progress", false, "print progress to stderr every 10s")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile, from the start to the last append, to `file`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch {
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "clawnet bench log: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case cfg.writers < 1 || cfg.entries < 1:
		fmt.Fprintln(stderr, "clawnet bench log: --writers and --entries must be positive")
		return exitUsage
	case cfg.rate < 0:
		fmt.Fprintln(stderr, "clawnet bench log: --rate must not be negative")
		return exitUsage
	case cfg.maxBatch < 0 || cfg.maxAge < 0:
		fmt.Fprintln(stderr, "clawnet bench log: --max-batch-size and --max-batch-age must not be negative")
		return exitUsage
	case cfg.dir != "" && cfg.data != "":
		fmt.Fprintln(stderr, "clawnet bench log: give --dir or --data, not both")
		return exitUsage
	case cfg.origin != "" && cfg.data == "":
		fmt.Fprintln(stderr, "clawnet bench log: --log-origin needs --data")
		return exitUsage
	}
	if cfg.origin != "" {
		if err := checkOrigin(cfg.origin); err != nil {
			fmt.Fprintf(stderr, "clawnet bench log: --log-origin: %v\n", err)
			return exitUsage
		}
	}
	if *progress {
		cfg.progress, cfg.progressEvery = stderr, 10*time.Second
	}
	cfg.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "clawnet bench log: %v\n", err)
			return exitFail
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "clawnet bench log: start CPU profile: %v\n", err)
			return exitFail
		}
		cfg.appendsDone = pprof.StopCPUProfile
	}
	res, err := benchLog(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet bench log: %v\n", err)
		return exitFail
	}
	return benchReport("clawnet bench log", res, *asJSON, func() {
		load := "as fast as possible"
		if res.Rate > 0 {
			load = fmt.Sprintf("offered %.0f appends/s", res.Rate)
		}
		fmt.Fprintf(stdout, "durable appends: %d entries by %d writers, %s\n", res.Entries, res.Writers, load)
		fmt.Fprintf(stdout, "  throughput     %.0f appends/s (%.2f s)\n", res.AppendsPerS, res.DurationS)
		fmt.Fprintf(stdout, "  latency        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", res.P50ms, res.P99ms, res.MaxMs)
		if res.Rate > 0 {
			fmt.Fprintf(stdout, "                 (from each append's due time; the Append call alone: p50 %.3f ms, p99 %.3f ms)\n", res.CallP50ms, res.CallP99ms)
		}
		fmt.Fprintf(stdout, "  disk           %.1f bytes/entry in sstables, %.1f in the whole folder (entries average %.1f bytes)\n",
			res.BytesPerEntry, res.DiskBytesPerEntry, res.EntryBytes)
		fmt.Fprintf(stdout, "  memory         %.1f MB peak RSS\n", res.MaxRSSMB)
		fmt.Fprintf(stdout, "  tree size      %d\n", res.TreeSize)
	}, "", stdout, stderr)
}

// openBenchLog opens the database and the signer for cfg. With cfg.data it
// uses serve's own key and token functions, so that the folder is one that
// `clawnet serve --data` accepts.
func openBenchLog(cfg logBenchConfig) (db *store.DB, dbPath string, signer note.Signer, cleanup func(), err error) {
	cleanup = func() {}
	switch {
	case cfg.data != "":
		if err := os.MkdirAll(cfg.data, 0o700); err != nil {
			return nil, "", nil, nil, fmt.Errorf("create data directory: %w", err)
		}
		keys, err := loadOrCreateKeys(cfg.data, cfg.origin, benchOrigin, cfg.logger)
		if err != nil {
			return nil, "", nil, nil, err
		}
		if _, err := loadOrCreateToken(cfg.data, cfg.logger); err != nil {
			return nil, "", nil, nil, err
		}
		signer, dbPath = keys.signer, filepath.Join(cfg.data, dbDir)
	default:
		dir := cfg.dir
		if dir == "" {
			d, err := os.MkdirTemp("", "clawnet-bench-log-")
			if err != nil {
				return nil, "", nil, nil, err
			}
			cleanup = func() { _ = os.RemoveAll(d) }
			dir = d
		}
		skey, _, err := note.GenerateKey(rand.Reader, benchOrigin)
		if err != nil {
			cleanup()
			return nil, "", nil, nil, err
		}
		if signer, err = note.NewSigner(skey); err != nil {
			cleanup()
			return nil, "", nil, nil, err
		}
		dbPath = filepath.Join(dir, dbDir)
	}
	db, err = store.Open(dbPath, store.Options{})
	if err != nil {
		cleanup()
		return nil, "", nil, nil, err
	}
	return db, dbPath, signer, cleanup, nil
}

func benchLog(ctx context.Context, cfg logBenchConfig) (_ *logBenchResult, err error) {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	db, dbPath, signer, cleanup, err := openBenchLog(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	l, err := sequencer.Open(ctx, sequencer.Config{
		DB: db, Signer: signer, Origin: signer.Name(),
		MaxBatchSize: cfg.maxBatch, MaxBatchAge: cfg.maxAge, Logger: cfg.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = l.Close()
		}
	}()
	base := l.Size()

	elapsed, hist, calls, err := runBenchWriters(ctx, l, cfg)
	if cfg.appendsDone != nil {
		cfg.appendsDone()
	}
	if err != nil {
		return nil, err
	}
	closed = true
	if err := l.Close(); err != nil {
		return nil, fmt.Errorf("close log: %w", err)
	}
	size := l.Size()
	if got := size - base; got != uint64(cfg.entries) {
		return nil, fmt.Errorf("log grew by %d entries, want %d", got, cfg.entries)
	}
	entryBytes, err := sampleEntryBytes(l, size)
	if err != nil {
		return nil, err
	}
	// Bytes on disk: flush the memtable and compact, then count the
	// sstables (the WAL is only a transient copy of what they hold) and,
	// separately, the whole folder.
	if err := db.Flush(); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	if err := db.Compact(); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	sst, all, err := dirBytes(dbPath)
	if err != nil {
		return nil, err
	}
	return &logBenchResult{
		AppendsPerS:       float64(cfg.entries) / elapsed.Seconds(),
		P50ms:             hist.ms(0.50),
		P99ms:             hist.ms(0.99),
		MaxMs:             hist.maxMs(),
		CallP50ms:         calls.ms(0.50),
		CallP99ms:         calls.ms(0.99),
		BytesPerEntry:     float64(sst) / float64(size),
		DiskBytesPerEntry: float64(all) / float64(size),
		EntryBytes:        entryBytes,
		MaxRSSMB:          maxRSSMB(),
		Writers:           cfg.writers,
		Entries:           cfg.entries,
		Rate:              cfg.rate,
		TreeSize:          size,
		DurationS:         elapsed.Seconds(),
	}, nil
}

// runBenchWriters appends cfg.entries entries with cfg.writers goroutines
// and returns the wall time and the histograms of the latency (from the
// due time with a rate) and of the Append calls. Each writer records into
// its own histograms (no shared lock on the hot path); they are merged
// after wg.Wait.
func runBenchWriters(ctx context.Context, l *sequencer.Log, cfg logBenchConfig) (elapsed time.Duration, lat, calls *latencyHist, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64 // the next entry number to append
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error // written once under errOnce, read after wg.Wait
	)
	// hists[w] and callHists[w] belong to writer w until wg.Wait returns.
	hists := make([]latencyHist, cfg.writers)
	callHists := make([]latencyHist, cfg.writers)
	digest := transparency.DigestSHA256([32]byte{1, 2, 3})
	start := time.Now()
	due := func(i int64) time.Time {
		return start.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
	}
	stopProgress := startBenchProgress(cfg, &next, start)
	for w := range cfg.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, ch := &hists[w], &callHists[w]
			var timer *time.Timer
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.entries) {
					return
				}
				var t0 time.Time
				if cfg.rate > 0 {
					t0 = due(i)
					if d := time.Until(t0); d > 0 {
						if timer == nil {
							timer = time.NewTimer(d)
						} else {
							timer.Reset(d)
						}
						select {
						case <-timer.C:
						case <-ctx.Done():
							return
						}
					}
				}
				e := benchEntry(i, cfg.now(), digest)
				t1 := time.Now()
				if cfg.rate == 0 {
					t0 = t1
				}
				if _, err := l.Append(ctx, e, nil); err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("append entry %d: %w", i, err)
						cancel()
					})
					return
				}
				t2 := time.Now()
				h.record(t2.Sub(t0))
				ch.record(t2.Sub(t1))
			}
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	stopProgress()
	if firstErr != nil {
		return 0, nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, nil, err
	}
	lat, calls = &latencyHist{}, &latencyHist{}
	for i := range hists {
		lat.merge(&hists[i])
		calls.merge(&callHists[i])
	}
	return elapsed, lat, calls, nil
}

// startBenchProgress prints a progress line every cfg.progressEvery until
// the returned function is called.
func startBenchProgress(cfg logBenchConfig, next *atomic.Int64, start time.Time) (stop func()) {
	if cfg.progress == nil || cfg.progressEvery <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(cfg.progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := min(next.Load(), int64(cfg.entries))
				el := time.Since(start)
				fmt.Fprintf(cfg.progress, "bench log: %d/%d entries in %s, %.0f appends/s, %.0f MB peak RSS\n",
					n, cfg.entries, el.Round(time.Second), float64(n)/el.Seconds(), maxRSSMB())
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// benchEntry is entry number i: a realistic action decision of about 400
// bytes, unique by its resource.
func benchEntry(i int64, now time.Time, digest string) *transparency.Entry {
	return &transparency.Entry{
		Version:       transparency.EntryVersion,
		Type:          "action.decision",
		Time:          now,
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
}

// sampleEntryBytes is the average size of up to 1,000 stored entries
// spread evenly over the log. Marshaling every entry again in the writers
// would steal CPU from the log being measured.
func sampleEntryBytes(l *sequencer.Log, size uint64) (float64, error) {
	if size == 0 {
		return 0, nil
	}
	n := min(size, 1000)
	var total int
	for k := range n {
		i := k * size / n
		e, err := l.Entry(i)
		if err != nil {
			return 0, fmt.Errorf("read entry %d: %w", i, err)
		}
		total += len(e)
	}
	return float64(total) / float64(n), nil
}

// dirBytes returns the bytes of the sstables under dir and of all its
// files.
func dirBytes(dir string) (sst, all int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed by pebble while we walked
		}
		if err != nil {
			return err
		}
		all += info.Size()
		if strings.HasSuffix(p, ".sst") {
			sst += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("measure %s: %w", dir, err)
	}
	return sst, all, nil
}

// maxRSSMB is the peak resident set size of this process in MiB; 0 if the
// system does not say. On Linux ru_maxrss is in KiB.
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// latencyHist is a log-linear histogram of durations with a relative
// error below 1/128 (under 0.8%), in constant memory: a run of ten million
// appends must not hold ten million samples, which would inflate the very
// RSS being measured. It is not safe for concurrent use: each goroutine
// records into its own and they are merged afterwards.
type latencyHist struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 7 // 128 sub-buckets per power of two
	// Values below 2^(histSubBits+1) get a bucket each; every higher power
	// of two gets 2^histSubBits buckets; a shift of at most 64-8 covers
	// every int64.
	histBuckets = (64-histSubBits-1)<<histSubBits + 1<<(histSubBits+1)
)

// histBucket maps v >= 0 to its bucket.
func histBucket(v uint64) int {
	l := bits.Len64(v)
	if l <= histSubBits+1 {
		return int(v)
	}
	shift := l - (histSubBits + 1)
	return shift<<histSubBits + int(v>>shift)
}

// histLow is the smallest value of bucket b.
func histLow(b int) uint64 {
	if b < 1<<(histSubBits+1) {
		return uint64(b)
	}
	shift := b>>histSubBits - 1
	return uint64(b-shift<<histSubBits) << shift
}

func (h *latencyHist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histBucket(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 <= q <= 1) as the lower bound of the
// bucket holding the sample of rank floor(q*(n-1)), capped by the maximum;
// 0 for an empty histogram.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n-1))
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen > rank {
			return min(time.Duration(histLow(b)), h.max)
		}
	}
	return h.max
}

// ms is the q-quantile in milliseconds.
func (h *latencyHist) ms(q float64) float64 { return h.quantile(q).Seconds() * 1000 }

// maxMs is the maximum in milliseconds.
func (h *latencyHist) maxMs() float64 { return h.max.Seconds() * 1000 }

// benchCounts are the tallies of a load run's worker (each its own until
// the run ends) or, added up, of the whole run.
type benchCounts struct {
	ok, checked   uint64 // correct answers; how many of them were checked in full
	errors, wrong uint64 // errors; how many of them were answers, but wrong ones
	firstErr      error
}

// succeed counts a correct answer, checked in full or not.
func (c *benchCounts) succeed(checked bool) {
	c.ok++
	if checked {
		c.checked++
	}
}

// fail counts the error err; answered tells a wrong answer from a
// transport failure.
func (c *benchCounts) fail(err error, answered bool) {
	c.errors++
	if answered {
		c.wrong++
	}
	if c.firstErr == nil {
		c.firstErr = err
	}
}

// add adds o's tallies to c; c's first error stays the first.
func (c *benchCounts) add(o *benchCounts) {
	c.ok += o.ok
	c.checked += o.checked
	c.errors += o.errors
	c.wrong += o.wrong
	if c.firstErr == nil {
		c.firstErr = o.firstErr
	}
}

// firstError is the text of the first error, "" if there was none.
func (c *benchCounts) firstError() string {
	if c.firstErr == nil {
		return ""
	}
	return c.firstErr.Error()
}

// proofBenchResult is what `clawnet bench proofs --json` prints; the first
// five keys are the documented ones.
type proofBenchResult struct {
	ProofsPerS float64 `json:"proofs_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Errors     uint64  `json:"errors"`
	// Proofs is the number of proofs received with status 200; Verified is
	// how many of them were checked against the checkpoint root.
	Proofs    uint64  `json:"proofs"`
	Verified  uint64  `json:"verified"`
	Clients   int     `json:"clients"`
	TreeSize  uint64  `json:"tree_size"`
	DurationS float64 `json:"duration_s"`
	// FirstError describes the first error, if any.
	FirstError string `json:"first_error,omitempty"`
}

// proofBenchConfig configures benchProofs.
type proofBenchConfig struct {
	server   string // base URL, such as http://127.0.0.1:8080
	key      string // verifier key; "" means fetch GET /log/key
	clients  int
	duration time.Duration
	// sample: one response in sample (per client) is decoded and verified
	// with transparency.VerifyInclusion against the checkpoint root; the
	// others are only checked for status 200 and read to the end, as a
	// busy client that trusts its transport would.
	sample int
}

func cmdBenchProofs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clawnet bench proofs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg proofBenchConfig
	fs.StringVar(&cfg.server, "server", defaultServer, "server `URL`")
	fs.StringVar(&cfg.key, "key", "", "the log's verifier `key` (default: fetched from the server's /log/key, which checks nothing about the server)")
	fs.IntVar(&cfg.clients, "clients", 64, "concurrent keep-alive clients")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send requests")
	fs.IntVar(&cfg.sample, "sample", 100, "verify one proof in `N` against the checkpoint root")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch {
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "clawnet bench proofs: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case cfg.clients < 1 || cfg.duration <= 0 || cfg.sample < 1:
		fmt.Fprintln(stderr, "clawnet bench proofs: --clients, --duration and --sample must be positive")
		return exitUsage
	case !strings.HasPrefix(cfg.server, "http://") && !strings.HasPrefix(cfg.server, "https://"):
		fmt.Fprintf(stderr, "clawnet bench proofs: --server %q: want an http:// or https:// URL\n", cfg.server)
		return exitUsage
	}
	res, err := benchProofs(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet bench proofs: %v\n", err)
		return exitFail
	}
	// A wrong proof is the server's failure to keep its promise; a load
	// run that saw one must not look like a success.
	failure := ""
	if res.Errors > 0 {
		failure = fmt.Sprintf("%d errors; first: %s", res.Errors, res.FirstError)
	}
	return benchReport("clawnet bench proofs", res, *asJSON, func() {
		fmt.Fprintf(stdout, "inclusion proofs: %d clients for %.1f s against a tree of %d entries\n", res.Clients, res.DurationS, res.TreeSize)
		fmt.Fprintf(stdout, "  throughput     %.0f proofs/s (%d proofs, %d verified)\n", res.ProofsPerS, res.Proofs, res.Verified)
		fmt.Fprintf(stdout, "  latency        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", res.P50ms, res.P99ms, res.MaxMs)
		fmt.Fprintf(stdout, "  errors         %d\n", res.Errors)
	}, failure, stdout, stderr)
}

// benchProofs runs the proof load described by cfg.
func benchProofs(ctx context.Context, cfg proofBenchConfig) (*proofBenchResult, error) {
	base := strings.TrimRight(cfg.server, "/")
	client := newBenchClient(cfg.clients)
	defer client.CloseIdleConnections()

	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	verifier, err := benchVerifier(setupCtx, client, base, cfg.key)
	if err != nil {
		return nil, err
	}
	signed, err := benchGet(setupCtx, client, base+"/log/checkpoint")
	if err != nil {
		return nil, err
	}
	cp, err := transparency.OpenCheckpoint(signed, verifier)
	if err != nil {
		return nil, fmt.Errorf("checkpoint of %s: %w", base, err)
	}
	size, root := cp.Size, cp.Root
	if size == 0 {
		return nil, errors.New("the log is empty: nothing to prove")
	}

	run, err := runClosedLoop(ctx, cfg.clients, cfg.duration, func(c int) benchCall {
		rng := mrand.New(mrand.NewPCG(mrand.Uint64(), uint64(c)))
		return func(ctx context.Context, n int) (bool, bool, error) {
			verify := n%cfg.sample == 0
			return false, verify, fetchProof(ctx, client, base, rng.Uint64N(size), size, root, verify)
		}
	})
	if err != nil {
		return nil, err
	}
	res := &proofBenchResult{Clients: cfg.clients, TreeSize: size, DurationS: run.elapsed.Seconds()}
	res.Proofs, res.Verified, res.Errors, res.FirstError = run.sum.ok, run.sum.checked, run.sum.errors, run.sum.firstError()
	res.ProofsPerS = float64(res.Proofs) / run.elapsed.Seconds()
	res.P50ms, res.P99ms, res.MaxMs = run.all.ms(0.50), run.all.ms(0.99), run.all.maxMs()
	return res, nil
}

// benchCall makes the n-th call of one client of a closed-loop run: it
// reports whether the server answered, whether the answer was checked in
// full, and an error for a failed call or a wrong answer.
type benchCall func(ctx context.Context, n int) (answered, checked bool, err error)

// closedLoop is what runClosedLoop measured: every call's latency, the
// tallies of all clients, and how long the run took.
type closedLoop struct {
	all     latencyHist
	sum     benchCounts
	elapsed time.Duration
}

// runClosedLoop runs clients clients for d, each making the calls of
// newClient(c) one after another until the deadline. A call cut off by
// the deadline before it was answered is not a failure.
func runClosedLoop(ctx context.Context, clients int, d time.Duration, newClient func(c int) benchCall) (*closedLoop, error) {
	start := time.Now()
	runCtx, stop := context.WithDeadline(ctx, start.Add(d))
	defer stop()
	type clientStats struct {
		hist latencyHist
		benchCounts
	}
	// stats[c] belongs to client c until wg.Wait returns.
	stats := make([]clientStats, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, call := &stats[c], newClient(c)
			for n := 0; runCtx.Err() == nil; n++ {
				t0 := time.Now()
				answered, checked, err := call(runCtx, n)
				lat := time.Since(t0)
				if err != nil {
					if runCtx.Err() != nil && !answered {
						return // cut off by the end of the run, not a failure
					}
					st.fail(err, answered)
					continue
				}
				st.hist.record(lat)
				st.succeed(checked)
			}
		}()
	}
	wg.Wait()
	run := &closedLoop{elapsed: time.Since(start)}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range stats {
		run.all.merge(&stats[i].hist)
		run.sum.add(&stats[i].benchCounts)
	}
	return run, nil
}

// proofResponse is the part of server.InclusionProofResponse that the
// bench checks.
type proofResponse struct {
	Index    uint64              `json:"index"`
	TreeSize uint64              `json:"tree_size"`
	LeafHash transparency.Hash   `json:"leaf_hash"`
	Proof    []transparency.Hash `json:"proof"`
}

// fetchProof requests the inclusion proof of index in the tree of size
// and, if verify, checks that it proves its leaf against root.
func fetchProof(ctx context.Context, c *http.Client, base string, index, size uint64, root transparency.Hash, verify bool) error {
	url := fmt.Sprintf("%s/log/v1/proof/inclusion?index=%d&size=%d", base, index, size)
	b, err := benchGet(ctx, c, url)
	if err != nil {
		return err
	}
	if !verify {
		return nil
	}
	var p proofResponse
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("proof of %d in %d: decode: %w", index, size, err)
	}
	if p.Index != index || p.TreeSize != size {
		return fmt.Errorf("proof of %d in %d: the server answered for index %d in %d", index, size, p.Index, p.TreeSize)
	}
	if err := transparency.VerifyInclusion(index, size, p.LeafHash, p.Proof, root); err != nil {
		return fmt.Errorf("proof of %d in %d: %w", index, size, err)
	}
	return nil
}

// newBenchClient returns the HTTP client of a load run with conns
// concurrent users: keep-alive connections for all of them (a load
// generator that opens connections measures the handshake, not the
// server), no proxy and no compression.
func newBenchClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // a load test measures the server, never a proxy
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// benchVerifier returns the verifier of the log's key vkey or, when vkey
// is "", of the key the server at base gives at GET /log/key.
func benchVerifier(ctx context.Context, c *http.Client, base, vkey string) (note.Verifier, error) {
	if vkey == "" {
		b, err := benchGet(ctx, c, base+"/log/key")
		if err != nil {
			return nil, err
		}
		vkey = strings.TrimSpace(string(b))
	}
	v, err := transparency.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	return v, nil
}

// benchParallel calls do(ctx, i) for every i from 0 to n-1, with up to
// workers calls at once. The first error cancels the ctx of the calls
// still running, stops the rest and is returned; without one, the error
// of the ctx given if it ended.
func benchParallel(ctx context.Context, workers, n int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error // written once under errOnce, read after wg.Wait
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := do(ctx, i); err != nil {
					errOnce.Do(func() {
						firstErr = err
						cancel()
					})
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// maxBenchBody bounds a response body read by the bench.
const maxBenchBody = 1 << 20

// benchGet GETs url and returns the body of a 200 response.
func benchGet(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// Read to the end even on an error status, so the connection is
	// reused: a load generator that opens connections measures the
	// handshake, not the server.
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBenchBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	return b, nil
}

// benchReport ends a bench command named name: it prints res as one JSON
// object (asJSON) or as text (with text), then fails the command with the
// line failure when failure is not "" (the run's errors).
func benchReport(name string, res any, asJSON bool, text func(), failure string, stdout, stderr io.Writer) int {
	if asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitFail
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		text()
	}
	if failure != "" {
		fmt.Fprintf(stderr, "%s: %s\n", name, failure)
		return exitFail
	}
	return exitOK
}

// benchServerOrigin replaces a --server URL given to the bench command name
// by its origin; a URL that is not one is a usage error, reported to stderr.
func benchServerOrigin(name string, server *string, stderr io.Writer) bool {
	if *server == "" {
		return true
	}
	origin, err := serverOrigin(*server)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return false
	}
	*server = origin
	return true
}

// startBenchServer points *server, when it is "" (no --server), at an
// embedded server started for the bench command name; stop stops that
// server, reporting a failure to stderr, and does nothing when there is
// none. ok is false if the server did not start (reported to stderr).
func startBenchServer(ctx context.Context, name string, server *string, stderr io.Writer) (embedded bool, stop func(), ok bool) {
	if *server != "" {
		return false, func() {}, true
	}
	srv, err := startEmbeddedServer(ctx, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: embedded server: %v\n", name, err)
		return true, nil, false
	}
	*server = srv.url
	return true, func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(stderr, "%s: embedded server: %v\n", name, err)
		}
	}, true
}

// benchWhere names the server a run went against for the text output.
func benchWhere(server string, embedded bool) string {
	if embedded {
		return "an embedded server at " + server
	}
	return server
}

// signedPost POSTs body as JSON to path on the server at origin, signed
// with key for the audience origin, with the bench's own client (keep-alive,
// many connections: call's client would open a connection per worker and
// share the global one), and returns the body of a 2xx answer.
func signedPost(ctx context.Context, client *http.Client, origin string, key *signingKey, path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, origin+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	s := &request.Signer{Key: key.Priv, KID: key.KID, Audience: origin, Now: time.Now}
	if err := s.SignRequest(req); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readAnswer(resp, maxBenchBody)
}

// embeddedServer is a `clawnet serve` run in process by the bench.
type embeddedServer struct {
	url  string
	stop func() error
}

// startEmbeddedServer runs serve in process on 127.0.0.1:0 with a
// temporary data folder, as `clawnet serve --addr 127.0.0.1:0` would, and
// returns once it listens. Its public URL is its address, so hosted DIDs
// can be created with that as the audience. Warnings and errors of the
// server go to stderr.
func startEmbeddedServer(ctx context.Context, stderr io.Writer) (*embeddedServer, error) {
	dir, err := os.MkdirTemp("", "clawnet-bench-resolve-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		err := serve(ctx, serveConfig{addr: "127.0.0.1:0", data: filepath.Join(dir, "data")}, pw, logger)
		pw.Close()
		done <- err
	}()
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		// serve prints a few more lines; drain them so it never blocks.
		_, _ = io.Copy(io.Discard, pr)
	}()
	stop := func() error {
		cancel()
		err := <-done
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	line, ok := <-first
	addr, found := strings.CutPrefix(line, "clawnet ledger serving on ")
	if !ok || !found {
		err := stop()
		return nil, fmt.Errorf("clawnet serve did not start (first line %q): %w", line, err)
	}
	return &embeddedServer{url: addr, stop: stop}, nil
}
