package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
)

// newFlagSet returns a flag set that reports errors instead of exiting,
// and prints its help on stderr.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("clawaudit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: clawaudit %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (the standard flag package stops at the first
// positional one), so that "verify RECEIPT --key VKEY" works. Everything
// after a "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			// The flag package already printed the problem and the usage.
			return nil, &hintError{err: fmt.Errorf("%w: %v", errUsage, err), hint: "see the usage above"}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// maxKeyFileSize bounds a file holding a verifier key string.
const maxKeyFileSize = 4 << 10

// loadVerifier turns --key into a note verifier. The value is the verifier
// key string itself, or the path of a file that holds it (as saved from
// /log/key). Trust comes from the user: there is no way to skip it.
func loadVerifier(val string) (note.Verifier, error) {
	if val == "" {
		return nil, usageErrorf("--key is required: the log's verifier key string, or a file holding it")
	}
	from := "--key"
	if fi, err := os.Stat(val); err == nil && fi.Mode().IsRegular() {
		b, err := readFileLimited(val, maxKeyFileSize)
		if err != nil {
			return nil, err
		}
		from = "key file " + val
		val = string(b)
	}
	v, err := transparency.NewVerifier(val)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", from, err),
			"a verifier key looks like name+hex8+base64, as served at /log/key and printed by 'clawnet serve'")
	}
	return v, nil
}

// readFileLimited reads a whole file of at most limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err // *fs.PathError: names the file already
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", transparency.ErrMalformed, path, limit)
	}
	return b, nil
}

// checkpointText renders a signed note for the terminal and evidence
// files: as is, with a final newline.
func checkpointText(b []byte) string {
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
