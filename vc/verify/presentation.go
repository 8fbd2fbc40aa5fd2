package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
)

// PresentationOptions are the expectations of the verifier: the challenge
// it issued and its domain.
type PresentationOptions struct {
	Options
	// Challenge must equal the nonce claim. Required: a presentation
	// without a verifier's challenge proves nothing about freshness.
	Challenge string
	// Domain, if set, must equal aud (or be one of its entries).
	Domain string
}

// VerifiedPresentation is a VP-JWT that passed every check of
// Presentation. Its credentials are not verified yet: the caller verifies
// each (Credential, or the verifier of its type) and compares its subject
// with Holder.
type VerifiedPresentation struct {
	// Holder is iss, KID the holder's authentication method that signed.
	Holder string
	KID    string
	// Nonce and Audience are the challenge and domains it was made for.
	Nonce    string
	Audience []string
	// IssuedAt and Expires bound it.
	IssuedAt, Expires time.Time
	// Credentials are the entries of vp.verifiableCredential as written:
	// JSON strings (VC-JWT) or objects (Data Integrity).
	Credentials []json.RawMessage
	// Raw is the compact JWS, Digest its digest.
	Raw    []byte
	Digest string
}

// Presentation checks a VP-JWT (VC Data Model 1.1 §6.3.1), in this order,
// stopping at the first failure:
//
//  1. at most MaxSize bytes; a JSON object is a JSON-LD presentation,
//     which is not supported (CodePresentationFormatUnsupported); the JWS
//     shape (CodePresentationMalformed), alg EdDSA
//     (CodePresentationAlgNotAllowed), kid a DID URL
//     (CodePresentationKIDInvalid);
//  2. the claim set: iss (the holder), aud (string or array), nonce, iat
//     and exp required, nbf optional; vp with @context starting with the
//     VC 1.1 context, type with VerifiablePresentation, verifiableCredential
//     (one or more credentials); vp.holder, if present, is iss
//     (CodePresentationMalformed);
//  3. the kid's DID is iss (CodePresentationHolderMismatch), iss resolves
//     (CodePresentationHolderUnresolvable), kid is an Ed25519 method of its
//     authentication (CodePresentationKeyNotAuthorized);
//  4. the signature verifies (CodePresentationSignatureInvalid);
//  5. nonce is the Challenge (CodePresentationChallengeMismatch), aud
//     contains the Domain if one is expected
//     (CodePresentationDomainMismatch);
//  6. iat (or nbf) - Skew <= Now (CodePresentationNotYetValid), Now <= exp
//     + Skew (CodePresentationExpired).
func Presentation(ctx context.Context, raw []byte, opt PresentationOptions) (*VerifiedPresentation, error) {
	if opt.Resolve == nil {
		return nil, errors.New("verify presentation: no resolver")
	}
	if opt.Challenge == "" {
		return nil, errors.New("verify presentation: no expected challenge")
	}
	if len(raw) > MaxSize {
		return nil, fail(CodePresentationMalformed, "presentation of %d bytes exceeds %d", len(raw), MaxSize)
	}
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && t[0] == '{' {
		return nil, fail(CodePresentationFormatUnsupported, "JSON-LD presentations are not supported; send a VP-JWT")
	}
	tok, isJWT, e := unquote(t)
	if e != nil || !isJWT {
		return nil, fail(CodePresentationMalformed, "presentation is not a compact JWS (VP-JWT)")
	}
	j, e := splitJWS(tok, CodePresentationMalformed)
	if e != nil {
		return nil, e
	}
	if f := vcjwt.CheckAlg(j.alg); f != nil {
		return nil, fail(CodePresentationAlgNotAllowed, "%s", f.Message)
	}
	if j.typ != "" && j.typ != "JWT" && j.typ != "vp+jwt" {
		return nil, fail(CodePresentationMalformed, "typ %.32q, want JWT", j.typ)
	}
	if _, e := kidDID(j.kid, CodePresentationKIDInvalid, "kid"); e != nil {
		return nil, e
	}
	p, e := parsePresentationClaims(j.payload)
	if e != nil {
		return nil, e
	}
	p.KID = j.kid
	pub, e := key(ctx, opt.Options, p.Holder, j.kid, did.Authentication, CodePresentationHolderMismatch,
		CodePresentationHolderUnresolvable, CodePresentationKeyNotAuthorized, "kid")
	if e != nil {
		return nil, e
	}
	if err := vcjwt.Verify(tok, pub); err != nil {
		return nil, failWrap(CodePresentationSignatureInvalid, err, "signature does not verify with %.200s", j.kid)
	}
	if p.Nonce != opt.Challenge {
		return nil, fail(CodePresentationChallengeMismatch, "nonce is not the challenge of this verification")
	}
	if opt.Domain != "" && !slices.Contains(p.Audience, opt.Domain) {
		return nil, fail(CodePresentationDomainMismatch, "aud %.200q does not name the domain %.200q", p.Audience, opt.Domain)
	}
	if e := checkTime(p.IssuedAt, p.Expires, opt.Now, CodePresentationNotYetValid, CodePresentationExpired); e != nil {
		return nil, e
	}
	p.Raw, p.Digest = []byte(tok), Digest([]byte(tok))
	return p, nil
}

