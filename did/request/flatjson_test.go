package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
)

// The reference: how the header and claims were parsed before decodeFlat,
// with encoding/json (a token pass for the member names, then a decode).
// decodeFlat must accept and refuse the same documents, refuse an unknown
// member as such, and produce the same values.

func checkMembersRef(data []byte, allowed []string, required bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string)
		if seen[name] {
			return fmt.Errorf("duplicate member %q", name)
		}
		seen[name] = true
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			return &unknownMemberError{name}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	if required {
		for _, a := range allowed {
			if !seen[a] {
				return fmt.Errorf("member %q missing", a)
			}
		}
	}
	return nil
}

func claimsRef(payload []byte) (Claims, error) {
	var c Claims
	if err := checkMembersRef(payload, []string{"aud", "htm", "htu", "bd", "iat", "exp", "jti"}, true); err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	return c, err
}

func headerRef(raw []byte) (protectedHeader, error) {
	var h protectedHeader
	if err := checkMembersRef(raw, []string{"alg", "typ", "kid"}, false); err != nil {
		return h, err
	}
	err := json.Unmarshal(raw, &h)
	return h, err
}

func claimsFlat(payload []byte) (Claims, error) {
	var c Claims
	err := decodeFlat(payload, []flatField{
		{name: "aud", str: &c.Audience}, {name: "htm", str: &c.Method}, {name: "htu", str: &c.URI},
		{name: "bd", str: &c.BodyDigest}, {name: "iat", num: &c.IssuedAt}, {name: "exp", num: &c.Expires},
		{name: "jti", str: &c.ID},
	}, true)
	return c, err
}

func headerFlat(raw []byte) (protectedHeader, error) {
	var h protectedHeader
	err := decodeFlat(raw, []flatField{{name: "alg", str: &h.Alg}, {name: "typ", str: &h.Typ}, {name: "kid", str: &h.Kid}}, false)
	return h, err
}

// errClass is what the verifier makes of a parse error: none, an unknown
// member (its own refusal code for the header), or malformed.
func errClass(err error) string {
	var u *unknownMemberError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &u):
		return "unknown " + u.name
	}
	return "malformed"
}

func compareFlat(t *testing.T, data []byte) {
	t.Helper()
	hr, errR := headerRef(data)
	hf, errF := headerFlat(data)
	if errClass(errR) != errClass(errF) || (errR == nil && hr != hf) {
		t.Fatalf("header %q:\nencoding/json: %+v, %v\ndecodeFlat:    %+v, %v", data, hr, errR, hf, errF)
	}
	cr, errR := claimsRef(data)
	cf, errF := claimsFlat(data)
	if errClass(errR) != errClass(errF) || (errR == nil && cr != cf) {
		t.Fatalf("claims %q:\nencoding/json: %+v, %v\ndecodeFlat:    %+v, %v", data, cr, errR, cf, errF)
	}
}

var flatSeeds = []string{
	`{"alg":"EdDSA","kid":"did:key:z6Mk#z6Mk","typ":"clawnet-request+jwt"}`,
	`{"aud":"https://l.example","htm":"POST","htu":"/v1/actions","bd":"sha256:00","iat":1767225600,"exp":1767225660,"jti":"jti-0123456789abcdef"}`,
	` { "alg" : "EdDSA" } `, `{}`, `{ }`, `[]`, `""`, `null`, ``, `{`, `{"alg"`, `{"alg":`, `{"alg":"EdDSA"`,
	`{"alg":"EdDSA",}`, `{,}`, `{"alg":"EdDSA" "typ":"x"}`, `{"alg" "EdDSA"}`, `{"alg":"EdDSA"}x`, `{"alg":"EdDSA"}{}`,
	`{"alg":"EdDSA","alg":"none"}`, `{"ALG":"EdDSA"}`, `{"a\u006cg":"EdDSA"}`, `{"alg":"Ed\u0044SA"}`, `{"alg":"\u00e9"}`,
	"{\"alg\":\"\xff\"}", "{\"alg\":\"a\x01\"}", `{"alg":"\x"}`, `{"alg":"\"}`, `{"alg":null}`, `{"alg":nul}`, `{"alg":nullx}`,
	`{"alg":5}`, `{"alg":true}`, `{"alg":{}}`, `{"alg":[]}`, `{"x":1}`, `{"jwk":{"kty":"OKP"}}`, `{"x" 1}`, `{"x":`,
	`{"iat":1}`, `{"iat":-0}`, `{"iat":01}`, `{"iat":1.5}`, `{"iat":1e3}`, `{"iat":1E3}`, `{"iat":-}`, `{"iat":+1}`,
	`{"iat":"1"}`, `{"iat":null}`, `{"iat":9223372036854775807}`, `{"iat":9223372036854775808}`, `{"iat":-9223372036854775808}`,
	`{"iat":12abc}`, `{"iat":1 2}`, "{\"iat\":1}\n", "\t{\"iat\":1}\r\n", `{"iat":1,"iat":2}`, `{"iat":[1]}`, `{"iat":true}`,
	`{"aud":"a","htm":"b","htu":"/","bd":"c","iat":1,"exp":2}`,
	`{"aud":"a","htm":"b","htu":"/","bd":"c","iat":1,"exp":2,"jti":"j","sub":"x"}`,
	`{"aud":"a","htm":"b","htu":"/","bd":"c","iat":1,"exp":2,"jti":null}`,
}

func TestDecodeFlatMatchesEncodingJSON(t *testing.T) {
	for _, s := range flatSeeds {
		compareFlat(t, []byte(s))
	}
}

func FuzzDecodeFlat(f *testing.F) {
	for _, s := range flatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(compareFlat)
}

func BenchmarkParseClaims(b *testing.B) {
	payload := []byte(flatSeeds[1])
	b.Run("decodeFlat", func(b *testing.B) {
		for b.Loop() {
			if _, err := claimsFlat(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := claimsRef(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
