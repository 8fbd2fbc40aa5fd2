package request

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// go-jose is an independent JOSE implementation: a request it signs must
// verify with our verifier, and a request we sign must verify with it.

func TestInteropGoJoseSignsWeVerify(t *testing.T) {
	priv, _, kid := testKey(3)
	body := []byte(`{"context":"work"}`)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(Type).WithHeader("kid", kid),
	)
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims(body)
	obj, err := signer.Sign(claimsJSON(c))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, c.URI, bytes.NewReader(body))
	r.Header.Set("Authorization", Scheme+" "+tok)
	got, err := newVerifier(t, t0, nil).Verify(context.Background(), r, body)
	if err != nil {
		t.Fatalf("go-jose token %s: %v", tok, err)
	}
	if got.Claims != c || got.KID != kid {
		t.Fatalf("Verified = %+v", got)
	}

	// And a go-jose token signed by another key is refused.
	other, _, _ := testKey(4)
	bad, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: other},
		(&jose.SignerOptions{}).WithType(Type).WithHeader("kid", kid))
	obj, _ = bad.Sign(claimsJSON(c))
	tok, _ = obj.CompactSerialize()
	r = httptest.NewRequest(http.MethodPost, c.URI, bytes.NewReader(body))
	r.Header.Set("Authorization", Scheme+" "+tok)
	if _, err := newVerifier(t, t0, nil).Verify(context.Background(), r, body); CodeOf(err) != CodeSignatureInvalid {
		t.Fatalf("go-jose token by another key: %v", err)
	}
}

func TestInteropWeSignGoJoseVerifies(t *testing.T) {
	priv, _, kid := testKey(3)
	c := goodClaims([]byte("x"))
	tok, err := Sign(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := obj.Verify(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if !bytes.Equal(payload, claimsJSON(c)) {
		t.Errorf("payload %s, want %s", payload, claimsJSON(c))
	}
	h := obj.Signatures[0].Protected
	if h.Algorithm != string(jose.EdDSA) || h.KeyID != kid || h.ExtraHeaders[jose.HeaderType] != Type {
		t.Errorf("protected header %+v", h)
	}
	other, _, _ := testKey(4)
	if _, err := obj.Verify(other.Public().(ed25519.PublicKey)); err == nil {
		t.Errorf("go-jose verified our token with another key")
	}
}
