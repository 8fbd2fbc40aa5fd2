package status

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
)

const (
	// CredentialsContextURL is the VC Data Model 1.1 base context, the
	// first entry of vc.@context.
	CredentialsContextURL = "https://www.w3.org/2018/credentials/v1"
	// ContextURL is the Bitstring Status List context for use with VC Data
	// Model 1.1 credentials (the VC 2.0 base context defines the terms
	// itself); the second entry of vc.@context.
	ContextURL = "https://www.w3.org/ns/credentials/status/v1"
	// VerifiableCredentialType and CredentialType are vc.type.
	VerifiableCredentialType = "VerifiableCredential"
	CredentialType           = "BitstringStatusListCredential"
	// SubjectType is vc.credentialSubject.type.
	SubjectType = "BitstringStatusList"
	// SubjectFragment is appended to the list's id to make the subject's
	// id (the JWT sub): "<id>#list".
	SubjectFragment = "#list"
	// JOSEType is the JWS typ, as VC-JWT (VC Data Model 1.1 §6.3.1) uses.
	JOSEType = "JWT"
	// MaxTokenLen bounds the compact JWS: an encodedList of
	// MaxCompressedBytes is 1.4 MB of base64url, and the payload is
	// base64url again.
	MaxTokenLen = 2<<20 + 64<<10
	// Skew is the clock difference tolerated on nbf and exp.
	Skew = 60 * time.Second
)

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// ListCredential is a BitstringStatusListCredential (§3.2) as this profile
// carries it in a VC-JWT: ID in jti, Issuer in iss, ValidFrom in nbf (and
// iat), ValidUntil in exp, ID+"#list" in sub, Purpose and EncodedList in
// vc.credentialSubject.
type ListCredential struct {
	// ID is the list's URL, where it is served: an absolute http(s) URL
	// without fragment. Entries name it in statusListCredential.
	ID string
	// Issuer is the DID of the list's signer (the server's issuer DID).
	Issuer string
	// ValidFrom and ValidUntil bound the list's validity, whole seconds
	// (VC 1.1 issuanceDate and expirationDate; VC 2.0 validFrom and
	// validUntil). ValidUntil is required: a verifier must know how stale a
	// list it holds may be.
	ValidFrom  time.Time
	ValidUntil time.Time
	// Purpose is the statusPurpose: revocation (this server) or suspension.
	Purpose string
	// EncodedList is Bitstring.Encode's output.
	EncodedList string
}

// VerifiedList is a status list credential that passed every check of
// VerifyList, with its bitstring decoded.
type VerifiedList struct {
	ListCredential
	// Bits is the decoded bitstring.
	Bits *Bitstring
	// KID is the verification method that signed; Token the compact JWS.
	KID   string
	Token string
}

type claims struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub"`
	ID        string     `json:"jti"`
	NotBefore int64      `json:"nbf"`
	IssuedAt  int64      `json:"iat"`
	Expires   int64      `json:"exp"`
	VC        credential `json:"vc"`
}

type credential struct {
	Context []string `json:"@context"`
	Type    []string `json:"type"`
	Subject subject  `json:"credentialSubject"`
}

type subject struct {
	Type        string `json:"type"`
	Purpose     string `json:"statusPurpose"`
	EncodedList string `json:"encodedList"`
}

