package did

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	// ErrorInvalidDIDDocument: the method produced a document that does not
	// conform to DID Core or to the method (a remote did:web serving an
	// unparsable, oversized or foreign document). DID Specification
	// Registries / DID Resolution list it among the resolution errors.
	ErrorInvalidDIDDocument = "invalidDidDocument"
)

// ErrorCodes lists every code a Resolver returns in
// ResolutionError.Code, so that servers can check they map each.
var ErrorCodes = []string{
	ErrorInvalidDID, ErrorNotFound, ErrorRepresentationNotSupported, ErrorMethodNotSupported,
	ErrorDeactivated, ErrorInternal, ErrorInvalidDIDDocument,
}

// ResolutionError is a resolution that did not produce a document, with
// the code that goes into didResolutionMetadata.error. Message is meant for
// the client: it says what was wrong with the input, never internal
// details; Err, if any, is the cause, for logs.
type ResolutionError struct {
	Code    string
	Message string
	// Detail, if set, is ClawNet's finer code for the failure (such as
	// "did_web_document_too_large"), written as the extension member
	// clawnetError of didResolutionMetadata: Code stays a standard DID
	// Resolution code that generic clients understand, and Detail tells
	// each refusal apart. Detail codes are stable, like Code.
	Detail string
	// Metadata, if set, is the didDocumentMetadata of the failure: a
	// deactivated DID still has metadata (deactivated: true, its
	// versionId, created, updated), DID Core §7.1.3.
	Metadata *DocumentMetadata
	Err      error
}

func (e *ResolutionError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *ResolutionError) Unwrap() error { return e.Err }

// Result returns the resolution result that carries the failure: no
// document, the error code, message and detail, and the metadata if any.
func (e *ResolutionError) Result() *Result {
	res := ErrorResult(e.Code, e.Message)
	res.ResolutionMetadata.ClawnetError = e.Detail
	if e.Metadata != nil {
		res.DocumentMetadata = *e.Metadata
	}
	return res
}

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
	// ClawnetError is the extension member "clawnetError": ClawNet's finer
	// code for the failure (ResolutionError.Detail); set on failure only,
	// and only when there is one.
	ClawnetError string `json:"clawnetError,omitempty"`
}

// DocumentMetadata is didDocumentMetadata (DID Core §7.1.3). did:key
// documents have none: they are derived from the DID and never change; nor
// do remote did:web documents, whose host keeps no history. The members
// exist for hosted did:web, whose every version is a log entry (see
// spec/did-web.md). Times are RFC 3339 UTC with seconds (time.RFC3339).
type DocumentMetadata struct {
	Created     string `json:"created,omitempty"`
	Updated     string `json:"updated,omitempty"`
	Deactivated bool   `json:"deactivated,omitempty"`
	// NextUpdate and NextVersionID are set on a past version: when and by
	// which version it was superseded.
	NextUpdate    string `json:"nextUpdate,omitempty"`
	VersionID     string `json:"versionId,omitempty"`
	NextVersionID string `json:"nextVersionId,omitempty"`
	// LogEntry is the extension member "logEntry": the URL of the receipt
	// (inclusion proof) of the log entry that made this version.
	LogEntry string `json:"logEntry,omitempty"`
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
	// TTL is how long a mutable result may be reused (remote did:web: the
	// Remote's TTL, bounded by the host's Cache-Control); 0 means it must
	// not be reused without asking its source again (hosted did:web, whose
	// source knows when it changes). It is not part of the JSON.
	TTL time.Duration
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

// ResolveOptions are the DID resolution options (DID Resolution §4.1) the
// resolver understands. The accept option is the server's business (content
// negotiation), not the resolver's: a Result can be written in every
// representation.
type ResolveOptions struct {
	// VersionID asks for a specific version of the document (DID Core
	// §7.1.1 versionId). Only hosted did:web has versions; for did:key and
	// remote did:web every VersionID is notFound.
	VersionID string
}

// HostedSource resolves the did:web DIDs this server hosts. It returns a
// *ResolutionError for every failure (notFound, deactivated with its
// Metadata, ...). Its results are not cached by the Resolver: the source
// knows when a DID changes and caches itself. versionID is "" for the
// current version.
type HostedSource interface {
	ResolveHosted(ctx context.Context, did, versionID string) (*Result, error)
}

// RemoteSource resolves did:web DIDs of other hosts over the network
// (package did/web). It returns a *ResolutionError for every failure, and
// sets Result.TTL to how long the result may be cached.
type RemoteSource interface {
	ResolveRemote(ctx context.Context, did string) (*Result, error)
}

// Resolver resolves DIDs. The zero value resolves did:key only; the fields
// add hosted and remote did:web and a cache. A Resolver must not be changed
// once in use; it is then safe for concurrent use.
type Resolver struct {
	// Hosted resolves the did:web DIDs whose host segment is HostedHost
	// (e.g. "localhost%3A8080"). Such DIDs are resolved only from Hosted,
	// never over the network, even when Hosted is nil (then they are
	// methodNotSupported): this server is the authority for its own DIDs
	// and must not ask anyone else, least of all itself over HTTP.
	Hosted     HostedSource
	HostedHost string
	// Remote resolves every other did:web. Nil disables remote did:web
	// (methodNotSupported).
	Remote RemoteSource
	// Cache, if set, keeps did:key and remote did:web results; nil caches
	// nothing.
	Cache *Cache
}

// Resolve resolves a bare DID with no options; see ResolveWithOptions.
func (r *Resolver) Resolve(ctx context.Context, did string) (*Result, error) {
	return r.ResolveWithOptions(ctx, did, ResolveOptions{})
}

// ResolveWithOptions resolves a bare DID. On success the result's document
// is in the JSON-LD representation (ContentType MediaTypeDIDLDJSON) and its
// id is the DID. The caller may modify the result: it never shares memory
// with the cache. Every failure is a *ResolutionError:
//   - ErrorInvalidDID: not a DID per DID Core §3.1, a DID URL (path, query
//     or fragment: dereferencing is not resolution), a did:key that is not
//     the canonical encoding of an Ed25519 key, or a did:web that WebURL
//     refuses;
//   - ErrorMethodNotSupported: any method but key and web, hosted did:web
//     without a Hosted source, other did:web without a Remote source;
//   - ErrorNotFound: a VersionID for did:key or remote did:web (they have
//     no versions), or what the did:web sources answer;
//   - whatever else the did:web sources return (deactivated,
//     invalidDidDocument, internalError), with their Detail and Metadata.
func (r *Resolver) ResolveWithOptions(ctx context.Context, did string, o ResolveOptions) (*Result, error) {
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
		if o.VersionID != "" {
			return nil, &ResolutionError{Code: ErrorNotFound,
				Message: "did:key has a single, unversioned document: no version " + strconv.Quote(o.VersionID)}
		}
		if res := r.Cache.Get(did); res != nil {
			return res, nil
		}
		doc, err := ResolveKey(did)
		if err != nil {
			if errors.Is(err, ErrInvalidDID) {
				return nil, &ResolutionError{Code: ErrorInvalidDID,
					Message: "not a valid did:key (Ed25519, multibase base58btc, canonical encoding)", Err: err}
			}
			return nil, fmt.Errorf("resolve did:key: %w", err)
		}
		res := &Result{
			Document:           doc,
			ResolutionMetadata: ResolutionMetadata{ContentType: MediaTypeDIDLDJSON},
			Immutable:          true,
		}
		r.Cache.Put(did, res)
		return res, nil
	case "web":
		return r.resolveWeb(ctx, did, o)
	default:
		return nil, &ResolutionError{Code: ErrorMethodNotSupported,
			Message: fmt.Sprintf("DID method %q is not supported; supported: key, web", u.Method)}
	}
}

