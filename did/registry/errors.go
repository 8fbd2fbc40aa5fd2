package registry

import (
	"errors"
	"fmt"
)

// The refusal codes of the registry. They are part of the wire format
// (spec/identity.md): server/ maps each to its HTTP status and clients
// branch on them, so they are never renamed.
const (
	CodeInvalidDID                      = "invalid_did"
	CodeInvalidName                     = "invalid_name"
	CodeNameTaken                       = "name_taken"
	CodeDIDNotFound                     = "did_not_found"
	CodeDIDNotHosted                    = "did_not_hosted"
	CodeDIDDeactivated                  = "did_deactivated"
	CodeKeyInvalid                      = "key_invalid"
	CodeNotController                   = "not_controller"
	CodeOwnerExists                     = "owner_exists"
	CodeOwnerNotRegistered              = "owner_not_registered"
	CodeOwnerNotFound                   = "owner_not_found"
	CodeDIDIsAgent                      = "did_is_agent"
	CodeDIDIsOwner                      = "did_is_owner"
	CodeAgentAlreadyBound               = "agent_already_bound"
	CodeSecondManager                   = "second_manager"
	CodeDuplicateContext                = "duplicate_context"
	CodeInvalidContext                  = "invalid_context"
	CodeAgentNotFound                   = "agent_not_found"
	CodeAgentNotYours                   = "agent_not_yours"
	CodeAgentUnbound                    = "agent_unbound"
	CodeManagerAgentNotAllowed          = "manager_agent_not_allowed"
	CodeContactSelf                     = "contact_self"
	CodeAlreadyContacts                 = "already_contacts"
	CodeContactRequestExists            = "contact_request_exists"
	CodeContactRequestNotFound          = "contact_request_not_found"
	CodeContactRequestNotAddressedToYou = "contact_request_not_addressed_to_you"
	CodeContactRequestExpired           = "contact_request_expired"
	CodeContactNotFound                 = "contact_not_found"
	CodeBindingSubjectMismatch          = "binding_subject_mismatch"
	CodeBindingIssuerNotOwner           = "binding_issuer_not_owner"
	// CodeBindingRoleInvalid is the binding credential's own code (package
	// vc/binding), returned here too when the caller hands over a role
	// that is neither manager nor identity.
	CodeBindingRoleInvalid = "binding_role_invalid"
)

// Codes returns every code the registry returns, in the order of the
// contract's table.
func Codes() []string {
	return []string{
		CodeInvalidDID, CodeInvalidName, CodeNameTaken, CodeDIDNotFound, CodeDIDNotHosted, CodeDIDDeactivated,
		CodeKeyInvalid, CodeNotController, CodeOwnerExists, CodeOwnerNotRegistered,
		CodeOwnerNotFound, CodeDIDIsAgent, CodeDIDIsOwner, CodeAgentAlreadyBound,
		CodeSecondManager, CodeDuplicateContext, CodeInvalidContext, CodeAgentNotFound,
		CodeAgentNotYours, CodeAgentUnbound, CodeManagerAgentNotAllowed, CodeContactSelf,
		CodeAlreadyContacts, CodeContactRequestExists, CodeContactRequestNotFound,
		CodeContactRequestNotAddressedToYou, CodeContactRequestExpired, CodeContactNotFound,
		CodeBindingSubjectMismatch, CodeBindingIssuerNotOwner, CodeBindingRoleInvalid,
	}
}

// Error is a refusal: the operation or read is not allowed by the rules of
// spec/identity.md. Message is for the client (it names only what the
// client sent or may know); it never carries internal details. Storage
// failures are not *Error but plain wrapped errors.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// CodeOf returns the Code of a refusal anywhere in err's chain (Append
// wraps an Apply's error), or "" if err is not a refusal.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