// IssueList signs c as a status list credential (VC-JWT: compact JWS,
// EdDSA, header {alg, typ: JWT, kid}) with priv, the key of the issuer's
// verification method kid (a DID URL of c.Issuer, which must be in its
// assertionMethod for the list to verify). It checks c as VerifyList would
// (the encodedList is decoded), so it never issues a list VerifyList
// refuses. Times are written in whole seconds.
func IssueList(priv ed25519.PrivateKey, kid string, c ListCredential) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("issue status list: ed25519 private key of %d bytes", len(priv))
	}
	u, kerr := parseKID(kid)
	if kerr != nil {
		return "", fmt.Errorf("issue status list: %w", kerr)
	}
	if u.DID != c.Issuer {
		return "", fmt.Errorf("issue status list: %w", fail(CodeIssuerMismatch, "kid %q is not a method of the issuer %q", kid, c.Issuer))
	}
	cl := claims{
		Issuer:    c.Issuer,
		Subject:   c.ID + SubjectFragment,
		ID:        c.ID,
		NotBefore: c.ValidFrom.Unix(),
		IssuedAt:  c.ValidFrom.Unix(),
		Expires:   c.ValidUntil.Unix(),
		VC: credential{
			Context: []string{CredentialsContextURL, ContextURL},
			Type:    []string{VerifiableCredentialType, CredentialType},
			Subject: subject{Type: SubjectType, Purpose: c.Purpose, EncodedList: c.EncodedList},
		},
	}
	if err := cl.check(); err != nil {
		return "", fmt.Errorf("issue status list: %w", err)
	}
	if _, err := Decode(c.EncodedList); err != nil {
		return "", fmt.Errorf("issue status list: %w", err)
	}
	payload, err := json.Marshal(cl)
	if err != nil {
		return "", fmt.Errorf("issue status list: %w", err)
	}
	tok, err := vcjwt.Sign(priv, kid, payload)
	if err != nil {
		return "", fmt.Errorf("issue status list: %w", err)
	}
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("issue status list: %w", fail(CodeListTooLarge, "token of %d bytes exceeds %d", len(tok), MaxTokenLen))
	}
	return tok, nil
}

// ResolveFunc resolves the issuer's DID to its document. A failure is
// reported as CodeIssuerUnresolvable wrapping the resolver's error.
type ResolveFunc func(ctx context.Context, did string) (*did.Document, error)

// VerifyList checks the status list credential token at time now, in this
// order, stopping at the first failure (spec/status-list.md,
// "Verification"):
//
//  1. at most MaxTokenLen bytes, three base64url parts without padding;
//     protected header with only alg, typ and kid, each once; alg EdDSA
//     (CodeAlgNotAllowed); typ JWT; a 64-byte signature; kid a DID URL
//     with a fragment (CodeKIDInvalid);
//  2. claim set: exactly iss, sub, jti, nbf, iat, exp and vc, each once;
//     iss a DID; jti an http(s) URL without fragment; sub = jti + "#list";
//     nbf = iat; exp after nbf; vc with exactly @context (the VC 1.1 base
//     context and ContextURL), type (VerifiableCredential,
//     BitstringStatusListCredential) and credentialSubject with exactly
//     type BitstringStatusList, statusPurpose revocation or suspension, and
//     encodedList (a string) (all CodeMalformed);
//  3. the kid's DID is iss (CodeIssuerMismatch); iss resolves
//     (CodeIssuerUnresolvable); kid is an Ed25519 method in its
//     assertionMethod (CodeKeyNotAuthorized); the signature verifies
//     (CodeSignatureInvalid);
//  4. nbf - Skew <= now (CodeNotYetValid), now <= exp + Skew (CodeExpired);
//  5. encodedList decodes within the limits of Decode (CodeMalformed,
//     CodeListTooLarge, CodeListTooShort). It is inflated only after the
//     signature verified, so an unauthenticated sender cannot make the
//     verifier inflate anything.
//
// VerifyList is pure: it reads no clock and does no I/O but resolve's.
func VerifyList(ctx context.Context, token string, resolve ResolveFunc, now time.Time) (*VerifiedList, error) {
	if resolve == nil {
		return nil, errors.New("verify status list: no resolver")
	}
	h, payload, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	kid, err := parseKID(h.Kid)
	if err != nil {
		return nil, err
	}
	c, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	if f := vcjwt.VerifyIssued(ctx, vcjwt.Resolver(resolve), token, c.Issuer, h.Kid, kid.DID); f != nil {
		return nil, jwtFail(f)
	}
	nbf, exp := time.Unix(c.NotBefore, 0).UTC(), time.Unix(c.Expires, 0).UTC()
	if f := vcjwt.CheckWindow(now, nbf, exp, Skew, time.RFC3339); f != nil {
		return nil, jwtFail(f)
	}
	bits, derr := Decode(c.VC.Subject.EncodedList)
	if derr != nil {
		return nil, derr
	}
	return &VerifiedList{
		ListCredential: ListCredential{
			ID: c.ID, Issuer: c.Issuer, ValidFrom: nbf, ValidUntil: exp,
			Purpose: c.VC.Subject.Purpose, EncodedList: c.VC.Subject.EncodedList,
		},
		Bits:  bits,
		KID:   h.Kid,
		Token: token,
	}, nil
}

