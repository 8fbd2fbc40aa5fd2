// Package vcjwt is the VC-JWT core shared by the credential packages of
// vc/ (binding, status, delegation, verify): the compact JWS serialization
// (RFC 7515 §7.1) read strictly, the protected header rules of the
// profiles (alg pinned to EdDSA, RFC 8037; typ JWT; no member that would
// bring its own key or change the payload), and EdDSA signing and
// verification through jwx.
//
// Each package keeps its claim set, its order of checks and its error
// codes: a refusal here is a *Failure with a Kind that the package maps to
// its own code, and whose Message it passes on unchanged.
package vcjwt

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// JOSEType is the typ every profile of this module writes (VC Data Model
// 1.1 §6.3.1).
const JOSEType = "JWT"

// Kind says which check refused a token; packages map it to their codes.
type Kind int

const (
	// Malformed: size, shape, encoding, header members or values.
	Malformed Kind = iota
	// AlgNotAllowed: alg other than EdDSA (or none).
	AlgNotAllowed
	// KIDInvalid: the method id is not a DID URL with a fragment.
	KIDInvalid
	// IssuerMismatch: the signing method is not one of the issuer's.
	IssuerMismatch
	// IssuerUnresolvable: the issuer's DID does not resolve (to itself).
	IssuerUnresolvable
	// KeyNotAuthorized: the method is not an Ed25519 key in the issuer's
	// assertionMethod.
	KeyNotAuthorized
	// SignatureInvalid: the signature does not verify with that key.
	SignatureInvalid
	// NotYetValid: now is before the start of the validity period, less
	// the skew.
	NotYetValid
	// Expired: now is after the end of the validity period, plus the
	// skew.
	Expired
)

// CodeFor returns the code a package gives f: codes[f.Kind], or malformed
// for a kind the package does not name (Malformed itself among them).
func CodeFor[C ~string](f *Failure, codes map[Kind]C, malformed C) C {
	if c, ok := codes[f.Kind]; ok {
		return c
	}
	return malformed
}

// Failure is a refusal: Message in words a client may see, Err the cause
// if any.
type Failure struct {
	Kind    Kind
	Message string
	Err     error
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Message + ": " + f.Err.Error()
	}
	return f.Message
}

func (f *Failure) Unwrap() error { return f.Err }

func malformed(err error, format string, args ...any) *Failure {
	return &Failure{Kind: Malformed, Message: fmt.Sprintf(format, args...), Err: err}
}

// Parts is a compact JWS split and base64url-decoded; nothing is verified.
type Parts struct {
	Header, Payload, Signature []byte
}

// Split checks that tok has at most maxLen bytes and three parts of
// base64url without padding (only the URL-safe alphabet: the standard
// decoder would also take '=' or CR/LF), and decodes them.
func Split(tok string, maxLen int) (Parts, *Failure) {
	if len(tok) > maxLen {
		return Parts{}, malformed(nil, "token of %d bytes exceeds %d", len(tok), maxLen)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Parts{}, malformed(nil, "token has %d parts, want 3 (compact JWS)", len(parts))
	}
	var dec [3][]byte
	for i, p := range parts {
		for j := 0; j < len(p); j++ {
			if c := p[j]; !IsBase64URL(c) {
				return Parts{}, malformed(nil, "token has character %q (not base64url without padding)", c)
			}
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return Parts{}, malformed(err, "token part %d is not base64url", i+1)
		}
		dec[i] = b
	}
	return Parts{Header: dec[0], Payload: dec[1], Signature: dec[2]}, nil
}

// IsBase64URL reports whether c is in the base64url alphabet (RFC 4648
// §5), the alphabet of a compact JWS besides its two dots.
func IsBase64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Header is what the profiles read of a protected header; an absent
// member is "".
type Header struct {
	Alg, Typ, Kid string
}

