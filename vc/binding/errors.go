package binding

import (
	"errors"
	"fmt"
)

// Code names why a binding credential was refused. Codes are stable
// strings, part of the wire format (spec/binding-credential.md); the server
// maps them to HTTP statuses.
type Code string

// The refusal codes, in the order of the checks of Verify.
const (
	CodeMalformed          Code = "binding_malformed"           // not a compact JWS of the profile: size, encoding, header or claim set
	CodeAlgNotAllowed      Code = "binding_alg_not_allowed"     // alg other than EdDSA (none, HS256, ES256, Ed25519, ...)
	CodeKIDInvalid         Code = "binding_kid_invalid"         // kid missing, or not a DID URL did:<method>:<id>#<fragment>
	CodeIssuerMismatch     Code = "binding_issuer_mismatch"     // the kid's DID is not iss
	CodeIssuerUnresolvable Code = "binding_issuer_unresolvable" // iss does not resolve (unknown, deactivated, unreachable)
	CodeKeyNotAuthorized   Code = "binding_key_not_authorized"  // kid is not an Ed25519 method of iss in assertionMethod
	CodeSignatureInvalid   Code = "binding_signature_invalid"   // the signature does not verify with that key
	CodeNotYetValid        Code = "binding_not_yet_valid"       // now < nbf - skew
	CodeExpired            Code = "binding_expired"             // now > exp + skew
	CodeRoleInvalid        Code = "binding_role_invalid"        // role missing or not manager|identity
	CodeContextInvalid     Code = "binding_context_invalid"     // context on a manager, missing on an identity agent, or not a valid name
)

// Error is the one error type of a refused credential. Message says what
// was wrong with the credential in words a client may see; Err, if any, is
// the cause (a resolver's error, for instance), for logs and errors.As.
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
