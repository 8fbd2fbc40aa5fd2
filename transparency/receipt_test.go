package transparency_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// entryLog is a tree of n sample entries (valid, canonical v1 entries).
func entryLog(t testing.TB, n int) *memTree {
	t.Helper()
	m := &memTree{}
	for i := range n {
		m.add(t, mustMarshal(t, sampleEntry(i)))
	}
	return m
}

// makeReceipt builds the receipt for entry index in the tree of the given
// size, with a checkpoint signed by k (whose name is the origin).
func makeReceipt(t testing.TB, tree *memTree, k testKey, index, size uint64) *transparency.Receipt {
	t.Helper()
	c := transparency.Checkpoint{Origin: k.signer.Name(), Size: size, Root: tree.root(t, size)}
	signed, err := transparency.SignCheckpoint(c, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return &transparency.Receipt{
		Format:         transparency.ReceiptFormat,
		Index:          index,
		Entry:          slices.Clone(tree.entries[index]),
		InclusionProof: tree.inclusion(t, index, size),
		Checkpoint:     string(signed),
	}
}

func TestReceiptVerifies(t *testing.T) {
	logKey := newTestKey(t, testOrigin, 1)
	tree := entryLog(t, 23)
	for _, tc := range []struct{ index, size uint64 }{
		{0, 1}, {0, 2}, {1, 2}, {0, 23}, {7, 23}, {22, 23}, {10, 16}, {15, 16},
	} {
		r := makeReceipt(t, tree, logKey, tc.index, tc.size)
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := transparency.ParseReceipt(b)
		if err != nil {
			t.Fatalf("ParseReceipt of our own receipt: %v\n%s", err, b)
		}
		v, err := transparency.VerifyReceipt(parsed, logKey.verifier)
		if err != nil {
			t.Fatalf("VerifyReceipt(%d in %d): %v", tc.index, tc.size, err)
		}
		if v.Index != tc.index || !bytes.Equal(v.EntryBytes, tree.entries[tc.index]) ||
			v.LeafHash != transparency.LeafHash(tree.entries[tc.index]) ||
			v.Checkpoint.Size != tc.size || v.Checkpoint.Root != tree.root(t, tc.size) ||
			!entriesEqual(v.Entry, sampleEntry(int(tc.index))) {
			t.Fatalf("VerifyReceipt(%d in %d) returned %+v", tc.index, tc.size, v)
		}
	}
}

// receiptMutation changes a good receipt into one that must fail
// verification with ErrVerification; also the bad receipt vectors.
type receiptMutation struct {
	name, desc string
	mutate     func(t testing.TB, r *transparency.Receipt)
}

// receiptMutations returns the security mutations of the receipt of index
// 5 in the tree of size 11 (tree holds at least 12 entries).
func receiptMutations(tree *memTree, logKey testKey) []receiptMutation {
	const index, size = 5, 11
	forger := func(t testing.TB, b byte) testKey { return newTestKey(t, testOrigin, b) }
	return []receiptMutation{
		{"tampered-entry", "one bit of the entry bytes flipped", func(t testing.TB, r *transparency.Receipt) {
			r.Entry[len(r.Entry)/2] ^= 0x01
		}},
		{"entry-of-another-index", "the entry replaced by the next entry of the log (index 6)", func(t testing.TB, r *transparency.Receipt) {
			r.Entry = slices.Clone(tree.entries[index+1])
		}},
		{"tampered-proof", "one bit of the second inclusion proof hash flipped", func(t testing.TB, r *transparency.Receipt) {
			r.InclusionProof[1][0] ^= 0x80
		}},
		{"truncated-proof", "the last inclusion proof hash removed", func(t testing.TB, r *transparency.Receipt) {
			r.InclusionProof = r.InclusionProof[:len(r.InclusionProof)-1]
		}},
		{"extended-proof", "a hash appended to the inclusion proof", func(t testing.TB, r *transparency.Receipt) {
			r.InclusionProof = append(r.InclusionProof, tree.root(t, size))
		}},
		{"empty-proof", "the inclusion proof emptied", func(t testing.TB, r *transparency.Receipt) {
			r.InclusionProof = []transparency.Hash{}
		}},
		{"index-changed", "index 5 changed to 6", func(t testing.TB, r *transparency.Receipt) {
			r.Index = index + 1
		}},
		{"index-beyond-size", "index set to 11, the checkpoint's tree size", func(t testing.TB, r *transparency.Receipt) {
			r.Index = size
		}},
		{"checkpoint-of-another-size", "the checkpoint replaced by the log's genuine checkpoint of size 12; the proof is for size 11", func(t testing.TB, r *transparency.Receipt) {
			// A genuine checkpoint of the log, but for another tree.
			r.Checkpoint = makeReceipt(t, tree, logKey, 0, size+1).Checkpoint
		}},
		{"wrong-key", "the checkpoint signed by another key with the log's name (seed 0xee) instead of the log key", func(t testing.TB, r *transparency.Receipt) {
			// The right checkpoint, signed by another key of the same name.
			r.Checkpoint = makeReceipt(t, tree, forger(t, 0xee), index, size).Checkpoint
		}},
		{"forged-checkpoint", "a forger's receipt: entry 5 rewritten (decision denied), the tree rebuilt, its checkpoint signed by another key with the log's name; consistent in itself, but not signed by the log key", func(t testing.TB, r *transparency.Receipt) {
			// A forger puts an entry of his own in a tree, and signs its
			// checkpoint with a key of the log's name.
			forged := &memTree{}
			for i := range size {
				e := tree.entries[i]
				if i == index {
					fe := sampleEntry(index)
					fe.Decision = transparency.DecisionDenied
					fe.Reason = "forged"
					e = mustMarshal(t, fe)
				}
				forged.add(t, e)
			}
			*r = *makeReceipt(t, forged, forger(t, 0xee), index, size)
		}},
		{"tampered-checkpoint-size", "the checkpoint's size line changed from 11 to 12, signature kept", func(t testing.TB, r *transparency.Receipt) {
			r.Checkpoint = strings.Replace(r.Checkpoint, "\n11\n", "\n12\n", 1)
		}},
		{"tampered-checkpoint-root", "the checkpoint's root line replaced by the root of size 12, signature kept", func(t testing.TB, r *transparency.Receipt) {
			old := tree.root(t, size).String()
			r.Checkpoint = strings.Replace(r.Checkpoint, old, tree.root(t, size+1).String(), 1)
		}},
		{"tampered-checkpoint-signature", "one base64 digit inside the Ed25519 signature changed", func(t testing.TB, r *transparency.Receipt) {
			// Change one base64 digit of the signature, inside the Ed25519
			// signature (after the 4-byte key hash).
			i := strings.LastIndexByte(r.Checkpoint, ' ') + 20
			c := []byte(r.Checkpoint)
			if c[i] == 'A' {
				c[i] = 'B'
			} else {
				c[i] = 'A'
			}
			r.Checkpoint = string(c)
		}},
		{"checkpoint-origin-not-key-name", "the checkpoint, signed by the log key, names another origin (other.example/log)", func(t testing.TB, r *transparency.Receipt) {
			c := transparency.Checkpoint{Origin: "other.example/log", Size: size, Root: tree.root(t, size)}
			r.Checkpoint = string(signNote(t, c.Text(), logKey.signer))
		}},
		{"unsigned-checkpoint", "the checkpoint signed only by a witness key, not by the log", func(t testing.TB, r *transparency.Receipt) {
			// Only a witness signature, none by the log.
			c := transparency.Checkpoint{Origin: testOrigin, Size: size, Root: tree.root(t, size)}
			r.Checkpoint = string(signNote(t, c.Text(), newTestKey(t, "witness.example/w1", 3).signer))
		}},
		{"logged-entry-not-canonical", "the log committed to entry bytes with a trailing newline (not canonical); proof and signature are valid", func(t testing.TB, r *transparency.Receipt) {
			// The log committed to bytes that are not a canonical entry: the
			// proof and signature are good, the log misbehaved.
			bad := &memTree{}
			for i := range size {
				e := tree.entries[i]
				if i == index {
					e = append(slices.Clone(e), '\n')
				}
				bad.add(t, e)
			}
			*r = *makeReceipt(t, bad, logKey, index, size)
		}},
		{"logged-entry-not-json", "the log committed to the bytes 'not an entry'; proof and signature are valid", func(t testing.TB, r *transparency.Receipt) {
			bad := &memTree{}
			for i := range size {
				e := tree.entries[i]
				if i == index {
					e = []byte("not an entry")
				}
				bad.add(t, e)
			}
			*r = *makeReceipt(t, bad, logKey, index, size)
		}},
	}
}

func TestReceiptMutationsFail(t *testing.T) {
	logKey := newTestKey(t, testOrigin, 1)
	tree := entryLog(t, 12)
	good := makeReceipt(t, tree, logKey, 5, 11)
	if _, err := transparency.VerifyReceipt(good, logKey.verifier); err != nil {
		t.Fatalf("good receipt: %v", err)
	}
	for _, m := range receiptMutations(tree, logKey) {
		t.Run(m.name, func(t *testing.T) {
			r := makeReceipt(t, tree, logKey, 5, 11)
			m.mutate(t, r)
			// Through the file format too, so that the mutation survives
			// encoding.
			b, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := transparency.ParseReceipt(b)
			if err != nil {
				t.Fatalf("mutated receipt does not parse: %v", err)
			}
			v, err := transparency.VerifyReceipt(parsed, logKey.verifier)
			if errClass(err) != "verification" || v != nil {
				t.Fatalf("VerifyReceipt = %v, %v; want nil, ErrVerification", v, err)
			}
		})
	}
	t.Run("wrong-verifier", func(t *testing.T) {
		_, err := transparency.VerifyReceipt(good, newTestKey(t, testOrigin, 0xee).verifier)
		if errClass(err) != "verification" {
			t.Fatalf("VerifyReceipt with another key of the same name = %v, want ErrVerification", err)
		}
		_, err = transparency.VerifyReceipt(good, newTestKey(t, "other.example/log", 1).verifier)
		if errClass(err) != "verification" {
			t.Fatalf("VerifyReceipt with another log's key = %v, want ErrVerification", err)
		}
	})
	t.Run("malformed-checkpoint", func(t *testing.T) {
		r := *good
		r.Checkpoint = "not a note"
		if _, err := transparency.VerifyReceipt(&r, logKey.verifier); errClass(err) != "malformed" {
			t.Fatalf("VerifyReceipt = %v, want ErrMalformed", err)
		}
	})
}

// receiptJSONMutations edit good, the compact JSON of a good receipt, into
// receipts that ParseReceipt must reject with ErrMalformed: each replaces
// the one occurrence of old in good with new.
func receiptJSONMutations(t testing.TB, good string) []struct{ name, old, new string } {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(good), &raw); err != nil {
		t.Fatal(err)
	}
	field := func(k string) string { return `"` + k + `":` + string(raw[k]) }
	last := field("checkpoint") + "}"
	muts := []struct{ name, old, new string }{
		{"unknown-field", `{"format":`, `{"extra":1,"format":`},
		{"field-name-case", `"format":`, `"Format":`},
		{"duplicate-field-other-case", `"index":`, `"INDEX":0,"index":`},
		{"other-format", `"clawnet-receipt/v1"`, `"clawnet-receipt/v2"`},
		{"format-empty", `"clawnet-receipt/v1"`, `""`},
		{"format-null", `"clawnet-receipt/v1"`, `null`},
		{"index-negative", field("index"), `"index":-5`},
		{"index-float", field("index"), `"index":5.0`},
		{"index-exponent", field("index"), `"index":5e0`},
		{"index-string", field("index"), `"index":"5"`},
		{"index-overflow", field("index"), `"index":18446744073709551616`},
		{"entry-not-base64", field("entry"), `"entry":"!!!!"`},
		{"entry-url-base64", field("entry"), `"entry":"_-_-"`},
		{"entry-empty", field("entry"), `"entry":""`},
		{"entry-null", field("entry"), `"entry":null`},
		{"entry-as-object", field("entry"), `"entry":{"v":1}`},
		{"proof-hash-not-base64", `"inclusion_proof":["`, `"inclusion_proof":["!!!!","`},
		{"proof-hash-short", `"inclusion_proof":["`, `"inclusion_proof":["AAAA","`},
		{"proof-hash-unpadded", `"inclusion_proof":["`, `"inclusion_proof":["` + strings.TrimRight(transparency.EmptyRoot().String(), "=") + `","`},
		{"proof-not-array", field("inclusion_proof"), `"inclusion_proof":"` + transparency.EmptyRoot().String() + `"`},
		{"checkpoint-not-string", field("checkpoint"), `"checkpoint":1`},
		{"trailing-data", last, last + `{}`},
		{"trailing-bracket", last, last + `]`},
		{"trailing-garbage", last, last + `x`},
		{"not-an-object", good, "[" + good + "]"},
	}
	for _, k := range []string{"format", "index", "entry", "inclusion_proof", "checkpoint"} {
		if k == "checkpoint" {
			muts = append(muts, struct{ name, old, new string }{"missing-" + k, "," + last, "}"})
		} else {
			muts = append(muts, struct{ name, old, new string }{"missing-" + strings.ReplaceAll(k, "_", "-"), field(k) + ",", ""})
		}
	}
	for _, m := range muts {
		if strings.Count(good, m.old) != 1 {
			t.Fatalf("mutation %s: %q occurs %d times", m.name, m.old, strings.Count(good, m.old))
		}
	}
	return muts
}

