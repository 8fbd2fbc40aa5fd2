package verify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func unb64(t testing.TB, s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vp(t testing.TB, p party, kid string, f func(c *PresentationClaims)) string {
	t.Helper()
	c := PresentationClaims{Holder: p.did, Audience: "verifier.example", Nonce: "c-123",
		IssuedAt: now.Add(-time.Second), Expires: now.Add(5 * time.Minute), Credentials: [][]byte{[]byte(goodJWT(t))}}
	if f != nil {
		f(&c)
	}
	tok, err := SignPresentation(p.priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func popts(r *resolver) PresentationOptions {
	return PresentationOptions{Options: opts(r), Challenge: "c-123", Domain: "verifier.example"}
}

func TestPresentationGood(t *testing.T) {
	for _, raw := range [][]byte{[]byte(vp(t, holderP, holderP.kid, nil)), quoted(vp(t, holderP, holderP.kid, nil))} {
		p, err := Presentation(context.Background(), raw, popts(&resolver{}))
		if err != nil {
			t.Fatal(err)
		}
		if p.Holder != holderP.did || p.KID != holderP.kid || len(p.Credentials) != 1 || p.Nonce != "c-123" {
			t.Errorf("got %+v", p)
		}
		// The credential comes out as presented: verify it too.
		v, err := Credential(context.Background(), p.Credentials[0], opts(&resolver{}))
		if err != nil || v.Subject != p.Holder {
			t.Errorf("presented credential: %+v %v", v, err)
		}
	}
}

func TestPresentationRefusals(t *testing.T) {
	good := vp(t, holderP, holderP.kid, nil)
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name string
		raw  []byte
		opt  func(o *PresentationOptions)
		code Code
	}{
		{"json-ld presentation", []byte(`{"@context":["https://www.w3.org/2018/credentials/v1"],"type":["VerifiablePresentation"]}`), nil, CodePresentationFormatUnsupported},
		{"not a jws", []byte(`"abc"`), nil, CodePresentationMalformed},
		{"alg none", []byte(b64(`{"alg":"none","kid":"`+holderP.kid+`"}`) + "." + parts[1] + "."), nil, CodePresentationAlgNotAllowed},
		{"alg ES256", []byte(b64(`{"alg":"ES256","kid":"`+holderP.kid+`"}`) + "." + parts[1] + "." + parts[2]), nil, CodePresentationAlgNotAllowed},
		{"kid not a DID URL", []byte(b64(`{"alg":"EdDSA","kid":"k1"}`) + "." + parts[1] + "." + parts[2]), nil, CodePresentationKIDInvalid},
		{"no vp", []byte(signJWT(t, holderP.priv, map[string]string{"kid": holderP.kid}, map[string]any{
			"iss": holderP.did, "aud": "verifier.example", "nonce": "c-123", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})), nil, CodePresentationMalformed},
		{"kid of another DID", []byte(signJWT(t, otherP.priv, map[string]string{"kid": otherP.kid}, claimsOf(t, good))), nil, CodePresentationHolderMismatch},
		{"holder unresolvable", []byte(vpWithHolder(t, "did:web:nowhere.example", "did:web:nowhere.example#k1")), nil, CodePresentationHolderUnresolvable},
		{"holder key not in authentication", []byte(vpWithHolder(t, assertOnlyDID, assertOnlyDID+"#k1")), nil, CodePresentationKeyNotAuthorized},
		{"signature by another key", []byte(signJWT(t, otherP.priv, map[string]string{"kid": holderP.kid}, claimsOf(t, good))), nil, CodePresentationSignatureInvalid},
		{"wrong challenge", []byte(good), func(o *PresentationOptions) { o.Challenge = "c-999" }, CodePresentationChallengeMismatch},
		{"wrong domain", []byte(good), func(o *PresentationOptions) { o.Domain = "evil.example" }, CodePresentationDomainMismatch},
		{"expired", []byte(good), func(o *PresentationOptions) { o.Now = now.Add(7 * time.Minute) }, CodePresentationExpired},
		{"not yet valid", []byte(good), func(o *PresentationOptions) { o.Now = now.Add(-5 * time.Minute) }, CodePresentationNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := popts(&resolver{})
			if tc.opt != nil {
				tc.opt(&o)
			}
			_, err := Presentation(context.Background(), tc.raw, o)
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
		})
	}
	if _, err := Presentation(context.Background(), []byte(good), PresentationOptions{Options: opts(&resolver{})}); err == nil || CodeOf(err) != "" {
		t.Errorf("no expected challenge: %v, want a caller error", err)
	}
}

// claimsOf returns the claim set of a compact JWS.
func claimsOf(t testing.TB, tok string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(unb64(t, strings.Split(tok, ".")[1])), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// vpWithHolder signs, with otherP's key (assertOnlyDID's key), a
// presentation whose holder is h.
func vpWithHolder(t testing.TB, h, kid string) string {
	m := claimsOf(t, vp(t, holderP, holderP.kid, nil))
	m["iss"] = h
	return signJWT(t, otherP.priv, map[string]string{"kid": kid, "typ": "JWT"}, m)
}

func TestSignPresentationRefusals(t *testing.T) {
	base := PresentationClaims{Holder: holderP.did, Nonce: "n", IssuedAt: now, Expires: now.Add(time.Minute), Credentials: [][]byte{[]byte(goodJWT(t))}}
	for _, tc := range []struct {
		name string
		kid  string
		f    func(c *PresentationClaims)
	}{
		{"kid of another DID", otherP.kid, nil},
		{"kid not a DID URL", "k1", nil},
		{"no nonce", holderP.kid, func(c *PresentationClaims) { c.Nonce = "" }},
		{"exp before iat", holderP.kid, func(c *PresentationClaims) { c.Expires = now.Add(-time.Minute) }},
		{"no credentials", holderP.kid, func(c *PresentationClaims) { c.Credentials = nil }},
		{"junk credential", holderP.kid, func(c *PresentationClaims) { c.Credentials = [][]byte{[]byte("junk")} }},
	} {
		c := base
		if tc.f != nil {
			tc.f(&c)
		}
		if _, err := SignPresentation(holderP.priv, tc.kid, c); err == nil {
			t.Errorf("%s: signed", tc.name)
		}
	}
}
