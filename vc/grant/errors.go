package grant

import (
	"errors"
	"fmt"
)

// Code names why a registration, a revocation or a read was refused. Codes
// are stable strings, part of the wire format (spec/grants.md); the server
// maps them to HTTP statuses.
type Code string

// The refusal codes. The server's checks of POST /v1/credentials come first
// (in the order of spec/grants.md), then the ones Apply re-checks.
const (
	// Registration (POST /v1/credentials), in the order of the checks.
	CodeSignerNotIssuer       Code = "grant_signer_not_issuer"        // the request's signer is not the credential's issuer
	CodeSubjectNotAgent       Code = "grant_subject_not_agent"        // the subject is not a bound agent
	CodeSubjectUnbound        Code = "grant_subject_unbound"          // the subject agent was unbound
	CodeSubjectManager        Code = "grant_subject_manager"          // the subject is a Manager Agent
	CodeIssuerNotOwner        Code = "grant_issuer_not_owner"         // a top-level credential not issued by the subject's bound owner
	CodeParentUnknown         Code = "grant_parent_unknown"           // the parent credential is not registered
	CodeIssuerNotParentHolder Code = "grant_issuer_not_parent_holder" // a sub-delegation not issued by its parent's subject
	CodeIssuerUnbound         Code = "grant_issuer_unbound"           // a sub-delegation by an agent that is no longer bound
	CodeSubjectOtherOwner     Code = "grant_subject_other_owner"      // a sub-delegation to another owner's agent
	CodeParentRevoked         Code = "grant_parent_revoked"           // the parent or one of its ancestors is revoked
	CodeParentExpired         Code = "grant_parent_expired"           // the parent or one of its ancestors expired
	CodeDepthExceeded         Code = "grant_depth_exceeded"           // the parent allows no (or not that deep a) sub-delegation
	CodeValidityExceedsParent Code = "grant_validity_exceeds_parent"  // a sub-delegation valid outside its parent's validity
	CodeScopeWidened          Code = "grant_scope_widened"            // a sub-delegation's scopes are not a subset of its parent's
	CodeStatusMissing         Code = "grant_status_missing"           // no credentialStatus
	CodeStatusNotYours        Code = "grant_status_not_yours"         // the status entry was not allocated here to this owner
	CodeStatusReused          Code = "grant_status_reused"            // the status entry names another registered credential
	CodeRevoked               Code = "grant_revoked"                  // the credential (its status entry) is revoked
	CodeIDTaken               Code = "grant_id_taken"                 // a credential with this id is registered
	CodeMalformed             Code = "grant_malformed"                // a record or id that is not of the shape

	// Revocation and reads.
	CodeNotFound       Code = "grant_not_found"       // no registered credential with this id
	CodeNotYours       Code = "grant_not_yours"       // the signer may not revoke this credential
	CodeAlreadyRevoked Code = "grant_already_revoked" // the credential is already revoked
	CodeConflict       Code = "grant_conflict"        // the credential's sub-delegations changed during the revocation; retry

	// Status entries for sub-delegations (POST /v1/status/for-subdelegation).
	CodeSubdelegationNotAgent Code = "grant_subdelegation_not_agent" // the signer is not an active Identity Agent

	// At use (the check of every action).
	CodeSubjectMismatch Code = "grant_subject_mismatch" // the acting agent is not the credential's subject
	CodeNotYetValid     Code = "grant_not_yet_valid"    // before the credential's issuanceDate
	CodeExpired         Code = "grant_expired"          // after the credential's expirationDate
)

// Codes returns every code of the package, in the order of the table in
// spec/grants.md.
func Codes() []Code {
	return []Code{
		CodeSignerNotIssuer, CodeSubjectNotAgent, CodeSubjectUnbound, CodeSubjectManager, CodeIssuerNotOwner,
		CodeParentUnknown, CodeIssuerNotParentHolder, CodeIssuerUnbound, CodeSubjectOtherOwner, CodeParentRevoked,
		CodeParentExpired, CodeDepthExceeded, CodeValidityExceedsParent, CodeScopeWidened, CodeStatusMissing,
		CodeStatusNotYours, CodeStatusReused, CodeRevoked, CodeIDTaken, CodeMalformed,
		CodeNotFound, CodeNotYours, CodeAlreadyRevoked, CodeConflict,
		CodeSubdelegationNotAgent,
		CodeSubjectMismatch, CodeNotYetValid, CodeExpired,
	}
}

// Error is the one error type of a refusal. Message says what was wrong
// in words a client may see. Storage failures are not *Error but plain
// wrapped errors.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Refuse returns a refusal with code and a message for the client; the
// server uses it for the checks it composes.
func Refuse(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of a refusal anywhere in err's chain (Append
// wraps an Apply's error), or "" if err is not a refusal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
