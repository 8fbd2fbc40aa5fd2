package transparency

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/note"
)

// ReceiptFormat identifies version 1 of the receipt format (spec/receipt.md).
const ReceiptFormat = "clawnet-receipt/v1"

// MaxReceiptSize bounds an encoded receipt.
const MaxReceiptSize = 256 << 10

// Receipt is a self-contained proof that an entry is in the log: the exact
// entry bytes, its index, an inclusion proof and a checkpoint signed by the
// log key whose tree contains the entry. It verifies offline with nothing
// but the log's verifier key.
type Receipt struct {
	Format         string `json:"format"`
	Index          uint64 `json:"index"`
	Entry          []byte `json:"entry"`
	InclusionProof []Hash `json:"inclusion_proof"`
	Checkpoint     string `json:"checkpoint"`
}

// Marshal encodes the receipt as indented JSON (the file format).
func (r *Receipt) Marshal() ([]byte, error) {
	if r.InclusionProof == nil {
		r.InclusionProof = []Hash{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseReceipt decodes a receipt, rejecting unknown fields, missing fields,
// an unknown format and trailing data. It does not verify it.
func ParseReceipt(b []byte) (*Receipt, error) {
	if len(b) > MaxReceiptSize {
		return nil, fmt.Errorf("%w: receipt: %d bytes, more than %d", ErrMalformed, len(b), MaxReceiptSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: receipt: %v", ErrMalformed, err)
	}
	fields := []string{"format", "index", "entry", "inclusion_proof", "checkpoint"}
	for _, k := range fields {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("%w: receipt: missing field %q", ErrMalformed, k)
		}
	}
	// encoding/json matches field names case-insensitively, so "INDEX"
	// would pass DisallowUnknownFields and override "index"; names must be
	// exactly the ones above.
	if len(raw) != len(fields) {
		for k := range raw {
			if !slices.Contains(fields, k) {
				return nil, fmt.Errorf("%w: receipt: unknown field %q", ErrMalformed, truncate(k, 40))
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Receipt
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: receipt: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: receipt: trailing data", ErrMalformed)
	}
	if r.Format != ReceiptFormat {
		return nil, fmt.Errorf("%w: receipt: unknown format %q (want %q)", ErrMalformed, truncate(r.Format, 60), ReceiptFormat)
	}
	if len(r.Entry) == 0 || len(r.Entry) > MaxEntrySize {
		return nil, fmt.Errorf("%w: receipt: entry must be 1 to %d bytes", ErrMalformed, MaxEntrySize)
	}
	if len(r.InclusionProof) > MaxProofLen {
		return nil, fmt.Errorf("%w: receipt: inclusion proof too long", ErrMalformed)
	}
	if r.InclusionProof == nil {
		r.InclusionProof = []Hash{}
	}
	return &r, nil
}

// VerifiedReceipt is the result of a successful VerifyReceipt.
type VerifiedReceipt struct {
	Index      uint64
	EntryBytes []byte
	Entry      *Entry
	LeafHash   Hash
	Checkpoint *SignedCheckpoint
}

// VerifyReceipt checks, in order, the checkpoint's signature by the log key,
// that the entry's leaf hash is included at the receipt's index in the
// checkpoint's tree, and that the entry is a well-formed, canonical entry.
// Any failure after parsing is an ErrVerification.
func VerifyReceipt(r *Receipt, v note.Verifier) (*VerifiedReceipt, error) {
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	leaf := LeafHash(r.Entry)
	if err := VerifyInclusion(r.Index, cp.Size, leaf, r.InclusionProof, cp.Root); err != nil {
		return nil, fmt.Errorf("receipt: entry %d is not proven in the checkpoint of size %d: %w", r.Index, cp.Size, err)
	}
	e, err := ParseEntry(r.Entry)
	if err != nil {
		// The log committed to bytes that are not a valid entry: the log
		// misbehaved, which is a security failure, not a parse error.
		return nil, fmt.Errorf("%w: receipt: logged entry is invalid: %v", ErrVerification, err)
	}
	return &VerifiedReceipt{Index: r.Index, EntryBytes: r.Entry, Entry: e, LeafHash: leaf, Checkpoint: cp}, nil
}

// EncodeHashes encodes hashes as standard base64 strings (JSON proof form).
func EncodeHashes(hs []Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}