// compactReceipt is a good receipt as one-line JSON, the form the JSON
// mutations are written against.
func compactReceipt(t testing.TB, r *transparency.Receipt) string {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestParseReceiptRejects(t *testing.T) {
	logKey := newTestKey(t, testOrigin, 1)
	good := compactReceipt(t, makeReceipt(t, entryLog(t, 11), logKey, 5, 11))
	if _, err := transparency.ParseReceipt([]byte(good)); err != nil {
		t.Fatalf("good receipt: %v", err)
	}
	for _, tc := range receiptJSONMutations(t, good) {
		t.Run(tc.name, func(t *testing.T) {
			b := strings.Replace(good, tc.old, tc.new, 1)
			if _, err := transparency.ParseReceipt([]byte(b)); errClass(err) != "malformed" {
				t.Fatalf("ParseReceipt(%s) = %v, want ErrMalformed", b, err)
			}
		})
	}
	for _, tc := range []struct{ name, b string }{
		{"empty", ""},
		{"null", "null"},
		{"empty object", "{}"},
		{"oversized", good + strings.Repeat(" ", transparency.MaxReceiptSize)},
		{"proof too long", strings.Replace(good, `"inclusion_proof":[`, `"inclusion_proof":[`+strings.Repeat(`"`+transparency.EmptyRoot().String()+`",`, transparency.MaxProofLen+1), 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := transparency.ParseReceipt([]byte(tc.b)); errClass(err) != "malformed" {
				t.Fatalf("ParseReceipt = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	logKey := newTestKey(t, testOrigin, 1)
	tree := entryLog(t, 4)
	for _, r := range []*transparency.Receipt{
		makeReceipt(t, tree, logKey, 0, 1), // empty proof
		makeReceipt(t, tree, logKey, 2, 4),
	} {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := transparency.ParseReceipt(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Format != r.Format || got.Index != r.Index || !bytes.Equal(got.Entry, r.Entry) ||
			!slices.Equal(got.InclusionProof, r.InclusionProof) || got.Checkpoint != r.Checkpoint {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
		b2, err := got.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-marshal differs: %v\n%s\n%s", err, b, b2)
		}
	}
	// The proof is always an array, never null, even when empty.
	r := makeReceipt(t, tree, logKey, 0, 1)
	r.InclusionProof = nil
	b, err := r.Marshal()
	if err != nil || !bytes.Contains(b, []byte(`"inclusion_proof": []`)) {
		t.Fatalf("empty proof encodes as %s, %v", b, err)
	}
}

func TestEncodeHashes(t *testing.T) {
	hs := []transparency.Hash{sampleRoot(1), transparency.EmptyRoot()}
	got := transparency.EncodeHashes(hs)
	if len(got) != 2 {
		t.Fatalf("EncodeHashes = %v", got)
	}
	for i, s := range got {
		h, err := transparency.ParseHash(s)
		if err != nil || h != hs[i] {
			t.Fatalf("EncodeHashes[%d] = %s does not parse back: %v", i, s, err)
		}
	}
	if len(transparency.EncodeHashes(nil)) != 0 {
		t.Fatal("EncodeHashes(nil) is not empty")
	}
}
