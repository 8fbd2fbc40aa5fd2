package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
	"github.com/clawnet/ledger/vc/status"
	"github.com/clawnet/ledger/vc/verify"
)

// The VC-API (VCALM) endpoints (spec/vc-api.md): POST /credentials/verify
// and POST /presentations/verify for anyone, POST /credentials/issue and
// POST /issuers/{name}/credentials/issue for the operator (custodial
// issuance with a server-held issuer key).
//
// A well-formed request whose credential or presentation fails a check is
// answered 200 with "verified": false and the failed check in "errors"
// (VCALM's VerificationResponse carries the outcome; the HTTP status says
// whether the request could be processed). A request that cannot be
// processed (not JSON, members missing or unknown) is a 400 ErrorBody.

// Codes of the VC-API that are not a verifier's refusal code.
const (
	CodeIssuerNotFound            = "issuer_not_found"            // 404: no issuer instance of that name
	CodeCredentialTypeUnsupported = "credential_type_unsupported" // 422: custodial issuance of a type other than DelegationCredential
	CodeCredentialInvalid         = "credential_invalid"          // 422: the unsigned credential is not a valid DelegationCredential
	CodeCredentialAlreadyIssued   = "credential_already_issued"   // 409: a credential with that id was issued before
	CodeFormatUnsupported         = "format_unsupported"          // 400: options.format other than jwt or ldp
)

// Problem codes of the verification results that are not a verifier
// package's code.
const (
	ProblemRevoked           = "credential_revoked"              // the status list says revoked
	ProblemStatusInvalid     = "credential_status_invalid"       // credentialStatus names this server's lists but no allocated entry
	ProblemParentRevoked     = "credential_parent_revoked"       // a registered sub-delegation whose parent (or an ancestor) is revoked
	ProblemStatusNotChecked  = "credential_status_not_checked"   // warning: a status list of another server (never fetched)
	ProblemSubjectNotHolder  = "presentation_subject_not_holder" // a presented credential's subject is not the holder
	ProblemCredentialInvalid = "presentation_credential_invalid" // a presented credential failed verification
)

// Check names of VerificationResult.Checks: each is listed once it passed.
const (
	CheckProof      = "proof"      // the signature / Data Integrity proof
	CheckExpiration = "expiration" // the validity period (with 60 s skew)
	CheckSchema     = "schema"     // our types: the profile and JSON Schema of the type
	CheckStatus     = "status"     // credentialStatus against this server's status list
	CheckChallenge  = "challenge"  // presentation nonce = options.challenge
	CheckDomain     = "domain"     // presentation aud contains options.domain
	CheckHolder     = "holder"     // every presented credential's subject is the holder
)

// problemBase is the namespace of our problem types: the type of a problem
// with code c is problemBase + c.
const problemBase = "https://w3id.org/clawnet/problems#"

// statusRetrievalError is the Bitstring Status List v1.0 problem type of a
// status list that could not be retrieved (§3.6).
const statusRetrievalError = "https://www.w3.org/ns/credentials/status-list#STATUS_RETRIEVAL_ERROR"

// ProblemDetail is one problem of a verification (RFC 9457 members as
// VCALM uses them), with our stable code.
type ProblemDetail struct {
	Type   string `json:"type"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
}

// VerificationResult is the body of a 200 answer of /credentials/verify,
// and of each credential of /presentations/verify.
type VerificationResult struct {
	Verified bool            `json:"verified"`
	Checks   []string        `json:"checks"`
	Warnings []ProblemDetail `json:"warnings"`
	Errors   []ProblemDetail `json:"errors"`
	// Credential names what was verified (absent when it could not be
	// read).
	Credential *CredentialSummary `json:"credential,omitempty"`
}

// CredentialSummary says what a verified (or refused but readable)
// credential is.
type CredentialSummary struct {
	ID      string   `json:"id,omitempty"`
	Types   []string `json:"type"`
	Format  string   `json:"format"`
	Issuer  string   `json:"issuer,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Digest  string   `json:"digest,omitempty"`
}

// PresentationResult is the body of a 200 answer of
// /presentations/verify.
type PresentationResult struct {
	Verified          bool                 `json:"verified"`
	Checks            []string             `json:"checks"`
	Warnings          []ProblemDetail      `json:"warnings"`
	Errors            []ProblemDetail      `json:"errors"`
	Holder            string               `json:"holder,omitempty"`
	CredentialResults []VerificationResult `json:"credentialResults"`
}

