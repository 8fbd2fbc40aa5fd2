package status

import (
	"errors"
	"fmt"
)

// Code names why a status list, a status entry or a status operation was
// refused. Codes are stable strings, part of the wire format
// (spec/status-list.md); server/ maps them to HTTP statuses.
type Code string

// The refusal codes. The comment after each says when it is returned and,
// where there is one, the Bitstring Status List v1.0 error it corresponds
// to (§3.5, Processing Errors).
const (
	CodeMalformed          Code = "status_malformed"           // not the profile: JWS shape, header, claims, entry, encodedList (MALFORMED_VALUE_ERROR)
	CodeAlgNotAllowed      Code = "status_alg_not_allowed"     // JWS alg other than EdDSA
	CodeKIDInvalid         Code = "status_kid_invalid"         // kid missing or not did:<method>:<id>#<fragment>
	CodeIssuerMismatch     Code = "status_issuer_mismatch"     // the kid's DID is not iss
	CodeIssuerUnresolvable Code = "status_issuer_unresolvable" // iss does not resolve (STATUS_RETRIEVAL_ERROR)
	CodeKeyNotAuthorized   Code = "status_key_not_authorized"  // kid is not an Ed25519 assertionMethod of iss (STATUS_VERIFICATION_ERROR)
	CodeSignatureInvalid   Code = "status_signature_invalid"   // the signature does not verify (STATUS_VERIFICATION_ERROR)
	CodeNotYetValid        Code = "status_not_yet_valid"       // now < nbf - Skew
	CodeExpired            Code = "status_expired"             // now > exp + Skew
	CodeListTooShort       Code = "status_list_too_short"      // fewer than MinBits bits (STATUS_LIST_LENGTH_ERROR)
	CodeListTooLarge       Code = "status_list_too_large"      // compressed or inflated size over the limits (decompression bomb)
	CodeIndexOutOfRange    Code = "status_index_out_of_range"  // statusListIndex beyond the list (RANGE_ERROR)
	CodePurposeMismatch    Code = "status_purpose_mismatch"    // entry's statusPurpose is not the list's (STATUS_VERIFICATION_ERROR)
	CodeListMismatch       Code = "status_list_mismatch"       // entry's statusListCredential is not the list's id
	CodeListUnknown        Code = "status_list_unknown"        // not a list of this server (store layer)
	CodeNotAllocated       Code = "status_not_allocated"       // the entry was never allocated (store layer)
	CodeNotYours           Code = "status_not_yours"           // the entry was allocated to another owner (store layer)
	CodeAlreadyRevoked     Code = "status_already_revoked"     // the entry's bit is already set (store layer)
	CodeReasonTooLong      Code = "status_reason_too_long"     // the revocation's cascade does not fit a log entry's reason
)

// Codes returns every code of the package, in the order of the table in
// spec/status-list.md.
func Codes() []Code {
	return []Code{
		CodeMalformed, CodeAlgNotAllowed, CodeKIDInvalid, CodeIssuerMismatch, CodeIssuerUnresolvable,
		CodeKeyNotAuthorized, CodeSignatureInvalid, CodeNotYetValid, CodeExpired, CodeListTooShort,
		CodeListTooLarge, CodeIndexOutOfRange, CodePurposeMismatch, CodeListMismatch, CodeListUnknown,
		CodeNotAllocated, CodeNotYours, CodeAlreadyRevoked, CodeReasonTooLong,
	}
}

// Error is the one error type of a refusal. Message says what was wrong in
// words a client may see; Err, if any, is the cause (a resolver's error,
// for instance), for logs and errors.As. Storage failures are not *Error
// but plain wrapped errors.
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

// CodeOf returns the Code of a refusal anywhere in err's chain (Append
// wraps an Apply's error), or "" if err is not a refusal.
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