func (r *Resolver) resolveWeb(ctx context.Context, did string, o ResolveOptions) (*Result, error) {
	if _, err := WebURL(did); err != nil {
		return nil, &ResolutionError{Code: ErrorInvalidDID, Detail: DetailWebInvalid,
			Message: "not a valid did:web (see spec/did-web.md)", Err: err}
	}
	host, _, _ := strings.Cut(strings.TrimPrefix(did, "did:web:"), ":")
	if r.HostedHost != "" && host == r.HostedHost {
		if r.Hosted == nil {
			return nil, &ResolutionError{Code: ErrorMethodNotSupported,
				Message: "this server does not host did:web DIDs"}
		}
		res, err := r.Hosted.ResolveHosted(ctx, did, o.VersionID)
		if err != nil {
			return nil, sourceError("hosted", did, err)
		}
		if err := checkSourceResult(did, res); err != nil {
			return nil, &ResolutionError{Code: ErrorInternal, Message: "internal error",
				Err: fmt.Errorf("hosted did:web source: %w", err)}
		}
		return res, nil
	}
	if r.Remote == nil {
		return nil, &ResolutionError{Code: ErrorMethodNotSupported,
			Message: "remote did:web resolution is disabled"}
	}
	if o.VersionID != "" {
		return nil, &ResolutionError{Code: ErrorNotFound, Detail: DetailWebNoVersions,
			Message: "a remote did:web has no version history: no version " + strconv.Quote(o.VersionID)}
	}
	if res := r.Cache.Get(did); res != nil {
		return res, nil
	}
	res, err := r.Remote.ResolveRemote(ctx, did)
	if err != nil {
		return nil, sourceError("remote", did, err)
	}
	if err := checkSourceResult(did, res); err != nil {
		return nil, &ResolutionError{Code: ErrorInternal, Message: "internal error",
			Err: fmt.Errorf("remote did:web source: %w", err)}
	}
	r.Cache.Put(did, res)
	return res, nil
}

// sourceError makes sure a source's failure is a *ResolutionError: one
// that is not is a fault of the source, answered as internalError.
func sourceError(kind, did string, err error) error {
	var re *ResolutionError
	if errors.As(err, &re) {
		return re
	}
	return &ResolutionError{Code: ErrorInternal, Message: "internal error",
		Err: fmt.Errorf("%s did:web source resolving %.128q: %w", kind, did, err)}
}

