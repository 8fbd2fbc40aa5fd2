package transparency

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds a signed checkpoint note.
const MaxCheckpointSize = 16 << 10

// Checkpoint is the body of a C2SP tlog-checkpoint: the origin line, the
// tree size and the root hash, plus optional extension lines.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Root       Hash
	Extensions []string
}

// Text returns the checkpoint body, every line ending in a newline.
func (c Checkpoint) Text() string {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(c.Root.String())
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseCheckpointText parses a checkpoint body (no signatures) strictly: a
// non-empty origin, a decimal size without leading zeros, a 32-byte root in
// standard base64, then optional non-empty extension lines.
func ParseCheckpointText(text string) (Checkpoint, error) {
	var c Checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, fmt.Errorf("%w: checkpoint: body does not end in a newline", ErrMalformed)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: checkpoint: want at least 3 lines, got %d", ErrMalformed, len(lines))
	}
	if lines[0] == "" {
		return c, fmt.Errorf("%w: checkpoint: empty origin", ErrMalformed)
	}
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return c, fmt.Errorf("%w: checkpoint: bad tree size %q", ErrMalformed, truncate(lines[1], 40))
	}
	c.Size = size
	if c.Root, err = ParseHash(lines[2]); err != nil {
		return c, fmt.Errorf("checkpoint: root: %w", err)
	}
	for _, e := range lines[3:] {
		if e == "" {
			return c, fmt.Errorf("%w: checkpoint: empty extension line", ErrMalformed)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// SignCheckpoint signs the checkpoint as a C2SP signed-note. The signer's
// name must be the checkpoint origin.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("sign checkpoint: key name %q is not the origin %q", s.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// SignedCheckpoint is a checkpoint whose signature by the log key has been
// verified.
type SignedCheckpoint struct {
	Checkpoint
	// Note is the exact signed note that was verified.
	Note []byte
}

// OpenCheckpoint verifies a signed checkpoint against the log's verifier and
// parses its body. The checkpoint origin must equal the verifier's name.
// Signatures by other keys are ignored; a missing or bad signature by the
// log key is an ErrVerification.
func OpenCheckpoint(signed []byte, v note.Verifier) (*SignedCheckpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return nil, fmt.Errorf("%w: checkpoint: %d bytes, more than %d", ErrMalformed, len(signed), MaxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, fmt.Errorf("%w: checkpoint: no signature by the log key %s", ErrVerification, v.Name())
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("%w: checkpoint: %v", ErrVerification, err)
		case signatureBlockDamaged(signed):
			// The body is a well-formed checkpoint but no signature line
			// can be read: a signature was damaged or forged, which is a
			// verification failure, not a format problem.
			return nil, fmt.Errorf("%w: checkpoint: no readable signature by the log key %s: %v", ErrVerification, v.Name(), err)
		default:
			return nil, fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
		}
	}
	c, err := ParseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != v.Name() {
		return nil, fmt.Errorf("%w: checkpoint: origin %q is not the log key name %q", ErrVerification, c.Origin, v.Name())
	}
	if c.Size == 0 && c.Root != EmptyRoot() {
		// The empty tree has exactly one root; a signed claim of another
		// is a false statement by the log key.
		return nil, fmt.Errorf("%w: checkpoint: tree size 0 with root %s, not the empty tree's root %s", ErrVerification, c.Root, EmptyRoot())
	}
	return &SignedCheckpoint{Checkpoint: c, Note: append([]byte(nil), signed...)}, nil
}

// signatureBlockDamaged reports whether a note that note.Open refused has a
// well-formed checkpoint body followed by a signature block: then what is
// wrong is in the signatures.
func signatureBlockDamaged(signed []byte) bool {
	i := strings.LastIndex(string(signed), "\n\n")
	if i < 0 {
		return false
	}
	text := string(signed[:i+1])
	if !utf8.ValidString(text) || strings.ContainsFunc(text, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f }) {
		return false
	}
	if _, err := ParseCheckpointText(text); err != nil {
		return false
	}
	sigs := string(signed[i+2:])
	return strings.HasPrefix(sigs, "— ")
}

// NewVerifier parses a verifier key string ("<name>+<hash>+<keydata>").
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key: %v", ErrMalformed, err)
	}
	return v, nil
}
