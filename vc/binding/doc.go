// Package binding implements the agent binding credential of ClawNet's
// layered identity: an owner's signed statement that an agent DID is its
// Manager Agent, or its Identity Agent for one context. The registry
// (did/registry) accepts an agent only with such a credential.
//
// The credential is a W3C Verifiable Credential (Data Model 1.1) of type
// AgentBindingCredential in the VC-JWT encoding (VC Data Model 1.1 §6.3.1):
// a compact JWS (RFC 7515), EdDSA over Ed25519 (RFC 8037), whose payload is
// a JWT claim set (RFC 7519) with iss = owner DID, sub = agent DID, jti =
// credential id, nbf = iat = issuance, optional exp, and the credential in
// "vc". The normative description, the verification order and the error
// codes are in spec/binding-credential.md; the JSON-LD context is
// spec/contexts/binding-v1.jsonld (Context), the JSON Schema of the claim set
// spec/schemas/binding-v1.json (Schema); test vectors are in
// spec/testdata/binding.
//
// What the package promises:
//   - Verify is the only way to a Verified, and it returns one only when every
//     check passed: the signature by a key in the issuer's assertionMethod,
//     the validity period, the role rules. There is no option to skip a check.
//   - It is pure: no clock (the caller passes now), no I/O but the caller's
//     ResolveFunc, no logging.
//   - Parsing is strict: alg is pinned to EdDSA, the header has only alg,
//     typ and kid (never a key or a key URL), and the claim set has exactly
//     the members of the profile, each once. What is not understood is
//     refused, never ignored.
//   - Every refusal is an *Error with a stable Code.
package binding