func parsePresentationClaims(payload []byte) (*VerifiedPresentation, *Error) {
	bad := func(err error, format string, args ...any) *Error {
		return failWrap(CodePresentationMalformed, err, format, args...)
	}
	cl, err := object(payload)
	if err != nil {
		return nil, bad(err, "claim set")
	}
	p := &VerifiedPresentation{}
	for _, n := range []string{"iss", "aud", "nonce", "iat", "exp", "vp"} {
		if _, ok := cl.Get(n); !ok {
			return nil, bad(nil, "claim set: %s missing", n)
		}
	}
	v, _ := cl.Get("iss")
	if p.Holder, err = strictjson.String(v); err != nil {
		return nil, bad(err, "claim iss")
	}
	v, _ = cl.Get("nonce")
	if p.Nonce, err = strictjson.String(v); err != nil {
		return nil, bad(err, "claim nonce")
	}
	v, _ = cl.Get("aud")
	if p.Audience, err = stringSet(v); err != nil {
		return nil, bad(err, "claim aud")
	}
	v, _ = cl.Get("iat")
	if p.IssuedAt, err = numericDate(v); err != nil {
		return nil, bad(err, "claim iat")
	}
	v, _ = cl.Get("exp")
	if p.Expires, err = numericDate(v); err != nil {
		return nil, bad(err, "claim exp")
	}
	if v, ok := cl.Get("nbf"); ok {
		nbf, err := numericDate(v)
		if err != nil {
			return nil, bad(err, "claim nbf")
		}
		if nbf.After(p.IssuedAt) {
			p.IssuedAt = nbf
		}
	}
	v, _ = cl.Get("vp")
	vp, err := object(v)
	if err != nil {
		return nil, bad(err, "claim vp")
	}
	for _, n := range vp.Names() {
		switch n {
		case "@context", "type", "verifiableCredential", "holder", "id":
		default:
			return nil, bad(nil, "vp member %.32q not allowed", n)
		}
	}
	v, ok := vp.Get("@context")
	if !ok {
		return nil, bad(nil, "vp: @context missing")
	}
	ctxs, err := stringSet(v)
	if err != nil || ctxs[0] != CredentialsContextURL {
		return nil, bad(err, "vp.@context does not start with %s", CredentialsContextURL)
	}
	v, ok = vp.Get("type")
	if !ok {
		return nil, bad(nil, "vp: type missing")
	}
	types, err := stringSet(v)
	if err != nil || !slices.Contains(types, VerifiablePresentationType) {
		return nil, bad(err, "vp.type lacks %s", VerifiablePresentationType)
	}
	if v, ok := vp.Get("holder"); ok {
		if h, err := idOf(v); err != nil || h != p.Holder {
			return nil, bad(err, "vp.holder is not iss")
		}
	}
	v, ok = vp.Get("verifiableCredential")
	if !ok {
		return nil, bad(nil, "vp: verifiableCredential missing (a presentation proves possession of a credential)")
	}
	if len(v) > 0 && v[0] == '[' {
		if err := json.Unmarshal(v, &p.Credentials); err != nil {
			return nil, bad(err, "vp.verifiableCredential")
		}
	} else {
		p.Credentials = []json.RawMessage{slices.Clone(v)}
	}
	if len(p.Credentials) == 0 || len(p.Credentials) > MaxCredentials {
		return nil, bad(nil, "vp.verifiableCredential has %d entries, want 1 to %d", len(p.Credentials), MaxCredentials)
	}
	for i, c := range p.Credentials {
		if len(c) == 0 || (c[0] != '"' && c[0] != '{') {
			return nil, bad(nil, "vp.verifiableCredential[%d] is neither a VC-JWT string nor a credential object", i)
		}
	}
	return p, nil
}

