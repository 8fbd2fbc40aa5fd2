package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
	"github.com/piprate/json-gold/ld"
)

const (
	// CredentialsContextURL is the VC Data Model 1.1 base context, the
	// first @context entry of every credential and presentation accepted.
	CredentialsContextURL = "https://www.w3.org/2018/credentials/v1"
	// VerifiableCredentialType and VerifiablePresentationType must be
	// among the types.
	VerifiableCredentialType   = "VerifiableCredential"
	VerifiablePresentationType = "VerifiablePresentation"
	// ProofType and ProofPurpose: the only Data Integrity proof accepted on
	// a credential.
	ProofType    = "Ed25519Signature2020"
	ProofPurpose = "assertionMethod"
	// MaxSize bounds a credential or a presentation in either format.
	MaxSize = 64 << 10
	// Skew is the clock difference tolerated on validity periods: valid
	// from notBefore - Skew to notAfter + Skew.
	Skew = 60 * time.Second
)

// Format is a credential encoding.
type Format string

const (
	// FormatJWT is VC-JWT: a compact JWS with the credential in "vc".
	FormatJWT Format = "jwt"
	// FormatLDP is a JSON-LD credential with a Data Integrity proof.
	FormatLDP Format = "ldp"
)

// Options are the inputs of Credential and Presentation besides the bytes.
type Options struct {
	// Resolve resolves an issuer's or holder's DID to its document. A
	// failure is reported as CodeIssuerUnresolvable (or
	// CodePresentationHolderUnresolvable) wrapping the resolver's error.
	Resolve func(ctx context.Context, did string) (*did.Document, error)
	// Now is the time of verification; nothing here reads a clock.
	Now time.Time
	// Loader loads JSON-LD contexts; nil means Loader(), the embedded
	// contexts only. Tests pass a recording loader.
	Loader ld.DocumentLoader
}

// Envelope is what a credential says about itself before anything is
// verified: enough to pick a verifier. It is unverified input.
type Envelope struct {
	Format Format
	Types  []string
}

// VerifiedCredential is a credential that passed every check of
// Credential.
type VerifiedCredential struct {
	Format Format
	// ID is the credential's id (jti or id); may be empty.
	ID string
	// Types are its types, VerifiableCredential among them.
	Types []string
	// Issuer is the issuer DID, KID the verification method that signed.
	Issuer string
	KID    string
	// Subject is credentialSubject.id (or sub); empty if the credential has
	// none or several subjects.
	Subject string
	// ValidFrom and ValidUntil bound the validity period; ValidUntil is
	// zero when the credential does not expire.
	ValidFrom, ValidUntil time.Time
	// Status is credentialStatus as written; nil when absent. Checking it
	// is the caller's business.
	Status json.RawMessage
	// Raw is the credential's exact bytes (the compact JWS, unquoted), and
	// Digest "sha256:" and their lowercase hex SHA-256.
	Raw    []byte
	Digest string
}

// Digest returns "sha256:" and the lowercase hex SHA-256 of raw.
func Digest(raw []byte) string {
	h := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(h[:])
}

// unquote returns the compact JWS of raw if raw is one (bare or as a JSON
// string), and whether it is.
func unquote(raw []byte) (string, bool, *Error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "", false, fail(CodeFormatUnknown, "empty credential")
	}
	switch {
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", false, failWrap(CodeMalformed, err, "credential is not a JSON string")
		}
		return s, true, nil
	case t[0] == '{':
		return "", false, nil
	case vcjwt.IsBase64URL(t[0]) && bytes.Count(t, []byte(".")) == 2:
		return string(t), true, nil
	}
	return "", false, fail(CodeFormatUnknown, "neither a compact JWS nor a JSON object with a proof")
}

