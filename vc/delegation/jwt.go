package delegation

import (
	"crypto/ed25519"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
)

// claims is the VC-JWT claim set, in the order IssueJWT writes it.
type claims struct {
	Issuer    string         `json:"iss"`
	Subject   string         `json:"sub"`
	ID        string         `json:"jti"`
	NotBefore int64          `json:"nbf"`
	Expires   int64          `json:"exp"`
	VC        wireCredential `json:"vc"`
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// IssueJWT signs c as a VC-JWT with priv, the key of the issuer's
// verification method kid (a DID URL of c.Issuer with a fragment, which
// must be in the issuer's assertionMethod for the credential to verify).
// It checks c as Verify would, so that it never issues a credential Verify
// refuses; those refusals are *Error values with Verify's codes.
func IssueJWT(priv ed25519.PrivateKey, kid string, c Credential) (string, error) {
	if err := checkPrivateKey(priv); err != nil {
		return "", fmt.Errorf("issue delegation credential: %w", err)
	}
	if err := checkIssue(&c, kid, "kid"); err != nil {
		return "", fmt.Errorf("issue delegation credential: %w", err)
	}
	vc, err := wireVC(&c)
	if err != nil {
		return "", fmt.Errorf("issue delegation credential: %w", failWrap(CodeScopesInvalid, err, "scopes"))
	}
	payload, err := marshal(claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		ID:        c.ID,
		NotBefore: c.IssuanceDate.Unix(),
		Expires:   c.ExpirationDate.Unix(),
		VC:        vc,
	})
	if err != nil {
		return "", fmt.Errorf("issue delegation credential: %w", err)
	}
	tok, err := vcjwt.Sign(priv, kid, payload)
	if err != nil {
		return "", fmt.Errorf("issue delegation credential: %w", err)
	}
	if len(tok) > MaxSize {
		return "", fmt.Errorf("issue delegation credential: %w", fail(CodeMalformed, "token of %d bytes exceeds %d", len(tok), MaxSize))
	}
	return tok, nil
}

// checkIssue is the issuing side's run of Verify's key-free checks.
func checkIssue(c *Credential, kid, what string) *Error {
	u, err := parseKID(kid, what)
	if err != nil {
		return err
	}
	if u.DID != c.Issuer {
		return fail(CodeIssuerMismatch, "%s %q is not a method of the issuer %q", what, kid, c.Issuer)
	}
	return c.check()
}

// parseJWT checks the compact JWS shape, the protected header and the
// claim set, and returns the kid and the credential; nothing is verified
// yet.
func parseJWT(tok string) (string, *Credential, *Error) {
	p, f := vcjwt.Split(tok, MaxSize)
	if f != nil {
		return "", nil, jwtFail(f)
	}
	if !utf8.Valid(p.Header) || !utf8.Valid(p.Payload) {
		return "", nil, fail(CodeMalformed, "header or payload is not valid UTF-8")
	}
	ho, err := strictjson.Parse(p.Header)
	if err != nil {
		return "", nil, failWrap(CodeMalformed, err, "protected header")
	}
	// jwk, x5c, jku, x5u, crit, b64, ...: the key comes from the issuer's
	// DID document only, and the payload is always the base64url claim set.
	if e := members(ho, "protected header", []string{"alg"}, []string{"typ", "kid"}); e != nil {
		return "", nil, e
	}
	h, f := vcjwt.HeaderOf(ho)
	if f != nil {
		return "", nil, jwtFail(f)
	}
	if f := vcjwt.CheckEdDSA(h, p.Signature); f != nil {
		return "", nil, jwtFail(f)
	}
	kid := h.Kid
	if _, kerr := parseKID(kid, "kid"); kerr != nil {
		return "", nil, kerr
	}
	c, cerr := parseClaims(p.Payload)
	if cerr != nil {
		return "", nil, cerr
	}
	return kid, c, nil
}

// parseClaims decodes the claim set strictly: every object has exactly the
// members of the profile, each once, with their types.
func parseClaims(payload []byte) (*Credential, *Error) {
	ms, err := strictjson.Parse(payload)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "claim set")
	}
	if e := members(ms, "claim set", []string{"iss", "sub", "jti", "nbf", "exp", "vc"}, nil); e != nil {
		return nil, e
	}
	c := &Credential{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}} {
		raw, _ := ms.Get(f.name)
		if *f.dst, err = strictjson.String(raw); err != nil {
			return nil, failWrap(CodeMalformed, err, "claim %s", f.name)
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"nbf", &c.IssuanceDate}, {"exp", &c.ExpirationDate}} {
		raw, _ := ms.Get(f.name)
		n, err := strictjson.NumericDate(raw)
		if err != nil || n < 1 || n > maxNumericDate {
			return nil, fail(CodeMalformed, "claim %s %.32s is not a NumericDate in whole seconds up to 9999", f.name, raw)
		}
		*f.dst = time.Unix(n, 0).UTC()
	}
	rawVC, _ := ms.Get("vc")
	vc, err := strictjson.Parse(rawVC)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "claim vc")
	}
	// id, issuer, issuanceDate, expirationDate and credentialSubject.id
	// are refused with the other unknown members: VC-JWT carries them in
	// jti, iss, nbf, exp and sub only.
	if e := members(vc, "vc", []string{"@context", "type", "credentialSubject"}, []string{"credentialStatus"}); e != nil {
		return nil, e
	}
	raw, _ := vc.Get("@context")
	if e := checkContexts(raw, jwtContexts); e != nil {
		return nil, e
	}
	raw, _ = vc.Get("type")
	if e := checkTypes(raw); e != nil {
		return nil, e
	}
	raw, _ = vc.Get("credentialSubject")
	if e := parseSubject(raw, false, c); e != nil {
		return nil, e
	}
	if raw, ok := vc.Get("credentialStatus"); ok {
		s, e := parseStatus(raw)
		if e != nil {
			return nil, e
		}
		c.Status = s
	}
	if e := c.check(); e != nil {
		return nil, e
	}
	return c, nil
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
