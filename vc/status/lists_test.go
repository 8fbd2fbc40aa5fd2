package status

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

const testBase = "http://localhost:8080/status/"

// env is Lists over a real store and a real log in dir.
type env struct {
	t    testing.TB
	dir  string
	db   *store.DB
	log  *sequencer.Log
	ls   *Lists
	size int
	n    atomic.Int64
}

func newEnv(t testing.TB, size int) *env {
	e := &env{t: t, dir: t.TempDir(), size: size}
	e.open()
	t.Cleanup(e.close)
	return e
}

var testSigner = func() note.Signer {
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/status-test")
	if err != nil {
		panic(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	return s
}()

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
	ls, err := New(Config{DB: db, BaseURL: testBase, ListSize: e.size})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.log, e.ls = db, l, ls
}

func (e *env) close() {
	if e.log != nil {
		_ = e.log.Close()
		_ = e.db.Close()
		e.log, e.db = nil, nil
	}
}

// reopen closes the log and the database and opens them again, as a
// restart would.
func (e *env) reopen() {
	e.close()
	e.open()
}

func (e *env) req(signer string) Request {
	n := e.n.Add(1)
	return Request{
		Signer: signer, KID: signer + "#k",
		Digest: transparency.DigestSHA256(sha256.Sum256([]byte("request " + strconv.FormatInt(n, 10)))),
		Time:   t0.Add(time.Duration(n) * time.Second),
	}
}

func (e *env) run(op *Op, err error) (sequencer.Appended, error) {
	if err != nil {
		return sequencer.Appended{}, err
	}
	a, err := e.log.Append(context.Background(), op.Entry, op.Apply)
	e.ls.Committed(op)
	return a, err
}

func (e *env) must(op *Op, err error) (*Op, sequencer.Appended) {
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
		e.t.Fatalf("logged %s, want %s", a.Entry, want)
	}
	return op, a
}

