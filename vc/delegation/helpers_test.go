package delegation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/scope"
)

// Test keys are derived from public seeds (32 times one byte) so that the
// vectors can be regenerated identically. Never use them for anything else.
const (
	seedOwner     = 0x21 // the did:key owner of most vectors
	seedAgent     = 0x22 // the Identity Agent (subject)
	seedOther     = 0x23 // another did:key, neither owner nor agent
	seedAliceKey1 = 0x24 // did:web alice's key-1: authentication and assertionMethod
	seedAliceKey2 = 0x25 // did:web alice's key-2: authentication only
)

const (
	aliceDID   = "did:web:issuer.example:owners:alice"
	goneDID    = "did:web:issuer.example:owners:gone"
	vectorFrom = "2026-01-01T00:00:00Z"
	vectorTo   = "2026-07-01T00:00:00Z"
	vectorNow  = "2026-03-01T00:00:00Z"
	statusURL  = "https://ledger.example/status/1"
	testScopes = `[{"id":"work-calendar","effect":"allow","actions":["calendar"],"resources":["calendar/work/**"],"counterparties":["contacts"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}]`
)

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// keyDID returns the seed's key, its did:key and its kid.
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

func fixedID(t testing.TB, b byte) string {
	t.Helper()
	id, err := NewID(bytes.NewReader(bytes.Repeat([]byte{b}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testCredential is the credential of most tests and vectors.
func testCredential(t testing.TB) Credential {
	_, owner, _ := keyDID(seedOwner)
	_, agent, _ := keyDID(seedAgent)
	st := NewStatusEntry(statusURL, 94567)
	return Credential{
		ID: fixedID(t, 0x41), Issuer: owner, Subject: agent,
		IssuanceDate: mustTime(t, vectorFrom), ExpirationDate: mustTime(t, vectorTo),
		Scopes: mustScopes(t, testScopes), MaxSubdelegationDepth: 1, Status: &st,
	}
}

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

// testResolver resolves did:key locally, alice's did:web, deactivated for
// goneDID and notFound otherwise; it counts its calls.
type testResolver struct{ calls atomic.Int64 }

func (r *testResolver) resolve(_ context.Context, d string) (*did.Document, error) {
	r.calls.Add(1)
	switch {
	case strings.HasPrefix(d, "did:key:"):
		return did.ResolveKey(d)
	case d == aliceDID:
		return aliceDocument(), nil
	case d == goneDID:
		return nil, &did.ResolutionError{Code: did.ErrorDeactivated, Message: "the DID was deactivated"}
	}
	return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no such DID"}
}

func testOptions(t testing.TB) VerifyOptions {
	return VerifyOptions{Resolve: (&testResolver{}).resolve, Now: mustTime(t, vectorNow)}
}

func mustScopes(t testing.TB, js string) []scope.Scope {
	t.Helper()
	s, err := scope.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameScopes compares scope lists by their canonical JSON.
func sameScopes(t testing.TB, a, b []scope.Scope) bool {
	t.Helper()
	x, err1 := scope.Marshal(a)
	y, err2 := scope.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
