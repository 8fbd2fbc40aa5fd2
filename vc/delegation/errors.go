package delegation

import (
	"errors"
	"fmt"
)

// Code names why a delegation credential was refused. Codes are stable
// strings, part of the wire format (spec/delegation-credential.md); the
// server maps them to HTTP statuses.
type Code string

// The refusal codes, roughly in the order of the checks of Verify.
const (
	CodeMalformed          Code = "delegation_malformed"           // size, encoding, JOSE header, claim set or credential structure
	CodeFormatUnknown      Code = "delegation_format_unknown"      // neither a compact JWS nor a JSON object with a proof
	CodeContextNotAllowed  Code = "delegation_context_not_allowed" // an @context entry other than the profile's (remote URL, inline object)
	CodeUndefinedTerm      Code = "delegation_undefined_term"      // an LD credential member that no embedded context defines
	CodeScopesInvalid      Code = "delegation_scopes_invalid"      // credentialSubject.scopes is not a valid scope list
	CodeStatusInvalid      Code = "delegation_status_invalid"      // credentialStatus is not a BitstringStatusListEntry of the profile
	CodeAlgNotAllowed      Code = "delegation_alg_not_allowed"     // JWS alg other than EdDSA, proof type other than Ed25519Signature2020
	CodeKIDInvalid         Code = "delegation_kid_invalid"         // kid / verificationMethod missing or not did:<method>:<id>#<fragment>
	CodeIssuerMismatch     Code = "delegation_issuer_mismatch"     // the kid's / verificationMethod's DID is not the issuer
	CodeIssuerUnresolvable Code = "delegation_issuer_unresolvable" // the issuer DID does not resolve
	CodeKeyNotAuthorized   Code = "delegation_key_not_authorized"  // the key is not an Ed25519 method of the issuer in assertionMethod
	CodeSignatureInvalid   Code = "delegation_signature_invalid"   // the signature does not verify (tampered proof or document)
	CodeNotYetValid        Code = "delegation_not_yet_valid"       // now < issuanceDate - Skew
	CodeExpired            Code = "delegation_expired"             // now > expirationDate + Skew
)

// Codes lists every Code, for documentation tests and for the server's
// status table.
var Codes = []Code{
	CodeMalformed, CodeFormatUnknown, CodeContextNotAllowed, CodeUndefinedTerm, CodeScopesInvalid,
	CodeStatusInvalid, CodeAlgNotAllowed, CodeKIDInvalid, CodeIssuerMismatch, CodeIssuerUnresolvable,
	CodeKeyNotAuthorized, CodeSignatureInvalid, CodeNotYetValid, CodeExpired,
}

// Error is the one error type of a refused credential. Message says what
// was wrong with the credential in words a client may see; Err, if any, is
// the cause (a resolver's or a JSON-LD processor's error), for logs and
// errors.As.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return string(e.Code) + ": " + e.Message
}

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
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func failWrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}
