package binding

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
)

// Test keys are derived from public seeds (32 times one byte) so that the
// vectors can be regenerated identically. Never use them for anything else.
const (
	seedOwner     = 0x11 // the did:key owner of most vectors
	seedAgent     = 0x12 // the agent (its key never signs a credential)
	seedOther     = 0x13 // another did:key, neither owner nor agent
	seedAliceKey1 = 0x14 // did:web alice's key-1: authentication and assertionMethod
	seedAliceKey2 = 0x15 // did:web alice's key-2: authentication only
	seedNobody    = 0x16 // signs for DIDs that do not resolve
)

const (
	aliceDID       = "did:web:issuer.example:owners:alice"
	aliceAgentDID  = "did:web:issuer.example:agents:alice-family"
	goneDID        = "did:web:issuer.example:owners:gone"   // deactivated
	nobodyDID      = "did:web:issuer.example:owners:nobody" // not found
	vectorIssuedAt = "2026-01-01T00:00:00Z"
	vectorNow      = "2026-03-01T00:00:00Z"
)

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// keyDID returns the did:key of the seed's key and its kid.
func keyDID(b byte) (ed25519.PrivateKey, string, string) {
	priv := seedKey(b)
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	return priv, d, d + "#" + strings.TrimPrefix(d, "did:key:")
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// fixedID is a credential id made by NewID from 16 times the byte b.
func fixedID(t testing.TB, b byte) string {
	t.Helper()
	id, err := NewID(bytes.NewReader(bytes.Repeat([]byte{b}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// aliceDocument is the did:web document of the vectors' did:web owner.
func aliceDocument() *did.Document {
	mb := func(b byte) string {
		return strings.TrimPrefix(did.KeyDID(seedKey(b).Public().(ed25519.PublicKey)), "did:key:")
	}
	k1, k2 := aliceDID+"#key-1", aliceDID+"#key-2"
	return &did.Document{
		Context: []string{did.ContextDIDv1, did.ContextEd25519v2020},
		ID:      aliceDID,
		VerificationMethod: []did.VerificationMethod{
			{ID: k1, Type: did.TypeEd25519VerificationKey2020, Controller: aliceDID, PublicKeyMultibase: mb(seedAliceKey1)},
			{ID: k2, Type: did.TypeEd25519VerificationKey2020, Controller: aliceDID, PublicKeyMultibase: mb(seedAliceKey2)},
		},
		Authentication:  []string{k1, k2},
		AssertionMethod: []string{k1},
	}
}

// testResolver resolves did:key locally, the did:web documents of docs,
// and answers deactivated for goneDID and notFound for anything else. It
// counts its calls, so that tests can check that a refusal before step 5
// of Verify costs no resolution.
type testResolver struct {
	docs  map[string]*did.Document
	calls atomic.Int64
}

func newTestResolver() *testResolver {
	return &testResolver{docs: map[string]*did.Document{aliceDID: aliceDocument()}}
}

func (r *testResolver) resolve(_ context.Context, d string) (*did.Document, error) {
	r.calls.Add(1)
	if strings.HasPrefix(d, "did:key:") {
		return did.ResolveKey(d)
	}
	if doc, ok := r.docs[d]; ok {
		return doc, nil
	}
	if d == goneDID {
		return nil, &did.ResolutionError{Code: did.ErrorDeactivated, Message: "the DID was deactivated"}
	}
	return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no such DID"}
}

var b64 = base64.RawURLEncoding

// signRaw makes a compact JWS of exactly these header and payload bytes,
// signed with priv (EdDSA): how the vectors build tokens that Issue would
// refuse to make.
func signRaw(priv ed25519.PrivateKey, header, payload string) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

// decodeToken returns the header and payload bytes of a compact JWS.
func decodeToken(t testing.TB, tok string) (header, payload string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	h, err := b64.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(h), string(p)
}
