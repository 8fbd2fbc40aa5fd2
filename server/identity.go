package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/status"
)

// The identity API (spec/identity.md, spec/openapi.yaml): hosted did:web,
// owners, agents and contacts. Every state change is a signed request
// whose entry is appended to the log together with the change
// (registry.Op.Apply) and with the request's jti record; the answer
// carries the entry's index and receipt. Refusals change nothing.

func (s *Server) identityRoutes() []route {
	return []route{
		{"POST", "/v1/dids", s.createDID},
		{"POST", "/v1/dids/rotate", s.rotateDID},
		{"POST", "/v1/dids/deactivate", s.deactivateDID},
		{"POST", "/v1/owners", s.registerOwner},
		{"POST", "/v1/agents", s.bindAgent},
		{"DELETE", "/v1/agents/{did}", s.unbindAgent},
		{"GET", "/v1/agents/{did}", s.agentBinding},
		{"GET", "/v1/me/agents", s.myAgents},
		{"GET", "/v1/me/contacts", s.myContacts},
		{"POST", "/v1/contacts/requests", s.requestContact},
		{"POST", "/v1/contacts/accept", s.acceptContact},
		{"POST", "/v1/contacts/remove", s.removeContact},
		{"GET", "/owners/{name}/did.json", s.hostedDocument("owners")},
		{"GET", "/agents/{name}/did.json", s.hostedDocument("agents")},
	}
}

// registryStatus is the HTTP status of each registry refusal.
var registryStatus = map[string]int{
	registry.CodeInvalidDID:                      http.StatusBadRequest,
	registry.CodeInvalidName:                     http.StatusBadRequest,
	registry.CodeNameTaken:                       http.StatusConflict,
	registry.CodeDIDNotFound:                     http.StatusNotFound,
	registry.CodeDIDNotHosted:                    http.StatusBadRequest,
	registry.CodeDIDDeactivated:                  http.StatusGone,
	registry.CodeKeyInvalid:                      http.StatusBadRequest,
	registry.CodeNotController:                   http.StatusForbidden,
	registry.CodeOwnerExists:                     http.StatusConflict,
	registry.CodeOwnerNotRegistered:              http.StatusForbidden,
	registry.CodeOwnerNotFound:                   http.StatusNotFound,
	registry.CodeDIDIsAgent:                      http.StatusConflict,
	registry.CodeDIDIsOwner:                      http.StatusConflict,
	registry.CodeAgentAlreadyBound:               http.StatusConflict,
	registry.CodeSecondManager:                   http.StatusConflict,
	registry.CodeDuplicateContext:                http.StatusConflict,
	registry.CodeInvalidContext:                  http.StatusBadRequest,
	registry.CodeAgentNotFound:                   http.StatusNotFound,
	registry.CodeAgentNotYours:                   http.StatusForbidden,
	registry.CodeAgentUnbound:                    http.StatusConflict,
	registry.CodeManagerAgentNotAllowed:          http.StatusUnprocessableEntity,
	registry.CodeContactSelf:                     http.StatusBadRequest,
	registry.CodeAlreadyContacts:                 http.StatusConflict,
	registry.CodeContactRequestExists:            http.StatusConflict,
	registry.CodeContactRequestNotFound:          http.StatusNotFound,
	registry.CodeContactRequestNotAddressedToYou: http.StatusForbidden,
	registry.CodeContactRequestExpired:           http.StatusGone,
	registry.CodeContactNotFound:                 http.StatusNotFound,
	registry.CodeBindingSubjectMismatch:          http.StatusForbidden,
	registry.CodeBindingIssuerNotOwner:           http.StatusForbidden,
	registry.CodeBindingRoleInvalid:              http.StatusBadRequest,
}

// bindingStatus is the HTTP status of each binding credential refusal.
var bindingStatus = map[binding.Code]int{
	binding.CodeMalformed:          http.StatusBadRequest,
	binding.CodeAlgNotAllowed:      http.StatusBadRequest,
	binding.CodeKIDInvalid:         http.StatusBadRequest,
	binding.CodeIssuerMismatch:     http.StatusBadRequest,
	binding.CodeIssuerUnresolvable: http.StatusUnprocessableEntity,
	binding.CodeKeyNotAuthorized:   http.StatusBadRequest,
	binding.CodeSignatureInvalid:   http.StatusUnauthorized,
	binding.CodeExpired:            http.StatusBadRequest,
	binding.CodeNotYetValid:        http.StatusBadRequest,
	binding.CodeRoleInvalid:        http.StatusBadRequest,
	binding.CodeContextInvalid:     http.StatusBadRequest,
}

