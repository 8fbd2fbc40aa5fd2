package vcjwt

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/clawnet/ledger/did"
)

// TestVerifyIssued: the signing method must be the issuer's, the issuer
// must resolve to its own document, the method must be in its
// assertionMethod and the signature must verify with it; each refusal has
// its Kind.
func TestVerifyIssued(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	issuer := did.KeyDID(pub)
	kid := issuer + "#" + issuer[len("did:key:"):]
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	other := did.KeyDID(otherPub)
	resolve := func(_ context.Context, d string) (*did.Document, error) { return did.ResolveKey(d) }
	tok, err := Sign(priv, kid, []byte(`{"iss":"`+issuer+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := Sign(otherPriv, kid, []byte(`{"iss":"`+issuer+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	assertOnly := func(_ context.Context, d string) (*did.Document, error) {
		doc, err := did.ResolveKey(d)
		if err == nil {
			doc.AssertionMethod = nil
		}
		return doc, err
	}
	for _, tc := range []struct {
		name    string
		resolve Resolver
		tok     string
		issuer  string
		want    Kind
		ok      bool
	}{
		{"signed by the issuer's key", resolve, tok, issuer, 0, true},
		{"another issuer", resolve, tok, other, IssuerMismatch, false},
		{"resolution fails", func(context.Context, string) (*did.Document, error) { return nil, errors.New("down") }, tok, issuer, IssuerUnresolvable, false},
		{"another document", func(ctx context.Context, _ string) (*did.Document, error) { return did.ResolveKey(other) }, tok, issuer, IssuerUnresolvable, false},
		{"not in assertionMethod", assertOnly, tok, issuer, KeyNotAuthorized, false},
		{"forged signature", resolve, forged, issuer, SignatureInvalid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := VerifyIssued(context.Background(), tc.resolve, tc.tok, tc.issuer, kid, issuer)
			if tc.ok != (f == nil) || (f != nil && f.Kind != tc.want) {
				t.Fatalf("VerifyIssued = %v, want ok %v kind %d", f, tc.ok, tc.want)
			}
		})
	}
}

func TestParseKID(t *testing.T) {
	for _, kid := range []string{"", "key-1", "did:key:z6Mk", "did:web:example.com/path#k", "did:web:example.com?q=1#k", "did:#k"} {
		if _, f := ParseKID(kid, "kid"); f == nil || f.Kind != KIDInvalid {
			t.Errorf("ParseKID(%q) = %v, want KIDInvalid", kid, f)
		}
	}
	u, f := ParseKID("did:web:example.com#key-1", "kid")
	if f != nil || u.DID != "did:web:example.com" || u.Fragment != "key-1" {
		t.Fatalf("ParseKID = %+v, %v", u, f)
	}
}

func TestParse(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	tok, err := Sign(priv, "did:example:a#k", []byte(`{"iss":"did:example:a"}`))
	if err != nil {
		t.Fatal(err)
	}
	h, payload, f := Parse(tok, 1<<10)
	if f != nil || h.Kid != "did:example:a#k" || string(payload) != `{"iss":"did:example:a"}` {
		t.Fatalf("Parse = %+v, %q, %v", h, payload, f)
	}
	sig := make([]byte, ed25519.SignatureSize)
	for _, tc := range []struct {
		name string
		tok  string
		want Kind
	}{
		{"too long", tok, Malformed},
		{"header not UTF-8", token("{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"\xff\"}", `{}`, sig), Malformed},
		{"alg none", token(`{"alg":"none","typ":"JWT","kid":"did:example:a#k"}`, `{}`, sig), AlgNotAllowed},
		{"short signature", token(`{"alg":"EdDSA","typ":"JWT","kid":"did:example:a#k"}`, `{}`, sig[:63]), Malformed},
	} {
		maxLen := 1 << 10
		if tc.name == "too long" {
			maxLen = len(tok) - 1
		}
		if _, _, f := Parse(tc.tok, maxLen); f == nil || f.Kind != tc.want {
			t.Errorf("%s: Parse = %v, want kind %d", tc.name, f, tc.want)
		}
	}
}
