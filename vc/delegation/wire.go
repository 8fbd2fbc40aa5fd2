package delegation

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/clawnet/ledger/vc/scope"
)

// The JSON members of the credential, in the order Issue* write them.
// The VC-JWT "vc" claim has @context, type, credentialSubject (without id)
// and credentialStatus: VC-JWT carries id, issuer, issuanceDate,
// expirationDate and credentialSubject.id in jti, iss, nbf, exp and sub
// only ("instead of", never "in addition to", as vc/binding: one place per
// fact, so that no credential can state a fact two ways).

type wireCredential struct {
	Context          []string    `json:"@context"`
	ID               string      `json:"id,omitempty"`
	Type             []string    `json:"type"`
	Issuer           string      `json:"issuer,omitempty"`
	IssuanceDate     string      `json:"issuanceDate,omitempty"`
	ExpirationDate   string      `json:"expirationDate,omitempty"`
	Subject          wireSubject `json:"credentialSubject"`
	CredentialStatus *wireStatus `json:"credentialStatus,omitempty"`
	Proof            *wireProof  `json:"proof,omitempty"`
}

type wireSubject struct {
	ID                    string          `json:"id,omitempty"`
	Scopes                json.RawMessage `json:"scopes"`
	MaxSubdelegationDepth int             `json:"maxSubdelegationDepth"`
	ParentCredential      string          `json:"parentCredential,omitempty"`
}

type wireStatus struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

type wireProof struct {
	Type               string `json:"type"`
	Created            string `json:"created"`
	VerificationMethod string `json:"verificationMethod"`
	ProofPurpose       string `json:"proofPurpose"`
	ProofValue         string `json:"proofValue"`
}

// jwtContexts and ldpContexts are the exact @context of each format.
var (
	jwtContexts = []string{CredentialsContextURL, ContextURL, StatusContextURL}
	ldpContexts = []string{CredentialsContextURL, ContextURL, StatusContextURL, Ed25519ContextURL}
	types       = []string{VerifiableCredentialType, Type}
)

func toWireStatus(s *StatusEntry) *wireStatus {
	if s == nil {
		return nil
	}
	return &wireStatus{ID: s.ID, Type: s.Type, StatusPurpose: s.Purpose,
		StatusListIndex: strconv.FormatUint(s.ListIndex, 10), StatusListCredential: s.ListCredential}
}

// wireLD is c in the Data Integrity format, without its proof.
func wireLD(c *Credential) (wireCredential, error) {
	sc, err := scope.Marshal(c.Scopes)
	if err != nil {
		return wireCredential{}, err
	}
	return wireCredential{
		Context:          ldpContexts,
		ID:               c.ID,
		Type:             types,
		Issuer:           c.Issuer,
		IssuanceDate:     c.IssuanceDate.UTC().Format(dateLayout),
		ExpirationDate:   c.ExpirationDate.UTC().Format(dateLayout),
		Subject:          wireSubject{ID: c.Subject, Scopes: sc, MaxSubdelegationDepth: c.MaxSubdelegationDepth, ParentCredential: c.ParentCredential},
		CredentialStatus: toWireStatus(c.Status),
	}, nil
}

// wireVC is the "vc" claim of c in the VC-JWT format.
func wireVC(c *Credential) (wireCredential, error) {
	sc, err := scope.Marshal(c.Scopes)
	if err != nil {
		return wireCredential{}, err
	}
	return wireCredential{
		Context:          jwtContexts,
		Type:             types,
		Subject:          wireSubject{Scopes: sc, MaxSubdelegationDepth: c.MaxSubdelegationDepth, ParentCredential: c.ParentCredential},
		CredentialStatus: toWireStatus(c.Status),
	}, nil
}

// checkContexts checks @context: an entry that is not one of the embedded
// contexts is CodeContextNotAllowed (it would have to be fetched, or is an
// inline context that could redefine terms); the known ones in another
// order or number is CodeMalformed.
func checkContexts(raw json.RawMessage, want []string) *Error {
	got, err := stringArray(raw)
	if err != nil {
		if len(raw) > 0 && (raw[0] == '[' || raw[0] == '{' || raw[0] == '"') {
			return failWrap(CodeContextNotAllowed, err, "@context is not an array of the profile's context URLs")
		}
		return failWrap(CodeMalformed, err, "@context")
	}
	for i, g := range got {
		if !slices.Contains(ldpContexts, g) {
			return fail(CodeContextNotAllowed, "@context[%d] %.200q is not an embedded context (contexts are never fetched)", i, g)
		}
	}
	if len(got) != len(want) {
		return fail(CodeMalformed, "@context has %d entries, want %q", len(got), want)
	}
	for i := range got {
		if got[i] != want[i] {
			return fail(CodeMalformed, "@context[%d] is %q, want %q", i, got[i], want[i])
		}
	}
	return nil
}

