package sequencer

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/clawnet/ledger/transparency"
)

// Key layout: see the package doc.
const (
	entryPrefix = "t/e/"
	hashPrefix  = "t/h/"
	leafPrefix  = "t/l/"
	// leafPrefixLen is how much of the leaf hash the leaf index keeps in
	// its key; lookups confirm the full hash against level 0.
	leafPrefixLen = 8
)

var cpKey = []byte("t/cp")

func entryKey(dst []byte, index uint64) []byte {
	dst = append(dst, entryPrefix...)
	return binary.BigEndian.AppendUint64(dst, index)
}

func hashKey(dst []byte, level uint, index uint64) []byte {
	dst = append(dst, hashPrefix...)
	dst = append(dst, byte(level))
	return binary.BigEndian.AppendUint64(dst, index)
}

func leafKey(dst []byte, leaf transparency.Hash, index uint64) []byte {
	dst = append(dst, leafPrefix...)
	dst = append(dst, leaf[:leafPrefixLen]...)
	return binary.BigEndian.AppendUint64(dst, index)
}

// keyIndex returns the trailing 8-byte index of a key written by entryKey,
// hashKey or leafKey.
func keyIndex(key []byte) (uint64, error) {
	if len(key) < 8 {
		return 0, fmt.Errorf("key %q too short", key)
	}
	return binary.BigEndian.Uint64(key[len(key)-8:]), nil
}

// errBadStoredCheckpoint marks a stored checkpoint that does not parse or is
// not this log's.
var errBadStoredCheckpoint = errors.New("bad stored checkpoint")

// parseStoredCheckpoint parses a signed checkpoint that this log wrote to
// its own database, or that Append handed out: its body must be a valid
// checkpoint with the given origin, and one signature line must be by the
// key with the given name and key hash.
//
// It does not verify the signature (a note.Signer has no public key); the
// checkpoint's contents are checked instead, against the tree recomputed
// from the stored hashes (Open) or the tree itself (ReceiptFor).
func parseStoredCheckpoint(signed []byte, origin string, keyHash uint32) (transparency.Checkpoint, error) {
	var c transparency.Checkpoint
	if len(signed) > transparency.MaxCheckpointSize {
		return c, fmt.Errorf("%w: %d bytes", errBadStoredCheckpoint, len(signed))
	}
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return c, fmt.Errorf("%w: no blank line before the signatures", errBadStoredCheckpoint)
	}
	c, err := transparency.ParseCheckpointText(string(signed[:i+1]))
	if err != nil {
		return c, fmt.Errorf("%w: %w", errBadStoredCheckpoint, err)
	}
	if c.Origin != origin {
		return c, fmt.Errorf("%w: origin %q, want %q", errBadStoredCheckpoint, c.Origin, origin)
	}
	sigs := signed[i+2:]
	if len(sigs) == 0 || sigs[len(sigs)-1] != '\n' {
		return c, fmt.Errorf("%w: signature block does not end in a newline", errBadStoredCheckpoint)
	}
	prefix := "— " + origin + " "
	for _, line := range bytes.Split(sigs[:len(sigs)-1], []byte("\n")) {
		b64, ok := bytes.CutPrefix(line, []byte(prefix))
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(string(b64))
		if err != nil || len(sig) < 5 {
			continue
		}
		if binary.BigEndian.Uint32(sig) == keyHash {
			return c, nil
		}
	}
	return c, fmt.Errorf("%w: no signature by the configured key %s+%08x", errBadStoredCheckpoint, origin, keyHash)
}