// VerifyCredentialRequest is the body of POST /credentials/verify.
type VerifyCredentialRequest struct {
	// VerifiableCredential is a VC-JWT (JSON string) or a JSON-LD
	// credential with a proof (object).
	VerifiableCredential json.RawMessage `json:"verifiableCredential"`
	Options              *VerifyOptions  `json:"options,omitempty"`
}

// VerifyOptions are the request options; a credential verification takes
// none (an empty object is accepted), a presentation a challenge and
// optionally a domain.
type VerifyOptions struct {
	Challenge string `json:"challenge,omitempty"`
	Domain    string `json:"domain,omitempty"`
}

// VerifyPresentationRequest is the body of POST /presentations/verify.
type VerifyPresentationRequest struct {
	VerifiablePresentation json.RawMessage `json:"verifiablePresentation"`
	Options                *VerifyOptions  `json:"options"`
}

// IssueCredentialRequest is the body of POST /credentials/issue.
type IssueCredentialRequest struct {
	// Credential is the unsigned credential (VC Data Model 1.1 JSON).
	Credential json.RawMessage `json:"credential"`
	Options    *IssueOptions   `json:"options,omitempty"`
}

// IssueOptions: the format, "jwt" (default) or "ldp".
type IssueOptions struct {
	Format string `json:"format,omitempty"`
}

// IssueCredentialResponse is the 201 answer: the credential (a VC-JWT
// string or a JSON-LD object) and, as extensions, the vc.issued entry's
// index and receipt.
type IssueCredentialResponse struct {
	VerifiableCredential json.RawMessage `json:"verifiableCredential"`
	Index                uint64          `json:"index"`
	Receipt              json.RawMessage `json:"receipt"`
}

// VCIssuedType is the log entry type of a custodial issuance.
const VCIssuedType = "vc.issued"

// issuedKeyPrefix keys the record of each custodially issued credential
// id, so that an id is issued once.
const issuedKeyPrefix = "v/issued/"

// maxVCAPIBody bounds a VC-API body: a presentation may carry a few
// credentials of up to verify.MaxSize each, but the presentation itself is
// bounded by verify.MaxSize, and JSON string escaping at most doubles it.
const maxVCAPIBody = 2*verify.MaxSize + 4<<10

// issuerNameRE is the form of an issuer instance name (a file name
// <name>.jwk under <data>/issuers).
var issuerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidIssuerName reports whether name is a valid issuer instance name.
func ValidIssuerName(name string) bool { return issuerNameRE.MatchString(name) }

func (s *Server) vcapiRoutes() []route {
	return []route{
		{"POST", "/credentials/verify", s.verifyCredential},
		{"POST", "/presentations/verify", s.verifyPresentation},
		{"POST", "/credentials/issue", s.issueCredential},
		{"POST", "/issuers/{name}/credentials/issue", s.issueCredential},
	}
}

// readVCAPIBody reads a JSON body of at most maxVCAPIBody bytes.
func readVCAPIBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkJSONContentType(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxVCAPIBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &apiError{http.StatusBadRequest, CodeBadJSON, "could not read the request body", err}
	}
	return body, nil
}

// present reports whether a raw member was given and is not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func (s *Server) verifyCredential(w http.ResponseWriter, r *http.Request) error {
	body, err := readVCAPIBody(w, r)
	if err != nil {
		return err
	}
	var in VerifyCredentialRequest
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if !present(in.VerifiableCredential) {
		return errorf(http.StatusBadRequest, CodeBadRequest, "verifiableCredential is required")
	}
	if c := bytes.TrimSpace(in.VerifiableCredential); c[0] != '"' && c[0] != '{' {
		return errorf(http.StatusBadRequest, CodeBadRequest, "verifiableCredential must be a VC-JWT string or a credential object")
	}
	if o := in.Options; o != nil && (o.Challenge != "" || o.Domain != "") {
		return errorf(http.StatusBadRequest, CodeBadRequest, "challenge and domain are options of /presentations/verify")
	}
	res, err := s.checkCredential(r.Context(), in.VerifiableCredential)
	if err != nil {
		return err
	}
	return respondJSON(w, http.StatusOK, res)
}

