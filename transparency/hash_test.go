package transparency_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clawnet/ledger/transparency"
)

func TestLeafAndNodeHashMatchTlog(t *testing.T) {
	inputs := [][]byte{nil, {}, {0}, []byte("leaf"), []byte(baseEntryJSON)}
	for _, in := range inputs {
		if got, want := transparency.LeafHash(in), tlog.RecordHash(in); got != transparency.Hash(want) {
			t.Errorf("LeafHash(%q) = %s, tlog says %s", in, got, want)
		}
	}
	a, b := transparency.LeafHash([]byte("a")), transparency.LeafHash([]byte("b"))
	if got, want := transparency.NodeHash(a, b), tlog.NodeHash(tlog.Hash(a), tlog.Hash(b)); got != transparency.Hash(want) {
		t.Errorf("NodeHash = %s, tlog says %s", got, want)
	}
	if transparency.NodeHash(a, b) == transparency.NodeHash(b, a) {
		t.Error("NodeHash is symmetric")
	}
	empty, err := tlog.TreeHash(0, &memTree{})
	if err != nil {
		t.Fatal(err)
	}
	if transparency.EmptyRoot() != transparency.Hash(empty) || transparency.EmptyRoot() != sha256.Sum256(nil) {
		t.Errorf("EmptyRoot = %s, tlog says %s", transparency.EmptyRoot(), empty)
	}
	// RFC 6962 domain separation: a leaf hash is never the plain SHA-256.
	if transparency.LeafHash([]byte("x")) == sha256.Sum256([]byte("x")) {
		t.Error("LeafHash lacks the 0x00 prefix")
	}
}

func TestParseHash(t *testing.T) {
	var h transparency.Hash
	for i := range h {
		h[i] = byte(i * 7)
	}
	good := base64.StdEncoding.EncodeToString(h[:])
	got, err := transparency.ParseHash(good)
	if err != nil || got != h {
		t.Fatalf("ParseHash(%s) = %s, %v", good, got, err)
	}
	if h.String() != good {
		t.Fatalf("String = %s, want %s", h.String(), good)
	}
	// Flip the two padding bits of the last data character: decoders that
	// are not strict accept it as the same hash.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", good[42])
	nonCanonical := good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|1]) + "="
	if nonCanonical == good {
		nonCanonical = good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|2]) + "="
	}
	bad := []struct{ name, s string }{
		{"empty", ""},
		{"unpadded", strings.TrimRight(good, "=")},
		{"31 bytes", base64.StdEncoding.EncodeToString(h[:31])},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(h[:], 0))},
		{"url alphabet", base64.URLEncoding.EncodeToString(bytesWith(0xfb, 32))},
		{"leading space", " " + good},
		{"trailing newline", good + "\n"},
		{"inner newline", good[:20] + "\n" + good[20:]},
		{"hex", fmt.Sprintf("%x", h[:])},
		{"non-zero padding bits", nonCanonical},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := transparency.ParseHash(tc.s); errClass(err) != "malformed" {
				t.Fatalf("ParseHash(%q) = %v, want ErrMalformed", tc.s, err)
			}
			var x transparency.Hash
			if err := x.UnmarshalText([]byte(tc.s)); errClass(err) != "malformed" {
				t.Fatalf("UnmarshalText(%q) = %v, want ErrMalformed", tc.s, err)
			}
		})
	}
	// JSON uses the same text form.
	j, err := json.Marshal([]transparency.Hash{h})
	if err != nil || string(j) != `["`+good+`"]` {
		t.Fatalf("json.Marshal = %s, %v", j, err)
	}
	var back []transparency.Hash
	if err := json.Unmarshal(j, &back); err != nil || len(back) != 1 || back[0] != h {
		t.Fatalf("json round trip = %v, %v", back, err)
	}
}

