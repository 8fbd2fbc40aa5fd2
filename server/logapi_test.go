package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// The hand-written encoder of the inclusion proof response must give the
// bytes encoding/json gives (the API is unchanged by the fast path).
func TestAppendInclusionProofJSON(t *testing.T) {
	h := func(b byte) transparency.Hash {
		var x transparency.Hash
		for i := range x {
			x[i] = b + byte(i)*37
		}
		return x
	}
	for _, tc := range []struct {
		name string
		r    InclusionProofResponse
	}{
		{"empty proof, no checkpoint", InclusionProofResponse{Index: 0, TreeSize: 1, LeafHash: h(1), Proof: []transparency.Hash{}}},
		{"nil proof", InclusionProofResponse{Index: 0, TreeSize: 1, LeafHash: h(2)}},
		{"one hash", InclusionProofResponse{Index: 1, TreeSize: 2, LeafHash: h(3), Proof: []transparency.Hash{h(4)}}},
		{"24 hashes, large numbers", InclusionProofResponse{Index: 1<<63 - 1, TreeSize: 1<<64 - 1, LeafHash: h(5), Proof: make([]transparency.Hash, 24)}},
		{"checkpoint", InclusionProofResponse{Index: 5, TreeSize: 9, LeafHash: h(6), Proof: []transparency.Hash{h(7), h(8)},
			Checkpoint: "clawnet.local/x\n9\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n\n— clawnet.local/x AAAA<&>\u2028\"\\\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.r.Proof == nil {
				// The handler never passes a nil proof; encoding/json would
				// write null where the API promises an array.
				want = bytes.Replace(want, []byte(`"proof":null`), []byte(`"proof":[]`), 1)
			}
			got := appendInclusionProofJSON([]byte("prefix"), tc.r)
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("got  %s\nwant prefix%s", got, want)
			}
		})
	}
}

func FuzzAppendInclusionProofJSON(f *testing.F) {
	f.Add(uint64(0), uint64(1), []byte{}, "")
	f.Add(uint64(3), uint64(1000), bytes.Repeat([]byte{0xfe}, 3*32+5), "origin\n1000\nroot\n\n— origin sig\n")
	f.Add(uint64(1<<63), uint64(1<<64-1), []byte{1, 2, 3}, "<script>\u2028\x00\xff")
	f.Fuzz(func(t *testing.T, index, size uint64, raw []byte, cp string) {
		r := InclusionProofResponse{Index: index, TreeSize: size, Checkpoint: cp, Proof: []transparency.Hash{}}
		if len(raw) >= 32 {
			r.LeafHash = transparency.Hash(raw[:32])
			raw = raw[32:]
		}
		for len(raw) >= 32 {
			r.Proof = append(r.Proof, transparency.Hash(raw[:32]))
			raw = raw[32:]
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendInclusionProofJSON(nil, r); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}
