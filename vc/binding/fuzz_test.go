package binding

import (
	"context"
	"crypto/ed25519"
	"testing"
)

// FuzzVerify: Verify never panics; whatever it accepts verifies again to
// the same result, and its Binding is one Issue accepts and that round-trips
// through Issue and Verify unchanged (so Verify accepts nothing that Issue
// would refuse to state).
func FuzzVerify(f *testing.F) {
	mf, _ := generateVectors(f)
	for _, v := range mf.Vectors {
		f.Add(v.token)
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	now := mustTime(f, vectorNow)
	r := newTestResolver()
	keys := map[string]ed25519.PrivateKey{}
	for _, s := range []byte{seedOwner, seedOther, seedNobody} {
		priv, _, kid := keyDID(s)
		keys[kid] = priv
	}
	keys[aliceDID+"#key-1"] = seedKey(seedAliceKey1)
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := Verify(context.Background(), tok, r.resolve, now)
		if err != nil {
			if got != nil || CodeOf(err) == "" {
				t.Fatalf("Verify = %v, %v: a refusal without a code", got, err)
			}
			return
		}
		again, err := Verify(context.Background(), tok, r.resolve, now)
		if err != nil || *again != *got {
			t.Fatalf("second Verify = %+v, %v; first %+v", again, err, got)
		}
		priv, ok := keys[got.KID]
		if !ok {
			t.Fatalf("accepted a credential signed by %s, which the resolver does not know", got.KID)
		}
		reissued, err := Issue(priv, got.KID, got.Binding)
		if err != nil {
			t.Fatalf("Issue refuses the accepted binding %+v: %v", got.Binding, err)
		}
		back, err := Verify(context.Background(), reissued, r.resolve, now)
		if err != nil || back.Binding != got.Binding {
			t.Fatalf("reissued: %+v, %v; want %+v", back, err, got.Binding)
		}
	})
}
