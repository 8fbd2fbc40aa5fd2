package transparency_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	fmtlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/clawnet/ledger/transparency"
)

func sampleRoot(b byte) transparency.Hash {
	var h transparency.Hash
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func TestCheckpointTextRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    transparency.Checkpoint
		want string
	}{
		{"empty tree", transparency.Checkpoint{Origin: testOrigin, Size: 0, Root: transparency.EmptyRoot()},
			testOrigin + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"},
		{"size 1", transparency.Checkpoint{Origin: "example.com/log", Size: 1, Root: sampleRoot(0)},
			"example.com/log\n1\n" + sampleRoot(0).String() + "\n"},
		{"max size", transparency.Checkpoint{Origin: "o", Size: 1<<64 - 1, Root: sampleRoot(9)},
			"o\n18446744073709551615\n" + sampleRoot(9).String() + "\n"},
		{"extension lines", transparency.Checkpoint{Origin: "example.com/log", Size: 20852163, Root: sampleRoot(3), Extensions: []string{"ext one", "— ext two"}},
			"example.com/log\n20852163\n" + sampleRoot(3).String() + "\next one\n— ext two\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Text(); got != tc.want {
				t.Fatalf("Text:\n got %q\nwant %q", got, tc.want)
			}
			c, err := transparency.ParseCheckpointText(tc.want)
			if err != nil {
				t.Fatalf("ParseCheckpointText: %v", err)
			}
			if c.Origin != tc.c.Origin || c.Size != tc.c.Size || c.Root != tc.c.Root || !slices.Equal(c.Extensions, tc.c.Extensions) {
				t.Fatalf("parsed %+v, want %+v", c, tc.c)
			}
		})
	}
}

// checkpointTextMutations are malformed checkpoint bodies, made from a good
// one; also bad vectors and fuzz seeds.
func checkpointTextMutations(good string) []struct{ name, text string } {
	lines := strings.SplitAfter(good, "\n")
	origin, size, root := lines[0], lines[1], lines[2]
	r, _ := transparency.ParseHash(strings.TrimSuffix(root, "\n"))
	return []struct{ name, text string }{
		{"empty", ""},
		{"missing-final-newline", strings.TrimSuffix(good, "\n")},
		{"two-lines", origin + size},
		{"empty-origin", "\n" + size + root},
		{"size-leading-zero", origin + "0" + size + root},
		{"size-plus-sign", origin + "+" + size + root},
		{"size-negative", origin + "-" + size + root},
		{"size-trailing-space", origin + strings.TrimSuffix(size, "\n") + " \n" + root},
		{"size-hex", origin + "0x10\n" + root},
		{"size-empty", origin + "\n" + root},
		{"size-overflow", origin + "18446744073709551616\n" + root},
		{"root-not-base64", origin + size + "not base64!\n"},
		{"root-unpadded", origin + size + strings.TrimRight(strings.TrimSuffix(root, "\n"), "=") + "\n"},
		{"root-url-alphabet", origin + size + base64.URLEncoding.EncodeToString(bytesWith(0xff, 32)) + "\n"},
		{"root-31-bytes", origin + size + base64.StdEncoding.EncodeToString(r[:31]) + "\n"},
		{"root-33-bytes", origin + size + base64.StdEncoding.EncodeToString(append(r[:], 0)) + "\n"},
		{"root-hex", origin + size + strings.Repeat("ab", 32) + "\n"},
		{"empty-extension-line", good + "\n"},
		{"empty-extension-line-between", good + "ext\n\next\n"},
		{"crlf", strings.ReplaceAll(good, "\n", "\r\n")},
	}
}

func TestParseCheckpointTextRejects(t *testing.T) {
	good := transparency.Checkpoint{Origin: testOrigin, Size: 10, Root: sampleRoot(1)}.Text()
	if _, err := transparency.ParseCheckpointText(good); err != nil {
		t.Fatalf("good text: %v", err)
	}
	for _, tc := range checkpointTextMutations(good) {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := transparency.ParseCheckpointText(tc.text); errClass(err) != "malformed" {
				t.Fatalf("ParseCheckpointText(%q) = %v, want ErrMalformed", tc.text, err)
			}
		})
	}
}

func TestSignCheckpointRefusesOtherName(t *testing.T) {
	k := newTestKey(t, "other.example/log", 1)
	_, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: testOrigin, Root: transparency.EmptyRoot()}, k.signer)
	if err == nil {
		t.Fatal("SignCheckpoint signed a checkpoint whose origin is not the key name")
	}
}

