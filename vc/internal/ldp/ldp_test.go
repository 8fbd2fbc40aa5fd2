package ldp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/clawnet/ledger/did"
)

func TestLoader(t *testing.T) {
	l, err := NewLoader(map[string][]byte{"https://example.org/c": []byte(`{"@context":{"x":"https://example.org/x"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := l.LoadDocument("https://example.org/c"); err != nil || d.DocumentURL != "https://example.org/c" {
		t.Fatalf("LoadDocument = %v, %v", d, err)
	}
	for _, u := range []string{"https://example.org/other", "", "http://example.org/c"} {
		if _, err := l.LoadDocument(u); !errors.Is(err, ErrContextNotEmbedded) {
			t.Errorf("LoadDocument(%q) = %v, want ErrContextNotEmbedded", u, err)
		}
	}
	if _, err := NewLoader(map[string][]byte{"u": []byte(`{`)}); err == nil {
		t.Fatal("NewLoader accepted a broken context")
	}
}

func TestDecodeProofValue(t *testing.T) {
	sig := bytes.Repeat([]byte{7}, 64)
	good := "z" + did.Base58Encode(sig)
	if b, err := DecodeProofValue(good); err != nil || !bytes.Equal(b, sig) {
		t.Fatalf("DecodeProofValue(good) = %x, %v", b, err)
	}
	for _, bad := range []string{"", "z", good[1:], "u" + good[1:], "z0OIl", "z" + string(rune(0xe9))} {
		if _, err := DecodeProofValue(bad); err == nil {
			t.Errorf("DecodeProofValue(%q) accepted", bad)
		}
	}
}

func FuzzDecodeProofValue(f *testing.F) {
	f.Add("z" + did.Base58Encode(bytes.Repeat([]byte{1}, 64)))
	f.Add("z111")
	f.Add("zz0")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeProofValue(s)
		if err == nil && "z"+did.Base58Encode(b) != s {
			t.Fatalf("accepted a non-canonical %q", s)
		}
	})
}
