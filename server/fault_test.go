package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// faultyLog wraps the real log and injects faults.
type faultyLog struct {
	Log
	err         error // returned by Err
	appendErr   error // returned by Append
	entryErr    error // returned by Entry
	panicOnSize bool
	badProof    bool // flip a bit in every inclusion and consistency proof
}

func (f *faultyLog) Err() error {
	if f.err != nil {
		return f.err
	}
	return f.Log.Err()
}

func (f *faultyLog) Append(ctx context.Context, e *transparency.Entry, apply sequencer.Apply) (sequencer.Appended, error) {
	if f.appendErr != nil {
		return sequencer.Appended{}, f.appendErr
	}
	return f.Log.Append(ctx, e, apply)
}

func (f *faultyLog) Entry(i uint64) ([]byte, error) {
	if f.entryErr != nil {
		return nil, f.entryErr
	}
	return f.Log.Entry(i)
}

func (f *faultyLog) Size() uint64 {
	if f.panicOnSize {
		panic("injected panic")
	}
	return f.Log.Size()
}

func flip(p []transparency.Hash) []transparency.Hash {
	if len(p) > 0 {
		p = append([]transparency.Hash(nil), p...)
		p[0][0] ^= 1
	}
	return p
}

func (f *faultyLog) InclusionProof(i, n uint64) ([]transparency.Hash, error) {
	p, err := f.Log.InclusionProof(i, n)
	if f.badProof {
		p = flip(p)
	}
	return p, err
}

func (f *faultyLog) ProveInclusion(i, n uint64) (sequencer.Inclusion, error) {
	inc, err := f.Log.ProveInclusion(i, n)
	if f.badProof {
		inc.Proof = flip(inc.Proof)
	}
	return inc, err
}

func (f *faultyLog) ConsistencyProof(a, b uint64) ([]transparency.Hash, error) {
	p, err := f.Log.ConsistencyProof(a, b)
	if f.badProof {
		p = flip(p)
	}
	return p, err
}

func TestFaults(t *testing.T) {
	const secret = "/var/secret/pebble/000123.sst"
	for _, tc := range []struct {
		name   string
		fault  faultyLog
		method string
		path   string
		status int
		code   string
	}{
		{"healthz after failure", faultyLog{err: fmt.Errorf("sync %s: %w", secret, sequencer.ErrFailed)}, "GET", "/healthz", 503, CodeLogFailed},
		{"append after failure", faultyLog{appendErr: fmt.Errorf("sync %s: %w", secret, sequencer.ErrFailed)}, "POST", "/log/v1/entries", 503, CodeLogFailed},
		{"append after close", faultyLog{appendErr: fmt.Errorf("append: %w", sequencer.ErrClosed)}, "POST", "/log/v1/entries", 503, CodeLogClosed},
		{"append timeout", faultyLog{appendErr: fmt.Errorf("append: %w", context.DeadlineExceeded)}, "POST", "/log/v1/entries", 503, CodeUnavailable},
		{"append rejects entry", faultyLog{appendErr: fmt.Errorf("append: %w", transparency.ErrMalformed)}, "POST", "/log/v1/entries", 400, CodeInvalidEntry},
		{"unknown storage error", faultyLog{entryErr: errors.New("read " + secret + ": checksum mismatch")}, "GET", "/log/v1/entries/0", 500, CodeInternal},
		{"stored entry corrupt", faultyLog{entryErr: fmt.Errorf("%s: %w", secret, transparency.ErrMalformed)}, "GET", "/log/v1/entries/0", 500, CodeInternal},
		{"panic", faultyLog{panicOnSize: true}, "GET", "/healthz", 500, CodeInternal},
		{"bad inclusion proof is not served", faultyLog{badProof: true}, "GET", "/log/v1/proof/inclusion?index=0", 500, CodeInternal},
		{"bad consistency proof is not served", faultyLog{badProof: true}, "GET", "/log/v1/proof/consistency?from=1&to=2", 500, CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := tc.fault
			reg := prometheus.NewRegistry()
			e := newEnv(t, envOptions{reg: reg, wrap: func(l Log) Log { fl.Log = l; return &fl }})
			// Two entries, appended behind the fault.
			for i := range 2 {
				if _, err := e.log.Append(context.Background(), &transparency.Entry{Version: 1, Type: "test.seed", Time: testNow, Reason: fmt.Sprint(i)}, nil); err != nil {
					t.Fatal(err)
				}
			}
			var body []byte
			if tc.method == "POST" {
				body = []byte(`{"reason":"x"}`)
			}
			r := e.do(tc.method, tc.path, e.operatorHeader(), body)
			wantError(t, r, tc.status, tc.code)
			if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "injected") {
				t.Errorf("response leaks internal details: %s", r.body)
			}
			if tc.status >= 500 && !e.logs.contains("level=ERROR") {
				t.Errorf("server error not logged:\n%s", e.logs)
			}
			if tc.code == CodeInternal && tc.name != "panic" && !e.logs.contains("secret") && !e.logs.contains("verif") {
				t.Errorf("internal error logged without its cause:\n%s", e.logs)
			}
			if got := counterValue(t, reg, "clawnet_http_errors_total", tc.code); got != 1 {
				t.Errorf("clawnet_http_errors_total{code=%q} = %v, want 1", tc.code, got)
			}
			if tc.name == "panic" {
				if !e.logs.contains("panic in HTTP handler") || !e.logs.contains("injected panic") {
					t.Errorf("panic not logged:\n%s", e.logs)
				}
			}
			if e.log.Size() != 2 {
				t.Errorf("size %d after a failed request, want 2", e.log.Size())
			}
		})
	}
}