// checkSourceResult checks what a did:web source returned as a success:
// a document about exactly the DID asked, in the JSON-LD representation.
// A source breaking this is a bug, never passed on to clients.
func checkSourceResult(did string, res *Result) error {
	switch {
	case res == nil || res.Document == nil:
		return errors.New("success without a document")
	case res.Document.ID != did:
		return fmt.Errorf("document id %.128q for %.128q", res.Document.ID, did)
	case res.ResolutionMetadata.ContentType != MediaTypeDIDLDJSON || res.ResolutionMetadata.Error != "":
		return fmt.Errorf("resolution metadata %+v", res.ResolutionMetadata)
	}
	return nil
}

// Detail codes (ResolutionError.Detail, clawnetError) of the did:web
// syntax and the resolver. Package did/web defines those of remote
// resolution; spec/did-web.md lists them all.
const (
	// DetailWebInvalid: the did:web is not in the strict syntax of WebURL.
	DetailWebInvalid = "did_web_invalid"
	// DetailWebNoVersions: a versionId for a remote did:web.
	DetailWebNoVersions = "did_web_no_versions"
)

// maxHostLen is the longest DNS name (RFC 1035 §2.3.4, as text without
// the trailing dot).
const maxHostLen = 253

// WebURL returns the HTTPS URL of a did:web's document, per the did:web
// method specification (https://w3c-ccg.github.io/did-method-web/, §3.2
// Read): "did:web:example.com" is https://example.com/.well-known/did.json,
// "did:web:example.com:user:alice" is https://example.com/user/alice/did.json,
// and "%3A" in the host segment introduces a port.
//
// It is strict, so that one document has one DID and a DID cannot smuggle
// a different URL: the host is a lowercase DNS name (letters, digits and
// hyphens; labels of 1 to 63 characters, not starting or ending with a
// hyphen; at most 253 characters; a last label that is all digits only as
// part of a dotted-quad IPv4 address) or a canonical dotted-quad IPv4
// address; the only percent-encoding is a single "%3A" (uppercase) before
// a decimal port 1–65535 without leading zeros; there is no userinfo, no
// IPv6 literal, no empty segment, no "." or ".." segment; path segments
// are non-empty runs of ALPHA, DIGIT, "-", "_" and "." (no percent-encoding,
// which would let "%2F" or "%2E%2E" change the path). Every refusal wraps
// ErrInvalidDID.
func WebURL(did string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: did:web %.128q: %s", ErrInvalidDID, did, fmt.Sprintf(format, args...))
	}
	if _, err := ParseDID(did); err != nil {
		return "", err
	}
	msid, ok := strings.CutPrefix(did, "did:web:")
	if !ok {
		return bad("not a did:web")
	}
	segs := strings.Split(msid, ":")
	hostport := segs[0]
	host, port, hasPort := strings.Cut(hostport, "%3A")
	if hasPort {
		if port == "" || port[0] == '0' || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return bad("port %q is not a decimal number 1-65535 without leading zeros", port)
		}
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return bad("port %s out of range", port)
		}
	}
	if strings.Contains(host, "%") {
		return bad("percent-encoding other than one %%3A before a port in the host")
	}
	if err := checkWebHost(host); err != nil {
		return bad("host: %v", err)
	}
	path := "/.well-known"
	if len(segs) > 1 {
		var b strings.Builder
		for _, seg := range segs[1:] {
			if seg == "" || seg == "." || seg == ".." {
				return bad("empty, \".\" or \"..\" path segment")
			}
			for i := 0; i < len(seg); i++ {
				if c := seg[i]; !(isAlnum(c) || c == '-' || c == '_' || c == '.') {
					return bad("path segment %q has character %q (only A-Z a-z 0-9 - _ .)", seg, c)
				}
			}
			b.WriteString("/" + seg)
		}
		path = b.String()
	}
	if hasPort {
		host += ":" + port
	}
	return "https://" + host + path + "/did.json", nil
}

// checkWebHost accepts a lowercase DNS name or a canonical IPv4 address.
func checkWebHost(host string) error {
	if host == "" {
		return errors.New("empty")
	}
	if len(host) > maxHostLen {
		return fmt.Errorf("longer than %d characters", maxHostLen)
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q: empty or longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("label %q has character %q (only lowercase a-z, 0-9 and '-')", l, c)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") != "" {
		return nil // a DNS name: its top label is not numeric
	}
	// All-numeric last label: only a canonical dotted quad, so that no
	// other spelling ("127.1", "2130706433", "010.0.0.1") reaches a
	// resolver that would read it as an address.
	if len(labels) != 4 {
		return errors.New("numeric top label but not a dotted-quad IPv4 address")
	}
	for _, l := range labels {
		n, err := strconv.Atoi(l)
		if err != nil || n > 255 || (len(l) > 1 && l[0] == '0') {
			return fmt.Errorf("%q is not a canonical IPv4 address", host)
		}
	}
	return nil
}
