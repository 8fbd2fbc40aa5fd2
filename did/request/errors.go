package request

import (
	"errors"
	"fmt"
)

// Code names why a signed request was refused. Codes are stable strings,
// part of the wire format (spec/signed-requests.md).
type Code string

// The refusal codes, in the order of the checks of Verifier.Verify.
const (
	CodeHeaderMissing          Code = "request_header_missing"          // no Authorization header with our scheme
	CodeHeaderMalformed        Code = "request_header_malformed"        // several headers, wrong scheme or spacing, too long
	CodeJWSMalformed           Code = "request_jws_malformed"           // not a compact JWS with a JSON protected header
	CodeAlgNotAllowed          Code = "request_alg_not_allowed"         // alg other than EdDSA (none, HS256, ...)
	CodeJOSEHeaderNotAllowed   Code = "request_jose_header_not_allowed" // jwk, x5c, jku, x5u, crit, b64 or any other header member
	CodeKIDMissing             Code = "request_kid_missing"             // no kid
	CodeKIDInvalid             Code = "request_kid_invalid"             // kid is not a DID URL with a fragment
	CodeDIDMethodNotSupported  Code = "did_method_not_supported"        // the kid's DID method cannot be resolved here
	CodeDIDResolutionFailed    Code = "did_resolution_failed"           // resolution failed (not found, unreachable, bad document)
	CodeDIDDeactivated         Code = "did_deactivated"                 // the signer's DID is deactivated: it can no longer act
	CodeKeyNotFound            Code = "key_not_found"                   // the DID document has no such verification method
	CodeKeyNotAuthorized       Code = "key_not_authorized"              // the method is not in the authentication relationship
	CodeKeyTypeUnsupported     Code = "key_type_unsupported"            // the method is not an Ed25519 key
	CodeSignatureInvalid       Code = "request_signature_invalid"       // the signature does not verify with that key
	CodeWrongType              Code = "request_wrong_type"              // typ is not clawnet-request+jwt
	CodeClaimsMalformed        Code = "request_claims_malformed"        // payload is not exactly the claim set, or a claim is ill-formed
	CodeWrongAudience          Code = "request_wrong_audience"          // aud is not this server
	CodeWrongMethod            Code = "request_wrong_method"            // htm is not the request's method
	CodeWrongPath              Code = "request_wrong_path"              // htu is not the request's target
	CodeBodyMismatch           Code = "request_body_mismatch"           // bd is not the digest of the body
	CodeLifetimeTooLong        Code = "request_lifetime_too_long"       // exp - iat > MaxLifetime
	CodeExpired                Code = "request_expired"                 // now > exp + skew
	CodeNotYetValid            Code = "request_not_yet_valid"           // iat > now + skew
	CodeReplayed               Code = "request_replayed"                // jti already used by this DID
	CodeReplayCacheUnavailable Code = "replay_cache_unavailable"        // the replay cache failed or is full: refused, fail closed
)

// Codes returns every refusal code, in the order of the checks.
func Codes() []Code {
	return []Code{
		CodeHeaderMissing, CodeHeaderMalformed, CodeJWSMalformed, CodeAlgNotAllowed,
		CodeJOSEHeaderNotAllowed, CodeKIDMissing, CodeKIDInvalid, CodeDIDMethodNotSupported,
		CodeDIDResolutionFailed, CodeDIDDeactivated, CodeKeyNotFound, CodeKeyNotAuthorized,
		CodeKeyTypeUnsupported, CodeSignatureInvalid, CodeWrongType, CodeClaimsMalformed,
		CodeWrongAudience, CodeWrongMethod, CodeWrongPath, CodeBodyMismatch, CodeLifetimeTooLong,
		CodeExpired, CodeNotYetValid, CodeReplayed, CodeReplayCacheUnavailable,
	}
}

// Error is the one error type of a refused request. Err says why in words
// for logs; it may contain details that server/ must not send to clients.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Code, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of a refusal, or "" if err is not (or does not
// wrap) an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}