// checkCredential verifies one credential value (a JSON string or object)
// and says why it failed in the result; err is only for server failures.
func (s *Server) checkCredential(ctx context.Context, raw json.RawMessage) (*VerificationResult, error) {
	res := &VerificationResult{Checks: []string{}, Warnings: []ProblemDetail{}, Errors: []ProblemDetail{}}
	now := s.clock().UTC()
	env, err := verify.Inspect(raw)
	if err != nil {
		return res, res.refuse(err)
	}
	sum := &CredentialSummary{Types: env.Types, Format: string(env.Format)}
	res.Credential = sum
	var st json.RawMessage
	switch {
	case slices.Contains(env.Types, delegation.Type):
		v, err := delegation.Verify(ctx, raw, delegation.VerifyOptions{Resolve: s.resolveDocument, Now: now})
		if err != nil {
			return res, res.refuse(err)
		}
		sum.ID, sum.Issuer, sum.Subject, sum.Digest = v.ID, v.Issuer, v.Subject, v.Digest
		res.Checks = append(res.Checks, CheckProof, CheckExpiration, CheckSchema)
		if v.Status != nil {
			st, _ = json.Marshal(status.Entry{ID: v.Status.ID, Type: v.Status.Type, Purpose: v.Status.Purpose,
				ListIndex: strconv.FormatUint(v.Status.ListIndex, 10), ListCredential: v.Status.ListCredential})
		}
		s.checkChain(v, res)
	case slices.Contains(env.Types, binding.Type):
		tok := string(bytes.TrimSpace(raw))
		if err := json.Unmarshal(raw, &tok); err != nil {
			return res, res.refuse(&verify.Error{Code: verify.CodeMalformed, Message: "an AgentBindingCredential is a VC-JWT (a JSON string)"})
		}
		v, err := binding.Verify(ctx, tok, s.resolveDocument, now)
		if err != nil {
			return res, res.refuse(err)
		}
		sum.ID, sum.Issuer, sum.Subject, sum.Digest = v.ID, v.Issuer, v.Subject, v.Digest
		res.Checks = append(res.Checks, CheckProof, CheckExpiration, CheckSchema)
	default:
		v, err := verify.Credential(ctx, raw, verify.Options{Resolve: s.resolveDocument, Now: now})
		if err != nil {
			return res, res.refuse(err)
		}
		sum.ID, sum.Issuer, sum.Subject, sum.Digest = v.ID, v.Issuer, v.Subject, v.Digest
		res.Checks = append(res.Checks, CheckProof, CheckExpiration)
		st = v.Status
	}
	if st != nil {
		s.checkStatus(st, res)
	}
	res.Verified = len(res.Errors) == 0
	return res, nil
}

// refuse records a verifier's refusal; an error that is no refusal is a
// server failure and is returned.
func (res *VerificationResult) refuse(err error) error {
	code, msg := refusal(err)
	if code == "" {
		return err
	}
	res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + code, Code: code, Title: problemTitle(code), Detail: msg})
	return nil
}

// refusal returns the code and client message of a verifier's refusal,
// or "" if err is not one.
func refusal(err error) (string, string) {
	var de *delegation.Error
	var be *binding.Error
	var ve *verify.Error
	switch {
	case errors.As(err, &de):
		return string(de.Code), de.Message
	case errors.As(err, &be):
		return string(be.Code), be.Message
	case errors.As(err, &ve):
		return string(ve.Code), ve.Message
	}
	return "", ""
}

// problemTitle is a short human title for a code: its words.
func problemTitle(code string) string {
	t := strings.ReplaceAll(code, "_", " ")
	if t == "" {
		return t
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

// checkStatus checks credentialStatus: an entry of this server's lists
// against them (from memory); any other list is reported as not checked
// (this server never fetches a remote status list).
func (s *Server) checkStatus(raw json.RawMessage, res *VerificationResult) {
	e, err := status.ParseEntry(raw)
	if err != nil {
		res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemStatusInvalid, Code: ProblemStatusInvalid,
			Title: problemTitle(ProblemStatusInvalid), Detail: "credentialStatus is not a BitstringStatusListEntry this verifier understands"})
		return
	}
	if !strings.HasPrefix(e.ListCredential, s.status.ListURL("")) {
		res.Warnings = append(res.Warnings, ProblemDetail{Type: statusRetrievalError, Code: ProblemStatusNotChecked,
			Title: "Status not checked", Detail: "the status list is not one of this server's, and remote status lists are not fetched"})
		return
	}
	revoked, err := s.status.Revoked(e)
	switch {
	case err != nil:
		res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemStatusInvalid, Code: ProblemStatusInvalid,
			Title: problemTitle(ProblemStatusInvalid), Detail: "credentialStatus names no allocated entry of this server's status lists"})
	case revoked:
		res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemRevoked, Code: ProblemRevoked,
			Title: "Credential revoked", Detail: "the credential's status list entry is set: it was revoked"})
	default:
		res.Checks = append(res.Checks, CheckStatus)
	}
}

