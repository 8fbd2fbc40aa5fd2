package transparency_test

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/clawnet/ledger/transparency"
)

// Every parser has a fuzz target whose property is a round trip: whatever
// parses must encode back to the exact input (or, for receipts, whose JSON
// need not be canonical, to a receipt that parses to the same value).

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(baseEntryJSON))
	for i := range 6 {
		f.Add(mustMarshal(f, sampleEntry(i)))
	}
	for _, m := range entryMutations() {
		f.Add([]byte(strings.Replace(baseEntryJSON, m.old, m.new, 1)))
	}
	f.Add([]byte(`{"v":1,"type":"operator.note","time":"2026-01-02T03:04:05Z","reason":"\u0001\u2028é<>&"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := transparency.ParseEntry(b)
		if err != nil {
			if errClass(err) != "malformed" {
				t.Fatalf("ParseEntry error %v is not ErrMalformed only", err)
			}
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("parsed entry does not marshal: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip:\n  in %q\n out %q", b, out)
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	logKey := newTestKey(f, testOrigin, 1)
	tree := entryLog(f, 12)
	good := makeReceipt(f, tree, logKey, 5, 11)
	b, err := good.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	compact := compactReceipt(f, good)
	f.Add([]byte(compact))
	if b, err := makeReceipt(f, tree, logKey, 0, 1).Marshal(); err == nil {
		f.Add(b)
	}
	for _, m := range receiptJSONMutations(f, compact) {
		f.Add([]byte(strings.Replace(compact, m.old, m.new, 1)))
	}
	for _, m := range receiptMutations(tree, logKey) {
		r := makeReceipt(f, tree, logKey, 5, 11)
		m.mutate(f, r)
		if b, err := r.Marshal(); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := transparency.ParseReceipt(b)
		if err != nil {
			if errClass(err) != "malformed" {
				t.Fatalf("ParseReceipt error %v is not ErrMalformed only", err)
			}
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("parsed receipt does not marshal: %v", err)
		}
		r2, err := transparency.ParseReceipt(out)
		if err != nil {
			t.Fatalf("re-encoded receipt does not parse: %v\n%s", err, out)
		}
		if r2.Format != r.Format || r2.Index != r.Index || !bytes.Equal(r2.Entry, r.Entry) ||
			!slices.Equal(r2.InclusionProof, r.InclusionProof) || r2.Checkpoint != r.Checkpoint {
			t.Fatalf("round trip changed the receipt: %+v -> %+v", r, r2)
		}
		v, err := transparency.VerifyReceipt(r, logKey.verifier)
		if err != nil {
			if c := errClass(err); c != "verification" && c != "malformed" {
				t.Fatalf("VerifyReceipt error %v has class %s", err, c)
			}
			return
		}
		// Only a receipt for an entry of our tree can verify.
		if v.Index >= tree.size() || !bytes.Equal(v.EntryBytes, tree.entries[v.Index]) {
			t.Fatalf("VerifyReceipt accepted entry %d: %q", v.Index, v.EntryBytes)
		}
	})
}

func FuzzParseCheckpointText(f *testing.F) {
	good := transparency.Checkpoint{Origin: testOrigin, Size: 10, Root: sampleRoot(1)}.Text()
	f.Add(good)
	f.Add(good + "ext\n")
	f.Add(transparency.Checkpoint{Origin: "o", Size: math.MaxUint64, Root: transparency.EmptyRoot()}.Text())
	for _, m := range checkpointTextMutations(good) {
		f.Add(m.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := transparency.ParseCheckpointText(text)
		if err != nil {
			if errClass(err) != "malformed" {
				t.Fatalf("ParseCheckpointText error %v is not ErrMalformed only", err)
			}
			return
		}
		if got := c.Text(); got != text {
			t.Fatalf("round trip:\n  in %q\n out %q", text, got)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	logKey := newTestKey(f, testOrigin, 1)
	witness := newTestKey(f, "witness.example/w1", 3)
	c := transparency.Checkpoint{Origin: testOrigin, Size: 10, Root: sampleRoot(1)}
	signed, err := transparency.SignCheckpoint(c, logKey.signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(signNote(f, c.Text(), logKey.signer, witness.signer))
	f.Add(signNote(f, c.Text()+"ext\n", logKey.signer))
	f.Add(signNote(f, c.Text(), witness.signer))
	f.Add(signNote(f, transparency.Checkpoint{Origin: "other.example/log", Size: 10, Root: sampleRoot(1)}.Text(), logKey.signer))
	f.Add(signNote(f, testOrigin+"\n010\n"+sampleRoot(1).String()+"\n", logKey.signer))
	f.Add([]byte(c.Text()))
	for _, m := range checkpointTextMutations(c.Text()) {
		f.Add(append([]byte(m.text), signed[len(c.Text()):]...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := transparency.OpenCheckpoint(b, logKey.verifier)
		if err != nil {
			if c := errClass(err); c != "verification" && c != "malformed" {
				t.Fatalf("OpenCheckpoint error %v has class %s", err, c)
			}
			return
		}
		// The verified body must be the note's text, byte for byte.
		text := cp.Text()
		if !bytes.HasPrefix(b, []byte(text+"\n")) {
			t.Fatalf("opened body %q is not the signed text of %q", text, b)
		}
		if cp.Origin != testOrigin || !bytes.Equal(cp.Note, b) {
			t.Fatalf("opened %+v from %q", cp.Checkpoint, b)
		}
	})
}

func FuzzParseTilePath(f *testing.F) {
	for _, p := range []string{
		"tile/0/000", "tile/0/x001/x234/067", "tile/2/x001/x234/067.p/8", "tile/entries/000.p/17",
		"tile/7/999.p/255", "tile/entries/x018/x446/x744/x073/x709/x551/615.p/1",
	} {
		f.Add(p)
	}
	for _, m := range tilePathMutations {
		f.Add(m.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, err := transparency.ParseTilePath(p)
		if err != nil {
			if errClass(err) != "malformed" {
				t.Fatalf("ParseTilePath error %v is not ErrMalformed only", err)
			}
		} else if got := id.Path(); got != p {
			t.Fatalf("round trip: %q -> %+v -> %q", p, id, got)
		}
		// Differential check against sumdb/tlog, which spells the same
		// tiles with a height segment and "data" for entry bundles.
		rest, ok := strings.CutPrefix(p, "tile/")
		if !ok || (err == nil && id.N > math.MaxInt64) {
			return // tlog indexes tiles with int64
		}
		if r, ok := strings.CutPrefix(rest, "entries/"); ok {
			rest = "data/" + r
		} else if strings.HasPrefix(rest, "data/") {
			return
		}
		theirs, terr := tlog.ParseTilePath("tile/8/" + rest)
		if terr == nil && theirs.L > 7 {
			return // we serve levels 0 to 7 only
		}
		if (err == nil) != (terr == nil) {
			t.Fatalf("ParseTilePath(%q): ours %v, tlog %v", p, err, terr)
		}
		if err == nil && (id.N != uint64(theirs.N) || id.Width != theirs.W || id.Entries != (theirs.L == -1) || (!id.Entries && id.Level != theirs.L)) {
			t.Fatalf("ParseTilePath(%q): ours %+v, tlog %+v", p, id, theirs)
		}
	})
}

func FuzzParseEntryBundle(f *testing.F) {
	var b []byte
	for i := range 5 {
		b = transparency.AppendBundleEntry(b, mustMarshal(f, sampleEntry(i)))
	}
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := transparency.ParseEntryBundle(b)
		if err != nil {
			if errClass(err) != "malformed" {
				t.Fatalf("ParseEntryBundle error %v is not ErrMalformed only", err)
			}
			return
		}
		var out []byte
		for _, e := range entries {
			out = transparency.AppendBundleEntry(out, e)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip:\n  in %x\n out %x", b, out)
		}
	})
}
