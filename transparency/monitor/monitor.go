// Package monitor holds the pure part of following a ClawNet log: the state
// a monitor trusts between runs (the last verified checkpoint and the
// compact-range frontier of its tree), and the verification that a newer
// checkpoint extends it, by recomputing the new root from the C2SP
// tlog-tiles entry bundles and cross-checking the hash tiles (level 0
// against the entries, upper levels against the nodes computed from them).
//
// The package promises that a State it returns, whether parsed from disk
// (ParseState) or produced by a Sync (Sync.Finish), holds a checkpoint signed
// by the log key whose root equals the root of its frontier, and that every
// step from one State to the next was verified entry by entry: a log that
// rewrites history, serves entries that do not hash to its checkpoint, or
// serves hash tiles that disagree with its entries, is reported with an
// error that matches transparency.ErrVerification.
//
// Like package transparency, it does no I/O and reads no clock: fetching
// tiles and storing the state are the caller's job (cmd/clawaudit).
package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/clawnet/ledger/transparency"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// StateVersion is the version of the state file format written by Marshal.
const StateVersion = 1

// MaxStateSize bounds an encoded state: a checkpoint and at most 64
// frontier hashes.
const MaxStateSize = transparency.MaxCheckpointSize + 64<<10

var rangeFactory = &compact.RangeFactory{Hash: transparency.Hasher.HashChildren}

// State is what a monitor trusts: the last checkpoint it verified and the
// right edge of that checkpoint's tree (the roots of the perfect subtrees
// of the compact range [0, size)), enough to extend the tree with new
// leaves without downloading the old ones again.
//
// The zero State trusts nothing yet: size 0, the first Sync verifies the
// whole log.
type State struct {
	// Checkpoint is the verified checkpoint, nil in the zero State.
	Checkpoint *transparency.SignedCheckpoint
	// Frontier is the compact range [0, Checkpoint.Size), left to right.
	Frontier []transparency.Hash
}

// Size is the tree size of the trusted checkpoint (0 if none).
func (s *State) Size() uint64 {
	if s == nil || s.Checkpoint == nil {
		return 0
	}
	return s.Checkpoint.Size
}

// wireState is the state file: versioned JSON, the checkpoint as the exact
// signed note text.
type wireState struct {
	Version    int                 `json:"version"`
	Checkpoint string              `json:"checkpoint"`
	Frontier   []transparency.Hash `json:"frontier"`
}

// Marshal encodes the state as the JSON state file. The zero State cannot
// be marshalled: there is nothing to persist.
func (s *State) Marshal() ([]byte, error) {
	if s == nil || s.Checkpoint == nil {
		return nil, fmt.Errorf("marshal state: no trusted checkpoint")
	}
	w := wireState{Version: StateVersion, Checkpoint: string(s.Checkpoint.Note), Frontier: s.Frontier}
	if w.Frontier == nil {
		w.Frontier = []transparency.Hash{}
	}
	b, err := json.MarshalIndent(&w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal state: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseState decodes a state file and checks it again: the checkpoint must
// be signed by v and the frontier must have the right length and lead to
// the checkpoint's root. A state that fails these checks is reported as
// transparency.ErrMalformed (it is local data, damaged or from another log),
// never trusted.
func ParseState(b []byte, v note.Verifier) (*State, error) {
	if len(b) > MaxStateSize {
		return nil, fmt.Errorf("%w: state: %d bytes, more than %d", transparency.ErrMalformed, len(b), MaxStateSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireState
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: state: %v", transparency.ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: state: trailing data", transparency.ErrMalformed)
	}
	if w.Version != StateVersion {
		return nil, fmt.Errorf("%w: state: unsupported version %d (want %d)", transparency.ErrMalformed, w.Version, StateVersion)
	}
	cp, err := transparency.OpenCheckpoint([]byte(w.Checkpoint), v)
	if err != nil {
		// A state checkpoint that no longer opens is not a fresh security
		// failure of the log: it is our own file, damaged or kept for
		// another key. Report it as malformed so the caller stops.
		return nil, fmt.Errorf("%w: state: trusted checkpoint does not open with the key: %v", transparency.ErrMalformed, err)
	}
	if want := compact.RangeSize(0, cp.Size); len(w.Frontier) != want {
		return nil, fmt.Errorf("%w: state: frontier has %d hashes, want %d for size %d", transparency.ErrMalformed, len(w.Frontier), want, cp.Size)
	}
	root, err := frontierRoot(cp.Size, w.Frontier)
	if err != nil {
		return nil, fmt.Errorf("%w: state: %v", transparency.ErrMalformed, err)
	}
	if root != cp.Root {
		return nil, fmt.Errorf("%w: state: frontier root %s is not the checkpoint root %s", transparency.ErrMalformed, root, cp.Root)
	}
	return &State{Checkpoint: cp, Frontier: w.Frontier}, nil
}

func frontierRoot(size uint64, frontier []transparency.Hash) (transparency.Hash, error) {
	r, err := rangeFactory.NewRange(0, size, toSlices(frontier))
	if err != nil {
		return transparency.Hash{}, err
	}
	return rangeRoot(r)
}

func rangeRoot(r *compact.Range) (transparency.Hash, error) {
	if r.End() == 0 {
		return transparency.EmptyRoot(), nil
	}
	b, err := r.GetRootHash(nil)
	if err != nil {
		return transparency.Hash{}, fmt.Errorf("frontier root: %w", err)
	}
	var h transparency.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("frontier root: %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func toSlices(hs []transparency.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		h := hs[i]
		out[i] = h[:]
	}
	return out
}

func fromSlices(bs [][]byte) []transparency.Hash {
	out := make([]transparency.Hash, len(bs))
	for i, b := range bs {
		copy(out[i][:], b)
	}
	return out
}
