package binding

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// go-jose is an independent JOSE implementation: a credential it signs
// (same header and claims) must verify with Verify, and a credential Issue
// makes must verify with go-jose.

func interopBinding(t *testing.T) (ed25519.PrivateKey, string, Binding) {
	owner, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	issued := time.Unix(1767225600, 0).UTC()
	return owner, ownerKID, Binding{ID: fixedID(t, 0x33), Issuer: ownerDID, Subject: agentDID, Role: RoleIdentity,
		Context: "negotiation", IssuedAt: issued, Expires: issued.Add(90 * 24 * time.Hour)}
}

func TestInteropGoJoseSignsWeVerify(t *testing.T) {
	owner, kid, b := interopBinding(t)
	payload, err := json.Marshal(map[string]any{
		"iss": b.Issuer, "sub": b.Subject, "jti": b.ID, "nbf": b.IssuedAt.Unix(), "iat": b.IssuedAt.Unix(), "exp": b.Expires.Unix(),
		"vc": map[string]any{
			"@context":          []string{CredentialsContextURL, ContextURL},
			"type":              []string{VerifiableCredentialType, Type},
			"credentialSubject": map[string]string{"role": string(b.Role), "context": b.Context},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key ed25519.PrivateKey) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := sign(owner)
	got, err := Verify(context.Background(), tok, newTestResolver().resolve, b.IssuedAt)
	if err != nil {
		t.Fatalf("go-jose token %s: %v", tok, err)
	}
	if got.Binding != b || got.KID != kid {
		t.Fatalf("Verify = %+v, want %+v", got, b)
	}
	// And one signed by another key is refused.
	other, _, _ := keyDID(seedOther)
	if _, err := Verify(context.Background(), sign(other), newTestResolver().resolve, b.IssuedAt); CodeOf(err) != CodeSignatureInvalid {
		t.Fatalf("go-jose token by another key: %v", err)
	}
}

func TestInteropWeSignGoJoseVerifies(t *testing.T) {
	owner, kid, b := interopBinding(t)
	tok, err := Issue(owner, kid, b)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := obj.Verify(owner.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	_, want := decodeToken(t, tok)
	if !bytes.Equal(payload, []byte(want)) {
		t.Errorf("payload %s, want %s", payload, want)
	}
	h := obj.Signatures[0].Protected
	if h.Algorithm != string(jose.EdDSA) || h.KeyID != kid || h.ExtraHeaders[jose.HeaderType] != "JWT" || len(h.ExtraHeaders) != 1 {
		t.Errorf("protected header %+v", h)
	}
	// The claims go-jose sees are the ones we meant.
	var c struct {
		Iss, Sub, Jti string
		Nbf, Iat, Exp int64
		VC            struct {
			Context []string `json:"@context"`
			Type    []string
			Subject struct{ Role, Context string } `json:"credentialSubject"`
		}
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c.Iss != b.Issuer || c.Sub != b.Subject || c.Jti != b.ID || c.Nbf != b.IssuedAt.Unix() || c.Iat != c.Nbf ||
		c.Exp != b.Expires.Unix() || c.VC.Subject.Role != string(b.Role) || c.VC.Subject.Context != b.Context ||
		len(c.VC.Type) != 2 || c.VC.Type[1] != Type || len(c.VC.Context) != 2 || c.VC.Context[1] != ContextURL {
		t.Errorf("claims %+v", c)
	}
	other, _, _ := keyDID(seedOther)
	if _, err := obj.Verify(other.Public().(ed25519.PublicKey)); err == nil {
		t.Errorf("go-jose verified our credential with another key")
	}
}