// ParseHeader decodes the protected header with strictjson and reads it
// with HeaderOf.
func ParseHeader(raw []byte, extra ...string) (Header, *Failure) {
	o, err := strictjson.Parse(raw)
	if err != nil {
		return Header{}, malformed(err, "protected header")
	}
	return HeaderOf(o, extra...)
}

// HeaderOf refuses any member but alg, typ, kid and extra (jwk, x5c, jku,
// x5u, crit, b64, ...: the key comes from the issuer's DID document only,
// and the payload is always the base64url claim set), and reads alg, typ
// and kid, which must be strings when present.
func HeaderOf(o strictjson.Object, extra ...string) (Header, *Failure) {
	var h Header
	for _, name := range o.Names() {
		switch name {
		case "alg", "typ", "kid":
		default:
			if !contains(extra, name) {
				return h, malformed(nil, "protected header member %.32q not allowed", name)
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"typ", &h.Typ}, {"kid", &h.Kid}} {
		raw, ok := o.Get(f.name)
		if !ok {
			continue
		}
		s, err := strictjson.String(raw)
		if err != nil {
			return h, malformed(err, "protected header %s", f.name)
		}
		*f.dst = s
	}
	return h, nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// IsEdDSA reports whether alg is EdDSA, the only alg of the profiles.
func IsEdDSA(alg string) bool { return alg == jwa.EdDSA().String() }

// CheckAlg refuses an alg other than EdDSA (AlgNotAllowed).
func CheckAlg(alg string) *Failure {
	if !IsEdDSA(alg) {
		return &Failure{Kind: AlgNotAllowed, Message: fmt.Sprintf("alg %.32q, only EdDSA is accepted", alg)}
	}
	return nil
}

// CheckSignatureSize refuses a signature part that is not an Ed25519
// signature's 64 bytes, before any key is looked up.
func CheckSignatureSize(sig []byte) *Failure {
	if len(sig) != ed25519.SignatureSize {
		return malformed(nil, "signature of %d bytes, an EdDSA signature has %d", len(sig), ed25519.SignatureSize)
	}
	return nil
}

// CheckEdDSA runs the header checks of the issuing profiles in their
// order: alg EdDSA (AlgNotAllowed), typ exactly JOSEType, a 64-byte
// signature (Malformed).
func CheckEdDSA(h Header, sig []byte) *Failure {
	if f := CheckAlg(h.Alg); f != nil {
		return f
	}
	if h.Typ != JOSEType {
		return malformed(nil, "typ %.32q, want %q", h.Typ, JOSEType)
	}
	return CheckSignatureSize(sig)
}

// Sign signs payload as a compact JWS with the protected header
// {"alg":"EdDSA","kid":kid,"typ":"JWT"}.
func Sign(priv ed25519.PrivateKey, kid string, payload []byte) (string, error) {
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, JOSEType); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// Verify checks the EdDSA signature of the compact JWS tok with pub. The
// header's alg must be EdDSA too (callers have checked it already; jwx
// checks it again).
func Verify(tok string, pub ed25519.PublicKey) error {
	_, err := jws.Verify([]byte(tok), jws.WithKey(jwa.EdDSA(), pub), jws.WithAlgorithmMatch(true))
	return err
}

// Resolver resolves an issuer's DID to its document.
type Resolver func(ctx context.Context, did string) (*did.Document, error)

// IssuerKey returns the key of the verification method kid (whose DID is
// kidDID; what names it in messages: "kid", "proof.verificationMethod")
// after checking, in this order, that it is a method of issuer
// (IssuerMismatch), that issuer resolves to its own document
// (IssuerUnresolvable, wrapping the resolver's error), and that kid is an
// Ed25519 method in its assertionMethod (KeyNotAuthorized). A Data
// Integrity proof's method is looked up so too.
func IssuerKey(ctx context.Context, resolve Resolver, issuer, kid, kidDID, what string) (ed25519.PublicKey, *Failure) {
	if kidDID != issuer {
		return nil, &Failure{Kind: IssuerMismatch, Message: fmt.Sprintf("%s %q is not a method of the issuer %q", what, kid, issuer)}
	}
	doc, err := resolve(ctx, issuer)
	switch {
	case err != nil:
		return nil, &Failure{Kind: IssuerUnresolvable, Message: "resolve issuer " + issuer, Err: err}
	case doc == nil || doc.ID != issuer:
		return nil, &Failure{Kind: IssuerUnresolvable, Message: "resolve issuer " + issuer + ": the resolver returned another document"}
	}
	pub, err := did.VerificationKey(doc, kid, did.AssertionMethod)
	if err != nil {
		return nil, &Failure{Kind: KeyNotAuthorized, Message: fmt.Sprintf("%s %s may not sign credentials for %s", what, kid, issuer), Err: err}
	}
	return ed25519.PublicKey(pub), nil
}

// VerifyIssued checks the EdDSA signature of the compact JWS tok with the
// key IssuerKey gives for its kid (SignatureInvalid if it does not verify).
func VerifyIssued(ctx context.Context, resolve Resolver, tok, issuer, kid, kidDID string) *Failure {
	pub, f := IssuerKey(ctx, resolve, issuer, kid, kidDID, "kid")
	if f != nil {
		return f
	}
	if err := Verify(tok, pub); err != nil {
		return &Failure{Kind: SignatureInvalid, Message: "signature does not verify with " + kid, Err: err}
	}
	return nil
}

// ParseKID accepts a DID URL whose fragment names a verification method,
// with no path or query (which would change what the URL dereferences
// to); what names it in messages ("kid", "proof.verificationMethod").
func ParseKID(kid, what string) (did.DIDURL, *Failure) {
	if kid == "" {
		return did.DIDURL{}, &Failure{Kind: KIDInvalid, Message: "no " + what}
	}
	u, err := did.ParseDIDURL(kid)
	if err != nil {
		return u, &Failure{Kind: KIDInvalid, Message: what + " is not a DID URL", Err: err}
	}
	if u.Fragment == "" || u.Path != "" || u.Query != "" {
		return u, &Failure{Kind: KIDInvalid, Message: fmt.Sprintf("%s %.200q is not of the form did:<method>:<id>#<fragment>", what, kid)}
	}
	return u, nil
}

// Parse checks the compact JWS shape of tok (at most maxLen bytes) and its
// protected header (valid UTF-8, the profile's members, alg EdDSA, typ JWT,
// a 64-byte signature) and returns the header and the decoded payload.
// Nothing is verified.
func Parse(tok string, maxLen int) (Header, []byte, *Failure) {
	p, f := Split(tok, maxLen)
	if f != nil {
		return Header{}, nil, f
	}
	if !utf8.Valid(p.Header) {
		return Header{}, nil, malformed(nil, "protected header is not valid UTF-8")
	}
	h, f := ParseHeader(p.Header)
	if f != nil {
		return h, nil, f
	}
	if f := CheckEdDSA(h, p.Signature); f != nil {
		return h, nil, f
	}
	return h, p.Payload, nil
}

// CheckWindow refuses now outside [from - skew, until + skew] (NotYetValid,
// Expired); a zero until means no end. layout writes the bound in the
// message, as the credential states it.
func CheckWindow(now, from, until time.Time, skew time.Duration, layout string) *Failure {
	if now.Before(from.Add(-skew)) {
		return &Failure{Kind: NotYetValid, Message: fmt.Sprintf("valid from %s, now %s (skew %s)", from.Format(layout), now.UTC().Format(time.RFC3339), skew)}
	}
	if !until.IsZero() && now.After(until.Add(skew)) {
		return &Failure{Kind: Expired, Message: fmt.Sprintf("expired at %s, now %s (skew %s)", until.Format(layout), now.UTC().Format(time.RFC3339), skew)}
	}
	return nil
}
