package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/scope"
	"github.com/clawnet/ledger/vc/status"
)

// Registered delegation credentials (spec/grants.md): an issuer registers
// the credential it signed (POST /v1/credentials), owners list theirs,
// anyone reads one, the owner (or a sub-delegation's issuer) revokes it
// with its sub-delegations (POST /v1/revocations), and the orchestrator
// checks one on every action (checkDelegation).

func (s *Server) grantRoutes() []route {
	return []route{
		{"POST", "/v1/credentials", s.registerCredential},
		{"GET", "/v1/credentials", s.myCredentials},
		{"GET", "/v1/credentials/{id}", s.registeredCredential},
		// Not /v1/credentials/revoke: ServeMux would find it in conflict
		// with GET /v1/credentials/{id} through the method-less pattern
		// routes() adds for every path.
		{"POST", "/v1/revocations", s.revokeCredential},
		{"POST", "/v1/status/for-subdelegation", s.allocateSubdelegationStatus},
	}
}

// grantStatus is the HTTP status of each grant refusal (spec/grants.md §7).
var grantStatus = map[grant.Code]int{
	grant.CodeSignerNotIssuer:       http.StatusForbidden,
	grant.CodeSubjectNotAgent:       http.StatusUnprocessableEntity,
	grant.CodeSubjectUnbound:        http.StatusConflict,
	grant.CodeSubjectManager:        http.StatusUnprocessableEntity,
	grant.CodeIssuerNotOwner:        http.StatusForbidden,
	grant.CodeParentUnknown:         http.StatusUnprocessableEntity,
	grant.CodeIssuerNotParentHolder: http.StatusForbidden,
	grant.CodeIssuerUnbound:         http.StatusConflict,
	grant.CodeSubjectOtherOwner:     http.StatusForbidden,
	grant.CodeParentRevoked:         http.StatusConflict,
	grant.CodeParentExpired:         http.StatusConflict,
	grant.CodeDepthExceeded:         http.StatusForbidden,
	grant.CodeValidityExceedsParent: http.StatusUnprocessableEntity,
	grant.CodeScopeWidened:          http.StatusForbidden,
	grant.CodeStatusMissing:         http.StatusUnprocessableEntity,
	grant.CodeStatusNotYours:        http.StatusForbidden,
	grant.CodeStatusReused:          http.StatusConflict,
	grant.CodeRevoked:               http.StatusConflict,
	grant.CodeIDTaken:               http.StatusConflict,
	grant.CodeMalformed:             http.StatusBadRequest,
	grant.CodeNotFound:              http.StatusNotFound,
	grant.CodeNotYours:              http.StatusForbidden,
	grant.CodeAlreadyRevoked:        http.StatusConflict,
	grant.CodeConflict:              http.StatusConflict,
	grant.CodeSubdelegationNotAgent: http.StatusForbidden,
	grant.CodeSubjectMismatch:       http.StatusForbidden,
	grant.CodeNotYetValid:           http.StatusForbidden,
	grant.CodeExpired:               http.StatusForbidden,
}

// grantDelegationStatus is the HTTP status of each delegation credential
// refusal at registration (as bindingStatus for binding credentials).
var grantDelegationStatus = map[delegation.Code]int{
	delegation.CodeMalformed:          http.StatusBadRequest,
	delegation.CodeFormatUnknown:      http.StatusBadRequest,
	delegation.CodeContextNotAllowed:  http.StatusBadRequest,
	delegation.CodeUndefinedTerm:      http.StatusBadRequest,
	delegation.CodeScopesInvalid:      http.StatusBadRequest,
	delegation.CodeStatusInvalid:      http.StatusBadRequest,
	delegation.CodeAlgNotAllowed:      http.StatusBadRequest,
	delegation.CodeKIDInvalid:         http.StatusBadRequest,
	delegation.CodeIssuerMismatch:     http.StatusBadRequest,
	delegation.CodeIssuerUnresolvable: http.StatusUnprocessableEntity,
	delegation.CodeKeyNotAuthorized:   http.StatusBadRequest,
	delegation.CodeSignatureInvalid:   http.StatusUnauthorized,
	delegation.CodeNotYetValid:        http.StatusBadRequest,
	delegation.CodeExpired:            http.StatusBadRequest,
}

