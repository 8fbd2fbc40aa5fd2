package vcjwt

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

var b64 = base64.RawURLEncoding.EncodeToString

func token(header, payload string, sig []byte) string {
	return b64([]byte(header)) + "." + b64([]byte(payload)) + "." + b64(sig)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	tok, err := Sign(priv, "did:example:a#k", []byte(`{"iss":"did:example:a"}`))
	if err != nil {
		t.Fatal(err)
	}
	p, f := Split(tok, 1<<10)
	if f != nil {
		t.Fatal(f)
	}
	h, f := ParseHeader(p.Header)
	if f != nil {
		t.Fatal(f)
	}
	if h != (Header{Alg: "EdDSA", Typ: JOSEType, Kid: "did:example:a#k"}) {
		t.Fatalf("header %+v", h)
	}
	if f := CheckEdDSA(h, p.Signature); f != nil {
		t.Fatal(f)
	}
	if err := Verify(tok, pub); err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := Verify(tok, other); err == nil {
		t.Fatal("verified with another key")
	}
}

func TestRefusals(t *testing.T) {
	sig := make([]byte, ed25519.SignatureSize)
	good := `{"alg":"EdDSA","typ":"JWT","kid":"did:example:a#k"}`
	for _, tc := range []struct {
		name, tok string
		extra     []string
		kind      Kind
		msg       string
	}{
		{"too long", strings.Repeat("a", 65), nil, Malformed, "token of 65 bytes exceeds 64"},
		{"two parts", "a.b", nil, Malformed, "token has 2 parts"},
		{"padding", "YQ==.YQ.YQ", nil, Malformed, "token has character '='"},
		{"bad base64", "a.YQ.YQ", nil, Malformed, "token part 1 is not base64url"},
		{"header not object", token(`[]`, `{}`, sig), nil, Malformed, "protected header"},
		{"jwk member", token(`{"alg":"EdDSA","jwk":{}}`, `{}`, sig), nil, Malformed, `protected header member "jwk" not allowed`},
		{"cty not allowed", token(`{"alg":"EdDSA","typ":"JWT","cty":"x"}`, `{}`, sig), nil, Malformed, `member "cty" not allowed`},
		{"kid not string", token(`{"alg":"EdDSA","kid":1}`, `{}`, sig), nil, Malformed, "protected header kid"},
		{"alg none", token(`{"alg":"none","typ":"JWT"}`, `{}`, sig), nil, AlgNotAllowed, `alg "none", only EdDSA`},
		{"alg missing", token(`{"typ":"JWT"}`, `{}`, sig), nil, AlgNotAllowed, `alg "", only EdDSA`},
		{"typ", token(`{"alg":"EdDSA","typ":"vc+jwt"}`, `{}`, sig), nil, Malformed, `typ "vc+jwt", want "JWT"`},
		{"short signature", token(good, `{}`, sig[:63]), nil, Malformed, "signature of 63 bytes"},
		{"cty allowed when asked", token(`{"alg":"EdDSA","typ":"JWT","cty":"x"}`, `{}`, sig), []string{"cty"}, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := check(tc.tok, 64+len(tc.tok)*boolInt(tc.name != "too long"), tc.extra)
			if tc.kind < 0 {
				if f != nil {
					t.Fatalf("refused: %v", f)
				}
				return
			}
			if f == nil || f.Kind != tc.kind || !strings.Contains(f.Error(), tc.msg) {
				t.Fatalf("got %v (kind %v), want kind %v with %q", f, kindOf(f), tc.kind, tc.msg)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func kindOf(f *Failure) Kind {
	if f == nil {
		return -1
	}
	return f.Kind
}

func check(tok string, maxLen int, extra []string) *Failure {
	p, f := Split(tok, maxLen)
	if f != nil {
		return f
	}
	h, f := ParseHeader(p.Header, extra...)
	if f != nil {
		return f
	}
	return CheckEdDSA(h, p.Signature)
}

func FuzzSplitHeader(f *testing.F) {
	sig := make([]byte, ed25519.SignatureSize)
	f.Add(token(`{"alg":"EdDSA","typ":"JWT","kid":"did:example:a#k"}`, `{}`, sig))
	f.Add(token(`{"alg":"EdDSA","alg":"none"}`, `{}`, sig))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		p, fl := Split(tok, 1<<12)
		if fl != nil {
			return
		}
		if got := b64(p.Header) + "." + b64(p.Payload) + "." + b64(p.Signature); got != tok {
			t.Fatalf("Split is not canonical: %q re-encodes as %q", tok, got)
		}
		h, fl := ParseHeader(p.Header)
		if fl == nil && CheckEdDSA(h, p.Signature) == nil && (h.Alg != "EdDSA" || h.Typ != JOSEType || len(p.Signature) != 64) {
			t.Fatalf("accepted header %+v", h)
		}
	})
}

// TestCheckWindow: the window's edges, with the skew, on both sides; a zero
// end is no end; the message writes the bound in the given layout.
func TestCheckWindow(t *testing.T) {
	from := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	until := from.Add(time.Hour)
	const skew = time.Minute
	for _, tc := range []struct {
		name  string
		now   time.Time
		until time.Time
		want  Kind // -1: accepted
	}{
		{"at from - skew", from.Add(-skew), until, -1},
		{"just before from - skew", from.Add(-skew - time.Nanosecond), until, NotYetValid},
		{"inside", from.Add(30 * time.Minute), until, -1},
		{"at until + skew", until.Add(skew), until, -1},
		{"just after until + skew", until.Add(skew + time.Nanosecond), until, Expired},
		{"no end, long after", until.Add(1000 * time.Hour), time.Time{}, -1},
		{"no end, before", from.Add(-2 * skew), time.Time{}, NotYetValid},
	} {
		f := CheckWindow(tc.now, from, tc.until, skew, "2006-01-02T15:04:05Z")
		switch {
		case tc.want == -1 && f != nil:
			t.Errorf("%s: refused: %v", tc.name, f)
		case tc.want != -1 && (f == nil || f.Kind != tc.want):
			t.Errorf("%s: %v, want kind %d", tc.name, f, tc.want)
		}
	}
	if f := CheckWindow(until.Add(2*skew), from, until, skew, "2006-01-02T15:04:05Z"); f == nil || !strings.Contains(f.Message, "expired at 2026-11-26T13:00:00Z") {
		t.Errorf("message: %v", f)
	}
}

func TestCodeFor(t *testing.T) {
	codes := map[Kind]string{Expired: "x_expired", SignatureInvalid: "x_signature"}
	for kind, want := range map[Kind]string{Expired: "x_expired", SignatureInvalid: "x_signature", Malformed: "x_malformed", KIDInvalid: "x_malformed"} {
		if got := CodeFor(&Failure{Kind: kind}, codes, "x_malformed"); got != want {
			t.Errorf("kind %d: %q, want %q", kind, got, want)
		}
	}
}
