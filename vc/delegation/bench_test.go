package delegation

import (
	"context"
	"testing"
)

func BenchmarkIssueJWT(b *testing.B) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := IssueJWT(priv, kid, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerifyJWT(b *testing.B) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(b)
	tok, err := IssueJWT(priv, kid, c)
	if err != nil {
		b.Fatal(err)
	}
	opt := testOptions(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Verify(context.Background(), []byte(tok), opt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkIssueLDP(b *testing.B) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := IssueLDP(priv, kid, c, c.IssuanceDate); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerifyLDP(b *testing.B) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(b)
	doc, err := IssueLDP(priv, kid, c, c.IssuanceDate)
	if err != nil {
		b.Fatal(err)
	}
	opt := testOptions(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Verify(context.Background(), doc, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
}