// checkChain checks, for a sub-delegation registered here (same id and
// digest), that none of its ancestors is revoked: revoking a parent
// revokes every sub-delegation under it (spec/grants.md). The credential's
// own entry is checked by checkStatus.
func (s *Server) checkChain(v *delegation.Verified, res *VerificationResult) {
	if s.grants == nil || v.ParentCredential == "" {
		return
	}
	rec, err := s.grants.Get(v.ID)
	if err != nil || rec.Digest != v.Digest {
		return // not registered here: only its own status entry is known
	}
	chain, err := s.grants.Chain(v.ID)
	if err != nil || len(chain) == 0 {
		res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemStatusInvalid, Code: ProblemStatusInvalid,
			Title: problemTitle(ProblemStatusInvalid), Detail: "the credential's parent chain could not be read"})
		return
	}
	for _, a := range chain[1:] {
		revoked := a.Revoked
		if !revoked {
			revoked, _ = s.status.Revoked(a.Status)
		}
		if revoked {
			res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemParentRevoked, Code: ProblemParentRevoked,
				Title: problemTitle(ProblemParentRevoked), Detail: "an ancestor of this sub-delegation, " + a.ID + ", is revoked"})
			return
		}
	}
}

func (s *Server) verifyPresentation(w http.ResponseWriter, r *http.Request) error {
	body, err := readVCAPIBody(w, r)
	if err != nil {
		return err
	}
	var in VerifyPresentationRequest
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if !present(in.VerifiablePresentation) {
		return errorf(http.StatusBadRequest, CodeBadRequest, "verifiablePresentation is required")
	}
	if in.Options == nil || in.Options.Challenge == "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, "options.challenge is required: a presentation is verified against the verifier's challenge")
	}
	res := &PresentationResult{Checks: []string{}, Warnings: []ProblemDetail{}, Errors: []ProblemDetail{}, CredentialResults: []VerificationResult{}}
	p, err := verify.Presentation(r.Context(), in.VerifiablePresentation, verify.PresentationOptions{
		Options:   verify.Options{Resolve: s.resolveDocument, Now: s.clock().UTC()},
		Challenge: in.Options.Challenge, Domain: in.Options.Domain,
	})
	if err != nil {
		code, msg := refusal(err)
		if code == "" {
			return err
		}
		res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + code, Code: code, Title: problemTitle(code), Detail: msg})
		return respondJSON(w, http.StatusOK, res)
	}
	res.Holder = p.Holder
	res.Checks = append(res.Checks, CheckProof, CheckChallenge)
	if in.Options.Domain != "" {
		res.Checks = append(res.Checks, CheckDomain)
	}
	res.Checks = append(res.Checks, CheckExpiration)
	holderOK := true
	for i, c := range p.Credentials {
		cr, err := s.checkCredential(r.Context(), c)
		if err != nil {
			return err
		}
		if !cr.Verified {
			res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemCredentialInvalid, Code: ProblemCredentialInvalid,
				Title: problemTitle(ProblemCredentialInvalid), Detail: fmt.Sprintf("credential %d failed verification (see credentialResults)", i)})
		} else if cr.Credential == nil || cr.Credential.Subject != p.Holder {
			holderOK = false
			res.Errors = append(res.Errors, ProblemDetail{Type: problemBase + ProblemSubjectNotHolder, Code: ProblemSubjectNotHolder,
				Title: problemTitle(ProblemSubjectNotHolder), Detail: fmt.Sprintf("credential %d is about another subject than the holder", i)})
		}
		res.CredentialResults = append(res.CredentialResults, *cr)
	}
	if holderOK {
		res.Checks = append(res.Checks, CheckHolder)
	}
	res.Verified = len(res.Errors) == 0
	return respondJSON(w, http.StatusOK, res)
}