func bytesWith(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// proofSizes are the tree sizes checked exhaustively (every index, every
// pair of sizes) against tlog, plus larger ones checked on samples.
const exhaustiveSize = 70

var largeSizes = []uint64{127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025}

func TestInclusionMatchesTlog(t *testing.T) {
	tree := syntheticTree(t, 1025)
	check := func(index, size uint64) {
		t.Helper()
		root := tree.root(t, size)
		leaf := transparency.LeafHash(tree.entries[index])
		p := tree.inclusion(t, index, size)
		if err := transparency.VerifyInclusion(index, size, leaf, p, root); err != nil {
			t.Fatalf("VerifyInclusion(%d, %d) of a tlog proof: %v", index, size, err)
		}
		got, err := transparency.RootFromInclusion(index, size, leaf, p)
		if err != nil || got != root {
			t.Fatalf("RootFromInclusion(%d, %d) = %s, %v; want %s", index, size, got, err, root)
		}
	}
	for size := uint64(1); size <= exhaustiveSize; size++ {
		for index := range size {
			check(index, size)
		}
	}
	for _, size := range largeSizes {
		for _, index := range []uint64{0, 1, size / 3, size / 2, size - 2, size - 1} {
			check(index, size)
		}
	}
}

// TestInclusionRejects mutates good proofs. Every mutation must fail,
// except one: claimed for another tree size, a proof may, for some shapes,
// still lead to the same root (an inclusion proof does not bind the tree
// size on its own; the signed checkpoint does). For wrong sizes the result
// must agree with tlog.CheckRecord.
func TestInclusionRejects(t *testing.T) {
	tree := syntheticTree(t, 41)
	var agreed, rejected int
	for size := uint64(1); size <= 40; size++ {
		root := tree.root(t, size)
		for index := range size {
			leaf := transparency.LeafHash(tree.entries[index])
			p := tree.inclusion(t, index, size)
			mustFail := func(what string, index, size uint64, leaf transparency.Hash, p []transparency.Hash, root transparency.Hash) {
				t.Helper()
				err := transparency.VerifyInclusion(index, size, leaf, p, root)
				if errClass(err) != "verification" {
					t.Fatalf("%s (index %d, size %d): %v, want ErrVerification", what, index, size, err)
				}
			}
			for i := range p {
				for _, bit := range []int{0, 7, 255} {
					q := slices.Clone(p)
					q[i][bit/8] ^= 1 << (bit % 8)
					mustFail(fmt.Sprintf("bit %d of proof hash %d flipped", bit, i), index, size, leaf, q, root)
				}
			}
			if len(p) > 0 {
				mustFail("truncated proof", index, size, leaf, p[:len(p)-1], root)
				mustFail("first hash dropped", index, size, leaf, p[1:], root)
			}
			mustFail("extended proof", index, size, leaf, append(slices.Clone(p), root), root)
			mustFail("proof with an extra zero hash", index, size, leaf, append(slices.Clone(p), transparency.Hash{}), root)
			mustFail("wrong leaf", index, size, transparency.LeafHash([]byte("other")), p, root)
			mustFail("leaf hash of the raw entry", index, size, sha256.Sum256(tree.entries[index]), p, root)
			mustFail("root of the previous tree", index, size, leaf, p, tree.root(t, size-1))
			mustFail("index equal to size", size, size, leaf, p, root)
			mustFail("index above size", size+5, size, leaf, p, root)
			mustFail("size zero", 0, 0, leaf, p, root)

			type claim struct{ index, size uint64 }
			var others []claim
			if size > 1 {
				others = append(others, claim{(index + 1) % size, size}, claim{(index + size - 1) % size, size})
			}
			others = append(others, claim{index, size + 1})
			if size-1 > index {
				others = append(others, claim{index, size - 1})
			}
			for _, c := range others {
				ours := transparency.VerifyInclusion(c.index, c.size, leaf, p, root)
				if c.size == size && ours == nil {
					t.Fatalf("proof of %d in %d accepted for index %d", index, size, c.index)
				}
				theirs := tlog.CheckRecord(tlog.RecordProof(toTlog(p)), int64(c.size), tlog.Hash(root), int64(c.index), tlog.Hash(leaf))
				if (ours == nil) != (theirs == nil) {
					t.Fatalf("proof of %d in %d claimed for %d in %d: ours %v, tlog %v", index, size, c.index, c.size, ours, theirs)
				}
				if ours != nil && errClass(ours) != "verification" {
					t.Fatalf("wrong claim: %v, want ErrVerification", ours)
				}
				agreed++
				if ours != nil {
					rejected++
				}
			}
		}
	}
	if rejected < agreed/2 {
		t.Fatalf("only %d of %d wrong index/size claims rejected", rejected, agreed)
	}
	t.Run("proof too long", func(t *testing.T) {
		p := make([]transparency.Hash, transparency.MaxProofLen+1)
		err := transparency.VerifyInclusion(0, 1<<63, transparency.Hash{}, p, transparency.Hash{})
		if errClass(err) != "verification" {
			t.Fatalf("got %v, want ErrVerification", err)
		}
		if _, err := transparency.RootFromInclusion(0, 1<<63, transparency.Hash{}, p); errClass(err) != "verification" {
			t.Fatalf("RootFromInclusion: got %v, want ErrVerification", err)
		}
	})
}

func toTlog(hs []transparency.Hash) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		out[i] = tlog.Hash(h)
	}
	return out
}

