package verify

import (
	"context"
	"testing"
)

func BenchmarkCredentialJWT(b *testing.B) {
	raw := []byte(goodJWT(b))
	o := opts(&resolver{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Credential(context.Background(), raw, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCredentialLDP(b *testing.B) {
	raw := goodLD(b)
	o := opts(&resolver{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Credential(context.Background(), raw, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPresentation(b *testing.B) {
	raw := []byte(vp(b, holderP, holderP.kid, nil))
	o := popts(&resolver{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Presentation(context.Background(), raw, o); err != nil {
			b.Fatal(err)
		}
	}
}