// unsignedDelegation is the unsigned DelegationCredential of an issue
// request, in the Data Integrity shape without proof.
type unsignedDelegation struct {
	Context           []string        `json:"@context"`
	ID                string          `json:"id,omitempty"`
	Type              []string        `json:"type"`
	Issuer            string          `json:"issuer,omitempty"`
	IssuanceDate      string          `json:"issuanceDate,omitempty"`
	ExpirationDate    string          `json:"expirationDate"`
	CredentialSubject unsignedSubject `json:"credentialSubject"`
	CredentialStatus  *unsignedStatus `json:"credentialStatus,omitempty"`
}

type unsignedSubject struct {
	ID                    string          `json:"id"`
	Scopes                json.RawMessage `json:"scopes"`
	MaxSubdelegationDepth int             `json:"maxSubdelegationDepth"`
	ParentCredential      string          `json:"parentCredential,omitempty"`
}

type unsignedStatus struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

// issuerFor returns the issuer instance of the request: the server's
// issuer key for /credentials/issue, a configured instance for
// /issuers/{name}/credentials/issue.
func (s *Server) issuerFor(r *http.Request) (*issuer, error) {
	name := r.PathValue("name")
	if name == "" && !strings.HasPrefix(r.URL.Path, "/issuers/") {
		return s.issuer, nil
	}
	if iss, ok := s.issuers[name]; ok {
		return iss, nil
	}
	return nil, errorf(http.StatusNotFound, CodeIssuerNotFound, "no issuer instance %s", echo(name))
}

var errAlreadyIssued = errors.New("credential id already issued")

