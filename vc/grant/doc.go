// Package grant is the server's registry of registered delegation
// credentials (issue 4, spec/grants.md): which credential was granted to
// which Identity Agent, by whom, for which owner, under which parent, with
// which revocation entry, and whether it was revoked.
//
// It follows the Op/Apply/Committed pattern of did/registry and vc/status:
// every change is an Op whose Entry is appended to the log together with
// its Apply, which re-checks the rules inside the sequencer (so that two
// racing changes cannot both pass) and writes the state in the same batch
// as the entry.
//
// What the package promises:
//   - a credential id is registered at most once, a status entry names at
//     most one credential, a sub-delegation is registered only under a
//     registered, unrevoked parent, at its parent's depth + 1;
//   - a revocation is ONE log entry, vc.revoked, written by vc/status:
//     Revoke composes the status list's own revocation op with the grant
//     state change, and sets, in the same batch, the status bit and the
//     revoked flag of the credential and of every unrevoked descendant
//     (spec/grants.md, "Revocation");
//   - reads see committed state only; Get is served from a cache that a
//     change invalidates in Apply and again in Committed (as did/registry
//     does), so that it never serves a record older than a committed change.
//
// It checks no signatures and picks no HTTP status: the server verifies
// credentials (vc/delegation), composes the identity rules (did/registry)
// and maps the codes of this package to HTTP.
package grant
