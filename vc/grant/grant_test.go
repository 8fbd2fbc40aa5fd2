package grant

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/status"
	"golang.org/x/mod/sumdb/note"
)

const testBase = "http://localhost:8080/status/"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var testSigner = func() note.Signer {
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/grant-test")
	if err != nil {
		panic(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	return s
}()

// env is a Registry over a real store, log and status lists in dir.
type env struct {
	t   testing.TB
	dir string
	db  *store.DB
	log *sequencer.Log
	ls  *status.Lists
	reg *Registry
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, dir: t.TempDir()}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := store.Open(e.dir, store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: testSigner, Origin: testSigner.Name()})
	if err != nil {
		e.t.Fatal(err)
	}
	ls, err := status.New(status.Config{DB: db, BaseURL: testBase})
	if err != nil {
		e.t.Fatal(err)
	}
	reg, err := New(Config{DB: db, Status: ls})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.log, e.ls, e.reg = db, l, ls, reg
}

func (e *env) close() {
	if e.log != nil {
		_ = e.log.Close()
		_ = e.db.Close()
		e.log, e.db = nil, nil
	}
}

func (e *env) reopen() {
	e.close()
	e.open()
}

func newDID(t testing.TB) string {
	t.Helper()
	d, _, err := did.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func req(signer string) Request {
	return Request{Signer: signer, KID: signer + "#k", Digest: "sha256:" + strings.Repeat("ab", 32), Time: t0}
}

// allocate reserves a status entry for owner.
func (e *env) allocate(owner string) status.Entry {
	e.t.Helper()
	op, err := e.ls.Allocate(status.Request{Signer: owner, Time: t0}, owner)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.log.Append(context.Background(), op.Entry, op.Apply)
	e.ls.Committed(op)
	if err != nil {
		e.t.Fatal(err)
	}
	return op.Status
}

// record is a registrable record: its bytes are not a credential (this
// package checks no signature), but its digest is theirs.
func (e *env) record(issuer, subject, owner, parent string, maxDepth int) Record {
	e.t.Helper()
	id, err := delegation.NewID(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	raw := "credential " + id
	return Record{
		ID: id, Digest: delegation.Digest([]byte(raw)), Format: delegation.FormatJWT, Raw: raw,
		Issuer: issuer, Subject: subject, Owner: owner, Parent: parent, MaxSubdelegationDepth: maxDepth,
		Status: e.allocate(owner), NotBefore: t0, NotAfter: t0.Add(24 * time.Hour),
		Scopes: []byte(`[{"effect":"allow","actions":["message"],"resources":["**"]}]`),
	}
}

// apply appends op and calls Committed.
func (e *env) apply(op *Op) (sequencer.Appended, error) {
	a, err := e.log.Append(context.Background(), op.Entry, op.Apply)
	e.reg.Committed(op)
	return a, err
}

func (e *env) register(signer string, rec Record) (*Op, error) {
	op, err := e.reg.Register(req(signer), rec)
	if err != nil {
		return nil, err
	}
	_, err = e.apply(op)
	return op, err
}

func (e *env) mustRegister(signer string, rec Record) *Record {
	e.t.Helper()
	op, err := e.register(signer, rec)
	if err != nil {
		e.t.Fatalf("register %s: %v", rec.ID, err)
	}
	return op.Record
}

func (e *env) revoke(signer, id string) (*Op, error) {
	op, err := e.reg.Revoke(req(signer), id)
	if err != nil {
		return nil, err
	}
	_, err = e.apply(op)
	return op, err
}

func wantCode(t testing.TB, err error, code Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", code)
	}
	if got := CodeOf(err); got != code {
		t.Fatalf("refused with %q (%v), want %s", got, err, code)
	}
}

// snapshot is the log size and every grant and status record.
func (e *env) snapshot() (uint64, map[string]string) {
	e.t.Helper()
	kv := map[string]string{}
	err := e.db.Scan([]byte("v/"), []byte("v0"), func(k, v []byte) (bool, error) {
		kv[string(k)] = string(v)
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.log.Size(), kv
}

func (e *env) unchanged(size uint64, kv map[string]string) {
	e.t.Helper()
	s2, kv2 := e.snapshot()
	if s2 != size {
		e.t.Errorf("log grew from %d to %d", size, s2)
	}
	if len(kv2) != len(kv) {
		e.t.Errorf("state has %d records, had %d", len(kv2), len(kv))
	}
	for k, v := range kv {
		if kv2[k] != v {
			e.t.Errorf("record %q changed", k)
		}
	}
}

// family is an owner, two Identity Agents and a chain: root (owner→a1,
// depth 2 allowed), child (a1→a2, 1 allowed), grandchild (a2→a1, 0).
type family struct {
	owner, a1, a2           string
	root, child, grandchild *Record
}

func (e *env) family() family {
	e.t.Helper()
	f := family{owner: newDID(e.t), a1: newDID(e.t), a2: newDID(e.t)}
	f.root = e.mustRegister(f.owner, e.record(f.owner, f.a1, f.owner, "", 2))
	f.child = e.mustRegister(f.a1, e.record(f.a1, f.a2, f.owner, f.root.ID, 1))
	f.grandchild = e.mustRegister(f.a2, e.record(f.a2, f.a1, f.owner, f.child.ID, 0))
	return f
}

func ids(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestRegisterAndRead(t *testing.T) {
	e := newEnv(t)
	f := e.family()
	if f.root.Depth != 0 || f.child.Depth != 1 || f.grandchild.Depth != 2 {
		t.Errorf("depths %d %d %d, want 0 1 2", f.root.Depth, f.child.Depth, f.grandchild.Depth)
	}
	// The vc.granted entry of the child, as logged.
	b, err := e.log.Entry(f.child.RegisteredIndex)
	if err != nil {
		t.Fatal(err)
	}
	got, err := transparency.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &transparency.Entry{
		Version: transparency.EntryVersion, Type: "vc.granted", Time: t0, Actor: f.a1, Owner: f.owner,
		Subject: f.child.ID, Authz: &transparency.AuthzRef{Credential: f.child.ID, Digest: f.child.Digest},
		Resource: "jwt", Decision: transparency.DecisionRecorded, Reason: "subdelegation of " + f.root.ID,
		RequestDigest: req(f.a1).Digest,
	}
	wb, _ := want.Marshal()
	if !bytes.Equal(b, wb) {
		t.Errorf("entry\n%s\nwant\n%s (%+v)", b, wb, got)
	}

	for _, tc := range []struct {
		name string
		read func() ([]Record, error)
		want []string
	}{
		{"chain of grandchild", func() ([]Record, error) { return e.reg.Chain(f.grandchild.ID) }, []string{f.grandchild.ID, f.child.ID, f.root.ID}},
		{"chain of root", func() ([]Record, error) { return e.reg.Chain(f.root.ID) }, []string{f.root.ID}},
		{"descendants of root", func() ([]Record, error) { return e.reg.Descendants(f.root.ID) }, []string{f.child.ID, f.grandchild.ID}},
		{"descendants of grandchild", func() ([]Record, error) { return e.reg.Descendants(f.grandchild.ID) }, []string{}},
		{"by subject a2", func() ([]Record, error) { return e.reg.BySubject(f.a2) }, []string{f.child.ID}},
		{"by subject unknown", func() ([]Record, error) { return e.reg.BySubject(newDID(t)) }, []string{}},
		{"by owner", func() ([]Record, error) { return e.reg.ByOwner(f.owner) }, sorted(f.root.ID, f.child.ID, f.grandchild.ID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := tc.read()
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(ids(rs), " "); g != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", ids(rs), tc.want)
			}
		})
	}
	if id, err := e.reg.ByStatus(f.child.Status.ID); err != nil || id != f.child.ID {
		t.Errorf("ByStatus = %q, %v; want %s", id, err, f.child.ID)
	}
	for _, read := range []func() error{
		func() error { _, err := e.reg.Get("urn:uuid:00000000-0000-4000-8000-000000000000"); return err },
		func() error { _, err := e.reg.Chain("nope"); return err },
		func() error { _, err := e.reg.Descendants("nope"); return err },
	} {
		wantCode(t, read(), CodeNotFound)
	}
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestRegisterRefusals(t *testing.T) {
	e := newEnv(t)
	f := e.family()
	leaf := e.mustRegister(f.owner, e.record(f.owner, f.a2, f.owner, "", 0))
	other := newDID(t)
	for _, tc := range []struct {
		name   string
		signer string
		rec    func() Record
		code   Code
	}{
		{"id taken", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.ID = f.root.ID; return r }, CodeIDTaken},
		{"status reused", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.Status = f.root.Status; return r }, CodeStatusReused},
		{"parent unknown", f.a1, func() Record {
			return e.record(f.a1, f.a2, f.owner, "urn:uuid:00000000-0000-4000-8000-000000000000", 0)
		}, CodeParentUnknown},
		{"issuer not parent holder", f.a2, func() Record { return e.record(f.a2, f.a1, f.owner, f.root.ID, 0) }, CodeIssuerNotParentHolder},
		{"other owner", f.a1, func() Record { return e.record(f.a1, f.a2, other, f.root.ID, 0) }, CodeSubjectOtherOwner},
		{"depth: parent allows none", f.a2, func() Record { return e.record(f.a2, f.a1, f.owner, leaf.ID, 0) }, CodeDepthExceeded},
		{"depth: leaf parent", f.a1, func() Record { return e.record(f.a1, f.a2, f.owner, f.grandchild.ID, 0) }, CodeDepthExceeded},
		{"depth: asks too much", f.a1, func() Record { return e.record(f.a1, f.a2, f.owner, f.root.ID, 2) }, CodeDepthExceeded},
		{"malformed id", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.ID = "urn:uuid:X/Y"; return r }, CodeMalformed},
		{"digest mismatch", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.Raw += " "; return r }, CodeMalformed},
		{"format", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.Format = "cbor"; return r }, CodeMalformed},
		{"no status", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.Status = status.Entry{}; return r }, CodeStatusMissing},
		{"bad scopes", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.Scopes = []byte(`[{}]`); return r }, CodeMalformed},
		{"self parent", f.owner, func() Record { r := e.record(f.owner, f.a1, f.owner, "", 0); r.Parent = r.ID; return r }, CodeMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec()
			size, kv := e.snapshot()
			_, err := e.register(tc.signer, rec)
			wantCode(t, err, tc.code)
			e.unchanged(size, kv)
		})
	}
	// A revoked parent (and a revoked grandparent) refuses.
	if _, err := e.revoke(f.owner, f.child.ID); err != nil {
		t.Fatal(err)
	}
	for _, parent := range []*Record{f.child, f.grandchild} {
		rec := e.record(parent.Subject, f.a2, f.owner, parent.ID, 0)
		size, kv := e.snapshot()
		_, err := e.register(parent.Subject, rec)
		// The grandchild allows no sub-delegation, but the revoked chain
		// is found first.
		wantCode(t, err, CodeParentRevoked)
		e.unchanged(size, kv)
	}
}