func (s *Server) issueCredential(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorizeOperator(w, r); err != nil {
		return err
	}
	iss, err := s.issuerFor(r)
	if err != nil {
		return err
	}
	body, err := readVCAPIBody(w, r)
	if err != nil {
		return err
	}
	var in IssueCredentialRequest
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	format := delegation.FormatJWT
	if in.Options != nil && in.Options.Format != "" {
		format = delegation.Format(in.Options.Format)
	}
	if format != delegation.FormatJWT && format != delegation.FormatLDP {
		return errorf(http.StatusBadRequest, CodeFormatUnsupported, "options.format must be jwt or ldp")
	}
	if !present(in.Credential) || bytes.TrimSpace(in.Credential)[0] != '{' {
		return errorf(http.StatusBadRequest, CodeBadRequest, "credential (an unsigned credential object) is required")
	}
	now := s.clock().UTC().Truncate(time.Second)
	c, err := s.unsignedCredential(in.Credential, iss, now)
	if err != nil {
		return err
	}
	var out json.RawMessage
	var raw []byte
	switch format {
	case delegation.FormatJWT:
		tok, ierr := delegation.IssueJWT(iss.priv, iss.kid, *c)
		err = ierr
		raw = []byte(tok)
		out, _ = json.Marshal(tok)
	default:
		raw, err = delegation.IssueLDP(iss.priv, iss.kid, *c, now)
		out = raw
	}
	if err != nil {
		if code, msg := refusal(err); code != "" {
			return errorf(http.StatusUnprocessableEntity, code, "%s", msg)
		}
		return err
	}
	e := &transparency.Entry{
		Version:  transparency.EntryVersion,
		Type:     VCIssuedType,
		Time:     s.clock().UTC(),
		Actor:    iss.did,
		Subject:  c.ID,
		Authz:    &transparency.AuthzRef{Credential: c.ID, Digest: delegation.Digest(raw)},
		Resource: string(format),
		Decision: transparency.DecisionRecorded,
		Reason:   "custodial issuance of a " + delegation.Type + " to " + c.Subject,
	}
	if len(e.Reason) > 4096 {
		e.Reason = e.Reason[:4096]
	}
	key := []byte(issuedKeyPrefix + c.ID)
	a, err := s.log.Append(r.Context(), e, func(tx *store.Tx) error {
		if _, err := tx.Get(key); err == nil {
			return errAlreadyIssued
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		tx.Set(key, []byte(delegation.Digest(raw)))
		return nil
	})
	if errors.Is(err, errAlreadyIssued) {
		return &apiError{http.StatusConflict, CodeCredentialAlreadyIssued, "a credential with this id was issued before", err}
	}
	if err != nil {
		return err
	}
	rb, err := s.receiptJSON(a)
	if err != nil {
		return err
	}
	s.logger.Info("credential issued", "id", c.ID, "issuer", iss.did, "format", format, "index", a.Index)
	w.Header().Set("Location", "/log/v1/entries/"+strconv.FormatUint(a.Index, 10))
	return respondJSON(w, http.StatusCreated, IssueCredentialResponse{VerifiableCredential: out, Index: a.Index, Receipt: rb})
}

// unsignedCredential reads the credential of an issue request: only a
// DelegationCredential, whose issuer is empty or the instance's DID; id
// and issuanceDate default to a new urn:uuid and now.
func (s *Server) unsignedCredential(raw json.RawMessage, iss *issuer, now time.Time) (*delegation.Credential, error) {
	var peek struct {
		Type json.RawMessage `json:"type"`
	}
	_ = json.Unmarshal(raw, &peek)
	var types []string
	if err := json.Unmarshal(peek.Type, &types); err != nil || !slices.Equal(types, []string{delegation.VerifiableCredentialType, delegation.Type}) {
		return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialTypeUnsupported,
			"custodial issuance supports type [\"VerifiableCredential\", \"DelegationCredential\"] only")
	}
	var u unsignedDelegation
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialInvalid, "credential: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialInvalid, "credential: trailing data")
	}
	jwtCtx := []string{delegation.CredentialsContextURL, delegation.ContextURL, delegation.StatusContextURL}
	if !slices.Equal(u.Context, jwtCtx) && !slices.Equal(u.Context, append(slices.Clone(jwtCtx), delegation.Ed25519ContextURL)) {
		return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialInvalid, "credential: @context must be the DelegationCredential profile's")
	}
	if u.Issuer != "" && u.Issuer != iss.did {
		return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialInvalid, "credential: issuer must be empty or this issuer instance's DID %s", iss.did)
	}
	c := &delegation.Credential{ID: u.ID, Issuer: iss.did, Subject: u.CredentialSubject.ID,
		MaxSubdelegationDepth: u.CredentialSubject.MaxSubdelegationDepth, ParentCredential: u.CredentialSubject.ParentCredential,
		IssuanceDate: now}
	if c.ID == "" {
		id, err := delegation.NewID(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("new credential id: %w", err)
		}
		c.ID = id
	}
	var err error
	if u.IssuanceDate != "" {
		if c.IssuanceDate, err = time.Parse(time.RFC3339, u.IssuanceDate); err != nil {
			return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialInvalid, "credential: issuanceDate is not RFC 3339")
		}
	}
	if c.ExpirationDate, err = time.Parse(time.RFC3339, u.ExpirationDate); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, CodeCredentialInvalid, "credential: expirationDate is required (RFC 3339)")
	}
	c.IssuanceDate, c.ExpirationDate = c.IssuanceDate.UTC(), c.ExpirationDate.UTC()
	if c.Scopes, err = scope.Parse(u.CredentialSubject.Scopes); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, string(delegation.CodeScopesInvalid), "credentialSubject.scopes: %s", trimMsg(err.Error()))
	}
	if st := u.CredentialStatus; st != nil {
		idx, err := strconv.ParseUint(st.StatusListIndex, 10, 64)
		if err != nil || strconv.FormatUint(idx, 10) != st.StatusListIndex {
			return nil, errorf(http.StatusUnprocessableEntity, string(delegation.CodeStatusInvalid), "credentialStatus.statusListIndex is not a decimal integer")
		}
		c.Status = &delegation.StatusEntry{ID: st.ID, Type: st.Type, Purpose: st.StatusPurpose, ListIndex: idx, ListCredential: st.StatusListCredential}
	}
	return c, nil
}

// trimMsg bounds a message echoed to a client.
func trimMsg(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// issuerInstances builds the configured issuer instances.
func issuerInstances(keys map[string]ed25519.PrivateKey) (map[string]*issuer, error) {
	out := map[string]*issuer{}
	for name, k := range keys {
		if !ValidIssuerName(name) {
			return nil, fmt.Errorf("issuer instance name %q is not [a-z0-9][a-z0-9-]{0,62}", name)
		}
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("issuer instance %s: not an Ed25519 private key", name)
		}
		out[name] = newIssuer(k)
	}
	return out, nil
}