// MaxCredentials bounds the credentials of one presentation.
const MaxCredentials = 16

// PresentationClaims is what SignPresentation signs.
type PresentationClaims struct {
	// Holder is the holder DID (iss); the key must be in its
	// authentication.
	Holder string
	// Audience is the verifier's domain (aud), Nonce its challenge.
	Audience string
	Nonce    string
	// IssuedAt and Expires bound the presentation (whole seconds).
	IssuedAt, Expires time.Time
	// Credentials are the credentials presented: a compact JWS (VC-JWT)
	// or a JSON-LD credential object, each as its exact bytes.
	Credentials [][]byte
}

// SignPresentation signs a VP-JWT with priv, the key of the holder's
// authentication method kid (a DID URL of c.Holder).
func SignPresentation(priv ed25519.PrivateKey, kid string, c PresentationClaims) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", errors.New("sign presentation: not an Ed25519 private key")
	}
	d, e := kidDID(kid, CodePresentationKIDInvalid, "kid")
	if e != nil {
		return "", fmt.Errorf("sign presentation: %w", e)
	}
	if d != c.Holder {
		return "", fmt.Errorf("sign presentation: kid %q is not a method of the holder %q", kid, c.Holder)
	}
	if c.Nonce == "" || !c.Expires.After(c.IssuedAt) || len(c.Credentials) == 0 || len(c.Credentials) > MaxCredentials {
		return "", errors.New("sign presentation: a nonce, exp after iat and 1 to 16 credentials are required")
	}
	creds := make([]json.RawMessage, len(c.Credentials))
	for i, raw := range c.Credentials {
		t := bytes.TrimSpace(raw)
		if len(t) > 0 && t[0] == '{' {
			if !json.Valid(t) {
				return "", fmt.Errorf("sign presentation: credential %d is not valid JSON", i)
			}
			creds[i] = t
			continue
		}
		tok, isJWT, e := unquote(t)
		if e != nil || !isJWT {
			return "", fmt.Errorf("sign presentation: credential %d is neither a VC-JWT nor a JSON credential", i)
		}
		creds[i], _ = json.Marshal(tok)
	}
	type vpClaim struct {
		Context []string          `json:"@context"`
		Type    []string          `json:"type"`
		VC      []json.RawMessage `json:"verifiableCredential"`
	}
	payload, err := json.Marshal(struct {
		Iss   string  `json:"iss"`
		Aud   string  `json:"aud"`
		Nonce string  `json:"nonce"`
		Iat   int64   `json:"iat"`
		Exp   int64   `json:"exp"`
		VP    vpClaim `json:"vp"`
	}{c.Holder, c.Audience, c.Nonce, c.IssuedAt.Unix(), c.Expires.Unix(),
		vpClaim{[]string{CredentialsContextURL}, []string{VerifiablePresentationType}, creds}})
	if err != nil {
		return "", fmt.Errorf("sign presentation: %w", err)
	}
	if len(payload) > MaxSize*3/4-256 {
		return "", fmt.Errorf("sign presentation: %d bytes of claims exceed the presentation size limit", len(payload))
	}
	tok, err := vcjwt.Sign(priv, kid, payload)
	if err != nil {
		return "", fmt.Errorf("sign presentation: %w", err)
	}
	return tok, nil
}