func checkTypes(raw json.RawMessage) *Error {
	got, err := stringArray(raw)
	if err != nil || len(got) != 2 || got[0] != types[0] || got[1] != types[1] {
		return fail(CodeMalformed, "type is not %q", types)
	}
	return nil
}

// parseSubject decodes credentialSubject into c (with its id when withID).
func parseSubject(raw json.RawMessage, withID bool, c *Credential) (e *Error) {
	cs, err := strictjson.Parse(raw)
	if err != nil {
		return failWrap(CodeMalformed, err, "credentialSubject")
	}
	required := []string{"scopes", "maxSubdelegationDepth"}
	if withID {
		required = append(required, "id")
	}
	if e = members(cs, "credentialSubject", required, []string{"parentCredential"}); e != nil {
		return e
	}
	if withID {
		v, _ := cs.Get("id")
		if c.Subject, err = strictjson.String(v); err != nil {
			return failWrap(CodeMalformed, err, "credentialSubject.id")
		}
	}
	v, _ := cs.Get("maxSubdelegationDepth")
	n, err := smallInt(v)
	if err != nil {
		return failWrap(CodeMalformed, err, "credentialSubject.maxSubdelegationDepth")
	}
	c.MaxSubdelegationDepth = n
	if v, ok := cs.Get("parentCredential"); ok {
		if c.ParentCredential, err = strictjson.String(v); err != nil {
			return failWrap(CodeMalformed, err, "credentialSubject.parentCredential")
		}
		if c.ParentCredential == "" {
			return fail(CodeMalformed, "credentialSubject.parentCredential is empty")
		}
	}
	raw, _ = cs.Get("scopes")
	if c.Scopes, e = parseScopes(raw); e != nil {
		return e
	}
	return nil
}

// smallInt decodes a JSON integer 0..999 written without sign, fraction,
// exponent or leading zero.
func smallInt(raw json.RawMessage) (int, error) {
	s := string(raw)
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, errNotSmallInt
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNotSmallInt
		}
	}
	return strconv.Atoi(s)
}

// parseStatus decodes credentialStatus; every problem in it is
// CodeStatusInvalid.
func parseStatus(raw json.RawMessage) (*StatusEntry, *Error) {
	ms, err := strictjson.Parse(raw)
	if err != nil {
		return nil, failWrap(CodeStatusInvalid, err, "credentialStatus")
	}
	names := []string{"id", "type", "statusPurpose", "statusListIndex", "statusListCredential"}
	if e := members(ms, "credentialStatus", names, nil); e != nil {
		e.Code = CodeStatusInvalid
		return nil, e
	}
	vals := make([]string, len(names))
	for i, n := range names {
		v, _ := ms.Get(n)
		if vals[i], err = strictjson.String(v); err != nil {
			return nil, failWrap(CodeStatusInvalid, err, "credentialStatus.%s", n)
		}
	}
	idx := vals[3]
	if idx == "" || len(idx) > 19 || (len(idx) > 1 && idx[0] == '0') {
		return nil, fail(CodeStatusInvalid, "credentialStatus.statusListIndex %.32q is not a decimal integer", idx)
	}
	n, perr := strconv.ParseUint(idx, 10, 64)
	if perr != nil {
		return nil, failWrap(CodeStatusInvalid, perr, "credentialStatus.statusListIndex %.32q", idx)
	}
	s := &StatusEntry{ID: vals[0], Type: vals[1], Purpose: vals[2], ListIndex: n, ListCredential: vals[4]}
	if e := s.check(); e != nil {
		return nil, e
	}
	return s, nil
}

// parseDate decodes a date of the profile's one form.
func parseDate(raw json.RawMessage, what string) (time.Time, *Error) {
	s, err := strictjson.String(raw)
	if err != nil {
		return time.Time{}, failWrap(CodeMalformed, err, "%s", what)
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s {
		return time.Time{}, fail(CodeMalformed, "%s %.40q is not YYYY-MM-DDThh:mm:ssZ", what, s)
	}
	return t, nil
}
