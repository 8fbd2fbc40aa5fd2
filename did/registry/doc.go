// Package registry is the identity registry of a ClawNet ledger: DIDs
// hosted here as did:web (their versions, key rotation and deactivation),
// owners, the agents bound to them (one Manager Agent, Identity Agents one
// per context) and the contacts between owners. The rules it enforces and
// the log entries it writes are normative in spec/identity.md.
//
// What it promises:
//
//   - State changes only through the transparency log. Every mutation is an
//     Op: the log entry that records it and an Apply that the log's
//     sequencer runs, serially and in log order, just before the entry is
//     sequenced. Apply re-checks every rule against the state as of that
//     point of the log and writes the new state, which commits atomically
//     with the entry. So two racing requests can never both pass a rule
//     (one Manager Agent, unique contexts, one binding per agent DID, ...),
//     and a refused request leaves neither state nor entry behind.
//   - Every refusal is an *Error with a stable code (errors.go). Checks that
//     need no state (syntax) fail at once, in the method that builds the Op;
//     the others fail in Apply, and Append returns the *Error wrapped.
//   - Reads (Owner, Agent, ResolveHosted, ...) see committed state only.
//
// How a caller (server/) uses an Op:
//
//	op, err := reg.BindAgent(req, b)
//	if err == nil {
//		a, err = log.Append(ctx, op.Entry, op.Apply)
//		reg.Committed(op) // whatever Append returned
//	}
//	// on success, op's result fields (RequestID, VersionID, ...) are set
//
// The package reads no clock: entry times and contact request expiry come
// from Request.Time, chosen by the caller.
package registry
