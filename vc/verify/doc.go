// Package verify checks verifiable credentials and presentations that are
// not of one of ClawNet's own types: any issuer's W3C Verifiable Credential
// (Data Model 1.1) in the VC-JWT encoding with EdDSA (VC Data Model 1.1
// §6.3.1, RFC 7515, RFC 8037) or as a JSON-LD document with one
// Ed25519Signature2020 Data Integrity proof (W3C CCG Ed25519Signature2020,
// URDNA2015), and VP-JWT presentations (VC Data Model 1.1 §6.3.1 with
// nonce = challenge and aud = domain). It backs the VC-API (VCALM)
// endpoints POST /credentials/verify and POST /presentations/verify of the
// server (spec/vc-api.md); our own credential types keep their strict
// verifiers (vc/delegation, vc/binding), which the server tries first.
//
// What the package promises:
//   - Credential and Presentation are the only ways to a VerifiedCredential
//     and a VerifiedPresentation, and they return one only when every check
//     passed: the signature by a key of the issuer's assertionMethod (the
//     holder's authentication for a presentation), the validity period with
//     Skew. There is no option to skip a check.
//   - It is pure: no clock (the caller passes Now), no I/O but the caller's
//     Resolve, no logging. JSON-LD contexts come only from the embedded
//     copies (Contexts); any other context URL is refused with
//     CodeContextNotEmbedded and never fetched.
//   - A JSON-LD member that no context defines is refused
//     (CodeUndefinedTerm): a JSON-LD processor would drop it silently, so it
//     would be neither signed nor seen.
//   - Every refusal is an *Error with a stable Code.
//
// What it does not do: revocation status (the caller checks
// credentialStatus: it knows which status lists it holds), holder binding
// of the credentials inside a presentation (the caller compares
// credentialSubject.id with the holder), challenge replay (the caller's:
// it issued the challenge), other proof suites and algorithms, VC Data
// Model 2.0, and JSON-LD presentations.
package verify