// Inspect reads the format and types of a credential without verifying
// anything, so that the caller can pick the verifier of a known type.
func Inspect(raw []byte) (Envelope, error) {
	if len(raw) > MaxSize {
		return Envelope{}, fail(CodeMalformed, "credential of %d bytes exceeds %d", len(raw), MaxSize)
	}
	tok, isJWT, e := unquote(raw)
	if e != nil {
		return Envelope{}, e
	}
	var vc strictjson.Object
	f := FormatLDP
	if isJWT {
		f = FormatJWT
		j, e := splitJWS(tok, CodeMalformed)
		if e != nil {
			return Envelope{}, e
		}
		cl, err := object(j.payload)
		if err != nil {
			return Envelope{}, failWrap(CodeMalformed, err, "claim set")
		}
		v, ok := cl.Get("vc")
		if !ok {
			return Envelope{}, fail(CodeMalformed, "claim set: member \"vc\" missing")
		}
		if vc, err = object(v); err != nil {
			return Envelope{}, failWrap(CodeMalformed, err, "claim vc")
		}
	} else {
		var err error
		if vc, err = object(bytes.TrimSpace(raw)); err != nil {
			return Envelope{}, failWrap(CodeMalformed, err, "credential")
		}
		if _, ok := vc.Get("proof"); !ok {
			return Envelope{}, fail(CodeFormatUnknown, "a JSON credential without a proof (neither VC-JWT nor Data Integrity)")
		}
	}
	v, ok := vc.Get("type")
	if !ok {
		return Envelope{}, fail(CodeMalformed, "credential: member \"type\" missing")
	}
	types, err := stringSet(v)
	if err != nil {
		return Envelope{}, failWrap(CodeMalformed, err, "credential type")
	}
	return Envelope{Format: f, Types: types}, nil
}

// Credential checks any issuer's credential and returns it only if every
// check passed, in this order, stopping at the first failure:
//
//  1. at most MaxSize bytes; the format: a compact JWS (bare or as a JSON
//     string) is VC-JWT, a JSON object with a proof is Data Integrity
//     (CodeMalformed, CodeFormatUnknown);
//  2. VC-JWT: the JWS shape, alg EdDSA (CodeAlgNotAllowed), no key or key
//     URL in the header, kid a DID URL (CodeKIDInvalid); the claim set (iss;
//     vc with @context starting with the VC 1.1 context, type with
//     VerifiableCredential, credentialSubject; members present both in a
//     claim and in vc agree). Data Integrity: every @context entry embedded
//     (CodeContextNotEmbedded, checked before any loading), every member a
//     defined term (CodeUndefinedTerm), the VC 1.1 members, one proof of
//     type Ed25519Signature2020 (CodeAlgNotAllowed) for assertionMethod
//     with a DID URL verificationMethod (CodeKIDInvalid);
//  3. the key's DID is the issuer (CodeIssuerMismatch), the issuer resolves
//     (CodeIssuerUnresolvable), the key is an Ed25519 method of its
//     assertionMethod (CodeKeyNotAuthorized);
//  4. the signature verifies (CodeSignatureInvalid);
//  5. notBefore - Skew <= Now (CodeNotYetValid) and Now <= notAfter + Skew
//     (CodeExpired), where notBefore is nbf or issuanceDate and notAfter exp
//     or expirationDate.
func Credential(ctx context.Context, raw []byte, opt Options) (*VerifiedCredential, error) {
	if opt.Resolve == nil {
		return nil, errors.New("verify credential: no resolver")
	}
	if len(raw) > MaxSize {
		return nil, fail(CodeMalformed, "credential of %d bytes exceeds %d", len(raw), MaxSize)
	}
	tok, isJWT, e := unquote(raw)
	if e != nil {
		return nil, e
	}
	if isJWT {
		return credentialJWT(ctx, tok, opt)
	}
	return credentialLD(ctx, bytes.TrimSpace(raw), opt)
}

// jwsParts is a compact JWS split and decoded, nothing verified.
type jwsParts struct {
	header, payload []byte
	alg, typ, kid   string
}

// splitJWS checks the compact JWS shape and reads the protected header.
// malformed is the code of a shape error (credential or presentation).
func splitJWS(tok string, malformed Code) (*jwsParts, *Error) {
	p, f := vcjwt.Split(tok, MaxSize)
	if f != nil {
		return nil, &Error{Code: malformed, Message: f.Message, Err: f.Err}
	}
	if !utf8.Valid(p.Header) || !utf8.Valid(p.Payload) {
		return nil, fail(malformed, "header or payload is not valid UTF-8")
	}
	// cty is allowed besides alg, typ and kid: other issuers write it.
	h, f := vcjwt.ParseHeader(p.Header, "cty")
	if f != nil {
		return nil, &Error{Code: malformed, Message: f.Message, Err: f.Err}
	}
	if vcjwt.IsEdDSA(h.Alg) {
		if f := vcjwt.CheckSignatureSize(p.Signature); f != nil {
			return nil, &Error{Code: malformed, Message: f.Message, Err: f.Err}
		}
	}
	return &jwsParts{header: p.Header, payload: p.Payload, alg: h.Alg, typ: h.Typ, kid: h.Kid}, nil
}