// identityError maps a refusal of the registry or of the binding
// credential to its response; other errors are left to toAPIError.
func identityError(err error) error {
	var de *did.ResolutionError
	if errors.As(err, &de) && de.Code == did.ErrorDeactivated {
		// A credential issuer (or any DID the operation resolved) is
		// deactivated: it can no longer act.
		return &apiError{http.StatusGone, registry.CodeDIDDeactivated, "a DID this request relies on is deactivated", err}
	}
	var re *registry.Error
	if errors.As(err, &re) {
		status, ok := registryStatus[re.Code]
		if !ok {
			return fmt.Errorf("registry refusal with unmapped code: %w", err)
		}
		return &apiError{status, re.Code, re.Message, err}
	}
	var se *status.Error
	if errors.As(err, &se) {
		code, ok := statusStatus[se.Code]
		if !ok {
			return fmt.Errorf("status refusal with unmapped code: %w", err)
		}
		return &apiError{code, string(se.Code), se.Message, err}
	}
	var be *binding.Error
	if errors.As(err, &be) {
		status, ok := bindingStatus[be.Code]
		if !ok {
			return fmt.Errorf("binding refusal with unmapped code: %w", err)
		}
		return &apiError{status, string(be.Code), "binding credential: " + be.Message, err}
	}
	return err
}

// mutationResponse is the answer to a state change.
type mutationResponse struct {
	Index           uint64          `json:"index"`
	Receipt         json.RawMessage `json:"receipt"`
	DID             string          `json:"did,omitempty"`
	KID             string          `json:"kid,omitempty"`
	VersionID       string          `json:"version_id,omitempty"`
	Owner           string          `json:"owner,omitempty"`
	Agent           string          `json:"agent,omitempty"`
	Role            string          `json:"role,omitempty"`
	Context         string          `json:"context,omitempty"`
	Request         string          `json:"request,omitempty"`
	Expires         string          `json:"expires,omitempty"`
	Contact         string          `json:"contact,omitempty"`
	RemovedContacts []string        `json:"removed_contacts,omitempty"`
	// Status is the credentialStatus entry reserved by POST /v1/status.
	Status *status.Entry `json:"status,omitempty"`
}

// authenticated reads the body of r (JSON for POST, empty for GET) and
// verifies the signature.
func (s *Server) authenticated(w http.ResponseWriter, r *http.Request) (*request.Verified, []byte, error) {
	var body []byte
	if r.Method == http.MethodGet || r.Method == http.MethodDelete {
		// No body; the signature covers bd of the empty body.
		var err error
		if body, err = readRawBody(w, r); err != nil {
			return nil, nil, err
		}
		if len(body) != 0 {
			return nil, nil, errorf(http.StatusBadRequest, CodeBadRequest, "a %s request has no body", r.Method)
		}
	} else {
		var err error
		if body, err = readBody(w, r); err != nil {
			return nil, nil, err
		}
	}
	v, err := s.auth.authenticate(w, r, body)
	if err != nil {
		return nil, nil, err
	}
	return v, body, nil
}

// change is one logged state change a signed request causes: its entry,
// the Apply that makes it (re-checking its rules inside the sequencer),
// a hook run once Append returned, successful or not (cache invalidation),
// and what it adds to the answer.
type change struct {
	entry     *transparency.Entry
	apply     sequencer.Apply
	committed func()
	respond   func(resp *mutationResponse)
	// answer, if set, builds the whole answer instead of a
	// mutationResponse (registrations and revocations of credentials).
	answer func(index uint64, receipt json.RawMessage) any
}

// logChange appends ch's entry with its state change and v's jti record,
// and answers with the entry's index and receipt.
func (s *Server) logChange(w http.ResponseWriter, r *http.Request, v *request.Verified, status int, ch change) error {
	apply := func(tx *store.Tx) error {
		if err := ch.apply(tx); err != nil {
			return err
		}
		return s.auth.recordJTI(tx, v)
	}
	a, err := s.log.Append(r.Context(), ch.entry, apply)
	if ch.committed != nil {
		ch.committed()
	}
	if err != nil {
		return grantError(err)
	}
	rb, err := s.receiptJSON(a)
	if err != nil {
		return err
	}
	var body any
	if ch.answer != nil {
		body = ch.answer(a.Index, rb)
	} else {
		resp := &mutationResponse{Index: a.Index, Receipt: rb}
		if ch.respond != nil {
			ch.respond(resp)
		}
		body = resp
	}
	s.logger.Info("change logged", "type", ch.entry.Type, "index", a.Index, "actor", v.DID)
	w.Header().Set("Location", "/log/v1/entries/"+strconv.FormatUint(a.Index, 10))
	return respondJSON(w, status, body)
}