// Check returns the status of entry in list (§3.4 Validate Algorithm,
// steps 5 to 13, for statusSize 1): true if the bit is set, i.e. the
// credential is revoked (or suspended, for a suspension list). The entry
// must be valid (Entry.Validate), name the list (statusListCredential =
// the list's id, CodeListMismatch), have the list's purpose
// (CodePurposeMismatch) and an index within it (CodeIndexOutOfRange).
func Check(list *VerifiedList, entry Entry) (revoked bool, err error) {
	if list == nil || list.Bits == nil {
		return false, errors.New("check status: no list")
	}
	i, err := entry.Validate()
	if err != nil {
		return false, err
	}
	if entry.ListCredential != list.ID {
		return false, fail(CodeListMismatch, "the entry names list %.128q, this list is %.128q", entry.ListCredential, list.ID)
	}
	if entry.Purpose != list.Purpose {
		return false, fail(CodePurposeMismatch, "the entry's purpose is %q, the list's %q", entry.Purpose, list.Purpose)
	}
	return list.Bits.Get(i)
}

// check validates the claims that need no key or clock.
func (c *claims) check() *Error {
	if _, err := did.ParseDID(c.Issuer); err != nil {
		return failWrap(CodeMalformed, err, "iss is not a DID")
	}
	if u, err := did.ParseDIDURL(c.Issuer); err != nil || u.DID != c.Issuer {
		return fail(CodeMalformed, "iss %.128q is not a bare DID", c.Issuer)
	}
	if !httpURL(c.ID) {
		return fail(CodeMalformed, "jti %.128q is not an absolute http(s) URL without fragment", c.ID)
	}
	if c.Subject != c.ID+SubjectFragment {
		return fail(CodeMalformed, "sub %.128q is not jti + %q", c.Subject, SubjectFragment)
	}
	if c.NotBefore < 1 || c.NotBefore > maxNumericDate {
		return fail(CodeMalformed, "nbf %d is out of range (1 to %d)", c.NotBefore, int64(maxNumericDate))
	}
	if c.IssuedAt != c.NotBefore {
		return fail(CodeMalformed, "iat %d differs from nbf %d (both are the issuance time)", c.IssuedAt, c.NotBefore)
	}
	if c.Expires <= c.NotBefore || c.Expires > maxNumericDate {
		return fail(CodeMalformed, "exp %d is not after nbf %d, or out of range", c.Expires, c.NotBefore)
	}
	if c.VC.Subject.Type != SubjectType {
		return fail(CodeMalformed, "vc.credentialSubject.type %.64q, want %q", c.VC.Subject.Type, SubjectType)
	}
	if p := c.VC.Subject.Purpose; p != PurposeRevocation && p != PurposeSuspension {
		return fail(CodeMalformed, "vc.credentialSubject.statusPurpose %.64q, want %q or %q", p, PurposeRevocation, PurposeSuspension)
	}
	return nil
}

// parseKID accepts a DID URL whose fragment names a verification method
// (vcjwt.ParseKID).
func parseKID(kid string) (did.DIDURL, *Error) {
	u, f := vcjwt.ParseKID(kid, "kid")
	if f != nil {
		return u, jwtFail(f)
	}
	return u, nil
}

// parseToken checks the compact JWS shape and the protected header and
// returns the header and the decoded payload (vcjwt.Parse).
func parseToken(tok string) (vcjwt.Header, []byte, *Error) {
	h, payload, f := vcjwt.Parse(tok, MaxTokenLen)
	if f != nil {
		return h, nil, jwtFail(f)
	}
	return h, payload, nil
}

