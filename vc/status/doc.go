// Package status implements revocation for ClawNet credentials with W3C
// Bitstring Status List v1.0, profiled for VC Data Model 1.1 and VC-JWT
// (spec/status-list.md is the normative description).
//
// It has two layers.
//
// The pure layer has no I/O and reads no clock: Bitstring (bit i is the
// most significant bit first, index 0 the left-most bit of the first byte),
// its encodedList encoding (multibase "u" + base64url without padding of
// GZIP) with Decode's decompression-bomb limits; the status list
// credential, issued with IssueList and checked with VerifyList (EdDSA
// VC-JWT, key from the issuer's assertionMethod, strict claims), which is
// the only way to a VerifiedList; and Check, which reads one entry's bit.
//
// The store layer (Lists) keeps this server's lists in the shared pebble
// database under "v/status/" and changes them only through log appends,
// in the same batch as their entries (vc.status_allocated, vc.revoked), so
// an acknowledged revocation survives any crash. Every list's bits are
// also in memory: Revoked, called on every action, is a map lookup and an
// atomic bit test, and it reports a revocation from the moment its Apply
// ran, before the batch is synced (failing safe: the revocation is either
// committed or the log has failed and refuses everything).
//
// What the package promises:
//   - VerifyList returns a VerifiedList only when every check passed; there
//     is no option to skip one. It inflates an encodedList only after the
//     signature verified, and never past the limits.
//   - Every refusal is an *Error with a stable Code (Codes lists them).
//   - Indexes are allocated once, never reused, and a set bit is never
//     cleared: revocation is final.
package status