// counterValue sums the counters of family name that carry a label with the
// given value, read back through the registry as /metrics exports them.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					v += m.GetCounter().GetValue()
				}
			}
		}
	}
	return v
}

func TestMetricsAndAccessLog(t *testing.T) {
	e := newEnv(t, envOptions{level: slog.LevelDebug})
	e.appendNote("one")
	e.get("/healthz")
	e.get("/log/v1/proof/inclusion?index=0")
	e.get("/log/v1/proof/consistency?from=1")
	e.get("/log/v1/receipts/0")
	e.get("/log/v1/entries/x")
	r := e.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d", r.status)
	}
	text := string(r.body)
	for _, want := range []string{
		`clawnet_http_requests_total{code="200",route="GET /healthz"} 1`,
		`clawnet_http_requests_total{code="201",route="POST /log/v1/entries"} 1`,
		`clawnet_http_requests_total{code="400",route="GET /log/v1/entries/{index}"} 1`,
		`clawnet_proof_requests_total{kind="inclusion"} 1`,
		`clawnet_proof_requests_total{kind="consistency"} 1`,
		`clawnet_proof_requests_total{kind="receipt"} 1`,
		`clawnet_http_errors_total{code="bad_index"} 1`,
		`clawnet_http_request_duration_seconds_count{route="GET /healthz"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !e.logs.contains(`msg="http request" method=GET path=/healthz route="GET /healthz" status=200`) {
		t.Errorf("no debug access log line for /healthz:\n%s", e.logs)
	}
}

func TestNewConfig(t *testing.T) {
	e := newEnv(t, envOptions{})
	reg := prometheus.NewRegistry()
	_, otherVkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no log", Config{VerifierKey: e.vkey}},
		{"no key", Config{Log: e.log}},
		{"bad key", Config{Log: e.log, VerifierKey: "clawnet.test/log+00000000+AAAA"}},
		{"another log's key", Config{Log: e.log, VerifierKey: otherVkey}},
		{"registerer without gatherer", Config{Log: e.log, VerifierKey: e.vkey, Registerer: reg}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	// Registering twice on one registry is a configuration error, not a panic.
	if _, err := New(Config{Log: e.log, VerifierKey: e.vkey, Registerer: reg, Gatherer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Log: e.log, VerifierKey: e.vkey, Registerer: reg, Gatherer: reg}); err == nil {
		t.Errorf("second New on one registry succeeded")
	}
}
