// Package did implements the identifier layer of ClawNet's layered identity:
// the did:key method for Ed25519 keys, did:web syntax, the DID Core 1.0 data
// model as concrete types, DID URL syntax, the choice of a verification key
// for a verification relationship, and DID resolution (Resolver, its result
// types and its cache).
//
// Specifications implemented:
//   - W3C DID Core 1.0 (https://www.w3.org/TR/did-core/): DID and DID URL
//     syntax (§3.1, §3.2), the document properties used here (§5).
//   - W3C CCG did:key (https://w3c-ccg.github.io/did-method-key/), Ed25519
//     only: multicodec ed25519-pub (varint 0xed 0x01), multibase base58btc
//     ('z'), so every DID starts with "did:key:z6Mk". See spec/did-key.md.
//   - W3C CCG did:web (https://w3c-ccg.github.io/did-method-web/): the
//     mapping of a DID to its HTTPS URL (WebURL). See spec/did-web.md.
//   - W3C DID Resolution: the resolution result, its metadata and error
//     codes (Result, ResolutionError).
//
// What the package promises:
//   - It is pure: no I/O, no network, no logging. ResolveKey expands a
//     did:key locally; Resolver reaches hosted and remote did:web only
//     through the sources it is given (did/registry, did/web), and its
//     Cache reads only the clock it is given.
//   - Parsers are strict. A did:key is accepted only in its one canonical
//     encoding, so two different strings never name the same key.
//     ParseDocument rejects duplicate members, embedded verification methods
//     in verification relationships, private key material, and ill-formed
//     DIDs and DID URLs; unknown members are kept (DID Core allows
//     extensions) but never interpreted.
//   - VerificationKey returns a key only if the method is defined in the
//     document and referenced by the asked relationship; each refusal has its
//     own sentinel error so that callers can tell them apart.
//
// Related packages: did/web resolves remote did:web over HTTPS, did/registry
// hosts did:web DIDs and keeps owners, agents and contacts, did/request
// verifies signed requests.
package did
