package transparency

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of a tree hash (SHA-256).
const HashSize = sha256.Size

// Hash is a node hash of the Merkle tree (RFC 6962/9162, SHA-256).
type Hash [HashSize]byte

// String returns the standard base64 encoding of h, as used in checkpoints
// and JSON.
func (h Hash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// MarshalText encodes h as standard base64.
func (h Hash) MarshalText() ([]byte, error) {
	b := make([]byte, base64.StdEncoding.EncodedLen(HashSize))
	base64.StdEncoding.Encode(b, h[:])
	return b, nil
}

// UnmarshalText decodes a standard base64 hash.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash decodes a 32-byte hash written in standard, padded base64.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != HashSize || base64.StdEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("%w: hash %q is not 32 bytes of standard base64", ErrMalformed, truncate(s, 80))
	}
	copy(h[:], b)
	return h, nil
}

// LeafHash is the RFC 6962 leaf hash of an encoded entry: SHA-256(0x00 || entry).
func LeafHash(entry []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(entry)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash is the RFC 6962 interior node hash: SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var b [1 + 2*HashSize]byte
	b[0] = 1
	copy(b[1:], left[:])
	copy(b[1+HashSize:], right[:])
	return sha256.Sum256(b[:])
}

// Hasher is the RFC 6962 SHA-256 tree hasher for the merkle library's
// proof and range functions: the hashes of rfc6962.DefaultHasher
// (TestHasherMatchesRFC6962), without its digest and buffer allocations
// per node — a node of two 32-byte children is one SHA-256 over a stack
// buffer. Every proof this module builds or checks goes through it.
var Hasher merkle.LogHasher = hasher{}

type hasher struct{}

func (hasher) EmptyRoot() []byte { h := EmptyRoot(); return h[:] }

func (hasher) HashLeaf(leaf []byte) []byte { h := LeafHash(leaf); return h[:] }

func (hasher) HashChildren(l, r []byte) []byte {
	if len(l) != HashSize || len(r) != HashSize {
		return rfc6962.DefaultHasher.HashChildren(l, r)
	}
	h := NodeHash(Hash(l), Hash(r))
	return h[:]
}

func (hasher) Size() int { return HashSize }

// EmptyRoot is the root hash of the empty tree: SHA-256 of the empty string.
func EmptyRoot() Hash { return sha256.Sum256(nil) }

// MaxProofLen bounds the number of hashes in any proof of a tree of at most
// 2^64 leaves (two per level for consistency proofs).
const MaxProofLen = 128

func toSlices(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// VerifyInclusion checks that leaf is at index in the tree of the given
// size and root, using an RFC 9162 inclusion proof.
func VerifyInclusion(index, size uint64, leaf Hash, p []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: inclusion: index %d is not below tree size %d", ErrVerification, index, size)
	}
	if len(p) > MaxProofLen {
		return fmt.Errorf("%w: inclusion: proof too long", ErrVerification)
	}
	if err := proof.VerifyInclusion(Hasher, index, size, leaf[:], toSlices(p), root[:]); err != nil {
		return fmt.Errorf("%w: inclusion: %v", ErrVerification, err)
	}
	return nil
}

// VerifyConsistency checks an RFC 9162 consistency proof between the tree of
// size1 with root1 and the tree of size2 with root2.
func VerifyConsistency(size1, size2 uint64, root1, root2 Hash, p []Hash) error {
	if size1 > size2 {
		return fmt.Errorf("%w: consistency: old size %d is larger than new size %d", ErrVerification, size1, size2)
	}
	if len(p) > MaxProofLen {
		return fmt.Errorf("%w: consistency: proof too long", ErrVerification)
	}
	if size1 == size2 && root1 != root2 {
		return &ForkError{Size: size1, Root1: root1, Root2: root2}
	}
	// RFC 9162 makes every tree consistent with the empty one through an
	// empty proof, whatever root1 says; but the empty tree has exactly one
	// root, so any other root for size 0 is a false claim.
	if size1 == 0 && root1 != EmptyRoot() {
		return fmt.Errorf("%w: consistency: %s is not the root of the empty tree", ErrVerification, root1)
	}
	if err := proof.VerifyConsistency(Hasher, size1, size2, toSlices(p), root1[:], root2[:]); err != nil {
		return fmt.Errorf("%w: consistency: %v", ErrVerification, err)
	}
	return nil
}

// ForkError reports two different roots for the same tree size: proof that
// the log has forked (or that one of the two is forged, if both are signed
// by the log's key the log operator is at fault).
type ForkError struct {
	Size         uint64
	Root1, Root2 Hash
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("log fork: two different roots for tree size %d: %s and %s", e.Size, e.Root1, e.Root2)
}

// Is makes a ForkError match ErrVerification.
func (e *ForkError) Is(target error) bool { return target == ErrVerification }

// RootFromInclusion returns the root a proof leads to; a helper for
// recomputing roots without trusting the server.
func RootFromInclusion(index, size uint64, leaf Hash, p []Hash) (Hash, error) {
	var root Hash
	if len(p) > MaxProofLen {
		return root, fmt.Errorf("%w: inclusion: proof too long", ErrVerification)
	}
	r, err := proof.RootFromInclusionProof(Hasher, index, size, leaf[:], toSlices(p))
	if err != nil {
		return root, fmt.Errorf("%w: inclusion: %v", ErrVerification, err)
	}
	if len(r) != HashSize {
		return root, errors.New("inclusion: unexpected root length")
	}
	copy(root[:], r)
	return root, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