// mutate runs one registry state change: authenticate, build the
// registry operation from the body, and log it (logChange). build gets
// the request's registry identity and the raw body.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request, status int,
	build func(ctx context.Context, q registry.Request, body []byte) (*registry.Op, error),
	respond func(op *registry.Op, resp *mutationResponse)) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	q := registry.Request{Signer: v.DID, KID: v.KID, Digest: v.Digest, Time: s.clock().UTC()}
	op, err := build(r.Context(), q, body)
	if err != nil {
		return identityError(err)
	}
	return s.logChange(w, r, v, status, change{
		entry:     op.Entry,
		apply:     op.Apply,
		committed: func() { s.registry.Committed(op) },
		respond:   func(resp *mutationResponse) { respond(op, resp) },
	})
}

func (s *Server) createDID(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	return s.mutate(w, r, http.StatusCreated, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		return s.registry.CreateHosted(q, in.Name)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.DID, resp.KID, resp.VersionID = op.DID, op.KeyID, op.VersionID
	})
}

func (s *Server) rotateDID(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		DID string `json:"did"`
		Key string `json:"key"`
	}
	return s.mutate(w, r, http.StatusOK, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		return s.registry.RotateHosted(q, in.DID, in.Key)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.DID, resp.KID, resp.VersionID = op.DID, op.KeyID, op.VersionID
	})
}

func (s *Server) deactivateDID(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		DID string `json:"did"`
	}
	return s.mutate(w, r, http.StatusOK, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		return s.registry.DeactivateHosted(q, in.DID)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.DID, resp.VersionID = op.DID, op.VersionID
	})
}

func (s *Server) registerOwner(w http.ResponseWriter, r *http.Request) error {
	var in struct{}
	return s.mutate(w, r, http.StatusCreated, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		return s.registry.RegisterOwner(q)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.Owner = op.DID
	})
}

func (s *Server) bindAgent(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Credential string `json:"credential"`
	}
	var b registry.Binding
	return s.mutate(w, r, http.StatusCreated, func(ctx context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		if in.Credential == "" {
			return nil, errorf(http.StatusBadRequest, CodeBadJSON, `"credential" (the binding credential, a VC-JWT) is required`)
		}
		vb, err := binding.Verify(ctx, in.Credential, s.resolveDocument, q.Time)
		if err != nil {
			return nil, err
		}
		b = registry.Binding{
			CredentialID: vb.ID, Digest: vb.Digest, Token: vb.Token, Issuer: vb.Issuer, Subject: vb.Subject,
			Role: string(vb.Role), Context: vb.Context, Expires: vb.Expires,
		}
		return s.registry.BindAgent(q, b)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.Agent, resp.Owner, resp.Role, resp.Context = b.Subject, b.Issuer, b.Role, b.Context
	})
}

// unbindAgent serves DELETE /v1/agents/{did}, signed by the agent's owner.
func (s *Server) unbindAgent(w http.ResponseWriter, r *http.Request) error {
	agent := r.PathValue("did")
	return s.mutate(w, r, http.StatusOK, func(_ context.Context, q registry.Request, _ []byte) (*registry.Op, error) {
		return s.registry.UnbindAgent(q, agent)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.Agent, resp.RemovedContacts = op.DID, op.RemovedContacts
	})
}

func (s *Server) requestContact(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		To    string `json:"to"`
		Agent string `json:"agent"`
	}
	var at time.Time
	return s.mutate(w, r, http.StatusCreated, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		at = q.Time
		return s.registry.RequestContact(q, in.To, in.Agent)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.Request, resp.Contact = op.RequestID, op.Counterparty
		resp.Expires = at.Add(s.contactTTL).UTC().Format(time.RFC3339)
	})
}

func (s *Server) acceptContact(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Request string `json:"request"`
		Agent   string `json:"agent"`
	}
	return s.mutate(w, r, http.StatusOK, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		return s.registry.AcceptContact(q, in.Request, in.Agent)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.Request, resp.Contact = op.RequestID, op.Counterparty
	})
}

func (s *Server) removeContact(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Contact string `json:"contact"`
	}
	return s.mutate(w, r, http.StatusOK, func(_ context.Context, q registry.Request, body []byte) (*registry.Op, error) {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		return s.registry.RemoveContact(q, in.Contact)
	}, func(op *registry.Op, resp *mutationResponse) {
		resp.Contact = op.Counterparty
	})
}

