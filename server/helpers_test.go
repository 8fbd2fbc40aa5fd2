package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "clawnet.test/log"

var testNow = time.Date(2026, 11, 25, 12, 30, 0, 123456789, time.UTC)

// testEnv is a real sequencer on a temp dir served over loopback HTTP.
type testEnv struct {
	t        testing.TB
	log      *sequencer.Log
	srv      *httptest.Server
	vkey     string
	verifier note.Verifier
	token    string
	logs     *syncBuffer  // the server's slog output
	handler  http.Handler // the server's handler, for in-process requests
	server   *Server
}

type envOptions struct {
	token string               // "" means a random token; "-" means none
	wrap  func(l Log) Log      // wraps the real log, for fault injection
	reg   *prometheus.Registry // nil means a fresh one
	level slog.Level
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	ctx := context.Background()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := transparency.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(ctx, sequencer.Config{DB: db, Signer: signer, Origin: testOrigin})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	token := o.token
	switch token {
	case "":
		token = fmt.Sprintf("%x", [16]byte(randBytes(t, 16)))
	case "-":
		token = ""
	}
	logs := &syncBuffer{}
	reg := o.reg
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var served Log = l
	if o.wrap != nil {
		served = o.wrap(l)
	}
	s, err := New(Config{
		Log:           served,
		VerifierKey:   vkey,
		OperatorToken: token,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: o.level})),
		Registerer:    reg,
		Gatherer:      reg,
		Clock:         func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	return &testEnv{t: t, log: l, srv: srv, vkey: vkey, verifier: verifier, token: token, logs: logs, handler: s.Handler(), server: s}
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *testEnv) do(method, path string, header http.Header, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *testEnv) get(path string) response {
	e.t.Helper()
	return e.do("GET", path, nil, nil)
}

func (e *testEnv) operatorHeader() http.Header {
	return http.Header{
		"Authorization": {"Bearer " + e.token},
		"Content-Type":  {"application/json"},
	}
}

// appendNote appends an operator note over HTTP and returns its verified
// receipt.
func (e *testEnv) appendNote(reason string) (*transparency.Receipt, *transparency.VerifiedReceipt) {
	e.t.Helper()
	body, _ := json.Marshal(OperatorNoteRequest{Reason: reason})
	r := e.do("POST", "/log/v1/entries", e.operatorHeader(), body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("POST /log/v1/entries: status %d: %s", r.status, r.body)
	}
	rc, err := transparency.ParseReceipt(r.body)
	if err != nil {
		e.t.Fatalf("parse receipt: %v\n%s", err, r.body)
	}
	v, err := transparency.VerifyReceipt(rc, e.verifier)
	if err != nil {
		e.t.Fatalf("verify receipt: %v", err)
	}
	if want := fmt.Sprintf("/log/v1/entries/%d", rc.Index); r.header.Get("Location") != want {
		e.t.Errorf("Location = %q, want %q", r.header.Get("Location"), want)
	}
	return rc, v
}

// decodeStrict decodes one JSON value into v, failing on unknown fields.
func decodeStrict(t testing.TB, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, b)
	}
}

// wantError checks that r is a JSON error with the given status and code.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var eb ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body is not an ErrorBody: %v: %s", err, r.body)
	}
	if eb.Error.Code != code {
		t.Errorf("code = %q, want %q (message %q)", eb.Error.Code, code, eb.Error.Message)
	}
	if eb.Error.Message == "" {
		t.Errorf("empty error message")
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }
