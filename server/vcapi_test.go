package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
	"github.com/clawnet/ledger/vc/status"
	"github.com/clawnet/ledger/vc/verify"
	processor "github.com/hyperledger/aries-framework-go/pkg/doc/signature/jsonld"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/signer"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite/ed25519signature2020"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// The VC-API under test is the identity env with status lists, the
// server's issuer key, one named issuer instance ("acme"), an operator
// token, and a remote did:web source that knows one DID whose only key is
// in assertionMethod.

const vcToken = "vc-operator-token"

// assertOnly is a did:web (resolved by a fake remote source) whose one key
// may sign credentials (assertionMethod) but not authenticate.
const assertOnly = "did:web:assert.example"

type fakeRemote struct{ key ed25519.PublicKey }

func (f fakeRemote) ResolveRemote(ctx context.Context, d string) (*did.Result, error) {
	if d != assertOnly {
		return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "not found"}
	}
	mb := strings.TrimPrefix(did.KeyDID(f.key), "did:key:")
	return &did.Result{Document: &did.Document{
		Context: []string{"https://www.w3.org/ns/did/v1"}, ID: d,
		VerificationMethod: []did.VerificationMethod{{ID: d + "#k1", Type: "Ed25519VerificationKey2020", Controller: d, PublicKeyMultibase: mb}},
		AssertionMethod:    []string{d + "#k1"},
	}, ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON}}, nil
}

type vcEnv struct {
	*idEnv
	lists     *status.Lists
	issuerKey ed25519.PrivateKey
	acmeKey   ed25519.PrivateKey
	assertKey ed25519.PrivateKey
	srv       *Server
}

