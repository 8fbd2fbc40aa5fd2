package request

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
)

const testAudience = "https://ledger.example"

// testKey returns a key derived from a public seed of 32 times b, its DID
// and the DID URL of its verification method.
func testKey(b byte) (ed25519.PrivateKey, string, string) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	return priv, d, d + "#" + strings.TrimPrefix(d, "did:key:")
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newVerifier(t *testing.T, now time.Time, resolve ResolveFunc) *Verifier {
	t.Helper()
	if resolve == nil {
		resolve = ResolveKeyDID
	}
	v, err := NewVerifier(Config{
		Audience: testAudience,
		Resolve:  resolve,
		Now:      func() time.Time { return now },
		Replay:   NewMemoryReplayCache(1000),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func goodClaims(body []byte) Claims {
	return Claims{
		Audience:   testAudience,
		Method:     http.MethodPost,
		URI:        "/v1/owners?dryRun=1",
		BodyDigest: BodyDigest(body),
		IssuedAt:   t0.Unix(),
		Expires:    t0.Unix() + 60,
		ID:         "jti-0123456789abcdef",
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// compact assembles a JWS by hand, for tokens our Sign refuses to make.
func compact(header string, payload []byte, sign func(input []byte) []byte) string {
	input := b64([]byte(header)) + "." + b64(payload)
	return input + "." + b64(sign([]byte(input)))
}

func claimsJSON(c Claims) []byte {
	b, _ := json.Marshal(c)
	return b
}

func TestVerifyRefusals(t *testing.T) {
	priv, _, kid := testKey(1)
	other, _, otherKID := testKey(2)
	body := []byte(`{"name":"alice"}`)
	edSign := func(k ed25519.PrivateKey) func([]byte) []byte {
		return func(in []byte) []byte { return ed25519.Sign(k, in) }
	}
	hdr := func(extra string) string {
		return `{"alg":"EdDSA","kid":"` + kid + `","typ":"clawnet-request+jwt"` + extra + `}`
	}
	sign := func(c Claims) string {
		tok, err := Sign(priv, kid, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(goodClaims(body))
	with := func(f func(*Claims)) string {
		c := goodClaims(body)
		f(&c)
		return compact(hdr(""), claimsJSON(c), edSign(priv))
	}
	// A document for priv's DID in which the key is only an assertion key.
	assertOnly := func(_ context.Context, d string) (*did.Document, error) {
		doc, err := did.ResolveKey(d)
		if err != nil {
			return nil, err
		}
		doc.Authentication = nil
		return doc, nil
	}
	jwt := func(_ context.Context, d string) (*did.Document, error) {
		doc, err := did.ResolveKey(d)
		if err != nil {
			return nil, err
		}
		doc.VerificationMethod[0].Type = "EcdsaSecp256k1VerificationKey2019"
		return doc, nil
	}
	unreachable := func(context.Context, string) (*did.Document, error) {
		return nil, errors.New("connection refused")
	}
	deactivated := func(context.Context, string) (*did.Document, error) {
		return nil, fmt.Errorf("resolve: %w", &did.ResolutionError{Code: did.ErrorDeactivated, Message: "deactivated"})
	}
	unsupported := func(context.Context, string) (*did.Document, error) {
		return nil, &did.ResolutionError{Code: did.ErrorMethodNotSupported, Message: "no"}
	}
	notFound := func(context.Context, string) (*did.Document, error) {
		return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no such DID"}
	}
	pub := priv.Public().(ed25519.PublicKey)
	forged := []byte(good)
	forged[len(forged)-5] ^= 'A' ^ 'B'
	if forged[len(forged)-5] == good[len(good)-5] {
		t.Fatal("forgery did not change the token")
	}
	// goodSig is good's signature; withSig puts another in its place.
	dot := strings.LastIndexByte(good, '.')
	goodSig, err := base64.RawURLEncoding.DecodeString(good[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	withSig := func(sig []byte) string { return good[:dot+1] + b64(sig) }
	// The same signature with S + L (the group order) in place of S: the
	// same point equation holds, and only a verifier that insists on a
	// canonical S (RFC 8032 §5.1.7) refuses it.
	malleable := append([]byte(nil), goodSig...)
	order := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}
	carry := 0
	for i := 0; i < 32; i++ {
		v := int(malleable[32+i]) + int(order[i]) + carry
		malleable[32+i], carry = byte(v), v>>8
	}
	// A payload part that is base64url characters but no base64url
	// (one character), correctly signed.
	badPayloadInput := b64([]byte(hdr(""))) + ".A"
	badPayload := badPayloadInput + "." + b64(ed25519.Sign(priv, []byte(badPayloadInput)))

	for _, tc := range []struct {
		name    string
		auth    []string // Authorization header values
		method  string
		target  string
		body    []byte
		now     time.Time
		resolve ResolveFunc
		want    Code // "" means accepted
	}{
		{name: "good", auth: []string{Scheme + " " + good}},
		{name: "scheme-case-insensitive", auth: []string{"clawnet-jws " + good}},
		{name: "exp-plus-skew-is-valid", auth: []string{Scheme + " " + good}, now: t0.Add(120 * time.Second)},
		{name: "iat-minus-skew-is-valid", auth: []string{Scheme + " " + good}, now: t0.Add(-60 * time.Second)},
		{name: "header-missing", want: CodeHeaderMissing},
		{name: "other-scheme", auth: []string{"Bearer " + good}, want: CodeHeaderMissing},
		{name: "two-headers", auth: []string{Scheme + " " + good, Scheme + " " + good}, want: CodeHeaderMalformed},
		{name: "two-spaces", auth: []string{Scheme + "  " + good}, want: CodeHeaderMalformed},
		{name: "two-parts", auth: []string{Scheme + " a.b"}, want: CodeHeaderMalformed},
		{name: "json-serialization", auth: []string{Scheme + ` {"payload":"x"}`}, want: CodeHeaderMalformed},
		{name: "padding", auth: []string{Scheme + " " + good + "="}, want: CodeHeaderMalformed},
		{name: "too-long", auth: []string{Scheme + " " + strings.Repeat("a", maxTokenLen) + ".b.c"}, want: CodeHeaderMalformed},
		{name: "header-not-json", auth: []string{Scheme + " " + b64([]byte("nope")) + ".e30.AA"}, want: CodeJWSMalformed},
		{name: "header-duplicate-alg", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","alg":"none","kid":"`+kid+`"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeJWSMalformed},
		{name: "alg-none", auth: []string{Scheme + " " + compact(`{"alg":"none","kid":"`+kid+`","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), func([]byte) []byte { return nil })}, want: CodeAlgNotAllowed},
		{name: "alg-hs256-public-key-as-secret", auth: []string{Scheme + " " + compact(`{"alg":"HS256","kid":"`+kid+`","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), func(in []byte) []byte {
			m := hmac.New(sha256.New, pub)
			m.Write(in)
			return m.Sum(nil)
		})}, want: CodeAlgNotAllowed},
		{name: "alg-missing", auth: []string{Scheme + " " + compact(`{"kid":"`+kid+`","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeAlgNotAllowed},
		{name: "embedded-jwk", auth: []string{Scheme + " " + compact(hdr(`,"jwk":{"kty":"OKP","crv":"Ed25519","x":"`+b64(pub)+`"}`), claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeJOSEHeaderNotAllowed},
		{name: "x5c", auth: []string{Scheme + " " + compact(hdr(`,"x5c":["AA"]`), claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeJOSEHeaderNotAllowed},
		{name: "jku", auth: []string{Scheme + " " + compact(hdr(`,"jku":"https://evil.example/jwks"`), claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeJOSEHeaderNotAllowed},
		{name: "crit", auth: []string{Scheme + " " + compact(hdr(`,"crit":["exp"]`), claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeJOSEHeaderNotAllowed},
		{name: "kid-missing", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeKIDMissing},
		{name: "kid-not-did-url", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"key-1","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeKIDInvalid},
		{name: "kid-without-fragment", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"`+strings.Split(kid, "#")[0]+`","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeKIDInvalid},
		{name: "unknown-did-method", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"did:example:123#key-1","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeDIDMethodNotSupported},
		{name: "resolution-fails", auth: []string{Scheme + " " + good}, resolve: unreachable, want: CodeDIDResolutionFailed},
		{name: "did-not-found", auth: []string{Scheme + " " + good}, resolve: notFound, want: CodeDIDResolutionFailed},
		{name: "did-deactivated", auth: []string{Scheme + " " + good}, resolve: deactivated, want: CodeDIDDeactivated},
		{name: "resolver-method-not-supported", auth: []string{Scheme + " " + good}, resolve: unsupported, want: CodeDIDMethodNotSupported},
		{name: "kid-fragment-unknown", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"`+kid+`x","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeKeyNotFound},
		{name: "key-not-in-authentication", auth: []string{Scheme + " " + good}, resolve: assertOnly, want: CodeKeyNotAuthorized},
		{name: "key-type-unsupported", auth: []string{Scheme + " " + good}, resolve: jwt, want: CodeKeyTypeUnsupported},
		{name: "forged-signature", auth: []string{Scheme + " " + string(forged)}, want: CodeSignatureInvalid},
		{name: "signature-truncated", auth: []string{Scheme + " " + withSig(goodSig[:63])}, want: CodeSignatureInvalid},
		{name: "signature-extended", auth: []string{Scheme + " " + withSig(append(append([]byte(nil), goodSig...), 0))}, want: CodeSignatureInvalid},
		{name: "signature-empty", auth: []string{Scheme + " " + good[:dot+1]}, want: CodeSignatureInvalid},
		{name: "signature-non-canonical-s", auth: []string{Scheme + " " + withSig(malleable)}, want: CodeSignatureInvalid},
		{name: "payload-not-base64url", auth: []string{Scheme + " " + badPayload}, want: CodeClaimsMalformed},
		{name: "signed-by-other-key", auth: []string{Scheme + " " + compact(hdr(""), claimsJSON(goodClaims(body)), edSign(other))}, want: CodeSignatureInvalid},
		{name: "other-keys-kid-with-our-signature", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"`+otherKID+`","typ":"clawnet-request+jwt"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeSignatureInvalid},
		{name: "typ-missing", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"`+kid+`"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeWrongType},
		{name: "typ-jwt", auth: []string{Scheme + " " + compact(`{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, claimsJSON(goodClaims(body)), edSign(priv))}, want: CodeWrongType},
		{name: "claim-unknown", auth: []string{Scheme + " " + compact(hdr(""), append(claimsJSON(goodClaims(body))[:len(claimsJSON(goodClaims(body)))-1], []byte(`,"sub":"x"}`)...), edSign(priv))}, want: CodeClaimsMalformed},
		{name: "claim-duplicate", auth: []string{Scheme + " " + compact(hdr(""), append(claimsJSON(goodClaims(body))[:len(claimsJSON(goodClaims(body)))-1], []byte(`,"aud":"`+testAudience+`"}`)...), edSign(priv))}, want: CodeClaimsMalformed},
		{name: "claim-iat-fraction", auth: []string{Scheme + " " + compact(hdr(""), bytes.Replace(claimsJSON(goodClaims(body)), []byte(`"iat":1767225600`), []byte(`"iat":1767225600.5`), 1), edSign(priv))}, want: CodeClaimsMalformed},
		{name: "jti-too-short", auth: []string{Scheme + " " + with(func(c *Claims) { c.ID = "short" })}, want: CodeClaimsMalformed},
		{name: "jti-bad-character", auth: []string{Scheme + " " + with(func(c *Claims) { c.ID = "jti 0123456789abcdef" })}, want: CodeClaimsMalformed},
		{name: "exp-before-iat", auth: []string{Scheme + " " + with(func(c *Claims) { c.Expires = c.IssuedAt - 1 })}, want: CodeClaimsMalformed},
		{name: "bd-uppercase", auth: []string{Scheme + " " + with(func(c *Claims) { c.BodyDigest = strings.ToUpper(c.BodyDigest) })}, want: CodeClaimsMalformed},
		{name: "wrong-audience", auth: []string{Scheme + " " + with(func(c *Claims) { c.Audience = "https://other.example" })}, want: CodeWrongAudience},
		{name: "wrong-method", auth: []string{Scheme + " " + good}, method: http.MethodPut, want: CodeWrongMethod},
		{name: "wrong-path", auth: []string{Scheme + " " + good}, target: "/v1/agents?dryRun=1", want: CodeWrongPath},
		{name: "wrong-query", auth: []string{Scheme + " " + good}, target: "/v1/owners?dryRun=0", want: CodeWrongPath},
		{name: "tampered-body", auth: []string{Scheme + " " + good}, body: []byte(`{"name":"mallory"}`), want: CodeBodyMismatch},
		{name: "empty-body", auth: []string{Scheme + " " + good}, body: []byte{}, want: CodeBodyMismatch},
		{name: "overlong-lifetime", auth: []string{Scheme + " " + with(func(c *Claims) { c.Expires = c.IssuedAt + 301 })}, want: CodeLifetimeTooLong},
		{name: "expired", auth: []string{Scheme + " " + good}, now: t0.Add(121 * time.Second), want: CodeExpired},
		{name: "future", auth: []string{Scheme + " " + good}, now: t0.Add(-61 * time.Second), want: CodeNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.method == "" {
				tc.method = http.MethodPost
			}
			if tc.target == "" {
				tc.target = "/v1/owners?dryRun=1"
			}
			if tc.body == nil {
				tc.body = body
			}
			if tc.now.IsZero() {
				tc.now = t0.Add(time.Second)
			}
			r := httptest.NewRequest(tc.method, tc.target, bytes.NewReader(tc.body))
			for _, a := range tc.auth {
				r.Header.Add("Authorization", a)
			}
			v := newVerifier(t, tc.now, tc.resolve)
			got, err := v.Verify(context.Background(), r, tc.body)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.KID != kid || got.DID != strings.Split(kid, "#")[0] || got.Claims != goodClaims(body) {
					t.Fatalf("Verified = %+v", got)
				}
				if got.Token != good || got.Digest != RequestDigest(good) || !strings.HasPrefix(got.Digest, "sha256:") {
					t.Fatalf("Verified token %q digest %q; want the header's JWS and its digest", got.Token, got.Digest)
				}
				return
			}
			if got != nil || CodeOf(err) != tc.want {
				t.Fatalf("Verify = %+v, %v; want code %s", got, err, tc.want)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	priv, _, kid := testKey(1)
	tok, err := Sign(priv, kid, goodClaims(nil))
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, t0, nil)
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/owners?dryRun=1", nil)
		r.Header.Set("Authorization", Scheme+" "+tok)
		return r
	}
	if _, err := v.Verify(context.Background(), req(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), req(), nil); CodeOf(err) != CodeReplayed {
		t.Fatalf("second use: %v, want %s", err, CodeReplayed)
	}
	// The same jti from another signer is that signer's own.
	other, _, otherKID := testKey(2)
	tok2, _ := Sign(other, otherKID, goodClaims(nil))
	r := httptest.NewRequest(http.MethodPost, "/v1/owners?dryRun=1", nil)
	r.Header.Set("Authorization", Scheme+" "+tok2)
	if _, err := v.Verify(context.Background(), r, nil); err != nil {
		t.Fatalf("same jti, other DID: %v", err)
	}
}

// A refused request does not use up its jti.
func TestRefusalKeepsJTI(t *testing.T) {
	priv, _, kid := testKey(1)
	tok, _ := Sign(priv, kid, goodClaims(nil))
	v := newVerifier(t, t0, nil)
	bad := httptest.NewRequest(http.MethodPost, "/v1/owners?dryRun=1", nil)
	bad.Header.Set("Authorization", Scheme+" "+tok)
	if _, err := v.Verify(context.Background(), bad, []byte("x")); CodeOf(err) != CodeBodyMismatch {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := v.Verify(context.Background(), bad, nil); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
}

func TestReplayConcurrent(t *testing.T) {
	priv, _, kid := testKey(1)
	tok, _ := Sign(priv, kid, goodClaims(nil))
	v := newVerifier(t, t0, nil)
	const n = 32
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, repl int
		start    = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest(http.MethodPost, "/v1/owners?dryRun=1", nil)
			r.Header.Set("Authorization", Scheme+" "+tok)
			<-start
			_, err := v.Verify(context.Background(), r, nil)
			mu.Lock()
			defer mu.Unlock()
			switch CodeOf(err) {
			case "":
				ok++
			case CodeReplayed:
				repl++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok != 1 || repl != n-1 {
		t.Fatalf("%d accepted, %d replayed; want 1 and %d", ok, repl, n-1)
	}
}

func TestMemoryReplayCache(t *testing.T) {
	ctx := context.Background()
	c := NewMemoryReplayCache(2)
	if err := c.Use(ctx, "a", t0.Add(10*time.Second), t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Use(ctx, "a", t0.Add(10*time.Second), t0.Add(10*time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("reuse at until: %v", err)
	}
	if err := c.Use(ctx, "b", t0.Add(20*time.Second), t0); err != nil {
		t.Fatal(err)
	}
	// Full: fail closed.
	if err := c.Use(ctx, "c", t0.Add(20*time.Second), t0); err == nil || errors.Is(err, ErrReplayed) {
		t.Fatalf("full cache: %v, want a non-replay error", err)
	}
	// After a's until, a is forgotten, which frees room.
	if err := c.Use(ctx, "c", t0.Add(30*time.Second), t0.Add(11*time.Second)); err != nil {
		t.Fatalf("after eviction: %v", err)
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
}

type failingCache struct{}

func (failingCache) Use(context.Context, string, time.Time, time.Time) error {
	return errors.New("store down")
}

func TestReplayCacheFailureRefuses(t *testing.T) {
	priv, _, kid := testKey(1)
	tok, _ := Sign(priv, kid, goodClaims(nil))
	v, err := NewVerifier(Config{Audience: testAudience, Resolve: ResolveKeyDID, Now: func() time.Time { return t0 }, Replay: failingCache{}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/owners?dryRun=1", nil)
	r.Header.Set("Authorization", Scheme+" "+tok)
	if _, err := v.Verify(context.Background(), r, nil); CodeOf(err) != CodeReplayCacheUnavailable {
		t.Fatalf("Verify: %v, want %s", err, CodeReplayCacheUnavailable)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	good := Config{Audience: testAudience, Resolve: ResolveKeyDID, Now: time.Now, Replay: NewMemoryReplayCache(1)}
	for name, mut := range map[string]func(*Config){
		"no-audience": func(c *Config) { c.Audience = "" },
		"no-resolver": func(c *Config) { c.Resolve = nil },
		"no-clock":    func(c *Config) { c.Now = nil },
		"no-replay":   func(c *Config) { c.Replay = nil },
		"neg-skew":    func(c *Config) { c.Skew = -time.Second },
	} {
		c := good
		mut(&c)
		if _, err := NewVerifier(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	v, err := NewVerifier(good)
	if err != nil || v.c.Skew != DefaultSkew {
		t.Fatalf("default skew: %v, %v", v, err)
	}
}

func TestSignRefuses(t *testing.T) {
	priv, _, kid := testKey(1)
	for name, tc := range map[string]struct {
		kid string
		c   func(*Claims)
	}{
		"kid-no-fragment": {kid: strings.Split(kid, "#")[0]},
		"kid-with-query":  {kid: strings.Replace(kid, "#", "?x=1#", 1)},
		"lifetime":        {c: func(c *Claims) { c.Expires = c.IssuedAt + 301 }},
		"no-aud":          {c: func(c *Claims) { c.Audience = "" }},
		"htu-absolute":    {c: func(c *Claims) { c.URI = "https://ledger.example/v1" }},
		"jti-long":        {c: func(c *Claims) { c.ID = strings.Repeat("a", 129) }},
	} {
		c := goodClaims(nil)
		if tc.c != nil {
			tc.c(&c)
		}
		k := kid
		if tc.kid != "" {
			k = tc.kid
		}
		if tok, err := Sign(priv, k, c); err == nil {
			t.Errorf("%s: Sign = %s, want an error", name, tok)
		}
	}
}

func TestSignRequest(t *testing.T) {
	priv, _, kid := testKey(1)
	now := t0
	s := &Signer{Key: priv, KID: kid, Audience: testAudience, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		method, url string
		body        []byte
	}{
		{http.MethodPost, "https://ledger.example/v1/owners", []byte(`{"name":"alice"}`)},
		{http.MethodDelete, "https://ledger.example/v1/agents/a%2Fb?reason=lost%20key", nil},
		{http.MethodPut, "https://ledger.example/v1/x?", []byte{}},
	} {
		var rd *bytes.Reader
		if tc.body != nil {
			rd = bytes.NewReader(tc.body)
		}
		var r *http.Request
		if rd != nil {
			r, _ = http.NewRequest(tc.method, tc.url, rd)
		} else {
			r, _ = http.NewRequest(tc.method, tc.url, nil)
		}
		if err := s.SignRequest(r); err != nil {
			t.Fatal(err)
		}
		// The body is still there to send.
		var sent []byte
		if r.Body != nil {
			sent = mustRead(t, r)
		}
		if !bytes.Equal(sent, tc.body) {
			t.Fatalf("body after signing = %q, want %q", sent, tc.body)
		}
		// What a server receives for that request verifies.
		srv := httptest.NewRequest(tc.method, r.URL.RequestURI(), bytes.NewReader(sent))
		srv.Header.Set("Authorization", r.Header.Get("Authorization"))
		v := newVerifier(t, now, nil)
		got, err := v.Verify(context.Background(), srv, sent)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.url, err)
		}
		if got.Claims.Expires-got.Claims.IssuedAt != 60 || len(got.Claims.ID) != 22 {
			t.Errorf("claims %+v", got.Claims)
		}
	}
}

func mustRead(t *testing.T, r *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func FuzzParseAuthorization(f *testing.F) {
	priv, _, kid := testKey(1)
	tok, _ := Sign(priv, kid, goodClaims(nil))
	f.Add(Scheme + " " + tok)
	f.Add(Scheme + " " + compact(`{"alg":"none"}`, []byte("{}"), func([]byte) []byte { return nil }))
	f.Add(Scheme + " " + compact(`{"alg":"EdDSA","jwk":{}}`, []byte("{}"), func([]byte) []byte { return nil }))
	f.Add("Bearer x.y.z")
	f.Add(Scheme + " ..")
	f.Fuzz(func(t *testing.T, h string) {
		got, hdr, err := parseAuthorization([]string{h})
		if err != nil {
			if err.Code == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if hdr.Alg != "EdDSA" || strings.Count(got, ".") != 2 || len(got) > maxTokenLen {
			t.Fatalf("accepted %q: alg %q", h, hdr.Alg)
		}
		// And the full verifier never panics on it.
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Authorization", h)
		v := newVerifier(t, t0, nil)
		if vr, err := v.Verify(context.Background(), r, nil); err == nil && vr == nil {
			t.Fatal("nil Verified without error")
		}
	})
}

func FuzzParseClaims(f *testing.F) {
	f.Add(claimsJSON(goodClaims(nil)))
	f.Add([]byte(`{"aud":"a","aud":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseClaims(b)
		if err != nil {
			return
		}
		// Accepted claims re-encode to claims that parse to the same value.
		c2, err := parseClaims(claimsJSON(c))
		if err != nil || c2 != c {
			t.Fatalf("re-encoding of %q: %+v, %v", b, c2, err)
		}
	})
}
