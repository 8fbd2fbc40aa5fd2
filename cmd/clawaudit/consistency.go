package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/clawnet/ledger/transparency"
)

// consistencyProof is a consistency proof as a file holds it: either just
// {"proof":[...]}, or the whole response of GET /log/v1/proof/consistency,
// whose from and to are then checked against the checkpoints.
type consistencyProof struct {
	From  *uint64
	To    *uint64
	Proof []transparency.Hash
}

// parseConsistencyProof decodes a proof file or server response strictly:
// no unknown fields, no trailing data, a proof array that is present, each
// hash 32 bytes of standard base64.
func parseConsistencyProof(b []byte) (*consistencyProof, error) {
	if len(b) > maxJSONSize {
		return nil, fmt.Errorf("%w: consistency proof: %d bytes, more than %d", transparency.ErrMalformed, len(b), maxJSONSize)
	}
	var w struct {
		From  *uint64             `json:"from"`
		To    *uint64             `json:"to"`
		Proof []transparency.Hash `json:"proof"`
		// Checkpoint is sent by the server when "to" was omitted; the
		// auditor never trusts it, it uses the checkpoints it was given.
		Checkpoint *string `json:"checkpoint"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		if errors.Is(err, transparency.ErrMalformed) { // a bad hash
			return nil, fmt.Errorf("consistency proof: %w", err)
		}
		return nil, fmt.Errorf("%w: consistency proof: %v", transparency.ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: consistency proof: trailing data", transparency.ErrMalformed)
	}
	if w.Proof == nil {
		return nil, fmt.Errorf("%w: consistency proof: missing \"proof\" array", transparency.ErrMalformed)
	}
	if len(w.Proof) > transparency.MaxProofLen {
		return nil, fmt.Errorf("%w: consistency proof: %d hashes, more than %d", transparency.ErrMalformed, len(w.Proof), transparency.MaxProofLen)
	}
	return &consistencyProof{From: w.From, To: w.To, Proof: w.Proof}, nil
}

// cmdConsistency checks that the tree of checkpoint NEW contains the tree
// of checkpoint OLD, both signed by the log key.
func cmdConsistency(ctx context.Context, args []string, e *env) error {
	fs := newFlagSet("consistency", e.stderr, "consistency --key VKEY OLD NEW [--proof FILE | --server URL]")
	key := fs.String("key", "", "the log's verifier key string, or a file holding it (required)")
	proofFile := fs.String("proof", "", "a file holding the consistency proof ({\"proof\":[...]} or the server's response)")
	server := fs.String("server", "", "fetch the consistency proof from this log server, such as http://127.0.0.1:8080")
	timeout := fs.Duration("timeout", defaultTimeout, "HTTP timeout of one request")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErrorf("consistency needs two checkpoint files, OLD and NEW; got %d arguments", len(pos))
	}
	if *proofFile != "" && *server != "" {
		return usageErrorf("give either --proof or --server, not both")
	}
	v, err := loadVerifier(*key)
	if err != nil {
		return err
	}
	var cps [2]*transparency.SignedCheckpoint
	for i, path := range pos {
		b, err := readFileLimited(path, transparency.MaxCheckpointSize)
		if err != nil {
			return err
		}
		if cps[i], err = transparency.OpenCheckpoint(b, v); err != nil {
			return withHint(fmt.Errorf("%s: %w", path, err), "a checkpoint file holds the signed note served at /log/checkpoint")
		}
	}
	oldCP, newCP := cps[0], cps[1]
	for i, cp := range cps {
		// proof.VerifyConsistency accepts any root for size 0; the empty
		// tree has exactly one root.
		if cp.Size == 0 && cp.Root != transparency.EmptyRoot() {
			return fmt.Errorf("%w: %s: checkpoint of size 0 with root %s, not the empty tree's root", transparency.ErrVerification, pos[i], cp.Root)
		}
	}
	switch {
	case oldCP.Size == newCP.Size:
		if oldCP.Root != newCP.Root {
			fmt.Fprint(e.stdout, forkEvidence("FORK: two checkpoints of the same size signed by the log key have different roots",
				pos[0], oldCP.Note, pos[1], newCP.Note))
			return fmt.Errorf("%s and %s: %w", pos[0], pos[1], &transparency.ForkError{Size: oldCP.Size, Root1: oldCP.Root, Root2: newCP.Root})
		}
		fmt.Fprintf(e.stdout, "OK: both checkpoints are of size %d with root %s\n", oldCP.Size, oldCP.Root)
		return nil
	case oldCP.Size > newCP.Size:
		return withHint(fmt.Errorf("%w: OLD %s (size %d) is larger than NEW %s (size %d)", errUsage, pos[0], oldCP.Size, pos[1], newCP.Size),
			"give the older, smaller checkpoint first")
	}

	if oldCP.Size == 0 {
		// Every tree extends the empty tree (whose root was checked above):
		// there is nothing to prove, and nothing to fetch.
		fmt.Fprintf(e.stdout, "OK: checkpoint of size 0 is consistent with checkpoint of size %d (root %s)\n", newCP.Size, newCP.Root)
		return nil
	}
	var raw []byte
	var from string
	switch {
	case *proofFile != "":
		if raw, err = readFileLimited(*proofFile, maxJSONSize); err != nil {
			return err
		}
		from = *proofFile
	case *server != "":
		c, err := newLogClient(*server, *timeout)
		if err != nil {
			return err
		}
		if raw, err = c.consistencyProof(ctx, oldCP.Size, newCP.Size); err != nil {
			return err
		}
		from = "server " + *server
	default:
		return usageErrorf("the checkpoints differ in size: give the consistency proof with --proof FILE, or fetch it with --server URL")
	}
	p, err := parseConsistencyProof(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if (p.From != nil && *p.From != oldCP.Size) || (p.To != nil && *p.To != newCP.Size) {
		return fmt.Errorf("%w: %s: the proof is for sizes %s to %s, the checkpoints are of sizes %d and %d",
			transparency.ErrMalformed, from, optSize(p.From), optSize(p.To), oldCP.Size, newCP.Size)
	}
	if err := transparency.VerifyConsistency(oldCP.Size, newCP.Size, oldCP.Root, newCP.Root, p.Proof); err != nil {
		fmt.Fprint(e.stdout, forkEvidence("INCONSISTENT: the proof does not show that NEW extends OLD",
			pos[0], oldCP.Note, pos[1], newCP.Note))
		return fmt.Errorf("%s to %s: %w", pos[0], pos[1], err)
	}
	fmt.Fprintf(e.stdout, "OK: checkpoint of size %d (root %s) is consistent with checkpoint of size %d (root %s)\n",
		oldCP.Size, oldCP.Root, newCP.Size, newCP.Root)
	return nil
}

func optSize(p *uint64) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

// forkEvidence formats two checkpoints as evidence, each as the exact
// signed note.
func forkEvidence(title, name1 string, note1 []byte, name2 string, note2 []byte) string {
	return fmt.Sprintf("%s\n--- %s\n%s--- %s\n%s", title, name1, checkpointText(note1), name2, checkpointText(note2))
}
