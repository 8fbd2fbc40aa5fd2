package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

const (
	testHost = "localhost%3A8080"
	testURL  = "http://localhost:8080"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a registry over a real store and a real log on t.TempDir().
type env struct {
	t   testing.TB
	db  *store.DB
	log *sequencer.Log
	reg *Registry
	n   int // request counter, for distinct digests
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/registry-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: signer.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	reg, err := New(Config{DB: db, Host: testHost, PublicURL: testURL})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, log: l, reg: reg}
}

// with makes e report to t (a subtest) until the returned func is called.
func (e *env) with(t testing.TB) func() {
	old := e.t
	e.t = t
	return func() { e.t = old }
}

// req returns a request signed by signer with kid at t0 + the counter.
func (e *env) reqKID(signer, kid string) Request {
	e.n++
	return Request{
		Signer: signer, KID: kid,
		Digest: transparency.DigestSHA256(sha256.Sum256([]byte("request " + strconv.Itoa(e.n)))),
		Time:   t0.Add(time.Duration(e.n) * time.Second),
	}
}

// req is a request signed by a DID with its usual kid (did:key: the key;
// otherwise key-1).
func (e *env) req(signer string) Request {
	if _, err := did.ParseKeyDID(signer); err == nil {
		return e.reqKID(signer, signer+"#"+signer[len("did:key:"):])
	}
	return e.reqKID(signer, signer+"#key-1")
}

// run appends op as server/ would, and returns the appended entry.
func (e *env) run(op *Op, err error) (sequencer.Appended, error) {
	if err != nil {
		return sequencer.Appended{}, err
	}
	a, err := e.log.Append(context.Background(), op.Entry, op.Apply)
	e.reg.Committed(op)
	return a, err
}

// must runs op and fails the test if it is refused; it checks that the
// logged entry is op.Entry.
func (e *env) must(op *Op, err error) sequencer.Appended {
	e.t.Helper()
	a, err := e.run(op, err)
	if err != nil {
		e.t.Fatalf("refused: %v", err)
	}
	want, err := op.Entry.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Equal(a.Entry, want) {
		e.t.Fatalf("logged entry %s, want %s", a.Entry, want)
	}
	return a
}

// snapshot is every registry key and value, and the log size.
type snapshot struct {
	kv   map[string]string
	size uint64
}

func (e *env) snap() snapshot {
	e.t.Helper()
	s := snapshot{kv: map[string]string{}, size: e.log.Size()}
	err := e.db.Scan([]byte("d/"), []byte("d0"), func(k, v []byte) (bool, error) {
		s.kv[string(k)] = string(v)
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// refused runs op and checks that it is refused with code and that
// neither the state nor the log changed.
func (e *env) refused(code string, op *Op, err error) {
	e.t.Helper()
	before := e.snap()
	_, err = e.run(op, err)
	if err == nil {
		e.t.Fatalf("accepted, want %s", code)
	}
	if got := CodeOf(err); got != code {
		e.t.Fatalf("refused with %q (%v), want %s", got, err, code)
	}
	after := e.snap()
	if after.size != before.size {
		e.t.Errorf("log grew from %d to %d", before.size, after.size)
	}
	if len(after.kv) != len(before.kv) {
		e.t.Errorf("state has %d keys, had %d", len(after.kv), len(before.kv))
	}
	for k, v := range before.kv {
		if after.kv[k] != v {
			e.t.Errorf("state key %q changed", k)
		}
	}
}

func newKey(t testing.TB) string {
	t.Helper()
	d, _, err := did.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// owner registers a new did:key owner.
func (e *env) owner() string {
	e.t.Helper()
	d := newKey(e.t)
	e.must(e.reg.RegisterOwner(e.req(d)))
	return d
}

func binding(owner, agent, role, context string) Binding {
	tok := "eyJ.binding." + agent
	return Binding{
		CredentialID: "urn:uuid:binding-" + agent[len(agent)-8:],
		Digest:       transparency.DigestSHA256(sha256.Sum256([]byte(tok))),
		Token:        tok, Issuer: owner, Subject: agent, Role: role, Context: context,
	}
}

// agent binds a new did:key agent to owner.
func (e *env) agent(owner, role, context string) string {
	e.t.Helper()
	a := newKey(e.t)
	e.must(e.reg.BindAgent(e.req(a), binding(owner, a, role, context)))
	return a
}

// contacts makes a and b contacts through their Identity Agents aa, ba.
func (e *env) contacts(a, aa, b, ba string) {
	e.t.Helper()
	op, err := e.reg.RequestContact(e.req(a), b, aa)
	e.must(op, err)
	e.must(e.reg.AcceptContact(e.req(b), op.RequestID, ba))
}
