// Package delegation implements the delegation credential of ClawNet's
// scoped authorization: an owner's (or, for a sub-delegation, an Identity
// Agent's) signed grant of scopes to an Identity Agent, with a validity
// period, a revocation entry and the depth to which it may be
// sub-delegated.
//
// The credential is a W3C Verifiable Credential (Data Model 1.1) of type
// DelegationCredential in two formats with one API:
//   - VC-JWT (VC Data Model 1.1 §6.3.1): a compact JWS (RFC 7515), EdDSA
//     over Ed25519 (RFC 8037), claims iss, sub, jti, nbf, exp and the
//     credential in "vc" (IssueJWT);
//   - Data Integrity with an Ed25519Signature2020 proof (W3C CCG
//     Ed25519Signature2020, URDNA2015 canonicalization), produced and
//     checked with aries-framework-go's signature suite and json-gold
//     (IssueLDP).
//
// The revocation entry is a Bitstring Status List v1.0
// BitstringStatusListEntry. The normative description, the verification
// order and the error codes are in spec/delegation-credential.md; the
// JSON-LD context is spec/contexts/delegation-v1.jsonld (Context), the JSON
// Schema spec/schemas/delegation-v1.json (Schema); test vectors are in
// spec/testdata/delegation.
//
// What the package promises:
//   - Verify is the only way to a Verified, and it returns one only when
//     every check passed: the signature by a key in the issuer's
//     assertionMethod, the validity period, the structure. There is no
//     option to skip a check.
//   - It is pure: no clock (the caller passes Now), no I/O but the
//     caller's Resolve, no logging. Every JSON-LD context is embedded
//     (EmbeddedContexts); the document loader fails on any other URL and
//     never goes to the network.
//   - Parsing is strict: unknown members are refused, each member appears
//     once, @context and type are exactly the profile's, a Data Integrity
//     credential carrying a term no embedded context defines is refused.
//   - Every refusal is an *Error with a stable Code.
//
// Revocation status, "issuer is the agent's bound owner", the parent chain
// and attenuation are not checked here: the server composes them from
// Verified.
package delegation