// snap is every key under v/status/ and the log size.
func (e *env) snap() (map[string]string, uint64) {
	kv := map[string]string{}
	err := e.db.Scan([]byte("v/status/"), []byte("v/status0"), func(k, v []byte) (bool, error) {
		kv[string(k)] = string(v)
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return kv, e.log.Size()
}

// refused checks that op is refused with code and changes neither the
// state nor the log.
func (e *env) refused(code Code) func(*Op, error) {
	return func(op *Op, err error) { e.t.Helper(); e.refusedOp(code, op, err) }
}

func (e *env) refusedOp(code Code, op *Op, err error) {
	e.t.Helper()
	kv, size := e.snap()
	_, err = e.run(op, err)
	wantCode(e.t, err, code)
	kv2, size2 := e.snap()
	if size2 != size || len(kv2) != len(kv) {
		e.t.Fatalf("refusal changed the log (%d -> %d) or state (%d -> %d keys)", size, size2, len(kv), len(kv2))
	}
	for k, v := range kv {
		if kv2[k] != v {
			e.t.Fatalf("refusal changed %q", k)
		}
	}
}

func newDID(t testing.TB) string {
	d, _, err := did.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAllocateRevoke(t *testing.T) {
	e := newEnv(t, 0)
	alice, bob := newDID(t), newDID(t)
	op, a := e.must(e.ls.Allocate(e.req(alice), ""))
	if op.ListID != "1" || op.Index != 0 || op.ListURL != testBase+"1" {
		t.Fatalf("first allocation %s #%d at %s", op.ListID, op.Index, op.ListURL)
	}
	wantStatus := Entry{ID: testBase + "1#0", Type: EntryType, Purpose: PurposeRevocation, ListIndex: "0", ListCredential: testBase + "1"}
	if op.Status != wantStatus {
		t.Fatalf("status entry %+v, want %+v", op.Status, wantStatus)
	}
	if _, err := op.Status.Validate(); err != nil {
		t.Fatalf("allocated entry does not validate: %v", err)
	}
	ent, err := transparency.ParseEntry(a.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if ent.Type != "vc.status_allocated" || ent.Actor != alice || ent.Owner != alice || ent.Subject != wantStatus.ID || ent.Resource != wantStatus.ListCredential {
		t.Fatalf("allocation entry %s", a.Entry)
	}
	st := op.Status
	if r, err := e.ls.Revoked(st); err != nil || r {
		t.Fatalf("fresh entry: Revoked = %v, %v", r, err)
	}
	al, err := e.ls.Allocation(st)
	if err != nil || al.Owner != alice || al.AllocatedIndex != a.Index || al.Revoked {
		t.Fatalf("Allocation = %+v, %v", al, err)
	}
	_, v0, err := e.ls.List("1")
	if err != nil || v0 != a.Index {
		t.Fatalf("List version %d, %v; want %d", v0, err, a.Index)
	}

	// Someone else cannot revoke it.
	e.refused(CodeNotYours)(e.ls.Revoke(e.req(bob), "urn:uuid:c1", st, nil))
	// The owner can, and it is visible at once.
	cred := "urn:uuid:11111111-1111-4111-8111-111111111111"
	sub := []string{"urn:uuid:22222222-2222-4222-8222-222222222222", "urn:uuid:33333333-3333-4333-8333-333333333333"}
	_, ra := e.must(e.ls.Revoke(e.req(alice), cred, st, sub))
	if r, err := e.ls.Revoked(st); err != nil || !r {
		t.Fatalf("after Revoke: Revoked = %v, %v", r, err)
	}
	rent, err := transparency.ParseEntry(ra.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if rent.Type != "vc.revoked" || rent.Subject != cred || rent.Owner != alice || rent.Resource != st.ID ||
		rent.Reason != "revoked with sub-delegations: "+sub[0]+" "+sub[1] {
		t.Fatalf("revocation entry %s", ra.Entry)
	}
	bits, v1, err := e.ls.List("1")
	if err != nil || v1 != ra.Index {
		t.Fatalf("List version %d, %v; want %d", v1, err, ra.Index)
	}
	if r, _ := bits.Get(0); !r || bits.Count() != 1 {
		t.Fatalf("published list: bit 0 %v, %d set", r, bits.Count())
	}
	// Twice is refused.
	e.refused(CodeAlreadyRevoked)(e.ls.Revoke(e.req(alice), cred, st, nil))

	// The published list, signed and verified, says the same.
	priv, iss, kid := keyDID(seedIssuer)
	enc, err := bits.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := IssueList(priv, kid, ListCredential{ID: op.ListURL, Issuer: iss, ValidFrom: t0, ValidUntil: t0.Add(time.Hour), Purpose: PurposeRevocation, EncodedList: enc})
	if err != nil {
		t.Fatal(err)
	}
	vl, err := VerifyList(context.Background(), tok, resolveKey, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Check(vl, st); err != nil || !r {
		t.Fatalf("Check on the published list = %v, %v", r, err)
	}

	// And after a restart.
	e.reopen()
	if r, err := e.ls.Revoked(st); err != nil || !r {
		t.Fatalf("after reopen: Revoked = %v, %v", r, err)
	}
	bits2, v2, err := e.ls.List("1")
	if err != nil || v2 != v1 || !bytes.Equal(bits2.Bytes(), bits.Bytes()) {
		t.Fatalf("after reopen: List version %d (want %d), %v", v2, v1, err)
	}
	op2, _ := e.must(e.ls.Allocate(e.req(bob), ""))
	if op2.ListID != "1" || op2.Index != 1 {
		t.Fatalf("allocation after reopen: %s #%d, want 1 #1", op2.ListID, op2.Index)
	}
}

func TestRevokeRefusals(t *testing.T) {
	e := newEnv(t, 0)
	alice := newDID(t)
	op, _ := e.must(e.ls.Allocate(e.req(alice), ""))
	st := op.Status
	mut := func(f func(*Entry)) Entry { x := st; f(&x); return x }
	long := make([]string, 100)
	for i := range long {
		long[i] = "urn:uuid:" + strconv.Itoa(i) + "-00000000-0000-4000-8000-000000000000"
	}
	tests := []struct {
		name    string
		cred    string
		e       Entry
		cascade []string
		code    Code
	}{
		{"not allocated", "urn:uuid:x", mut(func(x *Entry) { x.ListIndex = "5"; x.ID = x.ListCredential + "#5" }), nil, CodeNotAllocated},
		{"other server", "urn:uuid:x", mut(func(x *Entry) {
			x.ListCredential = "http://evil.example/status/1"
			x.ID = x.ListCredential + "#0"
		}), nil, CodeListUnknown},
		{"bad list id", "urn:uuid:x", mut(func(x *Entry) { x.ListCredential = testBase + "01"; x.ID = x.ListCredential + "#0" }), nil, CodeListUnknown},
		{"id not list#index", "urn:uuid:x", mut(func(x *Entry) { x.ID = x.ListCredential + "#1" }), nil, CodeMalformed},
		{"suspension", "urn:uuid:x", mut(func(x *Entry) { x.Purpose = PurposeSuspension }), nil, CodePurposeMismatch},
		{"wrong type", "urn:uuid:x", mut(func(x *Entry) { x.Type = "StatusList2021Entry" }), nil, CodeMalformed},
		{"bad index", "urn:uuid:x", mut(func(x *Entry) { x.ListIndex = "00"; x.ID = x.ListCredential + "#00" }), nil, CodeMalformed},
		{"empty credential id", "", st, nil, CodeMalformed},
		{"credential id with space", "urn:uuid:a b", st, nil, CodeMalformed},
		{"bad cascade id", "urn:uuid:x", st, []string{""}, CodeMalformed},
		{"cascade too long", "urn:uuid:x", st, long, CodeReasonTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := e.t
			e.t = t
			defer func() { e.t = old }()
			e.refused(tc.code)(e.ls.Revoke(e.req(alice), tc.cred, tc.e, tc.cascade))
		})
	}
	if r, err := e.ls.Revoked(st); err != nil || r {
		t.Fatalf("refusals revoked it: %v, %v", r, err)
	}
}

func TestRevokedRefusals(t *testing.T) {
	e := newEnv(t, 0)
	alice := newDID(t)
	op, _ := e.must(e.ls.Allocate(e.req(alice), ""))
	mk := func(list, index string) Entry {
		lc := testBase + list
		return Entry{ID: lc + "#" + index, Type: EntryType, Purpose: PurposeRevocation, ListIndex: index, ListCredential: lc}
	}
	tests := []struct {
		name string
		e    Entry
		code Code
	}{
		{"not allocated yet", mk("1", "1"), CodeNotAllocated},
		{"beyond the list", mk("1", strconv.Itoa(MinBits)), CodeIndexOutOfRange},
		{"unknown list", mk("2", "0"), CodeListUnknown},
		{"other host", Entry{ID: "http://x/status/1#0", Type: EntryType, Purpose: PurposeRevocation, ListIndex: "0", ListCredential: "http://x/status/1"}, CodeListUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ls.Revoked(tc.e)
			wantCode(t, err, tc.code)
		})
	}
	if _, _, err := e.ls.List("2"); CodeOf(err) != CodeListUnknown {
		t.Fatalf("List(2): %v", err)
	}
	if _, _, err := e.ls.List("x"); CodeOf(err) != CodeListUnknown {
		t.Fatalf("List(x): %v", err)
	}
	if r, err := e.ls.Revoked(op.Status); err != nil || r {
		t.Fatalf("Revoked(allocated) = %v, %v", r, err)
	}
}

// Concurrent allocations get distinct indexes, roll over to a new list
// when one is full, and survive a restart without reuse.
func TestConcurrentAllocations(t *testing.T) {
	const size = MinBits
	e := newEnv(t, size)
	owner := newDID(t)
	// Start near the end of list 1 so that the run crosses into list 2.
	e.ls.mu.Lock()
	e.ls.next = size - 50
	e.ls.mu.Unlock()
	const workers, each = 8, 25
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				op, err := e.ls.Allocate(e.req(owner), "")
				if err == nil {
					_, err = e.log.Append(context.Background(), op.Entry, op.Apply)
					e.ls.Committed(op)
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if seen[op.Status.ID] {
					errs <- &Error{Code: "duplicate", Message: op.Status.ID}
				}
				seen[op.Status.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct entries, want %d", len(seen), workers*each)
	}
	if !seen[testBase+"1#"+strconv.Itoa(size-1)] || !seen[testBase+"2#0"] {
		t.Fatal("allocations did not fill list 1 and roll over to list 2")
	}
	for id := range seen {
		var st Entry
		for i := len(id) - 1; i >= 0; i-- {
			if id[i] == '#' {
				st = Entry{ID: id, Type: EntryType, Purpose: PurposeRevocation, ListIndex: id[i+1:], ListCredential: id[:i]}
				break
			}
		}
		if r, err := e.ls.Revoked(st); err != nil || r {
			t.Fatalf("Revoked(%s) = %v, %v", id, r, err)
		}
	}
	e.reopen()
	op, _ := e.must(e.ls.Allocate(e.req(owner), ""))
	if seen[op.Status.ID] || op.ListID != "2" {
		t.Fatalf("after reopen: allocated %s again / in list %s", op.Status.ID, op.ListID)
	}
}

// Revocations and Revoked checks race; every acknowledged revocation is
// visible at once, and after a restart.
func TestConcurrentRevocations(t *testing.T) {
	e := newEnv(t, 0)
	owner := newDID(t)
	var sts []Entry
	for i := 0; i < 40; i++ {
		op, _ := e.must(e.ls.Allocate(e.req(owner), ""))
		sts = append(sts, op.Status)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, st := range sts {
					if _, err := e.ls.Revoked(st); err != nil {
						t.Error(err)
						return
					}
				}
				_, _, _ = e.ls.List("1")
			}
		}()
	}
	var wg sync.WaitGroup
	for i, st := range sts {
		if i%2 == 1 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			op, err := e.ls.Revoke(e.req(owner), "urn:uuid:c"+st.ListIndex, st, nil)
			if err == nil {
				_, err = e.log.Append(context.Background(), op.Entry, op.Apply)
				e.ls.Committed(op)
			}
			if err != nil {
				t.Error(err)
				return
			}
			if r, err := e.ls.Revoked(st); err != nil || !r {
				t.Errorf("acknowledged revocation of %s not visible: %v, %v", st.ID, r, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	check := func(when string) {
		bits, _, err := e.ls.List("1")
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range sts {
			r, err := e.ls.Revoked(st)
			pub, _ := bits.Get(uint64(i))
			if err != nil || r != (i%2 == 0) || pub != r {
				t.Fatalf("%s: entry %d: Revoked %v, published %v, %v", when, i, r, pub, err)
			}
		}
	}
	check("before restart")
	e.reopen()
	check("after restart")
}

func TestNewRefusals(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []Config{
		{BaseURL: testBase},
		{DB: db, BaseURL: "http://localhost:8080/status"},
		{DB: db, BaseURL: "ftp://localhost/status/"},
		{DB: db, BaseURL: "http://localhost/status/?x=1"},
		{DB: db, BaseURL: testBase, ListSize: MinBits - 8},
		{DB: db, BaseURL: testBase, ListSize: MinBits + 1},
		{DB: db, BaseURL: testBase, ListSize: MaxListSize + 8},
	} {
		if _, err := New(c); err == nil {
			t.Fatalf("New(%+v) accepted", c)
		}
	}
	ls, err := New(Config{DB: db, BaseURL: testBase})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Allocate(Request{Signer: "not-a-did", Time: t0}, ""); err == nil {
		t.Fatal("Allocate accepted a signer that is not a DID")
	}
	if _, err := ls.Allocate(Request{Signer: newDID(t)}, ""); err == nil {
		t.Fatal("Allocate accepted a request without time")
	}
	if _, err := ls.Allocate(Request{Signer: newDID(t), Time: t0}, "did:key:x#y"); err == nil {
		t.Fatal("Allocate accepted an owner that is not a bare DID")
	}
}

func BenchmarkRevokedCheck(b *testing.B) {
	e := newEnv(b, 0)
	owner := newDID(b)
	op, _ := e.must(e.ls.Allocate(e.req(owner), ""))
	st := op.Status
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := e.ls.Revoked(st); err != nil || r {
				b.Fatal(r, err)
			}
		}
	})
}
