package request

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

// ResolveFunc resolves a DID to its document. Errors wrapping
// did.ErrMethodNotSupported, or a *did.ResolutionError with code
// methodNotSupported, are reported as CodeDIDMethodNotSupported; a
// *did.ResolutionError with code deactivated as CodeDIDDeactivated; others
// as CodeDIDResolutionFailed.
type ResolveFunc func(ctx context.Context, did string) (*did.Document, error)

// ResolveKeyDID is a ResolveFunc for did:key only, resolved locally.
func ResolveKeyDID(_ context.Context, d string) (*did.Document, error) {
	return did.ResolveKey(d)
}

// Config configures a Verifier. Audience, Resolve, Now and Replay are
// required.
type Config struct {
	// Audience is this server's origin; aud must equal it exactly.
	Audience string
	// Resolve resolves the signer's DID.
	Resolve ResolveFunc
	// Now is the clock.
	Now func() time.Time
	// Skew is the tolerated clock difference on iat and exp; 0 means
	// DefaultSkew.
	Skew time.Duration
	// Replay remembers used jti values.
	Replay ReplayCache
}

// Verifier checks signed requests. It is safe for concurrent use if its
// Resolve and Replay are.
type Verifier struct {
	c Config
}

// NewVerifier checks c and returns a Verifier.
func NewVerifier(c Config) (*Verifier, error) {
	switch {
	case c.Audience == "":
		return nil, errors.New("request verifier: no audience")
	case c.Resolve == nil:
		return nil, errors.New("request verifier: no resolver")
	case c.Now == nil:
		return nil, errors.New("request verifier: no clock")
	case c.Replay == nil:
		return nil, errors.New("request verifier: no replay cache")
	case c.Skew < 0:
		return nil, errors.New("request verifier: negative skew")
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	return &Verifier{c: c}, nil
}

// Verified is a request that passed every check.
type Verified struct {
	// DID is the signer, KID the verification method that signed.
	DID string
	KID string
	// Claims are the verified claims.
	Claims Claims
	// Document is the signer's DID document as resolved for this request.
	Document *did.Document
	// Token is the compact JWS of the Authorization header; Digest is
	// RequestDigest(Token), the request_digest that log entries caused by
	// this request carry.
	Token  string
	Digest string
}

// protectedHeader is the only JOSE header a signed request may have.
type protectedHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// parseAuthorization extracts the compact JWS from the Authorization
// header values and decodes its protected header: the checks that need no
// key (steps 1 and 2 of Verify).
func parseAuthorization(values []string) (string, protectedHeader, *Error) {
	var h protectedHeader
	if len(values) == 0 {
		return "", h, fail(CodeHeaderMissing, "no Authorization header")
	}
	if len(values) > 1 {
		return "", h, fail(CodeHeaderMalformed, "%d Authorization headers", len(values))
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		// Another scheme (Bearer, DPoP, ...) is not ours: missing.
		return "", h, fail(CodeHeaderMissing, "Authorization scheme is not %s", Scheme)
	}
	if len(tok) > maxTokenLen {
		return "", h, fail(CodeHeaderMalformed, "token longer than %d bytes", maxTokenLen)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", h, fail(CodeHeaderMalformed, "token has %d parts, want 3 (compact JWS)", len(parts))
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if c := p[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", h, fail(CodeHeaderMalformed, "token has character %q (not base64url)", c)
			}
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return "", h, fail(CodeJWSMalformed, "protected header: %w", err)
	}
	if err := decodeFlat(raw, []flatField{{name: "alg", str: &h.Alg}, {name: "typ", str: &h.Typ}, {name: "kid", str: &h.Kid}}, false); err != nil {
		var u *unknownMemberError
		if errors.As(err, &u) {
			return "", h, fail(CodeJOSEHeaderNotAllowed, "protected header: %w", err)
		}
		return "", h, fail(CodeJWSMalformed, "protected header: %w", err)
	}
	if h.Alg != jwa.EdDSA().String() {
		return "", h, fail(CodeAlgNotAllowed, "alg %q, only EdDSA is accepted", h.Alg)
	}
	return tok, h, nil
}

// verifyCompact checks the EdDSA signature of the compact JWS tok, whose
// three parts parseAuthorization found to be base64url and whose header
// it checked (alg EdDSA, no other algorithm is ever tried), and returns
// the decoded payload. RFC 7515 §5.2: the signature is over the ASCII
// signing input "header.payload"; RFC 8037 §3.1: Ed25519, 64 bytes.
func verifyCompact(tok string, pub ed25519.PublicKey) ([]byte, *Error) {
	last := strings.LastIndexByte(tok, '.')
	first := strings.IndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.Strict().DecodeString(tok[last+1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fail(CodeSignatureInvalid, "signature is not 64 bytes of base64url")
	}
	if !ed25519.Verify(pub, []byte(tok[:last]), sig) {
		return nil, fail(CodeSignatureInvalid, "EdDSA signature does not verify")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(tok[first+1 : last])
	if err != nil {
		return nil, fail(CodeClaimsMalformed, "payload: %w", err)
	}
	return payload, nil
}

// Verify checks the signed request r with body (the exact body bytes, read
// by the caller within its own size limit), in this order, stopping at the
// first failure:
//
//  1. one Authorization header "ClawNet-JWS <token>", token a well-formed
//     compact JWS of at most 8 KiB;
//  2. protected header: only alg, typ, kid; alg is EdDSA;
//  3. kid present, a DID URL did:<method>:<id>#<fragment>;
//  4. the DID resolves;
//  5. kid is a verification method of the document, in authentication,
//     with an Ed25519 key;
//  6. the signature verifies with that key (EdDSA, pinned);
//  7. typ is clawnet-request+jwt;
//  8. the payload is exactly the claim set, well formed;
//  9. aud, htm, htu, bd match this server and the request;
//  10. exp - iat <= 300 s; now <= exp + skew; iat <= now + skew;
//  11. the jti was not used before by this DID (recorded until exp + skew).
//
// The cheap, key-independent checks come first so that junk costs no
// resolution; the replay cache is touched last so that a refused request
// never uses up a jti.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (*Verified, error) {
	tok, h, ferr := parseAuthorization(r.Header.Values("Authorization"))
	if ferr != nil {
		return nil, ferr
	}
	if h.Kid == "" {
		return nil, fail(CodeKIDMissing, "no kid")
	}
	if err := checkKID(h.Kid); err != nil {
		return nil, fail(CodeKIDInvalid, "%w", err)
	}
	u, _ := did.ParseDIDURL(h.Kid) // checked by checkKID
	doc, err := v.c.Resolve(ctx, u.DID)
	var rerr *did.ResolutionError
	switch {
	case errors.As(err, &rerr) && rerr.Code == did.ErrorDeactivated:
		return nil, fail(CodeDIDDeactivated, "resolve %s: %w", u.DID, err)
	case errors.As(err, &rerr) && rerr.Code == did.ErrorMethodNotSupported,
		errors.Is(err, did.ErrMethodNotSupported):
		return nil, fail(CodeDIDMethodNotSupported, "resolve %s: %w", u.DID, err)
	case err != nil:
		return nil, fail(CodeDIDResolutionFailed, "resolve %s: %w", u.DID, err)
	case doc == nil || doc.ID != u.DID:
		return nil, fail(CodeDIDResolutionFailed, "resolve %s: resolver returned another document", u.DID)
	}
	pub, err := did.VerificationKey(doc, h.Kid, did.Authentication)
	switch {
	case errors.Is(err, did.ErrNotInRelationship):
		return nil, fail(CodeKeyNotAuthorized, "%w", err)
	case errors.Is(err, did.ErrUnsupportedKeyType):
		return nil, fail(CodeKeyTypeUnsupported, "%w", err)
	case err != nil:
		return nil, fail(CodeKeyNotFound, "%w", err)
	}
	payload, verr := verifyCompact(tok, ed25519.PublicKey(pub))
	if verr != nil {
		return nil, verr
	}
	if h.Typ != Type {
		return nil, fail(CodeWrongType, "typ %q, want %q", h.Typ, Type)
	}
	c, err := parseClaims(payload)
	if err != nil {
		return nil, fail(CodeClaimsMalformed, "%w", err)
	}
	if c.Audience != v.c.Audience {
		return nil, fail(CodeWrongAudience, "aud %q, this server is %q", c.Audience, v.c.Audience)
	}
	if c.Method != r.Method {
		return nil, fail(CodeWrongMethod, "htm %q, request method %q", c.Method, r.Method)
	}
	if target := r.URL.RequestURI(); c.URI != target {
		return nil, fail(CodeWrongPath, "htu %q, request target %q", c.URI, target)
	}
	if d := BodyDigest(body); c.BodyDigest != d {
		return nil, fail(CodeBodyMismatch, "bd %s, body digest %s", c.BodyDigest, d)
	}
	if lifetime := time.Duration(c.Expires-c.IssuedAt) * time.Second; lifetime > MaxLifetime {
		return nil, fail(CodeLifetimeTooLong, "lifetime %s exceeds %s", lifetime, MaxLifetime)
	}
	now := v.c.Now()
	exp := time.Unix(c.Expires, 0)
	if now.After(exp.Add(v.c.Skew)) {
		return nil, fail(CodeExpired, "expired at %s, now %s (skew %s)", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.c.Skew)
	}
	if iat := time.Unix(c.IssuedAt, 0); iat.After(now.Add(v.c.Skew)) {
		return nil, fail(CodeNotYetValid, "issued at %s, now %s (skew %s)", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.c.Skew)
	}
	// The DID scopes the jti: one signer cannot use up another's.
	switch err := v.c.Replay.Use(ctx, u.DID+" "+c.ID, exp.Add(v.c.Skew), now); {
	case errors.Is(err, ErrReplayed):
		return nil, fail(CodeReplayed, "jti %q of %s: %w", c.ID, u.DID, err)
	case err != nil:
		return nil, fail(CodeReplayCacheUnavailable, "%w", err)
	}
	return &Verified{DID: u.DID, KID: h.Kid, Claims: c, Document: doc, Token: tok, Digest: RequestDigest(tok)}, nil
}