// kidDID checks that kid is a DID URL with a fragment and returns its DID.
func kidDID(kid string, code Code, what string) (string, *Error) {
	if kid == "" {
		return "", fail(code, "%s missing", what)
	}
	u, err := did.ParseDIDURL(kid)
	if err != nil || u.Fragment == "" || u.Path != "" || u.Query != "" {
		return "", failWrap(code, err, "%s %.200q is not a DID URL did:<method>:<id>#<fragment>", what, kid)
	}
	return u.DID, nil
}

// key runs the key checks: the method belongs to owner, owner resolves,
// the method is an Ed25519 key of owner in relationship.
func key(ctx context.Context, opt Options, owner, kid, relationship string, mismatch, unresolvable, unauthorized Code, what string) (ed25519.PublicKey, *Error) {
	d, e := kidDID(kid, CodeKIDInvalid, what)
	if e != nil {
		if mismatch != CodeIssuerMismatch {
			e.Code = CodePresentationKIDInvalid
		}
		return nil, e
	}
	if d != owner {
		return nil, fail(mismatch, "%s %.200q is not a method of %.200q", what, kid, owner)
	}
	doc, err := opt.Resolve(ctx, owner)
	switch {
	case err != nil:
		return nil, failWrap(unresolvable, err, "resolve %.200s", owner)
	case doc == nil || doc.ID != owner:
		return nil, fail(unresolvable, "resolve %.200s: the resolver returned another document", owner)
	}
	pub, err := did.VerificationKey(doc, kid, relationship)
	if err != nil {
		return nil, failWrap(unauthorized, err, "%s %.200s is not an Ed25519 key of %.200s in %s", what, kid, owner, relationship)
	}
	return pub, nil
}

func credentialJWT(ctx context.Context, tok string, opt Options) (*VerifiedCredential, error) {
	j, e := splitJWS(tok, CodeMalformed)
	if e != nil {
		return nil, e
	}
	if f := vcjwt.CheckAlg(j.alg); f != nil {
		return nil, fail(CodeAlgNotAllowed, "%s", f.Message)
	}
	if j.typ != "" && j.typ != "JWT" && j.typ != "vc+jwt" {
		return nil, fail(CodeMalformed, "typ %.32q, want JWT", j.typ)
	}
	if _, e := kidDID(j.kid, CodeKIDInvalid, "kid"); e != nil {
		return nil, e
	}
	c, e := parseClaims(j.payload)
	if e != nil {
		return nil, e
	}
	c.KID = j.kid
	pub, e := key(ctx, opt, c.Issuer, j.kid, did.AssertionMethod, CodeIssuerMismatch, CodeIssuerUnresolvable, CodeKeyNotAuthorized, "kid")
	if e != nil {
		return nil, e
	}
	if err := vcjwt.Verify(tok, pub); err != nil {
		return nil, failWrap(CodeSignatureInvalid, err, "signature does not verify with %.200s", j.kid)
	}
	if e := checkTime(c.ValidFrom, c.ValidUntil, opt.Now, CodeNotYetValid, CodeExpired); e != nil {
		return nil, e
	}
	c.Format, c.Raw, c.Digest = FormatJWT, []byte(tok), Digest([]byte(tok))
	return c, nil
}

// parseClaims reads a VC-JWT claim set (VC Data Model 1.1 §6.3.1): iss is
// the issuer, jti the id, sub the subject, nbf and exp the validity period,
// vc the credential. A member given both as a claim and in vc must agree.
func parseClaims(payload []byte) (*VerifiedCredential, *Error) {
	cl, err := object(payload)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "claim set")
	}
	c := &VerifiedCredential{}
	v, ok := cl.Get("iss")
	if !ok {
		return nil, fail(CodeMalformed, "claim set: iss missing")
	}
	if c.Issuer, err = strictjson.String(v); err != nil || !strings.HasPrefix(c.Issuer, "did:") {
		return nil, fail(CodeMalformed, "claim iss is not a DID")
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"jti", &c.ID}, {"sub", &c.Subject}} {
		if v, ok := cl.Get(f.name); ok {
			if *f.dst, err = strictjson.String(v); err != nil {
				return nil, failWrap(CodeMalformed, err, "claim %s", f.name)
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"nbf", &c.ValidFrom}, {"exp", &c.ValidUntil}} {
		if v, ok := cl.Get(f.name); ok {
			if *f.dst, err = numericDate(v); err != nil {
				return nil, failWrap(CodeMalformed, err, "claim %s", f.name)
			}
		}
	}
	if v, ok := cl.Get("iat"); ok {
		if _, err := numericDate(v); err != nil {
			return nil, failWrap(CodeMalformed, err, "claim iat")
		}
	}
	v, ok = cl.Get("vc")
	if !ok {
		return nil, fail(CodeMalformed, "claim set: vc missing")
	}
	vc, err := object(v)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "claim vc")
	}
	if e := commonMembers(vc, c, "vc"); e != nil {
		return nil, e
	}
	// "instead of or in addition to": what vc also states must agree.
	if v, ok := vc.Get("issuer"); ok {
		if s, err := idOf(v); err != nil || s != c.Issuer {
			return nil, fail(CodeMalformed, "vc.issuer is not iss")
		}
	}
	if v, ok := vc.Get("id"); ok {
		s, err := strictjson.String(v)
		if err != nil || (c.ID != "" && s != c.ID) {
			return nil, fail(CodeMalformed, "vc.id is not jti")
		}
		c.ID = s
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"issuanceDate", &c.ValidFrom}, {"expirationDate", &c.ValidUntil}} {
		if v, ok := vc.Get(f.name); ok {
			t, e := xsdDateTime(v, "vc."+f.name)
			if e != nil {
				return nil, e
			}
			if !f.dst.IsZero() && !f.dst.Equal(t.Truncate(time.Second)) {
				return nil, fail(CodeMalformed, "vc.%s disagrees with the JWT claim", f.name)
			}
			*f.dst = t
		}
	}
	return c, nil
}

