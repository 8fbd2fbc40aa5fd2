package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
)

// verifyResult is the --json form of one receipt's verification.
type verifyResult struct {
	File string `json:"file"`
	OK   bool   `json:"ok"`
	// Error is set when OK is false; ErrorClass is "verification" for a
	// security failure and "error" for a usage or operational one.
	Error      string `json:"error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`

	Index            *uint64 `json:"index,omitempty"`
	Type             string  `json:"type,omitempty"`
	Decision         string  `json:"decision,omitempty"`
	Actor            string  `json:"actor,omitempty"`
	Time             string  `json:"time,omitempty"`
	LeafHash         string  `json:"leaf_hash,omitempty"`
	CheckpointOrigin string  `json:"checkpoint_origin,omitempty"`
	CheckpointSize   *uint64 `json:"checkpoint_size,omitempty"`
	CheckpointRoot   string  `json:"checkpoint_root,omitempty"`
}

type verifyOutput struct {
	OK      bool           `json:"ok"`
	Results []verifyResult `json:"results"`
}

// cmdVerify verifies each receipt file offline. It goes on after a failure
// so that one run reports on every file; the exit code is 1 if any receipt
// failed verification, else 2 if any file could not be read or parsed.
func cmdVerify(_ context.Context, args []string, e *env) error {
	fs := newFlagSet("verify", e.stderr, "verify RECEIPT... --key VKEY [--json]")
	key := fs.String("key", "", "the log's verifier key string, or a file holding it (required)")
	asJSON := fs.Bool("json", false, "print the results as one JSON object")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageErrorf("verify needs at least one receipt file")
	}
	v, err := loadVerifier(*key)
	if err != nil {
		return err
	}
	out := verifyOutput{OK: true}
	var security, operational int
	var last error
	for _, f := range files {
		res, err := verifyFile(f, v)
		if err != nil {
			out.OK = false
			last = err
			res.Error = err.Error()
			if errors.Is(err, transparency.ErrVerification) {
				security++
				res.ErrorClass = "verification"
			} else {
				operational++
				res.ErrorClass = "error"
			}
			// With one file, the error itself is the one line run prints.
			if len(files) > 1 {
				prefix := ""
				if res.ErrorClass == "verification" {
					prefix = "FAILED "
				}
				fmt.Fprintf(e.stderr, "clawaudit: %s%s\n", prefix, describe(err))
			}
		} else if !*asJSON {
			actor := res.Actor
			if actor == "" {
				actor = "-"
			}
			decision := res.Decision
			if decision == "" {
				decision = "-"
			}
			fmt.Fprintf(e.stdout, "OK %s: index %d, type %s, decision %s, actor %s, checkpoint size %d\n",
				f, *res.Index, res.Type, decision, actor, *res.CheckpointSize)
		}
		out.Results = append(out.Results, res)
	}
	if *asJSON {
		b, err := json.MarshalIndent(&out, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	}
	switch {
	case len(files) == 1 && last != nil:
		return last
	case security > 0:
		return &reportedError{msg: fmt.Sprintf("%d of %d receipts failed verification", security, len(files)), security: true}
	case operational > 0:
		return &reportedError{msg: fmt.Sprintf("%d of %d receipts could not be checked", operational, len(files))}
	}
	return nil
}

func verifyFile(path string, v note.Verifier) (verifyResult, error) {
	res := verifyResult{File: path}
	b, err := readFileLimited(path, transparency.MaxReceiptSize)
	if err != nil {
		return res, err
	}
	r, err := transparency.ParseReceipt(b)
	if err != nil {
		return res, withHint(fmt.Errorf("%s: %w", path, err), "a receipt is the JSON returned by the log (format "+transparency.ReceiptFormat+")")
	}
	vr, err := transparency.VerifyReceipt(r, v)
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	idx, size := vr.Index, vr.Checkpoint.Size
	res.OK = true
	res.Index = &idx
	res.Type = vr.Entry.Type
	res.Decision = string(vr.Entry.Decision)
	res.Actor = vr.Entry.Actor
	res.Time = vr.Entry.Time.Format(time.RFC3339Nano)
	res.LeafHash = vr.LeafHash.String()
	res.CheckpointOrigin = vr.Checkpoint.Origin
	res.CheckpointSize = &size
	res.CheckpointRoot = vr.Checkpoint.Root.String()
	return res, nil
}
