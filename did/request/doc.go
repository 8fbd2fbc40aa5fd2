// Package request implements ClawNet's signed requests: every mutating HTTP
// request carries a compact JWS (RFC 7515) signed with EdDSA over Ed25519
// (RFC 8037) by a key of the caller's DID, in the header
//
//	Authorization: ClawNet-JWS <compact JWS>
//
// The JWS binds the request to one server (aud), one method (htm), one
// request target (htu), one body (bd), a short validity window (iat, exp)
// and a single use (jti). The design follows OAuth DPoP (RFC 9449) where it
// fits; spec/signed-requests.md is the normative description, written for
// implementers in any language, with the error codes and a worked example.
//
// What the package promises:
//   - Verify returns a *Verified only if every check of the documented order
//     passed; there is no option to skip one. The algorithm is pinned to
//     EdDSA and the key type to Ed25519 by the verifier, never chosen from
//     the token; "none", HMAC, embedded keys (jwk, x5c, jku, x5u) and crit
//     are refused before any key is looked at.
//   - The key is taken from the signer's DID document, and only if the
//     document lists it under authentication.
//   - Every refusal is an *Error carrying one exported Code, so that server/
//     can map codes to HTTP statuses; the codes are part of the wire format.
//   - A jti is accepted once per signer DID while the request could still be
//     valid (until exp plus the skew window); the replay cache is an
//     interface so that it can be backed by the store.
//
// Verification itself is pure except for the injected clock, the resolver
// and the replay cache.
package request