// commonMembers reads what both formats share: @context (the VC 1.1 base
// context first), type (with VerifiableCredential), credentialSubject (an
// object or an array of objects) and credentialStatus.
func commonMembers(vc strictjson.Object, c *VerifiedCredential, what string) *Error {
	v, ok := vc.Get("@context")
	if !ok {
		return fail(CodeMalformed, "%s: @context missing", what)
	}
	ctxs, err := stringSet(v)
	if err != nil {
		return failWrap(CodeMalformed, err, "%s.@context (inline contexts are not supported)", what)
	}
	if ctxs[0] != CredentialsContextURL {
		return fail(CodeMalformed, "%s.@context does not start with %s (VC Data Model 1.1)", what, CredentialsContextURL)
	}
	if v, ok = vc.Get("type"); !ok {
		return fail(CodeMalformed, "%s: type missing", what)
	}
	if c.Types, err = stringSet(v); err != nil {
		return failWrap(CodeMalformed, err, "%s.type", what)
	}
	if !slices.Contains(c.Types, VerifiableCredentialType) {
		return fail(CodeMalformed, "%s.type lacks %s", what, VerifiableCredentialType)
	}
	if v, ok = vc.Get("credentialSubject"); !ok {
		return fail(CodeMalformed, "%s: credentialSubject missing", what)
	}
	subjects := []json.RawMessage{v}
	if len(v) > 0 && v[0] == '[' {
		subjects = nil
		if err := json.Unmarshal(v, &subjects); err != nil || len(subjects) == 0 {
			return fail(CodeMalformed, "%s.credentialSubject is not an object or a non-empty array of objects", what)
		}
	}
	for i, s := range subjects {
		o, err := object(s)
		if err != nil {
			return failWrap(CodeMalformed, err, "%s.credentialSubject", what)
		}
		id := ""
		if v, ok := o.Get("id"); ok {
			if id, err = strictjson.String(v); err != nil {
				return failWrap(CodeMalformed, err, "%s.credentialSubject.id", what)
			}
		}
		if len(subjects) == 1 {
			if c.Subject != "" && id != "" && id != c.Subject {
				return fail(CodeMalformed, "%s.credentialSubject.id is not sub", what)
			}
			if id != "" {
				c.Subject = id
			}
		} else if i == 0 {
			c.Subject = ""
		}
	}
	if v, ok := vc.Get("credentialStatus"); ok {
		if _, err := object(v); err != nil {
			return failWrap(CodeMalformed, err, "%s.credentialStatus", what)
		}
		c.Status = slices.Clone(v)
	}
	return nil
}

func checkTime(from, until, now time.Time, notYet, expired Code) *Error {
	if !from.IsZero() && now.Before(from.Add(-Skew)) {
		return fail(notYet, "valid from %s, now %s (skew %s)", from.Format(time.RFC3339), now.UTC().Format(time.RFC3339), Skew)
	}
	if !until.IsZero() && now.After(until.Add(Skew)) {
		return fail(expired, "expired at %s, now %s (skew %s)", until.Format(time.RFC3339), now.UTC().Format(time.RFC3339), Skew)
	}
	return nil
}
