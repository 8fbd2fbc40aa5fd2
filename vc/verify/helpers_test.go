package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	processor "github.com/hyperledger/aries-framework-go/pkg/doc/signature/jsonld"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/signer"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite/ed25519signature2020"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Test keys come from public seeds; never use them for anything else.
type party struct {
	priv ed25519.PrivateKey
	did  string
	kid  string
}

func newParty(seed byte) party {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	return party{priv, d, d + "#" + strings.TrimPrefix(d, "did:key:")}
}

var (
	issuerP = newParty(0x31)
	holderP = newParty(0x32)
	otherP  = newParty(0x33)
	now     = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

// assertOnlyDID is a did:web whose one key is in assertionMethod only:
// it may issue credentials but not authenticate as a holder.
const assertOnlyDID = "did:web:assert.example"

// resolver resolves did:key and assertOnlyDID, and counts resolutions.
type resolver struct{ n int }

func (r *resolver) resolve(ctx context.Context, d string) (*did.Document, error) {
	r.n++
	if d == assertOnlyDID {
		mb := strings.TrimPrefix(otherP.did, "did:key:")
		return &did.Document{
			Context: []string{"https://www.w3.org/ns/did/v1"},
			ID:      d,
			VerificationMethod: []did.VerificationMethod{{ID: d + "#k1", Type: "Ed25519VerificationKey2020",
				Controller: d, PublicKeyMultibase: mb}},
			AssertionMethod: []string{d + "#k1"},
		}, nil
	}
	res, err := (&did.Resolver{}).Resolve(ctx, d)
	if err != nil {
		return nil, err
	}
	return res.Document, nil
}

func opts(r *resolver) Options { return Options{Resolve: r.resolve, Now: now} }

// signJWT signs payload with the header members hdr (alg EdDSA unless
// hdr says otherwise).
func signJWT(t testing.TB, priv ed25519.PrivateKey, hdr map[string]string, payload any) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(b, jws.WithKey(jwa.EdDSA(), priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// jwtClaims is a made-up credential type as VC-JWT claims.
func jwtClaims(iss, sub string) map[string]any {
	return map[string]any{
		"iss": iss, "sub": sub, "jti": "urn:uuid:6f1c2f4e-1d0b-4a57-9a4c-0c8f4b1f2a11",
		"nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(time.Hour).Unix(),
		"vc": map[string]any{
			"@context":          []string{CredentialsContextURL},
			"type":              []string{VerifiableCredentialType, "MembershipCredential"},
			"credentialSubject": map[string]any{"id": sub},
		},
	}
}

func goodJWT(t testing.TB) string {
	return signJWT(t, issuerP.priv, map[string]string{"typ": "JWT", "kid": issuerP.kid}, jwtClaims(issuerP.did, holderP.did))
}

// ldDoc is an unsigned JSON-LD credential using embedded contexts only.
func ldDoc(iss, sub string) map[string]any {
	return map[string]any{
		"@context":          []any{CredentialsContextURL, "https://w3id.org/security/suites/ed25519-2020/v1"},
		"id":                "urn:uuid:1b6a1f7e-9a53-4d3c-8f3e-5a0b6c2d7e11",
		"type":              []any{VerifiableCredentialType},
		"issuer":            iss,
		"issuanceDate":      "2026-01-01T00:00:00Z",
		"expirationDate":    "2026-12-31T00:00:00Z",
		"credentialSubject": map[string]any{"id": sub},
	}
}

type edSigner struct{ priv ed25519.PrivateKey }

func (s edSigner) Sign(data []byte) ([]byte, error) { return ed25519.Sign(s.priv, data), nil }
func (s edSigner) Alg() string                      { return "EdDSA" }

// signLD adds an Ed25519Signature2020 proof by vm to doc with aries.
func signLD(t testing.TB, priv ed25519.PrivateKey, vm string, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Loader()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := signer.New(ed25519signature2020.New(suite.WithSigner(edSigner{priv})))
	out, err := s.Sign(&signer.Context{SignatureType: ProofType, Created: &created, VerificationMethod: vm, Purpose: ProofPurpose},
		b, processor.WithDocumentLoader(l))
	if err != nil {
		t.Fatal(err)
	}
	// aries writes proof as an array of one; VC 1.1 writes one proof as an
	// object, which is what verifiers (and this package) expect.
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if a, ok := m["proof"].([]any); ok && len(a) == 1 {
		m["proof"] = a[0]
	}
	out, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goodLD(t testing.TB) []byte {
	return signLD(t, issuerP.priv, issuerP.kid, ldDoc(issuerP.did, holderP.did))
}

// mutateJSON decodes raw, applies f and encodes it again.
func mutateJSON(t testing.TB, raw []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func quoted(s string) []byte { b, _ := json.Marshal(s); return b }
