package did

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// DID Resolution (https://www.w3.org/TR/did-resolution/) data model: the
// resolution result and its metadata, the error codes of
// didResolutionMetadata.error, and a Resolver. Like the rest of the package
// this is pure: serving it over HTTP (and choosing status codes) is the
// server's job.

// Media types of the representations a resolver returns (DID Core §6,
// DID Resolution §7 and its HTTP(S) binding).
const (
	// MediaTypeDIDLDJSON is a DID document in the JSON-LD representation
	// (with "@context").
	MediaTypeDIDLDJSON = "application/did+ld+json"
	// MediaTypeDIDJSON is a DID document in the JSON representation, which
	// has no "@context" (DID Core §6.2).
	MediaTypeDIDJSON = "application/did+json"
	// MediaTypeDIDResolution is a DID resolution result.
	MediaTypeDIDResolution = "application/did-resolution"
	// ProfileDIDResolution is the JSON-LD profile that, on
	// application/ld+json, also names a DID resolution result.
	ProfileDIDResolution = "https://w3id.org/did-resolution"
	// ContextDIDResolutionV1 is the "@context" of a DID resolution result.
	ContextDIDResolutionV1 = "https://w3id.org/did-resolution/v1"
)

// Values of didResolutionMetadata.error (DID Core §7.1.2, DID Resolution
// §7.2). Clients branch on these; they are never renamed.
const (
	ErrorInvalidDID                 = "invalidDid"
	ErrorNotFound                   = "notFound"
	ErrorRepresentationNotSupported = "representationNotSupported"
	ErrorMethodNotSupported         = "methodNotSupported"
	ErrorDeactivated                = "deactivated"
	ErrorInternal                   = "internalError"
)

// ResolutionError is a resolution that did not produce a document, with
// the code that goes into didResolutionMetadata.error. Message is meant for
// the client: it says what was wrong with the input, never internal
// details; Err, if any, is the cause, for logs.
type ResolutionError struct {
	Code    string
	Message string
	Err     error
}

func (e *ResolutionError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *ResolutionError) Unwrap() error { return e.Err }

// ResolutionMetadata is didResolutionMetadata (DID Resolution §7.2).
type ResolutionMetadata struct {
	// ContentType is the media type of the document's representation;
	// set on success only.
	ContentType string `json:"contentType,omitempty"`
	// Error is one of the Error… codes; set on failure only.
	Error string `json:"error,omitempty"`
	// ErrorMessage explains Error to a human (as the DIF Universal Resolver
	// does); clients must not branch on it.
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// DocumentMetadata is didDocumentMetadata (DID Core §7.1.3). did:key
// documents have none: they are derived from the DID and never change. The
// members exist for the methods that have versions (hosted did:web).
type DocumentMetadata struct {
	Created     string `json:"created,omitempty"`
	Updated     string `json:"updated,omitempty"`
	Deactivated bool   `json:"deactivated,omitempty"`
	VersionID   string `json:"versionId,omitempty"`
}

// Result is a DID resolution result (DID Resolution §7.1). On failure
// Document is nil, and it is written as null.
type Result struct {
	Document           *Document
	ResolutionMetadata ResolutionMetadata
	DocumentMetadata   DocumentMetadata
	// Immutable reports that the document can never change (did:key: the
	// document is a function of the DID), so that the result may be cached
	// forever. It is not part of the JSON.
	Immutable bool
}

// ErrorResult returns the resolution result that carries a failure.
func ErrorResult(code, message string) *Result {
	return &Result{ResolutionMetadata: ResolutionMetadata{Error: code, ErrorMessage: message}}
}

// MarshalJSON writes the result in the order of the DID Resolution
// examples: "@context", "didDocument", "didResolutionMetadata",
// "didDocumentMetadata". The document is in its JSON-LD representation,
// which is the contentType its metadata names.
func (r *Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Context            string             `json:"@context"`
		Document           *Document          `json:"didDocument"`
		ResolutionMetadata ResolutionMetadata `json:"didResolutionMetadata"`
		DocumentMetadata   DocumentMetadata   `json:"didDocumentMetadata"`
	}{ContextDIDResolutionV1, r.Document, r.ResolutionMetadata, r.DocumentMetadata})
}

// MarshalDocument writes doc in the representation named by mediaType:
// MediaTypeDIDLDJSON keeps "@context", MediaTypeDIDJSON drops it (DID Core
// §6.2.1: the JSON representation has no JSON-LD context).
func MarshalDocument(doc *Document, mediaType string) ([]byte, error) {
	switch mediaType {
	case MediaTypeDIDLDJSON:
		return doc.MarshalJSON()
	case MediaTypeDIDJSON:
		plain := *doc
		plain.Context = nil
		return plain.MarshalJSON()
	default:
		return nil, fmt.Errorf("marshal did document: unknown representation %q", mediaType)
	}
}

// Resolver resolves DIDs. The zero value resolves did:key; the other
// methods of issue 3 (hosted and remote did:web) will be configured by
// fields added here. It is safe for concurrent use.
type Resolver struct{}

// Resolve resolves a bare DID. On success the result's document is in the
// JSON-LD representation (ContentType MediaTypeDIDLDJSON). Every failure
// is a *ResolutionError:
//   - ErrorInvalidDID: not a DID per DID Core §3.1, a DID URL (path, query
//     or fragment: dereferencing is not resolution), or a did:key that is
//     not the canonical encoding of an Ed25519 key;
//   - ErrorMethodNotSupported: any method but key, and did:web for now
//     (hosted and remote did:web are not implemented yet).
//
// ctx is unused by did:key, which needs no I/O; it is there for did:web.
func (*Resolver) Resolve(ctx context.Context, did string) (*Result, error) {
	u, err := ParseDIDURL(did)
	if err != nil {
		return nil, &ResolutionError{Code: ErrorInvalidDID, Message: "not a valid DID", Err: err}
	}
	if u.DID != did {
		return nil, &ResolutionError{Code: ErrorInvalidDID,
			Message: "a DID URL (with a path, query or fragment) is not a DID; only bare DIDs are resolved"}
	}
	switch u.Method {
	case "key":
		doc, err := ResolveKey(did)
		if err != nil {
			if errors.Is(err, ErrInvalidDID) {
				return nil, &ResolutionError{Code: ErrorInvalidDID,
					Message: "not a valid did:key (Ed25519, multibase base58btc, canonical encoding)", Err: err}
			}
			return nil, fmt.Errorf("resolve did:key: %w", err)
		}
		return &Result{
			Document:           doc,
			ResolutionMetadata: ResolutionMetadata{ContentType: MediaTypeDIDLDJSON},
			Immutable:          true,
		}, nil
	case "web":
		return nil, &ResolutionError{Code: ErrorMethodNotSupported,
			Message: "did:web (hosted and remote) is not implemented yet"}
	default:
		return nil, &ResolutionError{Code: ErrorMethodNotSupported,
			Message: fmt.Sprintf("DID method %q is not supported; supported: key", u.Method)}
	}
}
