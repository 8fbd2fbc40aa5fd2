package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clawnet/ledger/transparency/monitor"
	"golang.org/x/mod/sumdb/note"
)

// stateFile is the name of the monitor's trusted state in its directory.
const stateFile = "state.json"

// openStateDir creates the state directory (0700) if needed.
func openStateDir(dir string) error {
	if dir == "" {
		return usageErrorf("--state DIR is required: the folder where the monitor keeps the checkpoint it trusts")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// loadState reads the trusted state; a directory without one yields the
// zero State (trust on first use, verified from the first entry).
func loadState(dir string, v note.Verifier) (*monitor.State, error) {
	path := filepath.Join(dir, stateFile)
	b, err := readFileLimited(path, monitor.MaxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &monitor.State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st, err := monitor.ParseState(b, v)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", path, err),
			"the state is damaged or was kept for another log key; move the folder away to start over from the first entry")
	}
	return st, nil
}

// saveState writes the state atomically: a temporary file in the same
// directory, synced, renamed over the old one, then the directory synced,
// so that a crash leaves either the old or the new state, never a torn one.
func saveState(dir string, st *monitor.State) error {
	b, err := st.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b)
}

func writeFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save %s: sync directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save %s: sync directory: %w", path, err)
	}
	return nil
}

// writeEvidence saves the evidence of a security failure as
// DIR/fork-evidence-<unix time>.txt, never overwriting an earlier file.
func writeEvidence(dir string, now time.Time, text string) (string, error) {
	base := "fork-evidence-" + strconv.FormatInt(now.Unix(), 10)
	for i := 0; i < 100; i++ {
		name := base + ".txt"
		if i > 0 {
			name = base + "-" + strconv.Itoa(i) + ".txt"
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("write evidence: %w", err)
		}
		if _, err := f.WriteString(text); err != nil {
			f.Close()
			return "", fmt.Errorf("write evidence %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return "", fmt.Errorf("write evidence %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("write evidence %s: %w", path, err)
		}
		return path, nil
	}
	return "", fmt.Errorf("write evidence: too many evidence files for %s", base)
}

// trustedNote is the trusted checkpoint of st as evidence text.
func trustedNote(st *monitor.State) []byte {
	if st.Checkpoint == nil {
		return []byte("(none: first sync)\n")
	}
	return st.Checkpoint.Note
}
