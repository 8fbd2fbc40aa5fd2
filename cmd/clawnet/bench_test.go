package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

// decodeOne decodes out as exactly one JSON object of type T, refusing
// unknown fields, so that a renamed key fails the test.
func decodeOne[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%s", out)
	}
	return v
}

// wantWrongAnswers checks the outcome of a bench run against a server
// that answers wrongly: exit 1, wrong answers counted among the errors
// of the --json result out, the first one named, and stderr reporting
// them.
func wantWrongAnswers(t *testing.T, code int, out, errOut string) {
	t.Helper()
	var res struct {
		Errors     uint64 `json:"errors"`
		Wrong      uint64 `json:"wrong"`
		FirstError string `json:"first_error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not a result: %v\n%s", err, out)
	}
	t.Logf("first error: %s", res.FirstError)
	if code != exitFail {
		t.Errorf("exit %d, want %d\n%s", code, exitFail, errOut)
	}
	if res.Wrong == 0 || res.Errors < res.Wrong || res.FirstError == "" {
		t.Errorf("wrong answers not reported: %s", out)
	}
	if !strings.Contains(errOut, "wrong answers); first:") {
		t.Errorf("stderr does not report the errors:\n%s", errOut)
	}
}

// wantBenchRefusal runs `clawnet bench <bench> --json args...` and checks
// that it exits with code, prints no result and names the command on
// stderr.
func wantBenchRefusal(t *testing.T, bench string, args []string, code int) {
	t.Helper()
	gotCode, out, errOut := runExit(t, append([]string{"bench", bench, "--json"}, args...)...)
	if gotCode != code || out != "" {
		t.Errorf("exit %d, stdout %q; want exit %d and no result\n%s", gotCode, out, code, errOut)
	}
	if !strings.Contains(errOut, "clawnet bench "+bench) {
		t.Errorf("stderr does not say what failed:\n%s", errOut)
	}
}

// newTestLog opens a log with a fresh key in a temporary folder, closed
// when the test ends, and returns it with its database and verifier key.
func newTestLog(t *testing.T) (*sequencer.Log, *store.DB, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "clawnet.test/bench")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: signer.Name()})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	return l, db, vkey
}

// rewriteAnswers passes the answers of inner to path (with a final "/",
// to the paths below it, as in http.ServeMux) through rewrite, which
// writes them to the client; other answers pass unchanged.
func rewriteAnswers(inner http.Handler, path string, rewrite func(w http.ResponseWriter, status int, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path && !(strings.HasSuffix(path, "/") && strings.HasPrefix(r.URL.Path, path)) {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		rewrite(w, rec.Code, rec.Body.Bytes())
	})
}

// TestBenchLogData runs `bench log --data` twice on one folder, then
// checks the entries are really in a log that reopens with the right size
// and that `clawnet serve --data` serves it.
func TestBenchLogData(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	runs := []struct {
		writers, entries int
		rate             float64
	}{
		{writers: 1, entries: 40},
		{writers: 8, entries: 300},
		// 200 entries offered at 2,000/s take at least 0.0995 s.
		{writers: 4, entries: 200, rate: 2000},
	}
	var total, largest int
	for _, r := range runs {
		largest = max(largest, r.entries)
		args := []string{"bench", "log", "--json", "--data", data,
			"--writers", strconv.Itoa(r.writers), "--entries", strconv.Itoa(r.entries)}
		if r.rate > 0 {
			args = append(args, "--rate", fmt.Sprint(r.rate))
		}
		code, out, errOut := runExit(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		total += r.entries
		res := decodeOne[logBenchResult](t, out)
		type check struct {
			name string
			ok   bool
		}
		checks := []check{
			{"appends_per_s > 0", res.AppendsPerS > 0},
			{"0 < p50 <= p99 <= max", 0 < res.P50ms && res.P50ms <= res.P99ms && res.P99ms <= res.MaxMs},
			{"bytes_per_entry > 0", res.BytesPerEntry > 0},
			{"disk_bytes_per_entry >= bytes_per_entry", res.DiskBytesPerEntry >= res.BytesPerEntry},
			// benchEntry marshals to 600-odd bytes; a wrong sample reads 0.
			{"entry_bytes plausible", 500 < res.EntryBytes && res.EntryBytes < 800},
			{"max_rss_mb > 0", res.MaxRSSMB > 0},
			{"writers", res.Writers == r.writers},
			{"entries", res.Entries == r.entries},
			{"rate", res.Rate == r.rate},
			{"tree_size counts earlier runs", res.TreeSize == uint64(total)},
			{"throughput is entries over duration", math.Abs(res.AppendsPerS*res.DurationS-float64(r.entries)) < 1e-6*float64(r.entries)},
		}
		if r.rate > 0 {
			checks = append(checks,
				check{"paced: no faster than the offered rate", res.DurationS >= float64(r.entries-1)/r.rate},
				// Each latency from the due time is at least its call's.
				check{"p50 >= call_p50 and p99 >= call_p99", res.P50ms >= res.CallP50ms && res.P99ms >= res.CallP99ms})
		} else {
			checks = append(checks, check{"closed loop: call latency is the latency", res.CallP50ms == res.P50ms && res.CallP99ms == res.P99ms})
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%v: %s fails: %+v", args, c.name, res)
			}
		}
	}

	// The folder holds serve's layout and a log of the right size whose
	// checkpoint verifies with the stored verifier key.
	keys, err := loadOrCreateKeys(data, "", "never.used/origin", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if keys.signer.Name() != benchOrigin {
		t.Errorf("origin = %q, want %q", keys.signer.Name(), benchOrigin)
	}
	if _, err := loadOrCreateToken(data, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	func() {
		db, err := store.Open(filepath.Join(data, dbDir), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: keys.signer, Origin: keys.signer.Name()})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.Size() != uint64(total) {
			t.Fatalf("reopened log has size %d, want %d", l.Size(), total)
		}
		v, err := transparency.NewVerifier(keys.vkey)
		if err != nil {
			t.Fatal(err)
		}
		signed, _, _ := l.Checkpoint()
		cp, err := transparency.OpenCheckpoint(signed, v)
		if err != nil {
			t.Fatalf("stored checkpoint: %v", err)
		}
		if cp.Size != uint64(total) {
			t.Errorf("checkpoint size %d, want %d", cp.Size, total)
		}
		resources := map[string]bool{}
		for i := range l.Size() {
			b, err := l.Entry(i)
			if err != nil {
				t.Fatal(err)
			}
			e, err := transparency.ParseEntry(b)
			if err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			if e.Type != "action.decision" {
				t.Errorf("entry %d has type %q", i, e.Type)
			}
			resources[e.Resource] = true
		}
		// Each run numbers its entries from 0, so the runs share resources;
		// within the largest run every entry is distinct.
		if len(resources) != largest {
			t.Errorf("%d distinct resources, want %d", len(resources), largest)
		}
	}()

	r := startServe(t, "--addr", "127.0.0.1:0", "--data", data)
	if r.origin != benchOrigin || r.vkey != keys.vkey {
		t.Errorf("serve uses origin %q key %q, want %q %q", r.origin, r.vkey, benchOrigin, keys.vkey)
	}
	var h server.HealthResponse
	if code := getJSON(t, r.url+"/healthz", &h); code != http.StatusOK || h.TreeSize != uint64(total) {
		t.Errorf("healthz: %d %+v, want tree size %d", code, h, total)
	}
	if code := r.stop(); code != exitOK {
		t.Errorf("serve exit %d\n%s", code, r.stderr)
	}
}

// TestBenchLogTemp checks the text output and that a temporary database
// folder given with --dir is used.
func TestBenchLogTemp(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runExit(t, "bench", "log", "--writers", "2", "--entries", "20", "--dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"durable appends: 20 entries by 2 writers", "appends/s", "p99", "bytes/entry", "peak RSS", "tree size      20"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	sst, _, err := dirBytes(filepath.Join(dir, dbDir))
	if err != nil {
		t.Fatal(err)
	}
	if sst == 0 {
		t.Errorf("no sstables in %s", dir)
	}
}

func TestBenchUsage(t *testing.T) {
	tmp := t.TempDir()
	for _, args := range [][]string{
		{"bench"},
		{"bench", "nope"},
		{"bench", "log", "--writers", "0"},
		{"bench", "log", "--entries", "0"},
		{"bench", "log", "--rate", "-1"},
		{"bench", "log", "--max-batch-size", "-1"},
		{"bench", "log", "--dir", tmp, "--data", tmp},
		{"bench", "log", "--log-origin", "x.example/log"},
		{"bench", "log", "--data", tmp, "--log-origin", "has space"},
		{"bench", "log", "extra"},
		{"bench", "log", "--unknown"},
		{"bench", "proofs", "--clients", "0"},
		{"bench", "proofs", "--duration", "0s"},
		{"bench", "proofs", "--sample", "0"},
		{"bench", "proofs", "--server", "127.0.0.1:1"},
		{"bench", "proofs", "extra"},
	} {
		code, _, errOut := runExit(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, errOut)
		}
		if errOut == "" {
			t.Errorf("%v: no message", args)
		}
	}
}

// proofServer is a real log of n entries served by server.New on
// loopback, with an optional rewrite of inclusion proof responses.
type proofServer struct {
	url, vkey string
	size      uint64
}

func newProofServer(t *testing.T, n int, rewrite func(w http.ResponseWriter, status int, body []byte)) *proofServer {
	t.Helper()
	ctx := context.Background()
	l, _, vkey := newTestLog(t)
	var wg sync.WaitGroup
	const writers = 16
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				if _, err := l.Append(ctx, benchEntry(int64(i), time.Unix(1_800_000_000, 0).UTC(), transparency.DigestSHA256([32]byte{9})), nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	s, err := server.New(server.Config{Log: l, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if rewrite != nil {
		h = rewriteAnswers(h, "/log/v1/proof/inclusion", rewrite)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return &proofServer{url: srv.URL, vkey: vkey, size: l.Size()}
}

func TestBenchProofs(t *testing.T) {
	ps := newProofServer(t, 300, nil)
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"key from the server, every proof verified", []string{"--sample", "1"}},
		{"given key, sampled", []string{"--key", ps.vkey, "--sample", "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "proofs", "--server", ps.url, "--clients", "4", "--duration", "300ms", "--json"}, tc.extra...)
			code, out, errOut := runExit(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			res := decodeOne[proofBenchResult](t, out)
			if res.Errors != 0 || res.FirstError != "" {
				t.Errorf("errors %d: %s", res.Errors, res.FirstError)
			}
			if res.Proofs == 0 || res.Verified == 0 || res.Verified > res.Proofs {
				t.Errorf("proofs %d verified %d", res.Proofs, res.Verified)
			}
			if res.ProofsPerS <= 0 || !(0 < res.P50ms && res.P50ms <= res.P99ms && res.P99ms <= res.MaxMs) {
				t.Errorf("implausible figures: %+v", res)
			}
			if res.TreeSize != ps.size || res.Clients != 4 {
				t.Errorf("tree size %d clients %d, want %d 4", res.TreeSize, res.Clients, ps.size)
			}
			// Bounded in time: the run stops at its duration.
			if res.DurationS < 0.3 || res.DurationS > 10 {
				t.Errorf("ran %.3f s for --duration 300ms", res.DurationS)
			}
		})
	}
}

// TestBenchProofsDetectsWrongProofs serves proofs that are wrong in one
// way each and checks that bench proofs counts errors and fails.
func TestBenchProofsDetectsWrongProofs(t *testing.T) {
	type mutation func(p *server.InclusionProofResponse)
	cases := []struct {
		name   string
		sample string
		mutate mutation // nil: the raw response is replaced by the rewrite below
		raw    func(w http.ResponseWriter)
	}{
		{name: "flipped proof hash", sample: "1", mutate: func(p *server.InclusionProofResponse) { p.Proof[0][0] ^= 1 }},
		{name: "flipped proof hash, sampled", sample: "100", mutate: func(p *server.InclusionProofResponse) { p.Proof[0][0] ^= 1 }},
		{name: "last hash dropped", sample: "1", mutate: func(p *server.InclusionProofResponse) { p.Proof = p.Proof[:len(p.Proof)-1] }},
		{name: "extra hash", sample: "1", mutate: func(p *server.InclusionProofResponse) { p.Proof = append(p.Proof, p.Proof[0]) }},
		{name: "other leaf", sample: "1", mutate: func(p *server.InclusionProofResponse) { p.LeafHash[31] ^= 0x80 }},
		{name: "other index", sample: "1", mutate: func(p *server.InclusionProofResponse) { p.Index = (p.Index + 1) % p.TreeSize }},
		{name: "other size", sample: "1", mutate: func(p *server.InclusionProofResponse) { p.TreeSize-- }},
		{name: "not JSON", sample: "1", raw: func(w http.ResponseWriter) { w.Write([]byte("proof: trust me\n")) }},
		{name: "server error", sample: "100", raw: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":{"code":"internal","message":"internal error"}}`))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := newProofServer(t, 100, func(w http.ResponseWriter, status int, body []byte) {
				if tc.raw != nil {
					tc.raw(w)
					return
				}
				var p server.InclusionProofResponse
				if status != http.StatusOK || json.Unmarshal(body, &p) != nil || len(p.Proof) == 0 {
					// Not what the mutation expects: pass it on unchanged
					// (the bench then sees the server's own status).
					w.WriteHeader(status)
					w.Write(body)
					return
				}
				tc.mutate(&p)
				b, _ := json.Marshal(p)
				w.Header().Set("Content-Type", "application/json")
				w.Write(b)
			})
			code, out, errOut := runExit(t, "bench", "proofs", "--server", ps.url, "--clients", "2",
				"--duration", "300ms", "--json", "--sample", tc.sample)
			if code != exitFail {
				t.Errorf("exit %d, want %d\n%s", code, exitFail, errOut)
			}
			res := decodeOne[proofBenchResult](t, out)
			if res.Errors == 0 || res.FirstError == "" {
				t.Errorf("no error reported: %+v", res)
			}
			if !strings.Contains(errOut, "errors; first:") {
				t.Errorf("stderr does not report the errors:\n%s", errOut)
			}
		})
	}
}

