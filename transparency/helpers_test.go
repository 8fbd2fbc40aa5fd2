package transparency_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clawnet/ledger/transparency"
)

// testOrigin is the origin, and so the key name, of the test log.
const testOrigin = "log.clawnet.example/test"

// keyFromSeed builds a signed-note key pair deterministically from a seed.
// note.GenerateKey cannot do it: since Go 1.26 ed25519.GenerateKey ignores
// the reader it is given, so the key strings are built here by hand, in the
// format that note.NewSigner and note.NewVerifier parse:
//
//	PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed)
//	<name>+<hash>+base64(0x01 || public key)
//
// where <hash> is the first 4 bytes of SHA-256(name || "\n" || 0x01 || public
// key), as 8 lowercase hex digits.
func keyFromSeed(name string, seed [32]byte) (skey, vkey string) {
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := append([]byte{1}, priv.Public().(ed25519.PublicKey)...)
	h := sha256.Sum256(append([]byte(name+"\n"), pub...))
	hash := binary.BigEndian.Uint32(h[:4])
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{1}, seed[:]...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(pub))
	return skey, vkey
}

// testKey is a deterministic signer and verifier named name, derived from
// the one-byte label b.
type testKey struct {
	skey, vkey string
	signer     note.Signer
	verifier   note.Verifier
}

func newTestKey(t testing.TB, name string, b byte) testKey {
	t.Helper()
	var seed [32]byte
	for i := range seed {
		seed[i] = b
	}
	skey, vkey := keyFromSeed(name, seed)
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("new verifier: %v", err)
	}
	return testKey{skey: skey, vkey: vkey, signer: s, verifier: v}
}

// memTree is an in-memory Merkle tree built with golang.org/x/mod/sumdb/tlog,
// the independent implementation our verification is checked against.
type memTree struct {
	entries [][]byte
	stored  []tlog.Hash
}

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.stored)) {
			return nil, fmt.Errorf("memtree: no stored hash %d", x)
		}
		out[i] = m.stored[x]
	}
	return out, nil
}

func (m *memTree) add(t testing.TB, entry []byte) {
	t.Helper()
	hs, err := tlog.StoredHashes(int64(len(m.entries)), entry, m)
	if err != nil {
		t.Fatalf("stored hashes: %v", err)
	}
	m.stored = append(m.stored, hs...)
	m.entries = append(m.entries, entry)
}

func (m *memTree) size() uint64 { return uint64(len(m.entries)) }

func (m *memTree) root(t testing.TB, n uint64) transparency.Hash {
	t.Helper()
	h, err := tlog.TreeHash(int64(n), m)
	if err != nil {
		t.Fatalf("tree hash %d: %v", n, err)
	}
	return transparency.Hash(h)
}

func (m *memTree) inclusion(t testing.TB, index, size uint64) []transparency.Hash {
	t.Helper()
	p, err := tlog.ProveRecord(int64(size), int64(index), m)
	if err != nil {
		t.Fatalf("prove record %d in %d: %v", index, size, err)
	}
	return convHashes(p)
}

func (m *memTree) consistency(t testing.TB, size1, size2 uint64) []transparency.Hash {
	t.Helper()
	p, err := tlog.ProveTree(int64(size2), int64(size1), m)
	if err != nil {
		t.Fatalf("prove tree %d -> %d: %v", size1, size2, err)
	}
	return convHashes(p)
}

func convHashes(hs []tlog.Hash) []transparency.Hash {
	out := make([]transparency.Hash, len(hs))
	for i, h := range hs {
		out[i] = transparency.Hash(h)
	}
	return out
}

// syntheticTree returns a tree of n distinct entries whose bytes are not
// entries of the v1 format (proof tests do not care what a leaf holds).
func syntheticTree(t testing.TB, n int) *memTree {
	t.Helper()
	m := &memTree{}
	for i := range n {
		m.add(t, fmt.Appendf(nil, "leaf %d", i))
	}
	return m
}

// entryTime is a fixed event time for test entries.
var entryTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// sampleEntry returns the i-th entry of a deterministic sequence of valid
// entries that uses every field and decision of the v1 format.
func sampleEntry(i int) *transparency.Entry {
	decisions := []transparency.Decision{
		transparency.DecisionAllowed, transparency.DecisionDenied, transparency.DecisionEscalated,
		transparency.DecisionApproved, transparency.DecisionTimedOut, transparency.DecisionRecorded,
	}
	e := &transparency.Entry{
		Version:      transparency.EntryVersion,
		Type:         "action.decision",
		Time:         entryTime.Add(time.Duration(i) * 1500 * time.Millisecond),
		Actor:        fmt.Sprintf("did:key:z6MkAgent%04d", i),
		Owner:        "did:key:z6MkOwnerAlice",
		Action:       "message/send",
		Counterparty: "did:key:z6MkOwnerBob",
		Resource:     fmt.Sprintf("calendar/slot/%d", i),
		Decision:     decisions[i%len(decisions)],
		Reason:       fmt.Sprintf("scope %d covers the action", i),
	}
	e.RequestDigest = transparency.DigestSHA256(sha256.Sum256(fmt.Appendf(nil, "request %d", i)))
	if i%2 == 0 {
		e.Authz = &transparency.AuthzRef{
			Credential: fmt.Sprintf("urn:uuid:0000000%d-0000-4000-8000-000000000000", i%10),
			Digest:     transparency.DigestSHA256(sha256.Sum256(fmt.Appendf(nil, "credential %d", i))),
		}
	}
	if i%3 == 0 {
		e.Type = "operator.note"
		e.Actor, e.Owner, e.Counterparty, e.Action, e.Resource, e.Authz = "", "", "", "", "", nil
		e.Subject = "log"
		e.Reason = fmt.Sprintf("operator note %d", i)
		e.Decision = transparency.DecisionRecorded
	}
	return e
}

func mustMarshal(t testing.TB, e *transparency.Entry) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatalf("marshal entry: %v", err)
	}
	return b
}

// signNote signs a checkpoint body with the given signers, without
// the origin check of transparency.SignCheckpoint (tests need to forge).
func signNote(t testing.TB, text string, signers ...note.Signer) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatalf("sign note: %v", err)
	}
	return b
}

// errClass names the class of err: "verification", "malformed", "both"
// (a bug) or "other".
func errClass(err error) string {
	v := errors.Is(err, transparency.ErrVerification)
	m := errors.Is(err, transparency.ErrMalformed)
	switch {
	case err == nil:
		return "ok"
	case v && m:
		return "both"
	case v:
		return "verification"
	case m:
		return "malformed"
	default:
		return "other"
	}
}
