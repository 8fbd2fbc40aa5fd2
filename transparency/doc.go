// Package transparency holds the pure, I/O-free parts of the ClawNet
// accountability log: the log entry format (spec/log-entry.md), RFC 6962
// leaf hashing, C2SP tlog-checkpoint checkpoints signed as C2SP signed-notes,
// C2SP tlog-tiles paths and entry bundles, and self-contained receipts
// (spec/receipt.md) with their offline verification.
//
// Nothing in this package reads a clock, the network or the disk, so the
// auditor (cmd/clawaudit) can import it without pulling in the server or
// storage. Functions that parse untrusted input also verify it and return a
// verified type only on success.
//
// Errors come in two classes, told apart with errors.Is:
//   - ErrVerification: a security failure (bad signature, bad proof, a fork,
//     an entry that does not hash to the proven leaf);
//   - ErrMalformed: input that is not well-formed (bad JSON, bad base64,
//     non-canonical encoding, unknown fields).
package transparency

import "errors"

var (
	// ErrVerification marks a security failure: the input is well-formed but
	// a signature, proof or hash does not check out.
	ErrVerification = errors.New("verification failed")
	// ErrMalformed marks input that is not well-formed.
	ErrMalformed = errors.New("malformed")
)
