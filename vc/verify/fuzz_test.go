package verify

import (
	"context"
	"testing"
)

// FuzzCredential: no input panics, and an accepted input is one of the
// two formats with its digest.
func FuzzCredential(f *testing.F) {
	f.Add([]byte(goodJWT(f)))
	f.Add(quoted(goodJWT(f)))
	f.Add(goodLD(f))
	f.Add([]byte(`{"proof":{}}`))
	f.Add([]byte(`{"@context":["https://www.w3.org/2018/credentials/v1"],"proof":{},"a":{"a":1,"a":2}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := Credential(context.Background(), raw, opts(&resolver{}))
		if err == nil && (v.Digest != Digest(v.Raw) || (v.Format != FormatJWT && v.Format != FormatLDP)) {
			t.Fatalf("accepted %+v", v)
		}
		if err != nil && CodeOf(err) == "" {
			t.Fatalf("refusal without a code: %v", err)
		}
		_, _ = Inspect(raw)
	})
}

// FuzzPresentation: no input panics and every refusal has a code.
func FuzzPresentation(f *testing.F) {
	f.Add([]byte(vp(f, holderP, holderP.kid, nil)))
	f.Add([]byte(`{"type":"VerifiablePresentation"}`))
	f.Add([]byte(`"a.b.c"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := Presentation(context.Background(), raw, popts(&resolver{}))
		if err != nil && CodeOf(err) == "" {
			t.Fatalf("refusal without a code: %v", err)
		}
	})
}
