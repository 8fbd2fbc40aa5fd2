package delegation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/ldp"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
	"github.com/piprate/json-gold/ld"
)

// VerifyOptions are the inputs of Verify besides the credential.
type VerifyOptions struct {
	// Resolve resolves the issuer's DID to its document (did.Resolver's
	// Resolve, or a fake in tests). A failure is reported as
	// CodeIssuerUnresolvable wrapping the resolver's error, so that a
	// *did.ResolutionError stays visible to errors.As.
	Resolve func(ctx context.Context, did string) (*did.Document, error)
	// Now is the time of verification; Verify reads no clock.
	Now time.Time

	// loader replaces the embedded document loader in tests (to record
	// what is loaded); nil means the embedded loader.
	loader ld.DocumentLoader
}

// Verify checks a delegation credential in either format and returns it
// only if every check passed. The format is detected from the bytes: a
// compact JWS (optionally as a JSON string) is VC-JWT, a JSON object with
// a proof member is Data Integrity; anything else is CodeFormatUnknown.
//
// The checks, in order, stopping at the first failure
// (spec/delegation-credential.md, "Verification"):
//
//  1. at most MaxSize bytes; the format (CodeMalformed, CodeFormatUnknown);
//  2. VC-JWT: the compact JWS shape and the protected header (alg EdDSA:
//     CodeAlgNotAllowed; kid a DID URL: CodeKIDInvalid). Data Integrity:
//     @context exactly the profile's embedded contexts
//     (CodeContextNotAllowed), every member a defined term by JSON-LD
//     expansion with the embedded contexts only (CodeUndefinedTerm);
//  3. the credential's exact members and values (CodeMalformed), its
//     scopes (CodeScopesInvalid) and status entry (CodeStatusInvalid); for
//     Data Integrity the proof: type Ed25519Signature2020
//     (CodeAlgNotAllowed), proofPurpose assertionMethod
//     (CodeKeyNotAuthorized), verificationMethod a DID URL (CodeKIDInvalid);
//  4. the kid's / verificationMethod's DID is the issuer
//     (CodeIssuerMismatch);
//  5. the issuer resolves (CodeIssuerUnresolvable);
//  6. that method is an Ed25519 key of the issuer in assertionMethod
//     (CodeKeyNotAuthorized);
//  7. the signature verifies (CodeSignatureInvalid);
//  8. issuanceDate - Skew <= Now (CodeNotYetValid) and
//     Now <= expirationDate + Skew (CodeExpired).
//
// Checks that need no key come first, so that junk costs no resolution.
// Verify is pure: no clock, no I/O but Resolve's, and JSON-LD contexts come
// only from the embedded copies (any other URL fails without a fetch).
// Revocation, "issuer is the agent's bound owner", the parent chain and
// attenuation are the caller's (server) checks on the returned Verified.
func Verify(ctx context.Context, raw []byte, opt VerifyOptions) (*Verified, error) {
	if opt.Resolve == nil {
		return nil, errors.New("verify delegation credential: no resolver")
	}
	if len(raw) > MaxSize {
		return nil, fail(CodeMalformed, "credential of %d bytes exceeds %d", len(raw), MaxSize)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, fail(CodeFormatUnknown, "empty credential")
	}
	switch trimmed[0] {
	case '"':
		var tok string
		if err := json.Unmarshal(trimmed, &tok); err != nil {
			return nil, failWrap(CodeMalformed, err, "credential is not a JSON string")
		}
		return verifyJWT(ctx, tok, opt)
	case '{':
		ms, err := strictjson.Parse(trimmed)
		if err != nil {
			return nil, failWrap(CodeMalformed, err, "credential")
		}
		if _, ok := ms.Get("proof"); !ok {
			return nil, fail(CodeFormatUnknown, "a JSON credential without a proof (neither VC-JWT nor Data Integrity)")
		}
		return verifyLD(ctx, raw, opt)
	default:
		if vcjwt.IsBase64URL(trimmed[0]) && bytes.Count(trimmed, []byte(".")) == 2 {
			return verifyJWT(ctx, string(trimmed), opt)
		}
		return nil, fail(CodeFormatUnknown, "neither a compact JWS nor a JSON object with a proof")
	}
}

func verifyJWT(ctx context.Context, tok string, opt VerifyOptions) (*Verified, error) {
	kid, c, err := parseJWT(tok)
	if err != nil {
		return nil, err
	}
	pub, err := issuerKey(ctx, c.Issuer, kid, "kid", opt)
	if err != nil {
		return nil, err
	}
	if serr := vcjwt.Verify(tok, pub); serr != nil {
		return nil, failWrap(CodeSignatureInvalid, serr, "signature does not verify with %s", kid)
	}
	if err := checkTime(c, opt.Now); err != nil {
		return nil, err
	}
	return &Verified{Credential: *c, Format: FormatJWT, KID: kid, Raw: []byte(tok), Digest: Digest([]byte(tok))}, nil
}

func verifyLD(ctx context.Context, raw []byte, opt VerifyOptions) (*Verified, error) {
	loader := opt.loader
	if loader == nil {
		l, err := defaultLoader()
		if err != nil {
			return nil, err
		}
		loader = l
	}
	c, p, err := parseLD(raw, loader)
	if err != nil {
		return nil, err
	}
	pub, err := issuerKey(ctx, c.Issuer, p.VerificationMethod, "proof.verificationMethod", opt)
	if err != nil {
		return nil, err
	}
	if serr := ldp.VerifyProof(raw, p.VerificationMethod, pub, loader); serr != nil {
		return nil, failWrap(CodeSignatureInvalid, serr, "proof does not verify with %s", p.VerificationMethod)
	}
	if err := checkTime(c, opt.Now); err != nil {
		return nil, err
	}
	r := bytes.Clone(raw)
	return &Verified{Credential: *c, Format: FormatLDP, KID: p.VerificationMethod, Raw: r, Digest: Digest(r)}, nil
}

// issuerKey runs steps 4 to 6: the method is a DID URL (CodeKIDInvalid),
// then vcjwt.IssuerKey: it belongs to the issuer, the issuer resolves, the
// method is in its assertionMethod.
func issuerKey(ctx context.Context, issuer, kid, what string, opt VerifyOptions) (ed25519.PublicKey, *Error) {
	u, err := parseKID(kid, what)
	if err != nil {
		return nil, err
	}
	pub, f := vcjwt.IssuerKey(ctx, vcjwt.Resolver(opt.Resolve), issuer, kid, u.DID, what)
	if f != nil {
		return nil, jwtFail(f)
	}
	return pub, nil
}

func checkTime(c *Credential, now time.Time) *Error {
	if f := vcjwt.CheckWindow(now, c.IssuanceDate, c.ExpirationDate, Skew, dateLayout); f != nil {
		return jwtFail(f)
	}
	return nil
}