// grantError maps a refusal of the grant registry or of a delegation
// credential to its response, and the rest as identityError does.
func grantError(err error) error {
	var ge *grant.Error
	if errors.As(err, &ge) {
		st, ok := grantStatus[ge.Code]
		if !ok {
			return fmt.Errorf("grant refusal with unmapped code: %w", err)
		}
		return &apiError{st, string(ge.Code), ge.Message, err}
	}
	var de *delegation.Error
	if errors.As(err, &de) {
		st, ok := grantDelegationStatus[de.Code]
		if !ok {
			return fmt.Errorf("delegation refusal with unmapped code: %w", err)
		}
		return &apiError{st, string(de.Code), "delegation credential: " + de.Message, err}
	}
	return identityError(err)
}

// GrantResponse is the answer to a registration or a revocation.
type GrantResponse struct {
	Index   uint64          `json:"index"`
	Receipt json.RawMessage `json:"receipt"`
	// Credential is the registered or revoked credential's id.
	Credential string `json:"credential"`
	// Cascade lists the sub-delegations revoked with it (revocation).
	Cascade []string `json:"cascade,omitempty"`
}

// RegisteredCredential is the public view of a registered credential
// (GET /v1/credentials/{id}, GET /v1/credentials).
type RegisteredCredential struct {
	ID     string            `json:"id"`
	Digest string            `json:"digest"`
	Format delegation.Format `json:"format"`
	// Credential is the credential as registered: the VC-JWT as a JSON
	// string, or the JSON-LD document.
	Credential            json.RawMessage `json:"credential"`
	Issuer                string          `json:"issuer"`
	Subject               string          `json:"subject"`
	Owner                 string          `json:"owner"`
	Parent                string          `json:"parent,omitempty"`
	Depth                 int             `json:"depth"`
	MaxSubdelegationDepth int             `json:"max_subdelegation_depth"`
	Status                status.Entry    `json:"status"`
	NotBefore             time.Time       `json:"not_before"`
	NotAfter              time.Time       `json:"not_after"`
	RegisteredIndex       uint64          `json:"registered_index"`
	Revoked               bool            `json:"revoked"`
	RevokedIndex          uint64          `json:"revoked_index,omitempty"`
	RevokedTime           time.Time       `json:"revoked_time,omitzero"`
	RevokedBy             string          `json:"revoked_by,omitempty"`
	// Chain lists the ancestors' ids, the parent first (GET by id only).
	Chain []string `json:"chain,omitempty"`
}

func credentialView(rec *grant.Record) RegisteredCredential {
	raw := json.RawMessage(rec.Raw)
	if rec.Format == delegation.FormatJWT {
		raw, _ = json.Marshal(rec.Raw)
	}
	return RegisteredCredential{
		ID: rec.ID, Digest: rec.Digest, Format: rec.Format, Credential: raw, Issuer: rec.Issuer,
		Subject: rec.Subject, Owner: rec.Owner, Parent: rec.Parent, Depth: rec.Depth,
		MaxSubdelegationDepth: rec.MaxSubdelegationDepth, Status: rec.Status, NotBefore: rec.NotBefore,
		NotAfter: rec.NotAfter, RegisteredIndex: rec.RegisteredIndex, Revoked: rec.Revoked,
		RevokedIndex: rec.RevokedIndex, RevokedTime: rec.RevokedTime, RevokedBy: rec.RevokedBy,
	}
}