func TestRevokeCascade(t *testing.T) {
	e := newEnv(t)
	f := e.family()
	sib := e.mustRegister(f.a1, e.record(f.a1, f.a2, f.owner, f.root.ID, 0))
	// Cache the records before the revocation: it must invalidate them.
	for _, id := range []string{f.root.ID, f.child.ID, f.grandchild.ID, sib.ID} {
		if r, err := e.reg.Get(id); err != nil || r.Revoked {
			t.Fatalf("Get(%s) = %+v, %v", id, r, err)
		}
	}
	// The grandchild alone first, by its issuer (a2): not in the cascade later.
	op, err := e.revoke(f.a2, f.grandchild.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(op.Cascade) != 0 || op.Entry.Actor != f.a2 || op.Entry.Owner != f.owner || op.Entry.Reason != "revoked" {
		t.Errorf("grandchild revocation: cascade %v, entry %+v", op.Cascade, op.Entry)
	}
	size := e.log.Size()
	op, err = e.revoke(f.owner, f.root.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.log.Size() != size+1 {
		t.Errorf("revocation appended %d entries, want 1", e.log.Size()-size)
	}
	wantCascade := []string{f.child.ID, sib.ID}
	if strings.Join(op.Cascade, " ") != strings.Join(wantCascade, " ") {
		t.Errorf("cascade %v, want %v", op.Cascade, wantCascade)
	}
	b, err := e.log.Entry(size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := transparency.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "vc.revoked" || got.Subject != f.root.ID || got.Actor != f.owner || got.Owner != f.owner ||
		got.Resource != f.root.Status.ID || got.Reason != "revoked with sub-delegations: "+strings.Join(wantCascade, " ") {
		t.Errorf("entry %s", b)
	}
	check := func() {
		t.Helper()
		for _, r := range []*Record{f.root, f.child, sib, f.grandchild} {
			cur, err := e.reg.Get(r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !cur.Revoked {
				t.Errorf("%s not revoked", r.ID)
			}
			wantBy := f.root.ID
			if r == f.grandchild {
				wantBy = f.grandchild.ID
			}
			if cur.RevokedBy != wantBy {
				t.Errorf("%s revoked by %s, want %s", r.ID, cur.RevokedBy, wantBy)
			}
			if rv, err := e.ls.Revoked(r.Status); err != nil || !rv {
				t.Errorf("status of %s: revoked %v, %v", r.ID, rv, err)
			}
		}
	}
	check()
	e.reopen()
	check()

	for _, tc := range []struct {
		name, signer, id string
		code             Code
	}{
		{"already revoked", f.owner, f.root.ID, CodeAlreadyRevoked},
		{"cascaded already revoked", f.owner, f.child.ID, CodeAlreadyRevoked},
		{"not found", f.owner, "urn:uuid:00000000-0000-4000-8000-000000000000", CodeNotFound},
		{"malformed id", f.owner, "x", CodeMalformed},
		{"not yours: agent of a top-level grant", f.a1, f.root.ID, CodeNotYours},
		{"not yours: stranger", newDID(t), f.child.ID, CodeNotYours},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size, kv := e.snapshot()
			_, err := e.revoke(tc.signer, tc.id)
			wantCode(t, err, tc.code)
			e.unchanged(size, kv)
		})
	}
}

// TestRegisterRace registers the same id from many goroutines: one wins.
func TestRegisterRace(t *testing.T) {
	e := newEnv(t)
	owner, agent := newDID(t), newDID(t)
	base := e.record(owner, agent, owner, "", 0)
	const n = 8
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = base
		if i > 0 {
			recs[i].Status = e.allocate(owner)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range recs {
		wg.Go(func() { _, errs[i] = e.register(owner, recs[i]) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case CodeOf(err) != CodeIDTaken:
			t.Errorf("refused with %v, want %s", err, CodeIDTaken)
		}
	}
	if won != 1 {
		t.Errorf("%d registrations won, want 1", won)
	}
	if rs, err := e.reg.ByOwner(owner); err != nil || len(rs) != 1 {
		t.Errorf("ByOwner: %d records, %v", len(rs), err)
	}
}

// TestRevokeRegisterRace races sub-delegations under a parent against its
// revocation: every child either was refused (parent revoked), or was
// registered before and is revoked with it; or the revocation was refused
// with grant_conflict and nothing changed.
func TestRevokeRegisterRace(t *testing.T) {
	e := newEnv(t)
	owner, a1, a2 := newDID(t), newDID(t), newDID(t)
	root := e.mustRegister(owner, e.record(owner, a1, owner, "", 1))
	const n = 6
	kids := make([]Record, n)
	for i := range kids {
		kids[i] = e.record(a1, a2, owner, root.ID, 0)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range kids {
		wg.Go(func() { _, errs[i] = e.register(a1, kids[i]) })
	}
	var rerr error
	wg.Go(func() {
		for {
			_, rerr = e.revoke(owner, root.ID)
			if CodeOf(rerr) != CodeConflict {
				return
			}
		}
	})
	wg.Wait()
	if rerr != nil {
		t.Fatalf("revoke: %v", rerr)
	}
	for i, err := range errs {
		switch {
		case err == nil:
			r, gerr := e.reg.Get(kids[i].ID)
			if gerr != nil || !r.Revoked {
				t.Errorf("child %d registered but not revoked: %+v %v", i, r, gerr)
			}
		case CodeOf(err) != CodeParentRevoked:
			t.Errorf("child %d: %v", i, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a database accepted")
	}
	e := newEnv(t)
	if _, err := New(Config{DB: e.db}); err == nil {
		t.Error("New without status lists accepted")
	}
	if _, err := e.reg.Register(Request{Signer: "x", Time: t0}, Record{}); err == nil {
		t.Error("a signer that is not a DID accepted")
	}
	if _, err := e.reg.Revoke(Request{Signer: newDID(t)}, "x"); err == nil {
		t.Error("a request without time accepted")
	}
}

func TestCodesDocumented(t *testing.T) {
	b := readSpec(t)
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
		if !strings.Contains(b, "`"+string(c)+"`") {
			t.Errorf("code %s is not in spec/grants.md", c)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	e := newEnv(f)
	owner := newDID(f)
	rec := e.record(owner, newDID(f), owner, "", 1)
	rec.RegisteredIndex = 7
	f.Add(encode(rec))
	rec.Revoked, rec.RevokedIndex, rec.RevokedBy, rec.RevokedTime = true, 9, rec.ID, t0
	f.Add(encode(rec))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"urn:uuid:x","extra":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		// A decoded record is valid and round-trips.
		if err := r.validate(); err != nil {
			t.Fatalf("decoded an invalid record: %v", err)
		}
		r2, err := DecodeRecord(encode(r))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(encode(r), encode(r2)) {
			t.Fatalf("round trip differs")
		}
	})
}