func TestOpenCheckpoint(t *testing.T) {
	logKey := newTestKey(t, testOrigin, 1)
	sameName := newTestKey(t, testOrigin, 2) // same name, other key
	witness := newTestKey(t, "witness.example/w1", 3)
	other := newTestKey(t, "other.example/log", 4)

	c := transparency.Checkpoint{Origin: testOrigin, Size: 1234, Root: sampleRoot(7)}
	signed, err := transparency.SignCheckpoint(c, logKey.signer)
	if err != nil {
		t.Fatal(err)
	}
	text := c.Text()
	sigStart := len(text) + 1 // after the blank line
	tamperSig := func(b []byte) []byte {
		// Re-encode the signature with one bit of the Ed25519 signature
		// flipped, so that the note stays well-formed.
		line := strings.TrimSuffix(string(b[sigStart:]), "\n")
		i := strings.LastIndexByte(line, ' ')
		raw, err := base64.StdEncoding.DecodeString(line[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		raw[10] ^= 0x40
		return []byte(string(b[:sigStart]) + line[:i+1] + base64.StdEncoding.EncodeToString(raw) + "\n")
	}
	replaceBody := func(body string) []byte {
		return []byte(body + string(signed[len(text):]))
	}
	otherOrigin := transparency.Checkpoint{Origin: "other.example/log", Size: 1234, Root: sampleRoot(7)}.Text()

	tests := []struct {
		name      string
		signed    []byte
		v         note.Verifier
		wantClass string
	}{
		{"right key", signed, logKey.verifier, "ok"},
		{"right key, also cosigned by a witness", signNote(t, text, logKey.signer, witness.signer), logKey.verifier, "ok"},
		{"witness signature first", signNote(t, text, witness.signer, logKey.signer), logKey.verifier, "ok"},
		{"with an extension line", signNote(t, text+"ext\n", logKey.signer), logKey.verifier, "ok"},
		{"wrong key with the same name", signed, sameName.verifier, "verification"},
		{"signed by another key with the same name", signNote(t, text, sameName.signer), logKey.verifier, "verification"},
		{"signed only by a witness", signNote(t, text, witness.signer), logKey.verifier, "verification"},
		{"tampered body: size", replaceBody(transparency.Checkpoint{Origin: testOrigin, Size: 1235, Root: sampleRoot(7)}.Text()), logKey.verifier, "verification"},
		{"tampered body: root", replaceBody(transparency.Checkpoint{Origin: testOrigin, Size: 1234, Root: sampleRoot(8)}.Text()), logKey.verifier, "verification"},
		{"tampered body: extension added", replaceBody(text + "ext\n"), logKey.verifier, "verification"},
		{"tampered signature", tamperSig(signed), logKey.verifier, "verification"},
		{"origin is not the key name", signNote(t, otherOrigin, logKey.signer), logKey.verifier, "verification"},
		{"verifier of another log", signed, other.verifier, "verification"},
		{"no signature block", []byte(text), logKey.verifier, "malformed"},
		{"signature line without em dash", []byte(strings.Replace(string(signed), "— ", "- ", 1)), logKey.verifier, "malformed"},
		{"signature not base64", []byte(string(signed[:sigStart]) + "— " + testOrigin + " !!!!\n"), logKey.verifier, "verification"},
		{"control character", []byte(strings.Replace(string(signed), "\n", "\x00\n", 1)), logKey.verifier, "malformed"},
		{"invalid UTF-8", append([]byte("\xff"), signed...), logKey.verifier, "malformed"},
		{"signed but malformed body", signNote(t, testOrigin+"\n01234\n"+sampleRoot(7).String()+"\n", logKey.signer), logKey.verifier, "malformed"},
		{"signed but root too short", signNote(t, testOrigin+"\n1\nAAAA\n", logKey.signer), logKey.verifier, "malformed"},
		{"size 0 with a non-empty root", signNote(t, testOrigin+"\n0\n"+sampleRoot(7).String()+"\n", logKey.signer), logKey.verifier, "verification"},
		{"oversized", append(bytes.Repeat([]byte("x"), transparency.MaxCheckpointSize), signed...), logKey.verifier, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := transparency.OpenCheckpoint(tc.signed, tc.v)
			if class := errClass(err); class != tc.wantClass {
				t.Fatalf("OpenCheckpoint = %v (class %s), want %s", err, class, tc.wantClass)
			}
			if err != nil {
				if got != nil {
					t.Fatal("OpenCheckpoint returned a checkpoint with an error")
				}
				return
			}
			if got.Origin != testOrigin || got.Size != c.Size || got.Root != c.Root {
				t.Fatalf("opened %+v, want %+v", got.Checkpoint, c)
			}
			if !bytes.Equal(got.Note, tc.signed) {
				t.Fatal("Note is not the exact signed note")
			}
		})
	}
}

// TestCheckpointParsesWithFormatsLog checks our signed checkpoints against
// an independent parser, github.com/transparency-dev/formats/log.
func TestCheckpointParsesWithFormatsLog(t *testing.T) {
	logKey := newTestKey(t, testOrigin, 1)
	tree := syntheticTree(t, 300)
	for _, size := range []uint64{0, 1, 2, 3, 255, 256, 257, 300} {
		c := transparency.Checkpoint{Origin: testOrigin, Size: size, Root: tree.root(t, size)}
		signed, err := transparency.SignCheckpoint(c, logKey.signer)
		if err != nil {
			t.Fatal(err)
		}
		cp, rest, _, err := fmtlog.ParseCheckpoint(signed, testOrigin, logKey.verifier)
		if err != nil {
			t.Fatalf("formats/log cannot parse our checkpoint of size %d: %v\n%s", size, err, signed)
		}
		if cp.Size != size || !bytes.Equal(cp.Hash, c.Root[:]) || cp.Origin != testOrigin || len(rest) != 0 {
			t.Fatalf("formats/log read size %d root %x origin %q rest %q; we wrote %d %x", cp.Size, cp.Hash, cp.Origin, rest, size, c.Root[:])
		}
		if !bytes.Equal(cp.Marshal(), []byte(c.Text())) {
			t.Fatalf("formats/log marshals the body as %q, we wrote %q", cp.Marshal(), c.Text())
		}
		// And the other way round: a body written by formats/log opens here.
		theirs := signNote(t, string(fmtlog.Checkpoint{Origin: testOrigin, Size: size, Hash: c.Root[:]}.Marshal()), logKey.signer)
		if !bytes.Equal(theirs, signed) {
			t.Fatalf("formats/log body signs to %q, ours to %q", theirs, signed)
		}
		if _, err := transparency.OpenCheckpoint(theirs, logKey.verifier); err != nil {
			t.Fatalf("OpenCheckpoint of a formats/log body: %v", err)
		}
	}
}

func TestNewVerifier(t *testing.T) {
	k := newTestKey(t, testOrigin, 1)
	for _, s := range []string{k.vkey, k.vkey + "\n", "  " + k.vkey + "\r\n"} {
		v, err := transparency.NewVerifier(s)
		if err != nil {
			t.Fatalf("NewVerifier(%q): %v", s, err)
		}
		if v.Name() != testOrigin || v.KeyHash() != k.verifier.KeyHash() {
			t.Fatalf("NewVerifier(%q) = %s %08x", s, v.Name(), v.KeyHash())
		}
	}
	name, rest, _ := strings.Cut(k.vkey, "+")
	hash, key, _ := strings.Cut(rest, "+")
	bad := []struct{ name, vkey string }{
		{"empty", ""},
		{"signer key", k.skey},
		{"wrong hash", name + "+00000000+" + key},
		{"other name", "other.example/log+" + hash + "+" + key},
		{"truncated key", name + "+" + hash + "+" + key[:20]},
		{"unknown algorithm", name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{9}, bytesWith(1, 32)...))},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := transparency.NewVerifier(tc.vkey)
			if errClass(err) != "malformed" {
				t.Fatalf("NewVerifier(%q) = %v, want ErrMalformed", tc.vkey, err)
			}
		})
	}
}

