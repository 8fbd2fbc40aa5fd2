package verify

import (
	"errors"
	"fmt"
)

// Code names why a credential or presentation was refused. Codes are
// stable strings, part of the wire format (spec/vc-api.md).
type Code string

// The credential refusal codes, in the order of the checks of Credential.
const (
	CodeMalformed          Code = "credential_malformed"            // size, encoding, JOSE header, claim set or credential structure
	CodeFormatUnknown      Code = "credential_format_unknown"       // neither a compact JWS nor a JSON object with a proof
	CodeContextNotEmbedded Code = "credential_context_not_embedded" // an @context entry that is not embedded (never fetched)
	CodeUndefinedTerm      Code = "credential_undefined_term"       // a JSON-LD member that no context defines
	CodeAlgNotAllowed      Code = "credential_alg_not_allowed"      // JWS alg other than EdDSA, proof type other than Ed25519Signature2020
	CodeKIDInvalid         Code = "credential_kid_invalid"          // kid / verificationMethod missing or not a DID URL with a fragment
	CodeIssuerMismatch     Code = "credential_issuer_mismatch"      // the key's DID is not the issuer
	CodeIssuerUnresolvable Code = "credential_issuer_unresolvable"  // the issuer DID does not resolve
	CodeKeyNotAuthorized   Code = "credential_key_not_authorized"   // not an Ed25519 method of the issuer in assertionMethod
	CodeSignatureInvalid   Code = "credential_signature_invalid"    // the signature does not verify
	CodeNotYetValid        Code = "credential_not_yet_valid"        // now < issuanceDate (nbf) - Skew
	CodeExpired            Code = "credential_expired"              // now > expirationDate (exp) + Skew
)

// The presentation refusal codes, in the order of the checks of
// Presentation.
const (
	CodePresentationMalformed          Code = "presentation_malformed"           // not a VP-JWT of the profile
	CodePresentationFormatUnsupported  Code = "presentation_format_unsupported"  // a JSON-LD presentation (not supported)
	CodePresentationAlgNotAllowed      Code = "presentation_alg_not_allowed"     // alg other than EdDSA
	CodePresentationKIDInvalid         Code = "presentation_kid_invalid"         // kid missing or not a DID URL with a fragment
	CodePresentationHolderMismatch     Code = "presentation_holder_mismatch"     // the kid's DID is not iss (the holder)
	CodePresentationHolderUnresolvable Code = "presentation_holder_unresolvable" // the holder DID does not resolve
	CodePresentationKeyNotAuthorized   Code = "presentation_key_not_authorized"  // kid not an Ed25519 method of the holder in authentication
	CodePresentationSignatureInvalid   Code = "presentation_signature_invalid"   // the signature does not verify
	CodePresentationChallengeMismatch  Code = "presentation_challenge_mismatch"  // nonce is not the expected challenge
	CodePresentationDomainMismatch     Code = "presentation_domain_mismatch"     // aud is not (or does not contain) the expected domain
	CodePresentationNotYetValid        Code = "presentation_not_yet_valid"       // now < iat (nbf) - Skew
	CodePresentationExpired            Code = "presentation_expired"             // now > exp + Skew
)

// Codes lists every Code, for documentation tests and the server's tables.
var Codes = []Code{
	CodeMalformed, CodeFormatUnknown, CodeContextNotEmbedded, CodeUndefinedTerm, CodeAlgNotAllowed,
	CodeKIDInvalid, CodeIssuerMismatch, CodeIssuerUnresolvable, CodeKeyNotAuthorized, CodeSignatureInvalid,
	CodeNotYetValid, CodeExpired,
	CodePresentationMalformed, CodePresentationFormatUnsupported, CodePresentationAlgNotAllowed,
	CodePresentationKIDInvalid, CodePresentationHolderMismatch, CodePresentationHolderUnresolvable,
	CodePresentationKeyNotAuthorized, CodePresentationSignatureInvalid, CodePresentationChallengeMismatch,
	CodePresentationDomainMismatch, CodePresentationNotYetValid, CodePresentationExpired,
}

// Error is the one error type of a refusal. Message says what was wrong in
// words a client may see; Err, if any, is the cause (a resolver's or a
// JSON-LD processor's error), for logs and errors.As.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
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

func fail(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

func failWrap(c Code, err error, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...), Err: err}
}