// registerCredential serves POST /v1/credentials (spec/grants.md §2).
func (s *Server) registerCredential(w http.ResponseWriter, r *http.Request) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	var in struct {
		Credential json.RawMessage `json:"credential"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if c := bytes.TrimSpace(in.Credential); len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return errorf(http.StatusBadRequest, CodeBadJSON, `"credential" (a VC-JWT string or a JSON-LD credential) is required`)
	}
	now := s.clock().UTC()
	vc, err := delegation.Verify(r.Context(), in.Credential, delegation.VerifyOptions{Resolve: s.resolveDocument, Now: now})
	if err != nil {
		return grantError(err)
	}
	rec, err := s.checkGrant(vc, v.DID, now)
	if err != nil {
		return grantError(err)
	}
	op, err := s.grants.Register(grant.Request{Signer: v.DID, KID: v.KID, Digest: v.Digest, Time: now}, *rec)
	if err != nil {
		return grantError(err)
	}
	return s.logChange(w, r, v, http.StatusCreated, change{
		entry: op.Entry, apply: op.Apply, committed: func() { s.grants.Committed(op) },
		answer: func(index uint64, receipt json.RawMessage) any {
			return GrantResponse{Index: index, Receipt: receipt, Credential: rec.ID}
		},
	})
}

// checkGrant composes the registration rules that Verify leaves to the
// server, in the order of spec/grants.md §2 (steps 3 to 6), and returns
// the record to register.
func (s *Server) checkGrant(vc *delegation.Verified, signer string, now time.Time) (*grant.Record, error) {
	if signer != vc.Issuer {
		return nil, grant.Refuse(grant.CodeSignerNotIssuer, "the request is signed by %s, the credential is issued by %s", signer, vc.Issuer)
	}
	agent, err := s.registry.Agent(vc.Subject)
	if err != nil {
		if registry.CodeOf(err) == registry.CodeAgentNotFound {
			return nil, grant.Refuse(grant.CodeSubjectNotAgent, "the subject %s is not a bound agent", vc.Subject)
		}
		return nil, err
	}
	switch {
	case agent.Revoked:
		return nil, grant.Refuse(grant.CodeSubjectUnbound, "the subject agent %s was unbound", vc.Subject)
	case agent.Role != registry.RoleIdentity:
		return nil, grant.Refuse(grant.CodeSubjectManager, "the subject %s is a Manager Agent: only Identity Agents hold delegations", vc.Subject)
	}
	owner := agent.Owner
	if vc.ParentCredential == "" {
		if vc.Issuer != owner {
			return nil, grant.Refuse(grant.CodeIssuerNotOwner, "the credential is issued by %s, not by the subject's owner", vc.Issuer)
		}
	} else if err := s.checkSubdelegation(vc, owner, now); err != nil {
		return nil, err
	}
	if vc.Status == nil {
		return nil, grant.Refuse(grant.CodeStatusMissing, "the credential has no credentialStatus (reserve one: POST /v1/status)")
	}
	entry := statusEntry(vc.Status)
	alloc, err := s.status.Allocation(entry)
	if err != nil {
		if status.CodeOf(err) != "" {
			return nil, grant.Refuse(grant.CodeStatusNotYours, "status entry %.200s: %s", entry.ID, status.CodeOf(err))
		}
		return nil, err
	}
	if alloc.Owner != owner {
		return nil, grant.Refuse(grant.CodeStatusNotYours, "status entry %s was allocated to another owner", entry.ID)
	}
	if id, err := s.grants.ByStatus(entry.ID); err != nil {
		return nil, err
	} else if id != "" {
		return nil, grant.Refuse(grant.CodeStatusReused, "status entry %s belongs to credential %s", entry.ID, id)
	}
	if alloc.Revoked {
		return nil, grant.Refuse(grant.CodeRevoked, "status entry %s is revoked", entry.ID)
	}
	scopes, err := scope.Marshal(vc.Scopes)
	if err != nil {
		return nil, fmt.Errorf("marshal verified scopes: %w", err)
	}
	return &grant.Record{
		ID: vc.ID, Digest: vc.Digest, Format: vc.Format, Raw: string(vc.Raw), Issuer: vc.Issuer,
		Subject: vc.Subject, Owner: owner, Parent: vc.ParentCredential, MaxSubdelegationDepth: vc.MaxSubdelegationDepth,
		Status: entry, NotBefore: vc.IssuanceDate.UTC(), NotAfter: vc.ExpirationDate.UTC(), Scopes: scopes,
	}, nil
}

// checkSubdelegation is step 5 of spec/grants.md §2 for a credential with
// a parent.
func (s *Server) checkSubdelegation(vc *delegation.Verified, owner string, now time.Time) error {
	parent, err := s.grants.Get(vc.ParentCredential)
	if err != nil {
		if grant.CodeOf(err) == grant.CodeNotFound {
			return grant.Refuse(grant.CodeParentUnknown, "parent credential %.80s is not registered", vc.ParentCredential)
		}
		return err
	}
	if parent.Subject != vc.Issuer {
		return grant.Refuse(grant.CodeIssuerNotParentHolder, "the parent credential was granted to %s, not to the issuer", parent.Subject)
	}
	if ia, err := s.registry.Agent(vc.Issuer); err != nil || ia.Revoked || ia.Role != registry.RoleIdentity {
		if err != nil && registry.CodeOf(err) == "" {
			return err
		}
		return grant.Refuse(grant.CodeIssuerUnbound, "the issuer %s is no longer an active Identity Agent", vc.Issuer)
	}
	if parent.Owner != owner {
		return grant.Refuse(grant.CodeSubjectOtherOwner, "the subject belongs to another owner than the parent credential")
	}
	chain, err := s.grants.Chain(parent.ID)
	if err != nil {
		return err
	}
	for i := range chain {
		c := &chain[i]
		revoked, err := s.chainRevoked(c)
		if err != nil {
			return err
		}
		if revoked {
			return grant.Refuse(grant.CodeParentRevoked, "credential %s in the parent chain is revoked", c.ID)
		}
		if now.After(c.NotAfter) {
			return grant.Refuse(grant.CodeParentExpired, "credential %s in the parent chain expired at %s", c.ID, c.NotAfter.Format(time.RFC3339))
		}
	}
	if parent.MaxSubdelegationDepth < 1 || vc.MaxSubdelegationDepth > parent.MaxSubdelegationDepth-1 {
		return grant.Refuse(grant.CodeDepthExceeded, "the parent allows %d further levels; this credential asks for %d more below it",
			parent.MaxSubdelegationDepth, vc.MaxSubdelegationDepth)
	}
	if vc.IssuanceDate.Before(parent.NotBefore) || vc.ExpirationDate.After(parent.NotAfter) {
		return grant.Refuse(grant.CodeValidityExceedsParent, "valid %s to %s, the parent %s to %s",
			vc.IssuanceDate.UTC().Format(time.RFC3339), vc.ExpirationDate.UTC().Format(time.RFC3339),
			parent.NotBefore.Format(time.RFC3339), parent.NotAfter.Format(time.RFC3339))
	}
	child, err := scope.Compile(vc.Scopes)
	if err != nil {
		return fmt.Errorf("compile verified scopes: %w", err)
	}
	pset, err := s.grantSet(parent)
	if err != nil {
		return err
	}
	if ok, reason := scope.Subset(child, pset); !ok {
		return grant.Refuse(grant.CodeScopeWidened, "the scopes are not within the parent's: %s", reason)
	}
	return nil
}

// chainRevoked reports whether c is revoked, by its record or by its
// status bit (which a revocation sets from the moment it is applied).
func (s *Server) chainRevoked(c *grant.Record) (bool, error) {
	if c.Revoked {
		return true, nil
	}
	return s.status.Revoked(c.Status)
}

func statusEntry(e *delegation.StatusEntry) status.Entry {
	return status.Entry{ID: e.ID, Type: e.Type, Purpose: e.Purpose,
		ListIndex: strconv.FormatUint(e.ListIndex, 10), ListCredential: e.ListCredential}
}

// myCredentials serves GET /v1/credentials: the owner's credentials.
func (s *Server) myCredentials(w http.ResponseWriter, r *http.Request) error {
	owner, err := s.owner(w, r)
	if err != nil {
		return err
	}
	recs, err := s.grants.ByOwner(owner)
	if err != nil {
		return grantError(err)
	}
	out := make([]RegisteredCredential, len(recs))
	for i := range recs {
		out[i] = credentialView(&recs[i])
	}
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, struct {
		Owner       string                 `json:"owner"`
		Credentials []RegisteredCredential `json:"credentials"`
	}{owner, out})
}

// registeredCredential serves GET /v1/credentials/{id}, public.
func (s *Server) registeredCredential(w http.ResponseWriter, r *http.Request) error {
	chain, err := s.grants.Chain(r.PathValue("id"))
	if err != nil {
		return grantError(err)
	}
	view := credentialView(&chain[0])
	for _, c := range chain[1:] {
		view.Chain = append(view.Chain, c.ID)
	}
	w.Header().Set("Cache-Control", "no-cache")
	return respondJSON(w, http.StatusOK, view)
}

// revokeCredential serves POST /v1/revocations (spec/grants.md §3).
func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	var in struct {
		ID string `json:"id"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	op, err := s.grants.Revoke(grant.Request{Signer: v.DID, KID: v.KID, Digest: v.Digest, Time: s.clock().UTC()}, in.ID)
	if err != nil {
		return grantError(err)
	}
	return s.logChange(w, r, v, http.StatusOK, change{
		entry: op.Entry, apply: op.Apply, committed: func() { s.grants.Committed(op) },
		answer: func(index uint64, receipt json.RawMessage) any {
			return GrantResponse{Index: index, Receipt: receipt, Credential: op.Revoked, Cascade: op.Cascade}
		},
	})
}