func TestConsistencyMatchesTlog(t *testing.T) {
	tree := syntheticTree(t, 1025)
	check := func(size1, size2 uint64) {
		t.Helper()
		p := tree.consistency(t, size1, size2)
		if err := transparency.VerifyConsistency(size1, size2, tree.root(t, size1), tree.root(t, size2), p); err != nil {
			t.Fatalf("VerifyConsistency(%d, %d) of a tlog proof: %v", size1, size2, err)
		}
	}
	for size2 := uint64(1); size2 <= exhaustiveSize; size2++ {
		for size1 := uint64(1); size1 <= size2; size1++ {
			check(size1, size2)
		}
	}
	for _, size2 := range largeSizes {
		for _, size1 := range []uint64{1, 2, 3, 7, 8, 100, 127, 128, 255, 256, 257, 1000} {
			if size1 <= size2 {
				check(size1, size2)
			}
		}
	}
	// Every tree is consistent with the empty tree, with an empty proof.
	for _, size2 := range []uint64{0, 1, 2, 1025} {
		if err := transparency.VerifyConsistency(0, size2, transparency.EmptyRoot(), tree.root(t, size2), nil); err != nil {
			t.Fatalf("VerifyConsistency(0, %d): %v", size2, err)
		}
	}
}

func TestConsistencyRejects(t *testing.T) {
	tree := syntheticTree(t, 41)
	var agreed, rejected int
	for size2 := uint64(1); size2 <= 40; size2++ {
		root2 := tree.root(t, size2)
		for size1 := uint64(1); size1 <= size2; size1++ {
			root1 := tree.root(t, size1)
			p := tree.consistency(t, size1, size2)
			mustFail := func(what string, size1, size2 uint64, root1, root2 transparency.Hash, p []transparency.Hash) {
				t.Helper()
				err := transparency.VerifyConsistency(size1, size2, root1, root2, p)
				if errClass(err) != "verification" {
					t.Fatalf("%s (%d -> %d): %v, want ErrVerification", what, size1, size2, err)
				}
			}
			for i := range p {
				for _, bit := range []int{0, 100, 255} {
					q := slices.Clone(p)
					q[i][bit/8] ^= 1 << (bit % 8)
					mustFail(fmt.Sprintf("bit %d of proof hash %d flipped", bit, i), size1, size2, root1, root2, q)
				}
			}
			if len(p) > 0 {
				mustFail("truncated proof", size1, size2, root1, root2, p[:len(p)-1])
				mustFail("first hash dropped", size1, size2, root1, root2, p[1:])
			}
			mustFail("extended proof", size1, size2, root1, root2, append(slices.Clone(p), root1))
			other := transparency.LeafHash([]byte("other"))
			mustFail("wrong old root", size1, size2, other, root2, p)
			mustFail("wrong new root", size1, size2, root1, other, p)
			if size1 < size2 {
				mustFail("roots swapped", size1, size2, root2, root1, p)
				mustFail("sizes swapped", size2, size1, root2, root1, p)
			}
			mustFail("old root of the empty tree", 0, size2, other, root2, nil)

			type claim struct{ size1, size2 uint64 }
			others := []claim{{size1, size2 + 1}}
			if size2-1 >= size1 {
				others = append(others, claim{size1, size2 - 1})
			}
			if size1+1 <= size2 {
				others = append(others, claim{size1 + 1, size2})
			}
			if size1 > 1 {
				others = append(others, claim{size1 - 1, size2})
			}
			for _, c := range others {
				ours := transparency.VerifyConsistency(c.size1, c.size2, root1, root2, p)
				theirs := tlog.CheckTree(tlog.TreeProof(toTlog(p)), int64(c.size2), tlog.Hash(root2), int64(c.size1), tlog.Hash(root1))
				if (ours == nil) != (theirs == nil) {
					t.Fatalf("proof %d -> %d claimed for %d -> %d: ours %v, tlog %v", size1, size2, c.size1, c.size2, ours, theirs)
				}
				if ours != nil && errClass(ours) != "verification" {
					t.Fatalf("wrong claim: %v, want ErrVerification", ours)
				}
				agreed++
				if ours != nil {
					rejected++
				}
			}
		}
	}
	if rejected < agreed/2 {
		t.Fatalf("only %d of %d wrong size claims rejected", rejected, agreed)
	}
	t.Run("proof too long", func(t *testing.T) {
		p := make([]transparency.Hash, transparency.MaxProofLen+1)
		err := transparency.VerifyConsistency(1, 1<<63, transparency.Hash{}, transparency.Hash{1}, p)
		if errClass(err) != "verification" {
			t.Fatalf("got %v, want ErrVerification", err)
		}
	})
	t.Run("equal sizes with a non-empty proof", func(t *testing.T) {
		r := tree.root(t, 5)
		err := transparency.VerifyConsistency(5, 5, r, r, []transparency.Hash{r})
		if errClass(err) != "verification" {
			t.Fatalf("got %v, want ErrVerification", err)
		}
	})
}

