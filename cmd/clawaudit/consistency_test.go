package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

func proofJSON(t testing.TB, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConsistency(t *testing.T) {
	dir := t.TempDir()
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(1000, "entry")
	url := l.serve(t)
	other := newFakeLog(t, key).grow(1000, "forked")

	cp := func(name string, size uint64) string {
		return writeFile(t, dir, name, l.checkpoint(size))
	}
	old37, new1000, old0 := cp("old37", 37), cp("new1000", 1000), cp("old0", 0)
	old37again := cp("old37again", 37)
	fork37 := writeFile(t, dir, "fork37", other.checkpoint(37))
	proof := transparency.EncodeHashes(l.consistencyProof(37, 1000))
	proofFile := writeFile(t, dir, "proof.json", proofJSON(t, map[string]any{"proof": proof}))
	rawResponse := writeFile(t, dir, "response.json", proofJSON(t, map[string]any{
		"from": 37, "to": 1000, "proof": proof, "checkpoint": string(l.checkpoint(1000)),
	}))
	wrongSizes := writeFile(t, dir, "wrongsizes.json", proofJSON(t, map[string]any{"from": 36, "to": 1000, "proof": proof}))
	badProof := append([]string(nil), proof...)
	badProof[1] = transparency.LeafHash([]byte("x")).String()
	badProofFile := writeFile(t, dir, "badproof.json", proofJSON(t, map[string]any{"proof": badProof}))
	shortProofFile := writeFile(t, dir, "shortproof.json", proofJSON(t, map[string]any{"proof": proof[1:]}))
	emptyProofFile := writeFile(t, dir, "emptyproof.json", []byte(`{"proof":[]}`))
	otherKey := newTestKey(t, "example.com/log")
	sameNameCP := writeFile(t, dir, "samename", signCheckpoint(t, otherKey, 1000, l.root(1000)))
	badEmpty := writeFile(t, dir, "badempty", signCheckpoint(t, key, 0, l.root(1)))

	tests := []struct {
		name string
		args []string
		code int
		// out must all appear on stdout.
		out []string
	}{
		{"good, proof file", []string{"consistency", "--key", key.vkey, old37, new1000, "--proof", proofFile}, 0, []string{"OK", "size 37", "size 1000"}},
		{"good, raw server response", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", rawResponse}, 0, nil},
		{"good, from server", []string{"consistency", old37, "--server", url, new1000, "--key", key.vkey}, 0, nil},
		{"good, from empty tree", []string{"consistency", old0, new1000, "--key", key.vkey, "--proof", emptyProofFile}, 0, nil},
		{"good, from empty tree via server", []string{"consistency", old0, new1000, "--key", key.vkey, "--server", url}, 0, nil},
		{"good, from empty tree without a proof", []string{"consistency", old0, new1000, "--key", key.vkey}, 0, nil},
		{"same checkpoint", []string{"consistency", old37, old37again, "--key", key.vkey}, 0, []string{"OK"}},

		{"fork", []string{"consistency", old37, fork37, "--key", key.vkey}, 1,
			[]string{"FORK", string(l.checkpoint(37)), string(other.checkpoint(37))}},
		{"bad proof", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", badProofFile}, 1, []string{"INCONSISTENT"}},
		{"short proof", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", shortProofFile}, 1, nil},
		{"empty proof", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", emptyProofFile}, 1, nil},
		{"history rewritten", []string{"consistency", fork37, new1000, "--key", key.vkey, "--server", url}, 1, nil},
		{"new checkpoint by another key with the same name", []string{"consistency", old37, sameNameCP, "--key", key.vkey, "--proof", proofFile}, 1, nil},
		{"wrong key", []string{"consistency", old37, new1000, "--key", newTestKey(t, "example.com/x").vkey, "--proof", proofFile}, 1, nil},
		{"size 0 with a non-empty root", []string{"consistency", badEmpty, new1000, "--key", key.vkey, "--proof", emptyProofFile}, 1, nil},

		{"server unreachable", []string{"consistency", old37, new1000, "--key", key.vkey, "--server", deadURL(t)}, 2, nil},
		{"server without the tree", []string{"consistency", old37, writeFile(t, dir, "cp2000", signCheckpoint(t, key, 2000, l.root(1000))), "--key", key.vkey, "--server", url}, 2, nil},
		{"not a URL", []string{"consistency", old37, new1000, "--key", key.vkey, "--server", "ftp://x"}, 2, nil},
		{"proof for other sizes", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", wrongSizes}, 2, nil},
		{"old larger than new", []string{"consistency", new1000, old37, "--key", key.vkey, "--proof", proofFile}, 2, nil},
		{"no proof source", []string{"consistency", old37, new1000, "--key", key.vkey}, 2, nil},
		{"both proof sources", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", proofFile, "--server", url}, 2, nil},
		{"missing proof file", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", filepath.Join(dir, "nope")}, 2, nil},
		{"malformed proof file", []string{"consistency", old37, new1000, "--key", key.vkey, "--proof", writeFile(t, dir, "m.json", []byte(`{"proof":["x"]}`))}, 2, nil},
		{"missing checkpoint file", []string{"consistency", filepath.Join(dir, "nope"), new1000, "--key", key.vkey}, 2, nil},
		{"malformed checkpoint file", []string{"consistency", writeFile(t, dir, "garbage", []byte("hello\n")), new1000, "--key", key.vkey}, 2, nil},
		{"one checkpoint", []string{"consistency", old37, "--key", key.vkey}, 2, nil},
		{"no key", []string{"consistency", old37, new1000}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			r.want(t, tt.code)
			for _, s := range tt.out {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			if tt.code != 0 && strings.HasPrefix(r.stdout, "OK") {
				t.Errorf("failure printed OK: %s", r.stdout)
			}
		})
	}
}

// TestConsistencyManySizes cross-checks our verification of tlog's proofs
// fetched over HTTP, for pairs of sizes around tile and power-of-two
// boundaries.
func TestConsistencyManySizes(t *testing.T) {
	dir := t.TempDir()
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(600, "entry")
	url := l.serve(t)
	sizes := []uint64{1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 511, 512, 513, 600}
	for i, a := range sizes {
		for _, b := range sizes[i:] {
			if a == b || (a%3 != 0 && b%2 != 0 && b != 600) {
				continue // keep the run short; the boundaries are covered
			}
			oldF := writeFile(t, dir, fmt.Sprintf("a%d", a), l.checkpoint(a))
			newF := writeFile(t, dir, fmt.Sprintf("b%d", b), l.checkpoint(b))
			if r := runCLI(t, "consistency", oldF, newF, "--key", key.vkey, "--server", url); r.code != 0 {
				t.Fatalf("%d -> %d: exit %d: %s", a, b, r.code, r.stderr)
			}
		}
	}
}

func TestParseConsistencyProof(t *testing.T) {
	h := transparency.LeafHash([]byte("a")).String()
	tests := []struct {
		in   string
		ok   bool
		from string
	}{
		{`{"proof":[]}`, true, "?"},
		{`{"proof":["` + h + `"]}`, true, "?"},
		{`{"from":1,"to":2,"proof":["` + h + `"],"checkpoint":"x"}`, true, "1"},
		{`{"proof":null}`, false, ""},
		{`{}`, false, ""},
		{`{"proof":["` + h + `"],"extra":1}`, false, ""},
		{`{"proof":[]} {}`, false, ""},
		{`{"proof":["` + strings.TrimSuffix(h, "=") + `"]}`, false, ""},
		{`{"proof":["AAAA"]}`, false, ""},
		{`{"from":-1,"proof":[]}`, false, ""},
		{`{"proof":[` + strings.Repeat(`"`+h+`",`, transparency.MaxProofLen) + `"` + h + `"]}`, false, ""},
		{`[]`, false, ""},
	}
	for _, tt := range tests {
		p, err := parseConsistencyProof([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("parse %.60q: err %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, transparency.ErrMalformed) {
				t.Errorf("parse %.60q: err %v is not ErrMalformed", tt.in, err)
			}
			continue
		}
		if optSize(p.From) != tt.from {
			t.Errorf("parse %.60q: from %s, want %s", tt.in, optSize(p.From), tt.from)
		}
	}
}

func FuzzParseConsistencyProof(f *testing.F) {
	h := transparency.LeafHash([]byte("a")).String()
	f.Add([]byte(`{"proof":[]}`))
	f.Add([]byte(`{"from":1,"to":2,"proof":["` + h + `","` + h + `"],"checkpoint":"x\n"}`))
	f.Add([]byte(`{"proof":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseConsistencyProof(b)
		if err != nil {
			if !errors.Is(err, transparency.ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			return
		}
		if p.Proof == nil || len(p.Proof) > transparency.MaxProofLen {
			t.Fatalf("accepted proof of %d hashes (nil %v)", len(p.Proof), p.Proof == nil)
		}
		// Re-encoding what was accepted parses to the same proof.
		again, err := parseConsistencyProof(proofJSON(t, map[string]any{"proof": transparency.EncodeHashes(p.Proof)}))
		if err != nil || len(again.Proof) != len(p.Proof) {
			t.Fatalf("re-encoded proof: %v", err)
		}
		for i := range p.Proof {
			if again.Proof[i] != p.Proof[i] {
				t.Fatal("round trip changed a hash")
			}
		}
	})
}