// allocateSubdelegationStatus serves POST /v1/status/for-subdelegation: an
// active Identity Agent reserves a status entry, allocated to its bound
// owner, for a sub-delegation it is about to sign (spec/grants.md §4).
func (s *Server) allocateSubdelegationStatus(w http.ResponseWriter, r *http.Request) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	var in struct{}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	agent, err := s.registry.Agent(v.DID)
	if err != nil && registry.CodeOf(err) == "" {
		return err
	}
	if err != nil || agent.Revoked || agent.Role != registry.RoleIdentity {
		return grantError(grant.Refuse(grant.CodeSubdelegationNotAgent, "only an active Identity Agent reserves status entries for sub-delegations"))
	}
	op, err := s.status.Allocate(status.Request{Signer: v.DID, KID: v.KID, Digest: v.Digest, Time: s.clock().UTC()}, agent.Owner)
	if err != nil {
		return grantError(err)
	}
	return s.logChange(w, r, v, http.StatusCreated, change{
		entry:     op.Entry,
		apply:     op.Apply,
		committed: func() { s.status.Committed(op) },
		respond: func(resp *mutationResponse) {
			st := op.Status
			resp.Status = &st
		},
	})
}

// checkDelegation is the check of a delegation credential on every action
// (issue 5; spec/grants.md §6): credID is registered, granted to agent,
// valid at now (with delegation.Skew), neither it nor an ancestor revoked
// (status bits, from memory) or expired; then its compiled scopes decide
// req, and a request it allows must be allowed by every ancestor too.
// Refusals are *grant.Error values (grantError maps them); the decision is
// meaningful only when err is nil.
func (s *Server) checkDelegation(_ context.Context, agent, credID string, req scope.Request, now time.Time) (scope.Decision, *grant.Record, error) {
	if s.grants == nil {
		return scope.Decision{}, nil, errors.New("check delegation: credentials are not enabled")
	}
	chain, err := s.grants.Chain(credID)
	if err != nil {
		return scope.Decision{}, nil, err
	}
	rec := &chain[0]
	if rec.Subject != agent {
		return scope.Decision{}, rec, grant.Refuse(grant.CodeSubjectMismatch, "credential %s was granted to %s, not to %s", rec.ID, rec.Subject, agent)
	}
	for i := range chain {
		c := &chain[i]
		revoked, err := s.chainRevoked(c)
		if err != nil {
			return scope.Decision{}, rec, fmt.Errorf("check delegation %s: status of %s: %w", credID, c.ID, err)
		}
		switch {
		case revoked && i == 0:
			return scope.Decision{}, rec, grant.Refuse(grant.CodeRevoked, "credential %s is revoked", c.ID)
		case revoked:
			return scope.Decision{}, rec, grant.Refuse(grant.CodeParentRevoked, "credential %s in the parent chain is revoked", c.ID)
		case now.Before(c.NotBefore.Add(-delegation.Skew)) && i == 0:
			return scope.Decision{}, rec, grant.Refuse(grant.CodeNotYetValid, "credential %s is valid from %s", c.ID, c.NotBefore.Format(time.RFC3339))
		case now.After(c.NotAfter.Add(delegation.Skew)) && i == 0:
			return scope.Decision{}, rec, grant.Refuse(grant.CodeExpired, "credential %s expired at %s", c.ID, c.NotAfter.Format(time.RFC3339))
		case i > 0 && now.After(c.NotAfter.Add(delegation.Skew)):
			return scope.Decision{}, rec, grant.Refuse(grant.CodeParentExpired, "credential %s in the parent chain expired at %s", c.ID, c.NotAfter.Format(time.RFC3339))
		}
	}
	set, err := s.grantSet(rec)
	if err != nil {
		return scope.Decision{}, rec, err
	}
	d := set.Evaluate(req)
	if d.Effect != scope.Allow {
		return d, rec, nil
	}
	for i := 1; i < len(chain); i++ {
		pset, err := s.grantSet(&chain[i])
		if err != nil {
			return scope.Decision{}, rec, err
		}
		if pd := pset.Evaluate(req); pd.Effect != scope.Allow {
			reason := pd.Reason
			if pd.Effect == scope.Deny && reason == "" {
				reason = scope.ReasonDenied
			}
			return scope.Decision{Effect: scope.Deny, Scope: pd.Scope, Reason: reason,
				Detail: "parent " + chain[i].ID + ": " + pd.Detail}, rec, nil
		}
	}
	return d, rec, nil
}

// grantSets caches the compiled scopes of registered credentials by id
// (a credential's scopes never change). mu guards m.
type grantSets struct {
	mu sync.RWMutex
	m  map[string]*scope.Set
}

const maxGrantSets = 1 << 16

// grantSet returns the compiled scopes of rec, compiling them once.
func (s *Server) grantSet(rec *grant.Record) (*scope.Set, error) {
	s.grantSetCache.mu.RLock()
	set := s.grantSetCache.m[rec.ID]
	s.grantSetCache.mu.RUnlock()
	if set != nil {
		return set, nil
	}
	scopes, err := scope.Parse(rec.Scopes)
	if err != nil {
		return nil, fmt.Errorf("scopes of registered credential %s: %w", rec.ID, err)
	}
	if set, err = scope.Compile(scopes); err != nil {
		return nil, fmt.Errorf("scopes of registered credential %s: %w", rec.ID, err)
	}
	s.grantSetCache.mu.Lock()
	defer s.grantSetCache.mu.Unlock()
	if s.grantSetCache.m == nil || len(s.grantSetCache.m) >= maxGrantSets {
		s.grantSetCache.m = map[string]*scope.Set{}
	}
	s.grantSetCache.m[rec.ID] = set
	return set, nil
}
