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