func TestKeyFromSeedMatchesNote(t *testing.T) {
	// keyFromSeed must agree with note's own key derivation.
	k := newTestKey(t, testOrigin, 5)
	vkey2, err := note.NewEd25519VerifierKey(testOrigin, mustPublic(t, k.vkey))
	if err != nil || vkey2 != k.vkey {
		t.Fatalf("NewEd25519VerifierKey = %s, %v; keyFromSeed gave %s", vkey2, err, k.vkey)
	}
	msg := signNote(t, "hello\n", k.signer)
	if _, err := note.Open(msg, note.VerifierList(k.verifier)); err != nil {
		t.Fatalf("seeded key does not verify its own signature: %v", err)
	}
	if newTestKey(t, testOrigin, 5).vkey != k.vkey {
		t.Fatal("keyFromSeed is not deterministic")
	}
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(msg, note.VerifierList(newTestKey(t, testOrigin, 6).verifier)); !errors.As(err, &unverified) {
		t.Fatalf("another seed verifies: %v", err)
	}
}

func mustPublic(t *testing.T, vkey string) []byte {
	t.Helper()
	i := strings.LastIndexByte(vkey, '+')
	raw, err := base64.StdEncoding.DecodeString(vkey[i+1:])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		t.Fatalf("bad vkey %s", vkey)
	}
	return raw[1:]
}