// TestBenchProofsRefusesCheckpoint: a checkpoint that the given key does
// not verify stops the bench before any load.
func TestBenchProofsRefusesCheckpoint(t *testing.T) {
	ps := newProofServer(t, 10, nil)
	_, otherKey, err := note.GenerateKey(rand.Reader, "clawnet.test/bench")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, key, server string }{
		{"other key of the same name", otherKey, ps.url},
		{"not a key", "garbage", ps.url},
		{"no such path", ps.vkey, ps.url + "/nothing-here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runExit(t, "bench", "proofs", "--server", tc.server, "--key", tc.key, "--duration", "100ms", "--json")
			if code != exitFail || out != "" {
				t.Errorf("exit %d, stdout %q; want exit %d and no result\n%s", code, out, exitFail, errOut)
			}
		})
	}
}

// TestLatencyHist compares the histogram's quantiles with exact ones.
func TestLatencyHist(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals func(i int) time.Duration
		n    int
	}{
		{"linear microseconds", func(i int) time.Duration { return time.Duration(i+1) * time.Microsecond }, 10000},
		{"small nanoseconds", func(i int) time.Duration { return time.Duration(i) }, 300},
		{"constant", func(int) time.Duration { return 3 * time.Millisecond }, 100},
		{"heavy tail", func(i int) time.Duration { return time.Duration(math.Pow(1.01, float64(i%2000))) * time.Microsecond }, 20000},
		{"one", func(int) time.Duration { return time.Second }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h, a, b latencyHist
			exact := make([]time.Duration, tc.n)
			for i := range tc.n {
				v := tc.vals(i)
				exact[i] = v
				// Two halves merged must equal one histogram.
				if i%2 == 0 {
					a.record(v)
				} else {
					b.record(v)
				}
				h.record(v)
			}
			a.merge(&b)
			if a != h {
				t.Errorf("merged halves differ from the whole")
			}
			slices.Sort(exact)
			if h.max != exact[len(exact)-1] {
				t.Errorf("max = %v, want %v", h.max, exact[len(exact)-1])
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
				want := exact[int(q*float64(tc.n-1))]
				got := h.quantile(q)
				if got > want || float64(want-got) > float64(want)/128 {
					t.Errorf("quantile(%v) = %v, want within 1/128 below %v", q, got, want)
				}
			}
		})
	}
	var empty latencyHist
	if empty.quantile(0.5) != 0 {
		t.Errorf("empty histogram quantile = %v", empty.quantile(0.5))
	}
}

// FuzzHistBucket checks the bucket mapping for any value: in range, its
// lower bound at most v and within 1/128 of it, monotonic in v.
func FuzzHistBucket(f *testing.F) {
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 257, 1 << 20, 1<<20 + 12345, math.MaxInt64, math.MaxUint64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v uint64) {
		b := histBucket(v)
		if b < 0 || b >= histBuckets {
			t.Fatalf("bucket(%d) = %d out of [0, %d)", v, b, histBuckets)
		}
		low := histLow(b)
		if low > v || v-low > v/128 {
			t.Fatalf("bucket(%d) = %d has lower bound %d", v, b, low)
		}
		if histBucket(low) != b {
			t.Fatalf("lower bound %d of bucket %d maps to bucket %d", low, b, histBucket(low))
		}
		if v > 0 && histBucket(v-1) > b {
			t.Fatalf("not monotonic at %d", v)
		}
	})
}