func newVCEnv(t testing.TB) *vcEnv {
	t.Helper()
	e := &vcEnv{idEnv: newIDEnv(t, 0)}
	var err error
	_, e.issuerKey, _ = ed25519.GenerateKey(rand.Reader)
	_, e.acmeKey, _ = ed25519.GenerateKey(rand.Reader)
	_, e.assertKey, _ = ed25519.GenerateKey(rand.Reader)
	reg, err := registry.New(registry.Config{DB: e.db, Host: e.host, PublicURL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	if e.lists, err = status.New(status.Config{DB: e.db, BaseURL: e.url + "/status/"}); err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(Config{
		Log: e.log, VerifierKey: e.vkey, Clock: e.clock.Now, OperatorToken: vcToken,
		Resolver: &did.Resolver{Hosted: reg, HostedHost: e.host, Remote: fakeRemote{e.assertKey.Public().(ed25519.PublicKey)}},
		Identity: &IdentityConfig{PublicURL: e.url, DIDWebHost: e.host, DB: e.db, Registry: reg,
			Status: e.lists, IssuerKey: e.issuerKey, Issuers: map[string]ed25519.PrivateKey{"acme": e.acmeKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := e.srv.Handler()
	e.current.Store(&h)
	e.reg = reg
	return e
}

func (e *vcEnv) post(path string, header http.Header, body any) response {
	e.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range header {
		h[k] = v
	}
	return e.do("POST", path, h, b)
}

// verifyCred posts a credential value to /credentials/verify and decodes
// the 200 answer.
func (e *vcEnv) verifyCred(t *testing.T, cred json.RawMessage) VerificationResult {
	t.Helper()
	r := e.post("/credentials/verify", nil, VerifyCredentialRequest{VerifiableCredential: cred})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var res VerificationResult
	decodeStrict(t, r.body, &res)
	return res
}

func jsonString(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

// allocate reserves a status entry for owner (registered first).
func (e *vcEnv) allocate(t testing.TB, owner *idParty) *delegation.StatusEntry {
	t.Helper()
	r, _ := e.call(owner, "POST", "/v1/status", struct{}{})
	if r.status != http.StatusCreated {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	var m mutationResponse
	if err := json.Unmarshal(r.body, &m); err != nil || m.Status == nil {
		t.Fatalf("allocate answer %s: %v", r.body, err)
	}
	idx, err := strconv.ParseUint(m.Status.ListIndex, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	se := delegation.NewStatusEntry(m.Status.ListCredential, idx)
	return &se
}

// revoke revokes the credential id with status entry se through the
// server's status lists and log, as the revocation endpoint does.
func (e *vcEnv) revoke(t testing.TB, owner *idParty, id string, se *delegation.StatusEntry) {
	t.Helper()
	op, err := e.lists.Revoke(status.Request{Signer: owner.did, KID: owner.kid, Digest: "sha256:" + strings.Repeat("ab", 32), Time: e.clock.Now()},
		id, status.Entry{ID: se.ID, Type: se.Type, Purpose: se.Purpose, ListIndex: strconv.FormatUint(se.ListIndex, 10), ListCredential: se.ListCredential}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.log.Append(context.Background(), op.Entry, op.Apply)
	e.lists.Committed(op)
	if err != nil {
		t.Fatal(err)
	}
}

var testScopeJSON = []byte(`[{"id":"work-calendar","effect":"allow","actions":["calendar"],"resources":["calendar/work/**"]}]`)

// grant builds a delegation credential by owner to agent.
func (e *vcEnv) grant(t testing.TB, owner *idParty, agent string, se *delegation.StatusEntry, from, until time.Time) delegation.Credential {
	t.Helper()
	sc, err := scope.Parse(testScopeJSON)
	if err != nil {
		t.Fatal(err)
	}
	id, err := delegation.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return delegation.Credential{ID: id, Issuer: owner.did, Subject: agent, IssuanceDate: from.Truncate(time.Second),
		ExpirationDate: until.Truncate(time.Second), Scopes: sc, Status: se}
}

func issueBoth(t testing.TB, owner *idParty, c delegation.Credential, at time.Time) (jwt json.RawMessage, ldp json.RawMessage) {
	t.Helper()
	tok, err := delegation.IssueJWT(owner.key, owner.kid, c)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := delegation.IssueLDP(owner.key, owner.kid, c, at.Truncate(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return jsonString(tok), doc
}

func hasCheck(res VerificationResult, checks ...string) bool {
	for _, c := range checks {
		if !slices.Contains(res.Checks, c) {
			return false
		}
	}
	return true
}

func codes(ps []ProblemDetail) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Code)
		if p.Type == "" || p.Title == "" {
			out = append(out, "(problem without type or title)")
		}
	}
	return out
}

// madeUpJWT is someone else's credential type, a VC-JWT signed by a
// did:key, with a status list of another server.
func madeUpJWT(t testing.TB, issuer *idParty, sub string, now time.Time, withStatus bool) string {
	vc := map[string]any{
		"@context": []string{verify.CredentialsContextURL}, "type": []string{"VerifiableCredential", "LibraryCardCredential"},
		"credentialSubject": map[string]any{"id": sub, "library": "Central"},
	}
	if withStatus {
		vc["credentialStatus"] = map[string]any{"id": "https://other.example/status/1#7", "type": "BitstringStatusListEntry",
			"statusPurpose": "revocation", "statusListIndex": "7", "statusListCredential": "https://other.example/status/1"}
	}
	b, _ := json.Marshal(map[string]any{"iss": issuer.did, "sub": sub, "jti": "urn:uuid:0b0e2b8e-6f0a-4c1e-9a1b-1f2e3d4c5b6a",
		"nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(time.Hour).Unix(), "vc": vc})
	h := jws.NewHeaders()
	_ = h.Set(jws.TypeKey, "JWT")
	_ = h.Set(jws.KeyIDKey, issuer.kid)
	tok, err := jws.Sign(b, jws.WithKey(jwa.EdDSA(), issuer.key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func TestVCAPIVerifyCredentials(t *testing.T) {
	e := newVCEnv(t)
	owner := newKeyParty(t, "owner")
	e.register(t, owner)
	agent := newKeyParty(t, "agent")
	now := e.clock.Now()

	se := e.allocate(t, owner)
	c := e.grant(t, owner, agent.did, se, now.Add(-time.Minute), now.Add(24*time.Hour))
	jwt, ldp := issueBoth(t, owner, c, now)
	bind := e.credential(t, owner, agent.did, binding.RoleIdentity, "work")
	other := newKeyParty(t, "someone")

	for _, tc := range []struct {
		name     string
		cred     json.RawMessage
		checks   []string
		warnings []string
	}{
		{"delegation jwt", jwt, []string{CheckProof, CheckExpiration, CheckSchema, CheckStatus}, nil},
		{"delegation ldp", ldp, []string{CheckProof, CheckExpiration, CheckSchema, CheckStatus}, nil},
		{"binding", jsonString(bind), []string{CheckProof, CheckExpiration, CheckSchema}, nil},
		{"anyone's jwt", jsonString(madeUpJWT(t, other, agent.did, now, false)), []string{CheckProof, CheckExpiration}, nil},
		{"anyone's jwt with a remote status", jsonString(madeUpJWT(t, other, agent.did, now, true)), []string{CheckProof, CheckExpiration}, []string{ProblemStatusNotChecked}},
		{"anyone's ldp", ldGeneric(t, other, agent.did, "2026-01-01T00:00:00Z", nil), []string{CheckProof, CheckExpiration}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.verifyCred(t, tc.cred)
			if !res.Verified || len(res.Errors) != 0 || !hasCheck(res, tc.checks...) || !slices.Equal(codes(res.Warnings), tc.warnings) {
				t.Fatalf("result %+v", res)
			}
			if res.Credential == nil || res.Credential.Subject != agent.did || res.Credential.Digest == "" {
				t.Errorf("credential summary %+v", res.Credential)
			}
		})
	}
}

// ldGeneric signs a plain VerifiableCredential (embedded contexts only)
// with an Ed25519Signature2020 proof through vc/verify's test-free path:
// aries via the delegation package is not reachable for other types, so
// the proof is made by the same signer a third party would use.
func ldGeneric(t testing.TB, issuer *idParty, sub, issued string, mutate func(m map[string]any)) json.RawMessage {
	t.Helper()
	doc := map[string]any{
		"@context":          []any{verify.CredentialsContextURL, delegation.Ed25519ContextURL},
		"id":                "urn:uuid:1b6a1f7e-9a53-4d3c-8f3e-5a0b6c2d7e11",
		"type":              []any{"VerifiableCredential"},
		"issuer":            issuer.did,
		"issuanceDate":      issued,
		"credentialSubject": map[string]any{"id": sub},
	}
	b := signLDTest(t, issuer.key, issuer.kid, doc)
	if mutate == nil {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	out, _ := json.Marshal(m)
	return out
}

func TestVCAPIVerifyRefusals(t *testing.T) {
	e := newVCEnv(t)
	owner := newKeyParty(t, "owner")
	e.register(t, owner)
	agent := newKeyParty(t, "agent")
	now := e.clock.Now()
	other := newKeyParty(t, "someone")

	jwtOf := func(c delegation.Credential) json.RawMessage { j, _ := issueBoth(t, owner, c, now); return j }
	good := e.grant(t, owner, agent.did, e.allocate(t, owner), now.Add(-time.Minute), now.Add(time.Hour))
	goodJWT := jwtOf(good)
	var tok string
	_ = json.Unmarshal(goodJWT, &tok)
	parts := strings.Split(tok, ".")
	tampered := jsonString(parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])))
	_, ldp := issueBoth(t, owner, good, now)
	ldpTampered := bytes.Replace(ldp, []byte("calendar/work/**"), []byte("calendar/home/**"), 1)

	// Revoked: allocate, issue, revoke through the status lists.
	rse := e.allocate(t, owner)
	revoked := e.grant(t, owner, agent.did, rse, now.Add(-time.Minute), now.Add(time.Hour))
	revokedJWT := jwtOf(revoked)
	e.revoke(t, owner, revoked.ID, rse)
	// Not allocated: an entry of this server's list that nobody reserved.
	unalloc := delegation.NewStatusEntry(rse.ListCredential, rse.ListIndex+1000)
	unallocJWT := jwtOf(e.grant(t, owner, agent.did, &unalloc, now.Add(-time.Minute), now.Add(time.Hour)))

	// A context on loopback that must never be fetched.
	var hits atomic.Int64
	ctxSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer ctxSrv.Close()

	for _, tc := range []struct {
		name string
		cred json.RawMessage
		code string
	}{
		{"tampered jwt signature", tampered, string(delegation.CodeSignatureInvalid)},
		{"tampered ldp", ldpTampered, string(delegation.CodeSignatureInvalid)},
		{"expired", jwtOf(e.grant(t, owner, agent.did, nil, now.Add(-3*time.Hour), now.Add(-2*time.Hour))), string(delegation.CodeExpired)},
		{"not yet valid", jwtOf(e.grant(t, owner, agent.did, nil, now.Add(time.Hour), now.Add(2*time.Hour))), string(delegation.CodeNotYetValid)},
		{"revoked", revokedJWT, ProblemRevoked},
		{"status not allocated", unallocJWT, ProblemStatusInvalid},
		{"anyone's tampered ldp", ldGeneric(t, other, agent.did, "2026-01-01T00:00:00Z", func(m map[string]any) {
			m["credentialSubject"] = map[string]any{"id": owner.did}
		}), string(verify.CodeSignatureInvalid)},
		{"anyone's not yet valid", ldGeneric(t, other, agent.did, "2027-01-01T00:00:00Z", nil), string(verify.CodeNotYetValid)},
		{"unknown context", ldGeneric(t, other, agent.did, "2026-01-01T00:00:00Z", func(m map[string]any) {
			m["@context"] = []any{verify.CredentialsContextURL, ctxSrv.URL + "/v1", delegation.Ed25519ContextURL}
		}), string(verify.CodeContextNotEmbedded)},
		{"undefined term", ldGeneric(t, other, agent.did, "2026-01-01T00:00:00Z", func(m map[string]any) {
			m["credentialSubject"] = map[string]any{"id": agent.did, "clearance": "top"}
		}), string(verify.CodeUndefinedTerm)},
		{"binding signed by another key", jsonString(func() string {
			b := e.credential(t, owner, agent.did, binding.RoleIdentity, "work")
			p := strings.Split(b, ".")
			return p[0] + "." + p[1] + "." + strings.Repeat("A", len(p[2]))
		}()), string(binding.CodeSignatureInvalid)},
		{"not a credential", []byte(`{"hello":"world"}`), string(verify.CodeFormatUnknown)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.verifyCred(t, tc.cred)
			if res.Verified || !slices.Contains(codes(res.Errors), tc.code) {
				t.Fatalf("result %+v, want error %s", res, tc.code)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("the unknown context was fetched %d times", hits.Load())
	}
}

func TestVCAPIBadRequests(t *testing.T) {
	e := newVCEnv(t)
	for _, tc := range []struct {
		name, path string
		body       string
		status     int
		code       string
	}{
		{"not json", "/credentials/verify", `nope`, 400, CodeBadJSON},
		{"unknown member", "/credentials/verify", `{"verifiableCredential":"a.b.c","extra":1}`, 400, CodeBadJSON},
		{"missing credential", "/credentials/verify", `{"options":{}}`, 400, CodeBadRequest},
		{"null credential", "/credentials/verify", `{"verifiableCredential":null}`, 400, CodeBadRequest},
		{"number credential", "/credentials/verify", `{"verifiableCredential":42}`, 400, CodeBadRequest},
		{"challenge on a credential", "/credentials/verify", `{"verifiableCredential":"a.b.c","options":{"challenge":"x"}}`, 400, CodeBadRequest},
		{"unknown option", "/credentials/verify", `{"verifiableCredential":"a.b.c","options":{"checks":["proof"]}}`, 400, CodeBadJSON},
		{"presentation without challenge", "/presentations/verify", `{"verifiablePresentation":"a.b.c","options":{}}`, 400, CodeBadRequest},
		{"presentation without options", "/presentations/verify", `{"verifiablePresentation":"a.b.c"}`, 400, CodeBadRequest},
		{"missing presentation", "/presentations/verify", `{"options":{"challenge":"x"}}`, 400, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.post(tc.path, nil, []byte(tc.body)), tc.status, tc.code)
		})
	}
	r := e.do("POST", "/credentials/verify", http.Header{"Content-Type": {"text/plain"}}, []byte(`{}`))
	wantError(t, r, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType)
	r = e.do("GET", "/credentials/verify", nil, nil)
	wantError(t, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
}

func TestVCAPIPresentations(t *testing.T) {
	e := newVCEnv(t)
	owner := newKeyParty(t, "owner")
	e.register(t, owner)
	agent := newKeyParty(t, "agent")
	stranger := newKeyParty(t, "stranger")
	now := e.clock.Now()
	c := e.grant(t, owner, agent.did, e.allocate(t, owner), now.Add(-time.Minute), now.Add(time.Hour))
	jwt, ldp := issueBoth(t, owner, c, now)
	var tok string
	_ = json.Unmarshal(jwt, &tok)
	expired, _ := issueBoth(t, owner, e.grant(t, owner, agent.did, nil, now.Add(-3*time.Hour), now.Add(-2*time.Hour)), now)
	var expiredTok string
	_ = json.Unmarshal(expired, &expiredTok)

	present := func(holder *idParty, key ed25519.PrivateKey, kid string, creds ...[]byte) json.RawMessage {
		vp, err := verify.SignPresentation(key, kid, verify.PresentationClaims{Holder: holder.did, Audience: "verifier.example",
			Nonce: "challenge-1", IssuedAt: now, Expires: now.Add(5 * time.Minute), Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		return jsonString(vp)
	}
	assertHolder := &idParty{did: assertOnly, kid: assertOnly + "#k1", key: e.assertKey}

	for _, tc := range []struct {
		name      string
		vp        json.RawMessage
		challenge string
		domain    string
		code      string // "" = verified
	}{
		{"jwt credential", present(agent, agent.key, agent.kid, []byte(tok)), "challenge-1", "verifier.example", ""},
		{"ldp credential", present(agent, agent.key, agent.kid, ldp), "challenge-1", "verifier.example", ""},
		{"no domain expected", present(agent, agent.key, agent.kid, []byte(tok)), "challenge-1", "", ""},
		{"wrong challenge", present(agent, agent.key, agent.kid, []byte(tok)), "challenge-2", "verifier.example", string(verify.CodePresentationChallengeMismatch)},
		{"wrong domain", present(agent, agent.key, agent.kid, []byte(tok)), "challenge-1", "other.example", string(verify.CodePresentationDomainMismatch)},
		{"holder is not the subject", present(stranger, stranger.key, stranger.kid, []byte(tok)), "challenge-1", "verifier.example", ProblemSubjectNotHolder},
		{"holder key not in authentication", present(assertHolder, assertHolder.key, assertHolder.kid, []byte(tok)), "challenge-1", "verifier.example", string(verify.CodePresentationKeyNotAuthorized)},
		{"signed by another key", present(agent, stranger.key, agent.kid, []byte(tok)), "challenge-1", "verifier.example", string(verify.CodePresentationSignatureInvalid)},
		{"expired credential inside", present(agent, agent.key, agent.kid, []byte(expiredTok)), "challenge-1", "verifier.example", ProblemCredentialInvalid},
		{"json-ld presentation", json.RawMessage(`{"@context":["https://www.w3.org/2018/credentials/v1"],"type":["VerifiablePresentation"]}`), "challenge-1", "", string(verify.CodePresentationFormatUnsupported)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post("/presentations/verify", nil, VerifyPresentationRequest{VerifiablePresentation: tc.vp,
				Options: &VerifyOptions{Challenge: tc.challenge, Domain: tc.domain}})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var res PresentationResult
			decodeStrict(t, r.body, &res)
			if tc.code == "" {
				if !res.Verified || len(res.Errors) != 0 || !slices.Contains(res.Checks, CheckHolder) || len(res.CredentialResults) != 1 {
					t.Fatalf("result %+v", res)
				}
				return
			}
			if res.Verified || !slices.Contains(codes(res.Errors), tc.code) {
				t.Fatalf("result %+v, want %s", res, tc.code)
			}
		})
	}
}

// unsignedBody is an issue request for a DelegationCredential to agent.
func unsignedBody(id, issuer, agent, format string) map[string]any {
	c := map[string]any{
		"@context":       []string{delegation.CredentialsContextURL, delegation.ContextURL, delegation.StatusContextURL},
		"type":           []string{"VerifiableCredential", "DelegationCredential"},
		"expirationDate": "2026-12-31T00:00:00Z",
		"credentialSubject": map[string]any{"id": agent, "scopes": json.RawMessage(testScopeJSON),
			"maxSubdelegationDepth": 0},
	}
	if id != "" {
		c["id"] = id
	}
	if issuer != "" {
		c["issuer"] = issuer
	}
	return map[string]any{"credential": c, "options": map[string]any{"format": format}}
}

func TestVCAPIIssue(t *testing.T) {
	e := newVCEnv(t)
	agent := newKeyParty(t, "agent")
	auth := http.Header{"Authorization": {"Bearer " + vcToken}}
	issuerDID := e.srv.IssuerDID()
	acmeDID := did.KeyDID(e.acmeKey.Public().(ed25519.PublicKey))
	resolve := func(ctx context.Context, d string) (*did.Document, error) {
		res, err := (&did.Resolver{}).Resolve(ctx, d)
		if err != nil {
			return nil, err
		}
		return res.Document, nil
	}

	for _, tc := range []struct {
		name, path, format, issuer string
	}{
		{"default jwt", "/credentials/issue", "jwt", issuerDID},
		{"default ldp", "/credentials/issue", "ldp", issuerDID},
		{"acme jwt", "/issuers/acme/credentials/issue", "jwt", acmeDID},
		{"acme ldp, issuer given", "/issuers/acme/credentials/issue", "ldp", acmeDID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, _ := delegation.NewID(rand.Reader)
			given := ""
			if strings.Contains(tc.name, "issuer given") {
				given = tc.issuer
			}
			r := e.post(tc.path, auth, unsignedBody(id, given, agent.did, tc.format))
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var out IssueCredentialResponse
			decodeStrict(t, r.body, &out)
			v, err := delegation.Verify(context.Background(), out.VerifiableCredential, delegation.VerifyOptions{Resolve: resolve, Now: e.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if v.Issuer != tc.issuer || v.Subject != agent.did || v.ID != id || string(v.Format) != tc.format {
				t.Errorf("issued %+v", v.Credential)
			}
			rc, err := transparency.ParseReceipt(out.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			vr, err := transparency.VerifyReceipt(rc, e.verifier)
			if err != nil {
				t.Fatal(err)
			}
			want := transparency.Entry{Version: transparency.EntryVersion, Type: VCIssuedType, Actor: tc.issuer, Subject: id,
				Authz: &transparency.AuthzRef{Credential: id, Digest: v.Digest}, Resource: tc.format, Decision: transparency.DecisionRecorded}
			got := *vr.Entry
			got.Time, got.Reason = time.Time{}, ""
			if vr.Index != out.Index || !entryEqual(got, want) {
				t.Errorf("entry %+v, want %+v", got, want)
			}
			// The same id is issued once.
			before := e.log.Size()
			wantError(t, e.post(tc.path, auth, unsignedBody(id, "", agent.did, tc.format)), http.StatusConflict, CodeCredentialAlreadyIssued)
			if e.log.Size() != before {
				t.Error("a refused issuance was logged")
			}
			// And it verifies at the server's own endpoint.
			if res := e.verifyCred(t, out.VerifiableCredential); !res.Verified {
				t.Errorf("server verification %+v", res)
			}
		})
	}

	// Without an id, one is assigned.
	r := e.post("/credentials/issue", auth, unsignedBody("", "", agent.did, "jwt"))
	if r.status != http.StatusCreated {
		t.Fatalf("no id: %d %s", r.status, r.body)
	}

	other := unsignedBody("", "", agent.did, "jwt")
	other["credential"].(map[string]any)["type"] = []string{"VerifiableCredential", "LibraryCardCredential"}
	badScopes := unsignedBody("", "", agent.did, "jwt")
	badScopes["credential"].(map[string]any)["credentialSubject"].(map[string]any)["scopes"] = json.RawMessage(`[{"effect":"maybe"}]`)
	extra := unsignedBody("", "", agent.did, "jwt")
	extra["credential"].(map[string]any)["evidence"] = "x"
	expired := unsignedBody("", "", agent.did, "jwt")
	expired["credential"].(map[string]any)["expirationDate"] = "2020-01-01T00:00:00Z"
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		body   any
		status int
		code   string
	}{
		{"no token", "/credentials/issue", nil, unsignedBody("", "", agent.did, "jwt"), 401, CodeUnauthorized},
		{"wrong token", "/credentials/issue", http.Header{"Authorization": {"Bearer nope"}}, unsignedBody("", "", agent.did, "jwt"), 401, CodeUnauthorized},
		{"unknown instance", "/issuers/nobody/credentials/issue", auth, unsignedBody("", "", agent.did, "jwt"), 404, CodeIssuerNotFound},
		{"another issuer", "/credentials/issue", auth, unsignedBody("", acmeDID, agent.did, "jwt"), 422, CodeCredentialInvalid},
		{"unsupported type", "/credentials/issue", auth, other, 422, CodeCredentialTypeUnsupported},
		{"bad scopes", "/credentials/issue", auth, badScopes, 422, string(delegation.CodeScopesInvalid)},
		{"unknown member", "/credentials/issue", auth, extra, 422, CodeCredentialInvalid},
		{"expiration before issuance", "/credentials/issue", auth, expired, 422, string(delegation.CodeMalformed)},
		{"format", "/credentials/issue", auth, unsignedBody("", "", agent.did, "cbor"), 400, CodeFormatUnsupported},
		{"no credential", "/credentials/issue", auth, map[string]any{"options": map[string]any{}}, 400, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.log.Size()
			wantError(t, e.post(tc.path, tc.header, tc.body), tc.status, tc.code)
			if e.log.Size() != before {
				t.Error("a refused issuance was logged")
			}
		})
	}
}

func entryEqual(a, b transparency.Entry) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// FuzzVCAPI: no body of the three endpoints yields a 5xx.
func FuzzVCAPI(f *testing.F) {
	e := newVCEnv(f)
	f.Add(0, []byte(`{"verifiableCredential":"a.b.c"}`))
	f.Add(0, []byte(`{"verifiableCredential":{"proof":{},"@context":["https://www.w3.org/2018/credentials/v1"]}}`))
	f.Add(1, []byte(`{"verifiablePresentation":"a.b.c","options":{"challenge":"x"}}`))
	f.Add(2, []byte(`{"credential":{"type":["VerifiableCredential","DelegationCredential"]},"options":{"format":"ldp"}}`))
	f.Add(2, []byte(`{"credential":{"@context":["https://www.w3.org/2018/credentials/v1","https://w3id.org/clawnet/delegation/v1","https://www.w3.org/ns/credentials/status/v1"],"type":["VerifiableCredential","DelegationCredential"],"expirationDate":"2026-12-31T00:00:00Z","credentialSubject":{"id":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","scopes":[{"effect":"allow","actions":["*"],"resources":["**"]}],"maxSubdelegationDepth":0}}}`))
	paths := []string{"/credentials/verify", "/presentations/verify", "/credentials/issue"}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, which int, body []byte) {
		if which < 0 {
			which = -which
		}
		req := httptest.NewRequest("POST", paths[which%3], bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+vcToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s: %d %s", paths[which%3], w.Code, w.Body.Bytes())
		}
	})
}

type edTestSigner struct{ priv ed25519.PrivateKey }

func (s edTestSigner) Sign(data []byte) ([]byte, error) { return ed25519.Sign(s.priv, data), nil }
func (s edTestSigner) Alg() string                      { return "EdDSA" }

// signLDTest adds an Ed25519Signature2020 proof by vm to doc with aries'
// signer and the embedded contexts, as a third-party issuer would.
func signLDTest(t testing.TB, priv ed25519.PrivateKey, vm string, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := verify.Loader()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := signer.New(ed25519signature2020.New(suite.WithSigner(edTestSigner{priv})))
	out, err := s.Sign(&signer.Context{SignatureType: verify.ProofType, Created: &created, VerificationMethod: vm, Purpose: verify.ProofPurpose},
		b, processor.WithDocumentLoader(l))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if a, ok := m["proof"].([]any); ok && len(a) == 1 {
		m["proof"] = a[0]
	}
	out, _ = json.Marshal(m)
	return out
}

// The endpoint benchmarks run the handler in process (no network), with
// b.RunParallel so that issuances share the log's group commit, as
// concurrent clients do.
func benchVCAPI(b *testing.B, path string, body []byte, status int) {
	e := newVCEnv(b)
	h := e.srv.Handler()
	b.ReportAllocs()
	// Many requests in flight, as many clients would have: issuances wait
	// for the log's sync, and the sequencer batches what is waiting.
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+vcToken)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != status {
				b.Fatalf("status %d: %s", w.Code, w.Body.Bytes())
			}
		}
	})
}

func benchIssueBody(b *testing.B, format string) []byte {
	agent := newKeyParty(b, "agent")
	body, err := json.Marshal(unsignedBody("", "", agent.did, format))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkVCAPIIssueJWT(b *testing.B) {
	benchVCAPI(b, "/credentials/issue", benchIssueBody(b, "jwt"), http.StatusCreated)
}

func BenchmarkVCAPIIssueLDP(b *testing.B) {
	benchVCAPI(b, "/credentials/issue", benchIssueBody(b, "ldp"), http.StatusCreated)
}

func benchVerifyBody(b *testing.B, ldp bool) []byte {
	owner, agent := newKeyParty(b, "owner"), newKeyParty(b, "agent")
	now := idStart
	sc, err := scope.Parse(testScopeJSON)
	if err != nil {
		b.Fatal(err)
	}
	id, _ := delegation.NewID(rand.Reader)
	c := delegation.Credential{ID: id, Issuer: owner.did, Subject: agent.did, IssuanceDate: now.Add(-time.Minute),
		ExpirationDate: now.Add(time.Hour), Scopes: sc}
	jwt, doc := issueBoth(b, owner, c, now)
	cred := jwt
	if ldp {
		cred = doc
	}
	body, err := json.Marshal(VerifyCredentialRequest{VerifiableCredential: cred})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkVCAPIVerifyJWT(b *testing.B) {
	benchVCAPI(b, "/credentials/verify", benchVerifyBody(b, false), http.StatusOK)
}

func BenchmarkVCAPIVerifyLDP(b *testing.B) {
	benchVCAPI(b, "/credentials/verify", benchVerifyBody(b, true), http.StatusOK)
}

// A registered sub-delegation verifies until its parent is revoked; then
// its own entry (set by the cascade) and its chain both say so.
func TestVCAPIParentRevoked(t *testing.T) {
	g := newGrantEnv(t)
	f := g.family(t)
	body, root := g.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, depth: 2, status: g.allocate(t, f.owner, f.owner.did, false)})
	g.mustGrant(t, f.owner, f.owner.did, body, root, "")
	body, child := g.issue(t, cred{issuer: f.work, subject: f.home.did, scopes: scopesNarrow, depth: 1, parent: root,
		status: g.allocate(t, f.work, f.owner.did, true)})
	g.mustGrant(t, f.work, f.owner.did, body, child, root)
	verifyChild := func() VerificationResult {
		b, _ := json.Marshal(VerifyCredentialRequest{VerifiableCredential: body["credential"]})
		r := g.do("POST", "/credentials/verify", http.Header{"Content-Type": {"application/json"}}, b)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var res VerificationResult
		decodeStrict(t, r.body, &res)
		return res
	}
	if res := verifyChild(); !res.Verified || !hasCheck(res, CheckStatus) {
		t.Fatalf("before revocation: %+v", res)
	}
	g.revoke(t, f.owner, root, []string{child})
	res := verifyChild()
	if res.Verified || !slices.Contains(codes(res.Errors), ProblemRevoked) || !slices.Contains(codes(res.Errors), ProblemParentRevoked) {
		t.Fatalf("after revocation: %+v", res)
	}
}
