package server

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/status"
)

// Revocation status lists (spec/status-list.md): an owner reserves a status
// entry before it signs a credential that names it (POST /v1/status), and
// the lists are served as status list credentials signed by the server's
// issuer key (GET /status/{list}).

// statusListLifetime is how long a served status list credential is valid;
// statusListRefresh is how old a signed list may get before it is signed
// again. A revocation publishes a new list at once (its version changes).
const (
	statusListLifetime = time.Hour
	statusListRefresh  = 10 * time.Minute
)

// statusStatus is the HTTP status of each status refusal.
var statusStatus = map[status.Code]int{
	status.CodeMalformed:          http.StatusBadRequest,
	status.CodeAlgNotAllowed:      http.StatusBadRequest,
	status.CodeKIDInvalid:         http.StatusBadRequest,
	status.CodeIssuerMismatch:     http.StatusBadRequest,
	status.CodeIssuerUnresolvable: http.StatusUnprocessableEntity,
	status.CodeKeyNotAuthorized:   http.StatusBadRequest,
	status.CodeSignatureInvalid:   http.StatusUnauthorized,
	status.CodeNotYetValid:        http.StatusBadRequest,
	status.CodeExpired:            http.StatusBadRequest,
	status.CodeListTooShort:       http.StatusBadRequest,
	status.CodeListTooLarge:       http.StatusBadRequest,
	status.CodeIndexOutOfRange:    http.StatusBadRequest,
	status.CodePurposeMismatch:    http.StatusBadRequest,
	status.CodeListMismatch:       http.StatusBadRequest,
	status.CodeListUnknown:        http.StatusNotFound,
	status.CodeNotAllocated:       http.StatusNotFound,
	status.CodeNotYours:           http.StatusForbidden,
	status.CodeAlreadyRevoked:     http.StatusConflict,
	status.CodeReasonTooLong:      http.StatusUnprocessableEntity,
}

// issuer is the server's own credential issuer: a did:key whose key signs
// the status list credentials.
type issuer struct {
	priv ed25519.PrivateKey
	did  string
	kid  string
}

func newIssuer(priv ed25519.PrivateKey) *issuer {
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	return &issuer{priv: priv, did: d, kid: d + "#" + strings.TrimPrefix(d, "did:key:")}
}

// signedList is a status list credential signed for one version of a list.
type signedList struct {
	version uint64
	signed  time.Time
	token   []byte
}

// listCache keeps the last signed credential of each list.
type listCache struct {
	mu sync.Mutex
	m  map[string]signedList
}

func (s *Server) statusRoutes() []route {
	return []route{
		{"POST", "/v1/status", s.allocateStatus},
		{"GET", "/status/{list}", s.statusList},
	}
}

// allocateStatus serves POST /v1/status: a registered owner reserves a
// status entry for a credential it is about to sign.
func (s *Server) allocateStatus(w http.ResponseWriter, r *http.Request) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	var in struct{}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := s.requireOwner(v.DID); err != nil {
		return err
	}
	op, err := s.status.Allocate(status.Request{Signer: v.DID, KID: v.KID, Digest: v.Digest, Time: s.clock().UTC()}, "")
	if err != nil {
		return identityError(err)
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

// statusList serves GET /status/{list}: the list as a status list
// credential (VC-JWT) signed by the server's issuer key, re-signed when the
// list changes and every statusListRefresh.
func (s *Server) statusList(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("list")
	bits, version, err := s.status.List(id)
	if err != nil {
		return identityError(err)
	}
	now := s.clock().UTC()
	s.lists.mu.Lock()
	c, ok := s.lists.m[id]
	s.lists.mu.Unlock()
	if !ok || c.version != version || now.Sub(c.signed) >= statusListRefresh {
		enc, err := bits.Encode()
		if err != nil {
			return fmt.Errorf("encode status list %s: %w", id, err)
		}
		tok, err := status.IssueList(s.issuer.priv, s.issuer.kid, status.ListCredential{
			ID: s.status.ListURL(id), Issuer: s.issuer.did,
			ValidFrom: now.Truncate(time.Second), ValidUntil: now.Truncate(time.Second).Add(statusListLifetime),
			Purpose: "revocation", EncodedList: enc,
		})
		if err != nil {
			return fmt.Errorf("sign status list %s: %w", id, err)
		}
		c = signedList{version: version, signed: now, token: []byte(tok)}
		s.lists.mu.Lock()
		if s.lists.m == nil {
			s.lists.m = map[string]signedList{}
		}
		if cur, ok := s.lists.m[id]; !ok || cur.version <= version {
			s.lists.m[id] = c
		}
		s.lists.mu.Unlock()
	}
	h := w.Header()
	h.Set("Content-Type", "application/vc+jwt")
	// A verifier must see a revocation at once: revalidate every time.
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.token)
	return nil
}

// IssuerDID is the DID of the server's credential issuer key ("" when
// credentials are not enabled).
func (s *Server) IssuerDID() string {
	if s.issuer == nil {
		return ""
	}
	return s.issuer.did
}
