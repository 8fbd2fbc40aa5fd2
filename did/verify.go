package did

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
)

// Refusals of VerificationKey, one per reason so that callers (the signed
// request verifier) can report them with distinct codes.
var (
	// ErrMethodNotFound: the document defines no verification method with
	// that id (methods of other DIDs are never looked up).
	ErrMethodNotFound = errors.New("verification method not found")
	// ErrNotInRelationship: the method exists but the relationship does not
	// reference it, so it may not be used for that purpose.
	ErrNotInRelationship = errors.New("verification method not in relationship")
	// ErrUnsupportedKeyType: the method is referenced but its type or key
	// encoding is not an Ed25519 key we can use.
	ErrUnsupportedKeyType = errors.New("unsupported verification method key type")
)

// VerificationKey returns the Ed25519 public key of the verification method
// kid (a DID URL of doc.ID, or a "#fragment" reference) if and only if the
// method is defined in doc.VerificationMethod and referenced by relationship
// (Authentication, AssertionMethod, CapabilityDelegation or
// CapabilityInvocation). Accepted key forms: Ed25519VerificationKey2020 and
// Multikey with an ed25519-pub publicKeyMultibase, JsonWebKey2020 with an
// OKP Ed25519 publicKeyJwk; a method carrying both encodings is refused as
// ambiguous.
func VerificationKey(doc *Document, kid, relationship string) (ed25519.PublicKey, error) {
	var refs []string
	switch relationship {
	case Authentication:
		refs = doc.Authentication
	case AssertionMethod:
		refs = doc.AssertionMethod
	case CapabilityDelegation:
		refs = doc.CapabilityDelegation
	case CapabilityInvocation:
		refs = doc.CapabilityInvocation
	default:
		return nil, fmt.Errorf("unknown verification relationship %q", relationship)
	}
	id := absolute(doc.ID, kid)
	u, err := ParseDIDURL(id)
	if err != nil {
		return nil, fmt.Errorf("key id: %w", err)
	}
	if u.DID != doc.ID || u.Fragment == "" {
		return nil, fmt.Errorf("%w: %q is not a method of %q", ErrMethodNotFound, kid, doc.ID)
	}
	i := slices.IndexFunc(doc.VerificationMethod, func(vm VerificationMethod) bool {
		return absolute(doc.ID, vm.ID) == id
	})
	if i < 0 {
		return nil, fmt.Errorf("%w: %q", ErrMethodNotFound, id)
	}
	if !slices.ContainsFunc(refs, func(r string) bool { return absolute(doc.ID, r) == id }) {
		return nil, fmt.Errorf("%w: %q is not in %s", ErrNotInRelationship, id, relationship)
	}
	vm := doc.VerificationMethod[i]
	if vm.PublicKeyMultibase != "" && vm.PublicKeyJwk != nil {
		return nil, fmt.Errorf("%w: %q has both publicKeyMultibase and publicKeyJwk", ErrUnsupportedKeyType, id)
	}
	switch {
	case (vm.Type == TypeEd25519VerificationKey2020 || vm.Type == TypeMultikey) && vm.PublicKeyMultibase != "":
		pub, err := parseMultibaseKey(vm.PublicKeyMultibase)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrUnsupportedKeyType, id, err)
		}
		return pub, nil
	case vm.Type == TypeJSONWebKey2020 && vm.PublicKeyJwk != nil:
		k := vm.PublicKeyJwk
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			return nil, fmt.Errorf("%w: %q: JWK kty %q crv %q", ErrUnsupportedKeyType, id, k.Kty, k.Crv)
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: %q: JWK x is not 32 base64url bytes", ErrUnsupportedKeyType, id)
		}
		return ed25519.PublicKey(x), nil
	default:
		return nil, fmt.Errorf("%w: %q has type %q", ErrUnsupportedKeyType, id, vm.Type)
	}
}
