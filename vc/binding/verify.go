package binding

import (
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
)

// ResolveFunc resolves the issuer's DID to its document. A failure is
// reported as CodeIssuerUnresolvable wrapping the resolver's error, so a
// *did.ResolutionError (code "deactivated", say) stays visible to
// errors.As.
type ResolveFunc func(ctx context.Context, did string) (*did.Document, error)

// Verify checks the binding credential token at time now, in this order,
// stopping at the first failure (spec/binding-credential.md, "Verification"):
//
//  1. at most MaxTokenLen bytes, three base64url parts without padding
//     (CodeMalformed);
//  2. protected header: a JSON object with only alg, typ and kid, each once
//     (CodeMalformed); alg is EdDSA (CodeAlgNotAllowed); typ is JWT and
//     the signature part 64 bytes (CodeMalformed); kid is a DID URL
//     did:<method>:<id>#<fragment> (CodeKIDInvalid);
//  3. claim set: exactly the members of the profile, each once, with their
//     types, valid UTF-8; iss and sub bare DIDs and different, jti a
//     urn:uuid v4, nbf = iat, exp after nbf if present; vc's @context and
//     type exactly the profile's (CodeMalformed);
//  4. the kid's DID is iss (CodeIssuerMismatch);
//  5. iss resolves (CodeIssuerUnresolvable);
//  6. kid is an Ed25519 verification method of iss in assertionMethod
//     (CodeKeyNotAuthorized);
//  7. the EdDSA signature verifies with that key (CodeSignatureInvalid);
//  8. nbf - Skew <= now (CodeNotYetValid) and now <= exp + Skew
//     (CodeExpired);
//  9. role is manager or identity (CodeRoleInvalid); a manager has no
//     context, an identity agent a valid context name (CodeContextInvalid).
//
// Checks that need no key come first, so that junk costs no resolution.
// Verify is pure: it reads no clock and does no I/O but resolve's.
func Verify(ctx context.Context, token string, resolve ResolveFunc, now time.Time) (*Verified, error) {
	if resolve == nil {
		return nil, errors.New("verify binding credential: no resolver")
	}
	h, payload, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	kid, err := parseKID(h.Kid)
	if err != nil {
		return nil, err
	}
	c, sub, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	if f := vcjwt.VerifyIssued(ctx, vcjwt.Resolver(resolve), token, c.Issuer, h.Kid, kid.DID); f != nil {
		return nil, jwtFail(f)
	}
	nbf := time.Unix(c.NotBefore, 0).UTC()
	var exp time.Time
	if c.Expires != 0 {
		exp = time.Unix(c.Expires, 0).UTC()
	}
	if f := vcjwt.CheckWindow(now, nbf, exp, Skew, time.RFC3339); f != nil {
		return nil, jwtFail(f)
	}
	if err := checkRole(sub.Role, sub.Context, sub.hasContext); err != nil {
		return nil, err
	}
	return &Verified{
		Binding: Binding{
			ID:       c.ID,
			Issuer:   c.Issuer,
			Subject:  c.Subject,
			Role:     sub.Role,
			Context:  sub.Context,
			IssuedAt: nbf,
			Expires:  exp,
		},
		KID:    h.Kid,
		Token:  token,
		Digest: Digest(token),
	}, nil
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

// credentialSubject as parsed: hasContext tells an absent context from an
// empty one.
type parsedSubject struct {
	Role       Role
	Context    string
	hasContext bool
}

// parseClaims decodes the claim set strictly (step 3): every object has
// exactly the members of the profile, each once; strings are strings (not
// null), NumericDates are integers without fraction or exponent.
func parseClaims(payload []byte) (claims, parsedSubject, *Error) {
	var c claims
	var s parsedSubject
	if !utf8.Valid(payload) {
		return c, s, fail(CodeMalformed, "claim set is not valid UTF-8")
	}
	ms, err := strictjson.Parse(payload)
	if err != nil {
		return c, s, failWrap(CodeMalformed, err, "claim set")
	}
	if err := members(ms, "claim set", []string{"iss", "sub", "jti", "nbf", "iat", "vc"}, []string{"exp"}); err != nil {
		return c, s, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}} {
		raw, _ := ms.Get(f.name)
		if *f.dst, err = strictjson.String(raw); err != nil {
			return c, s, failWrap(CodeMalformed, err, "claim %s", f.name)
		}
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}, {"exp", &c.Expires}} {
		raw, ok := ms.Get(f.name)
		if !ok {
			continue
		}
		if *f.dst, err = strictjson.NumericDate(raw); err != nil {
			return c, s, failWrap(CodeMalformed, err, "claim %s", f.name)
		}
	}
	if _, ok := ms.Get("exp"); ok && c.Expires == 0 {
		return c, s, fail(CodeMalformed, "claim exp is 0")
	}
	rawVC, _ := ms.Get("vc")
	vc, err := strictjson.Parse(rawVC)
	if err != nil {
		return c, s, failWrap(CodeMalformed, err, "claim vc")
	}
	// id, issuer, issuanceDate, expirationDate and credentialSubject.id
	// are refused here with the other unknown members: this profile carries
	// them in jti, iss, nbf, exp and sub only.
	if err := members(vc, "vc", []string{"@context", "type", "credentialSubject"}, nil); err != nil {
		return c, s, err
	}
	rawContext, _ := vc.Get("@context")
	if err := exactStrings(rawContext, "vc.@context", CredentialsContextURL, ContextURL); err != nil {
		return c, s, err
	}
	rawType, _ := vc.Get("type")
	if err := exactStrings(rawType, "vc.type", VerifiableCredentialType, Type); err != nil {
		return c, s, err
	}
	rawSubject, _ := vc.Get("credentialSubject")
	cs, err := strictjson.Parse(rawSubject)
	if err != nil {
		return c, s, failWrap(CodeMalformed, err, "vc.credentialSubject")
	}
	// role is checked for presence with its value, at step 9.
	if err := members(cs, "vc.credentialSubject", nil, []string{"role", "context"}); err != nil {
		return c, s, err
	}
	if raw, ok := cs.Get("role"); ok {
		r, err := strictjson.String(raw)
		if err != nil {
			return c, s, failWrap(CodeMalformed, err, "vc.credentialSubject.role")
		}
		s.Role = Role(r)
	}
	if raw, ok := cs.Get("context"); ok {
		if s.Context, err = strictjson.String(raw); err != nil {
			return c, s, failWrap(CodeMalformed, err, "vc.credentialSubject.context")
		}
		s.hasContext = true
	}
	if err := c.check(); err != nil {
		return c, s, err
	}
	return c, s, nil
}

// members is strictjson's member check as a CodeMalformed refusal.
func members(o strictjson.Object, what string, required, optional []string) *Error {
	if err := o.Members(what, required, optional); err != nil {
		return fail(CodeMalformed, "%s", err)
	}
	return nil
}

// exactStrings is strictjson.ExactStrings as a CodeMalformed refusal.
func exactStrings(raw json.RawMessage, what string, want ...string) *Error {
	if err := strictjson.ExactStrings(raw, what, want...); err != nil {
		return fail(CodeMalformed, "%s", err)
	}
	return nil
}