// agentBinding serves the public binding of an agent: anyone may ask which
// owner an agent DID belongs to, in which role, and whether it is revoked.
func (s *Server) agentBinding(w http.ResponseWriter, r *http.Request) error {
	a, err := s.registry.Agent(r.PathValue("did"))
	if err != nil {
		return identityError(err)
	}
	w.Header().Set("Cache-Control", "no-cache")
	return respondJSON(w, http.StatusOK, a)
}

// owner authenticates a signed GET by a registered owner.
func (s *Server) owner(w http.ResponseWriter, r *http.Request) (string, error) {
	v, _, err := s.authenticated(w, r)
	if err != nil {
		return "", err
	}
	if err := s.requireOwner(v.DID); err != nil {
		return "", err
	}
	return v.DID, nil
}

// requireOwner refuses a signer that is not a registered owner.
func (s *Server) requireOwner(d string) error {
	if _, err := s.registry.Owner(d); err != nil {
		if registry.CodeOf(err) == registry.CodeOwnerNotFound {
			return &apiError{http.StatusForbidden, registry.CodeOwnerNotRegistered,
				"the signer is not a registered owner (clawnet owner register)", err}
		}
		return identityError(err)
	}
	return nil
}

func (s *Server) myAgents(w http.ResponseWriter, r *http.Request) error {
	owner, err := s.owner(w, r)
	if err != nil {
		return err
	}
	agents, err := s.registry.Agents(owner)
	if err != nil {
		return identityError(err)
	}
	if agents == nil {
		agents = []registry.Agent{}
	}
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, struct {
		Owner  string           `json:"owner"`
		Agents []registry.Agent `json:"agents"`
	}{owner, agents})
}

func (s *Server) myContacts(w http.ResponseWriter, r *http.Request) error {
	owner, err := s.owner(w, r)
	if err != nil {
		return err
	}
	contacts, err := s.registry.Contacts(owner)
	if err != nil {
		return identityError(err)
	}
	in, out, err := s.registry.ContactRequests(owner, s.clock())
	if err != nil {
		return identityError(err)
	}
	if contacts == nil {
		contacts = []registry.Contact{}
	}
	if in == nil {
		in = []registry.ContactRequest{}
	}
	if out == nil {
		out = []registry.ContactRequest{}
	}
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, struct {
		Owner    string                    `json:"owner"`
		Contacts []registry.Contact        `json:"contacts"`
		Incoming []registry.ContactRequest `json:"incoming"`
		Outgoing []registry.ContactRequest `json:"outgoing"`
	}{owner, contacts, in, out})
}

// hostedDocument serves the did:web path of a hosted DID: its current
// document, as did:web resolvers fetch it.
func (s *Server) hostedDocument(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		d := "did:web:" + s.didWebHost + ":" + kind + ":" + r.PathValue("name")
		res, err := s.registry.ResolveHosted(r.Context(), d, "")
		if err != nil {
			var re *did.ResolutionError
			if errors.As(err, &re) {
				switch re.Code {
				case did.ErrorDeactivated:
					return &apiError{http.StatusGone, registry.CodeDIDDeactivated, "this DID is deactivated", err}
				case did.ErrorNotFound, did.ErrorInvalidDID:
					return &apiError{http.StatusNotFound, CodeNotFound, "no such DID is hosted here", err}
				}
			}
			return err
		}
		b, err := did.MarshalDocument(res.Document, did.MediaTypeDIDLDJSON)
		if err != nil {
			return fmt.Errorf("encode hosted document %s: %w", d, err)
		}
		h := w.Header()
		h.Set("Content-Type", did.MediaTypeDIDLDJSON)
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return nil
	}
}

// resolveDocument resolves a DID to its document with the server's
// resolver, for signed requests and credentials.
func (s *Server) resolveDocument(ctx context.Context, d string) (*did.Document, error) {
	res, err := s.resolver.Resolve(ctx, d)
	if err != nil {
		return nil, err
	}
	if res.Document == nil {
		return nil, fmt.Errorf("resolve %s: no document", d)
	}
	return res.Document, nil
}

func respondJSON(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, v)
	return nil
}

// readRawBody reads a body of any type, at most maxBodySize bytes.
func readRawBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &apiError{http.StatusBadRequest, CodeBadRequest, "could not read the request body", err}
	}
	return body, nil
}
