package delegation

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify: Verify never panics, every refusal carries a Code, and
// anything accepted verifies again to the same credential and digest.
func FuzzVerify(f *testing.F) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(f)
	tok, err := IssueJWT(priv, kid, c)
	if err != nil {
		f.Fatal(err)
	}
	doc, err := IssueLDP(priv, kid, c, c.IssuanceDate)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(tok))
	f.Add(doc)
	f.Add([]byte(`"` + tok + `"`))
	f.Add([]byte(`{"proof":{}}`))
	f.Add([]byte(`{"@context":["https://www.w3.org/2018/credentials/v1"],"proof":1}`))
	f.Add([]byte("a.b.c"))
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join(vectorDir, dir, "*"))
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	opt := VerifyOptions{Resolve: (&testResolver{}).resolve, Now: mustTime(f, vectorNow)}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := Verify(context.Background(), raw, opt)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		again, err := Verify(context.Background(), v.Raw, opt)
		if err != nil {
			t.Fatalf("accepted once, refused on re-verification: %v", err)
		}
		if again.Digest != v.Digest || again.ID != v.ID || again.Issuer != v.Issuer || again.Subject != v.Subject ||
			again.Format != v.Format || !bytes.Equal(again.Raw, v.Raw) || !sameScopes(t, again.Scopes, v.Scopes) {
			t.Fatalf("re-verification differs: %+v vs %+v", again, v)
		}
	})
}