func TestFork(t *testing.T) {
	a := syntheticTree(t, 9)
	b := &memTree{}
	for i := range 9 {
		e := a.entries[i]
		if i == 4 {
			e = []byte("rewritten history")
		}
		b.add(t, e)
	}
	tests := []struct {
		name           string
		size           uint64
		root1, root2   transparency.Hash
		wantFork       bool
		wantProofError bool
	}{
		{"same tree", 9, a.root(t, 9), a.root(t, 9), false, false},
		{"forked at entry 4", 9, a.root(t, 9), b.root(t, 9), true, false},
		{"common prefix", 4, a.root(t, 4), b.root(t, 4), false, false},
		{"empty tree, other root", 0, transparency.EmptyRoot(), a.root(t, 1), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := transparency.VerifyConsistency(tc.size, tc.size, tc.root1, tc.root2, nil)
			var fork *transparency.ForkError
			if got := errors.As(err, &fork); got != tc.wantFork {
				t.Fatalf("VerifyConsistency = %v, fork %v, want fork %v", err, got, tc.wantFork)
			}
			if !tc.wantFork {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, transparency.ErrVerification) || errors.Is(err, transparency.ErrMalformed) {
				t.Fatalf("ForkError %v must match ErrVerification only", err)
			}
			if fork.Size != tc.size || fork.Root1 != tc.root1 || fork.Root2 != tc.root2 {
				t.Fatalf("ForkError carries %d %s %s", fork.Size, fork.Root1, fork.Root2)
			}
			if !strings.Contains(fork.Error(), tc.root1.String()) || !strings.Contains(fork.Error(), tc.root2.String()) {
				t.Fatalf("ForkError message lacks the roots: %s", fork.Error())
			}
		})
	}
	t.Run("consistency proof across the fork", func(t *testing.T) {
		p := a.consistency(t, 6, 9)
		err := transparency.VerifyConsistency(6, 9, b.root(t, 6), a.root(t, 9), p)
		if errClass(err) != "verification" {
			t.Fatalf("got %v, want ErrVerification", err)
		}
	})
}

// TestHasherMatchesRFC6962: Hasher computes the hashes of the merkle
// library's RFC 6962 hasher for every input, the 32-byte children of a tree
// and any other lengths alike, and NodeHash those of its HashChildren.
func TestHasherMatchesRFC6962(t *testing.T) {
	ref := rfc6962.DefaultHasher
	if !bytes.Equal(transparency.Hasher.EmptyRoot(), ref.EmptyRoot()) || transparency.Hasher.Size() != ref.Size() {
		t.Fatal("empty root or size differ")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := range 2000 {
		ln, rn := transparency.HashSize, transparency.HashSize
		if i%4 == 3 { // other lengths take the library's path
			ln, rn = rng.IntN(70), rng.IntN(70)
		}
		l, r := buf(ln), buf(rn)
		if got, want := transparency.Hasher.HashChildren(l, r), ref.HashChildren(l, r); !bytes.Equal(got, want) {
			t.Fatalf("HashChildren(%x, %x) = %x, want %x", l, r, got, want)
		}
		if ln == transparency.HashSize && rn == transparency.HashSize {
			if got, want := transparency.NodeHash(transparency.Hash(l), transparency.Hash(r)), ref.HashChildren(l, r); !bytes.Equal(got[:], want) {
				t.Fatalf("NodeHash(%x, %x) = %x, want %x", l, r, got, want)
			}
		}
		leaf := buf(rng.IntN(300))
		if got, want := transparency.Hasher.HashLeaf(leaf), ref.HashLeaf(leaf); !bytes.Equal(got, want) {
			t.Fatalf("HashLeaf(%x) = %x, want %x", leaf, got, want)
		}
	}
	// A returned hash is the caller's: the next one does not overwrite it.
	a := transparency.Hasher.HashChildren(buf(transparency.HashSize), buf(transparency.HashSize))
	keep := bytes.Clone(a)
	transparency.Hasher.HashChildren(buf(transparency.HashSize), buf(transparency.HashSize))
	if !bytes.Equal(a, keep) {
		t.Error("HashChildren reused its result's memory")
	}
}
