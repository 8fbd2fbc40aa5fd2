package status

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
)

// Test keys come from public seeds; never use them for anything else.
const (
	seedIssuer = 0x21
	seedOther  = 0x22
)

const testListURL = "http://localhost:8080/status/1"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// keyDID returns the seed's key, its did:key and its kid.
func keyDID(b byte) (ed25519.PrivateKey, string, string) {
	priv := seedKey(b)
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	return priv, d, d + "#" + strings.TrimPrefix(d, "did:key:")
}

// resolveKey resolves did:key only; anything else is not found.
func resolveKey(_ context.Context, d string) (*did.Document, error) {
	return did.ResolveKey(d)
}

func mustBits(t testing.TB, set ...uint64) *Bitstring {
	t.Helper()
	b, err := NewBitstring(MinBits)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range set {
		if err := b.Set(i, true); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func mustEncode(t testing.TB, b *Bitstring) string {
	t.Helper()
	s, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testList is a valid list credential signed by seedIssuer, with bits set.
func testList(t testing.TB, set ...uint64) (ed25519.PrivateKey, string, ListCredential) {
	priv, iss, kid := keyDID(seedIssuer)
	return priv, kid, ListCredential{
		ID: testListURL, Issuer: iss, ValidFrom: t0, ValidUntil: t0.Add(time.Hour),
		Purpose: PurposeRevocation, EncodedList: mustEncode(t, mustBits(t, set...)),
	}
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
