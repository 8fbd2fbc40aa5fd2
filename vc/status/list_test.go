package status

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	jose "github.com/go-jose/go-jose/v4"
)

// sign makes a compact JWS by hand (independently of jwx) over the JSON of
// hdr and payload.
func sign(t testing.TB, priv ed25519.PrivateKey, hdr, payload any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(hdr) + "." + enc(payload)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

// claimsMap is the claim set of c as a mutable map, for mutations.
func claimsMap(c ListCredential) map[string]any {
	return map[string]any{
		"iss": c.Issuer, "sub": c.ID + "#list", "jti": c.ID,
		"nbf": c.ValidFrom.Unix(), "iat": c.ValidFrom.Unix(), "exp": c.ValidUntil.Unix(),
		"vc": map[string]any{
			"@context": []string{CredentialsContextURL, ContextURL},
			"type":     []string{VerifiableCredentialType, CredentialType},
			"credentialSubject": map[string]any{
				"type": SubjectType, "statusPurpose": c.Purpose, "encodedList": c.EncodedList,
			},
		},
	}
}

func TestIssueVerifyCheck(t *testing.T) {
	priv, kid, c := testList(t, 3, 94567)
	tok, err := IssueList(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := VerifyList(context.Background(), tok, resolveKey, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if v.ListCredential != c || v.KID != kid || v.Token != tok {
		t.Fatalf("VerifyList = %+v, want %+v", v.ListCredential, c)
	}
	entry := func(i string) Entry {
		return Entry{ID: testListURL + "#" + i, Type: EntryType, Purpose: PurposeRevocation, ListIndex: i, ListCredential: testListURL}
	}
	tests := []struct {
		name    string
		e       Entry
		revoked bool
		code    Code
	}{
		{"revoked", entry("3"), true, ""},
		{"revoked high", entry("94567"), true, ""},
		{"not revoked", entry("4"), false, ""},
		{"no id", Entry{Type: EntryType, Purpose: PurposeRevocation, ListIndex: "0", ListCredential: testListURL}, false, ""},
		{"last index", entry("131071"), false, ""},
		{"out of range", entry("131072"), false, CodeIndexOutOfRange},
		{"beyond uint64", entry("18446744073709551616"), false, CodeIndexOutOfRange},
		{"other list", Entry{Type: EntryType, Purpose: PurposeRevocation, ListIndex: "3", ListCredential: testListURL + "0"}, false, CodeListMismatch},
		{"suspension entry", Entry{Type: EntryType, Purpose: PurposeSuspension, ListIndex: "3", ListCredential: testListURL}, false, CodePurposeMismatch},
		{"leading zero", entry("03"), false, CodeMalformed},
		{"negative", entry("-3"), false, CodeMalformed},
		{"wrong type", Entry{Type: "StatusList2021Entry", Purpose: PurposeRevocation, ListIndex: "3", ListCredential: testListURL}, false, CodeMalformed},
		{"message purpose", Entry{Type: EntryType, Purpose: "message", ListIndex: "3", ListCredential: testListURL}, false, CodeMalformed},
		{"id is the list", Entry{ID: testListURL, Type: EntryType, Purpose: PurposeRevocation, ListIndex: "3", ListCredential: testListURL}, false, CodeMalformed},
		{"list not http", Entry{Type: EntryType, Purpose: PurposeRevocation, ListIndex: "3", ListCredential: "ftp://x/1"}, false, CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Check(v, tc.e)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.revoked {
				t.Fatalf("Check = %v, want %v", got, tc.revoked)
			}
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	priv, kid, c := testList(t)
	_, _, otherKID := keyDID(seedOther)
	mut := func(f func(*ListCredential)) ListCredential { x := c; f(&x); return x }
	tests := []struct {
		name string
		kid  string
		c    ListCredential
		code Code
	}{
		{"kid of another DID", otherKID, c, CodeIssuerMismatch},
		{"kid without fragment", c.Issuer, c, CodeKIDInvalid},
		{"id with fragment", kid, mut(func(x *ListCredential) { x.ID += "#x" }), CodeMalformed},
		{"id not a URL", kid, mut(func(x *ListCredential) { x.ID = "urn:uuid:1" }), CodeMalformed},
		{"no ValidUntil", kid, mut(func(x *ListCredential) { x.ValidUntil = time.Time{} }), CodeMalformed},
		{"until before from", kid, mut(func(x *ListCredential) { x.ValidUntil = x.ValidFrom }), CodeMalformed},
		{"message purpose", kid, mut(func(x *ListCredential) { x.Purpose = "message" }), CodeMalformed},
		{"bad list", kid, mut(func(x *ListCredential) { x.EncodedList = "u" }), CodeMalformed},
		{"short list", kid, mut(func(x *ListCredential) { x.EncodedList = u(gz(t, make([]byte, 100))) }), CodeListTooShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := IssueList(priv, tc.kid, tc.c)
			wantCode(t, err, tc.code)
		})
	}
}

func TestVerifyRefusals(t *testing.T) {
	priv, kid, c := testList(t)
	other, _, _ := keyDID(seedOther)
	hdr := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
	now := t0.Add(time.Minute)
	with := func(f func(m map[string]any)) map[string]any { m := claimsMap(c); f(m); return m }
	sub := func(m map[string]any) map[string]any {
		return m["vc"].(map[string]any)["credentialSubject"].(map[string]any)
	}
	good := sign(t, priv, hdr, claimsMap(c))
	if _, err := VerifyList(context.Background(), good, resolveKey, now); err != nil {
		t.Fatalf("hand-signed good token: %v", err)
	}
	parts := strings.Split(good, ".")
	tests := []struct {
		name string
		tok  string
		now  time.Time
		code Code
	}{
		{"two parts", parts[0] + "." + parts[1], now, CodeMalformed},
		{"padding", good + "=", now, CodeMalformed},
		{"too long", strings.Repeat("a", MaxTokenLen+1), now, CodeMalformed},
		{"alg none", sign(t, priv, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claimsMap(c)), now, CodeAlgNotAllowed},
		{"alg HS256", sign(t, priv, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claimsMap(c)), now, CodeAlgNotAllowed},
		{"jwk in header", sign(t, priv, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid, "jwk": map[string]string{}}, claimsMap(c)), now, CodeMalformed},
		{"typ vc+jwt", sign(t, priv, map[string]any{"alg": "EdDSA", "typ": "vc+jwt", "kid": kid}, claimsMap(c)), now, CodeMalformed},
		{"duplicate header member", sign(t, priv, `{"alg":"EdDSA","typ":"JWT","kid":"`+kid+`","kid":"`+kid+`"}`, claimsMap(c)), now, CodeMalformed},
		{"no kid", sign(t, priv, map[string]any{"alg": "EdDSA", "typ": "JWT"}, claimsMap(c)), now, CodeKIDInvalid},
		{"kid without fragment", sign(t, priv, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": c.Issuer}, claimsMap(c)), now, CodeKIDInvalid},
		{"unknown claim", sign(t, priv, hdr, with(func(m map[string]any) { m["x"] = 1 })), now, CodeMalformed},
		{"no exp", sign(t, priv, hdr, with(func(m map[string]any) { delete(m, "exp") })), now, CodeMalformed},
		{"iat differs", sign(t, priv, hdr, with(func(m map[string]any) { m["iat"] = c.ValidFrom.Unix() + 1 })), now, CodeMalformed},
		{"fractional nbf", sign(t, priv, hdr, with(func(m map[string]any) { m["nbf"] = 1.5 })), now, CodeMalformed},
		{"sub not id#list", sign(t, priv, hdr, with(func(m map[string]any) { m["sub"] = c.ID })), now, CodeMalformed},
		{"vc.id", sign(t, priv, hdr, with(func(m map[string]any) { m["vc"].(map[string]any)["id"] = c.ID })), now, CodeMalformed},
		{"VC 2.0 context", sign(t, priv, hdr, with(func(m map[string]any) {
			m["vc"].(map[string]any)["@context"] = []string{"https://www.w3.org/ns/credentials/v2"}
		})), now, CodeMalformed},
		{"StatusList2021 type", sign(t, priv, hdr, with(func(m map[string]any) {
			m["vc"].(map[string]any)["type"] = []string{VerifiableCredentialType, "StatusList2021Credential"}
		})), now, CodeMalformed},
		{"subject type", sign(t, priv, hdr, with(func(m map[string]any) { sub(m)["type"] = "StatusList2021" })), now, CodeMalformed},
		{"ttl", sign(t, priv, hdr, with(func(m map[string]any) { sub(m)["ttl"] = 300000 })), now, CodeMalformed},
		{"purpose array", sign(t, priv, hdr, with(func(m map[string]any) { sub(m)["statusPurpose"] = []string{"revocation"} })), now, CodeMalformed},
		{"issuer mismatch", sign(t, other, hdr, with(func(m map[string]any) {
			_, d, _ := keyDID(seedOther)
			m["iss"] = d
		})), now, CodeIssuerMismatch},
		{"unresolvable issuer", sign(t, priv, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "did:web:nowhere.example#key-1"},
			with(func(m map[string]any) { m["iss"] = "did:web:nowhere.example" })), now, CodeIssuerUnresolvable},
		{"key not authorized", sign(t, priv, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": c.Issuer + "#other"}, claimsMap(c)), now, CodeKeyNotAuthorized},
		{"signed by another key", sign(t, other, hdr, claimsMap(c)), now, CodeSignatureInvalid},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(mustB64(t, parts[1]), "revocation", "suspension", 1))) + "." + parts[2], now, CodeSignatureInvalid},
		{"not yet valid", good, t0.Add(-Skew - time.Second), CodeNotYetValid},
		{"expired", good, c.ValidUntil.Add(Skew + time.Second), CodeExpired},
		{"bomb", sign(t, priv, hdr, with(func(m map[string]any) { sub(m)["encodedList"] = u(gz(t, make([]byte, DefaultMaxBytes+8))) })), now, CodeListTooLarge},
		{"short list", sign(t, priv, hdr, with(func(m map[string]any) { sub(m)["encodedList"] = u(gz(t, make([]byte, 1024))) })), now, CodeListTooShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyList(context.Background(), tc.tok, resolveKey, tc.now)
			wantCode(t, err, tc.code)
		})
	}
	// A resolver that returns someone else's document.
	_, err := VerifyList(context.Background(), good, func(ctx context.Context, d string) (*did.Document, error) {
		_, o, _ := keyDID(seedOther)
		return did.ResolveKey(o)
	}, now)
	wantCode(t, err, CodeIssuerUnresolvable)
	rerr := errors.New("boom")
	_, err = VerifyList(context.Background(), good, func(context.Context, string) (*did.Document, error) { return nil, rerr }, now)
	if CodeOf(err) != CodeIssuerUnresolvable || !errors.Is(err, rerr) {
		t.Fatalf("resolver error: %v", err)
	}
}

func mustB64(t testing.TB, s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// go-jose is an independent JOSE implementation: a list it signs must
// verify, and a list IssueList makes must verify with go-jose.
func TestInteropGoJose(t *testing.T) {
	priv, kid, c := testList(t, 42)
	payload, err := json.Marshal(claimsMap(c))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	v, err := VerifyList(context.Background(), tok, resolveKey, t0)
	if err != nil {
		t.Fatalf("go-jose list: %v", err)
	}
	if r, err := Check(v, Entry{Type: EntryType, Purpose: PurposeRevocation, ListIndex: "42", ListCredential: c.ID}); err != nil || !r {
		t.Fatalf("go-jose list: bit 42 = %v, %v", r, err)
	}

	ours, err := IssueList(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSigned(ours, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsed.Verify(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("go-jose does not verify our list: %v", err)
	}
	if h := parsed.Signatures[0].Protected; h.KeyID != kid || h.ExtraHeaders["typ"] != "JWT" {
		t.Fatalf("header %+v", h)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if m["jti"] != c.ID || m["sub"] != c.ID+"#list" || m["iss"] != c.Issuer {
		t.Fatalf("claims %v", m)
	}
}

func TestParseEntry(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code Code
	}{
		{"good", `{"id":"http://h/status/1#5","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1"}`, ""},
		{"no id", `{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1"}`, ""},
		{"index as number", `{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":5,"statusListCredential":"http://h/status/1"}`, CodeMalformed},
		{"statusSize", `{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1","statusSize":1}`, CodeMalformed},
		{"duplicate", `{"type":"BitstringStatusListEntry","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1"}`, CodeMalformed},
		{"empty id", `{"id":"","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1"}`, CodeMalformed},
		{"missing list", `{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5"}`, CodeMalformed},
		{"trailing", `{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1"} {}`, CodeMalformed},
		{"huge index", `{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"99999999999999999999999","statusListCredential":"http://h/status/1"}`, CodeIndexOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseEntry([]byte(tc.in))
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.in {
				t.Fatalf("re-marshal %s, want %s", b, tc.in)
			}
		})
	}
}

func FuzzVerifyList(f *testing.F) {
	priv, kid, c := testList(f, 1, 2, 3)
	tok, err := IssueList(priv, kid, c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(sign(f, priv, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}, claimsMap(c)))
	f.Add("a.b.c")
	f.Add("")
	now := t0.Add(time.Minute)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := VerifyList(context.Background(), s, resolveKey, now)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		// Only a token signed by the issuer's key gets here: it must
		// describe the list that was signed.
		if v.Issuer != c.Issuer || v.Bits == nil || v.Bits.Len() < MinBits {
			t.Fatalf("accepted %+v", v.ListCredential)
		}
	})
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"id":"http://h/status/1#5","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"5","statusListCredential":"http://h/status/1"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseEntry(b)
		if err != nil || again != e {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}
