package did

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMethodNotSupported is wrapped when a DID is well formed but its method
// is not one this package resolves.
var ErrMethodNotSupported = errors.New("did method not supported")

// The multicodec ed25519-pub code 0xed as an unsigned varint.
var ed25519PubPrefix = [2]byte{0xed, 0x01}

const (
	keyPrefix = "did:key:"

	// ContextDIDv1 is the DID Core 1.0 JSON-LD context.
	ContextDIDv1 = "https://www.w3.org/ns/did/v1"
	// ContextEd25519v2020 is the context that defines
	// Ed25519VerificationKey2020 and publicKeyMultibase.
	ContextEd25519v2020 = "https://w3id.org/security/suites/ed25519-2020/v1"
	// TypeEd25519VerificationKey2020 is the verification method type of the
	// did:key documents we produce.
	TypeEd25519VerificationKey2020 = "Ed25519VerificationKey2020"
	// TypeMultikey is the Controlled Identifiers verification method type
	// with the same publicKeyMultibase encoding; accepted, never produced.
	TypeMultikey = "Multikey"
	// TypeJSONWebKey2020 carries the key as publicKeyJwk; accepted for
	// Ed25519 OKP keys, never produced.
	TypeJSONWebKey2020 = "JsonWebKey2020"
)

// GenerateKey makes a new Ed25519 key from rand (crypto/rand.Reader in
// production; a fixed reader makes test keys reproducible) and returns its
// did:key.
func GenerateKey(rand io.Reader) (string, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return "", nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return KeyDID(pub), priv, nil
}

// KeyDID returns the did:key of an Ed25519 public key. It panics if pub is
// not 32 bytes, like the ed25519 package does for malformed keys.
func KeyDID(pub ed25519.PublicKey) string {
	return keyPrefix + multibaseKey(pub)
}

// multibaseKey is the multibase ("z" + base58btc) of the multicodec
// ed25519-pub prefix and the key: the method-specific id of a did:key and
// the publicKeyMultibase of its verification method.
func multibaseKey(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("did: ed25519 public key of %d bytes", len(pub)))
	}
	b := make([]byte, 0, 2+ed25519.PublicKeySize)
	b = append(b, ed25519PubPrefix[:]...)
	b = append(b, pub...)
	return "z" + base58Encode(b)
}

// parseMultibaseKey decodes a publicKeyMultibase or did:key method-specific
// id: "z", base58btc of 0xed 0x01 and 32 key bytes, in canonical form.
func parseMultibaseKey(s string) (ed25519.PublicKey, error) {
	enc, ok := strings.CutPrefix(s, "z")
	if !ok {
		return nil, fmt.Errorf("multibase %.16q: not base58btc (prefix 'z')", s)
	}
	// 34 bytes encode to at most 47 base58 characters; refuse early.
	if len(enc) > 64 {
		return nil, fmt.Errorf("multibase key of %d characters is too long", len(enc))
	}
	b, err := base58Decode(enc)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != ed25519PubPrefix[0] || b[1] != ed25519PubPrefix[1] {
		return nil, fmt.Errorf("multicodec is not ed25519-pub (0xed 0x01)")
	}
	if len(b) != 2+ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 key of %d bytes, want %d", len(b)-2, ed25519.PublicKeySize)
	}
	pub := ed25519.PublicKey(b[2:])
	// The decoder is a bijection, but the canonical form is what makes two
	// spellings of one key impossible, so check it rather than assume it.
	if multibaseKey(pub) != s {
		return nil, fmt.Errorf("non-canonical base58btc encoding")
	}
	return pub, nil
}

// ParseKeyDID returns the Ed25519 public key of a did:key. It accepts only
// "did:key:" followed by the canonical multibase of an ed25519-pub key: no
// version prefix, path, query or fragment, no other multibase or codec.
func ParseKeyDID(did string) (ed25519.PublicKey, error) {
	method, err := ParseDID(did)
	if err != nil {
		return nil, err
	}
	if method != "key" {
		return nil, fmt.Errorf("%w: %q is not did:key", ErrMethodNotSupported, did)
	}
	pub, err := parseMultibaseKey(strings.TrimPrefix(did, keyPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: %.64q: %w", ErrInvalidDID, did, err)
	}
	return pub, nil
}

// ResolveKey expands a did:key into its DID document, locally, as the did:key
// specification's document creation algorithm does for Ed25519 with
// publicKeyFormat Ed25519VerificationKey2020: one verification method
// "did:key:z…#z…" referenced from authentication, assertionMethod,
// capabilityInvocation and capabilityDelegation. The optional X25519
// keyAgreement method is not derived (we do not use key agreement).
func ResolveKey(did string) (*Document, error) {
	pub, err := ParseKeyDID(did)
	if err != nil {
		return nil, fmt.Errorf("resolve %.64q: %w", did, err)
	}
	mb := multibaseKey(pub)
	vmID := did + "#" + mb
	return &Document{
		Context: []string{ContextDIDv1, ContextEd25519v2020},
		ID:      did,
		VerificationMethod: []VerificationMethod{{
			ID:                 vmID,
			Type:               TypeEd25519VerificationKey2020,
			Controller:         did,
			PublicKeyMultibase: mb,
		}},
		Authentication:       []string{vmID},
		AssertionMethod:      []string{vmID},
		CapabilityDelegation: []string{vmID},
		CapabilityInvocation: []string{vmID},
	}, nil
}