// jwtFail maps a vcjwt refusal to this package's codes.
func jwtFail(f *vcjwt.Failure) *Error {
	return &Error{Code: vcjwt.CodeFor(f, jwtCodes, CodeMalformed), Message: f.Message, Err: f.Err}
}

// jwtCodes are this package's codes for the refusals of vcjwt.
var jwtCodes = map[vcjwt.Kind]Code{
	vcjwt.AlgNotAllowed: CodeAlgNotAllowed, vcjwt.KIDInvalid: CodeKIDInvalid, vcjwt.IssuerMismatch: CodeIssuerMismatch,
	vcjwt.IssuerUnresolvable: CodeIssuerUnresolvable, vcjwt.KeyNotAuthorized: CodeKeyNotAuthorized,
	vcjwt.SignatureInvalid: CodeSignatureInvalid, vcjwt.NotYetValid: CodeNotYetValid, vcjwt.Expired: CodeExpired,
}

// parseClaims decodes the claim set strictly: every object has exactly the
// members of the profile, each once, with their types.
func parseClaims(payload []byte) (claims, *Error) {
	var c claims
	if !utf8.Valid(payload) {
		return c, fail(CodeMalformed, "claim set is not valid UTF-8")
	}
	ms, err := strictjson.Parse(payload)
	if err != nil {
		return c, failWrap(CodeMalformed, err, "claim set")
	}
	if err := members(ms, "claim set", []string{"iss", "sub", "jti", "nbf", "iat", "exp", "vc"}, nil); err != nil {
		return c, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}} {
		raw, _ := ms.Get(f.name)
		if *f.dst, err = strictjson.String(raw); err != nil {
			return c, failWrap(CodeMalformed, err, "claim %s", f.name)
		}
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}, {"exp", &c.Expires}} {
		raw, _ := ms.Get(f.name)
		if *f.dst, err = strictjson.NumericDate(raw); err != nil {
			return c, failWrap(CodeMalformed, err, "claim %s", f.name)
		}
	}
	rawVC, _ := ms.Get("vc")
	vc, err := strictjson.Parse(rawVC)
	if err != nil {
		return c, failWrap(CodeMalformed, err, "claim vc")
	}
	// id, issuer, issuanceDate, expirationDate and credentialSubject.id
	// are refused with the other unknown members: this profile carries
	// them in jti, iss, nbf, exp and sub only.
	if err := members(vc, "vc", []string{"@context", "type", "credentialSubject"}, nil); err != nil {
		return c, err
	}
	rawContext, _ := vc.Get("@context")
	if err := exactStrings(rawContext, "vc.@context", CredentialsContextURL, ContextURL); err != nil {
		return c, err
	}
	rawType, _ := vc.Get("type")
	if err := exactStrings(rawType, "vc.type", VerifiableCredentialType, CredentialType); err != nil {
		return c, err
	}
	c.VC.Context = []string{CredentialsContextURL, ContextURL}
	c.VC.Type = []string{VerifiableCredentialType, CredentialType}
	rawSubject, _ := vc.Get("credentialSubject")
	cs, err := strictjson.Parse(rawSubject)
	if err != nil {
		return c, failWrap(CodeMalformed, err, "vc.credentialSubject")
	}
	// ttl (at risk in the spec, and in conflict with exp) is refused: the
	// list's freshness is exp, and HTTP caching follows it.
	if err := members(cs, "vc.credentialSubject", []string{"type", "statusPurpose", "encodedList"}, nil); err != nil {
		return c, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"type", &c.VC.Subject.Type}, {"statusPurpose", &c.VC.Subject.Purpose}, {"encodedList", &c.VC.Subject.EncodedList}} {
		raw, _ := cs.Get(f.name)
		if *f.dst, err = strictjson.String(raw); err != nil {
			return c, failWrap(CodeMalformed, err, "vc.credentialSubject.%s", f.name)
		}
	}
	if err := c.check(); err != nil {
		return c, err
	}
	return c, nil
}
