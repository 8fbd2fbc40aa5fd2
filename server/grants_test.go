package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/scope"
	"github.com/clawnet/ledger/vc/status"
)

// The grant API is tested as cmd/clawnet serve wires it: idEnv's store,
// log and registry, plus status lists and the grant registry, over
// loopback HTTP. Credentials are issued with vc/delegation as the CLI does.

type grantEnv struct {
	*idEnv
	issuerKey ed25519.PrivateKey
	srv       *Server
	lists     *status.Lists
	grants    *grant.Registry
}

func newGrantEnv(t testing.TB) *grantEnv {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g := &grantEnv{idEnv: newIDEnv(t, 0), issuerKey: priv}
	g.restart()
	return g
}

// restart builds new registries, status lists and server over the same
// database and log, as a new process would.
func (g *grantEnv) restart() {
	t := g.t
	t.Helper()
	reg, err := registry.New(registry.Config{DB: g.db, Host: g.host, PublicURL: g.url})
	if err != nil {
		t.Fatal(err)
	}
	lists, err := status.New(status.Config{DB: g.db, BaseURL: g.url + "/status/"})
	if err != nil {
		t.Fatal(err)
	}
	grants, err := grant.New(grant.Config{DB: g.db, Status: lists})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Log: g.log, VerifierKey: g.vkey, Clock: g.clock.Now,
		Resolver: &did.Resolver{Hosted: reg, HostedHost: g.host, Cache: did.NewCache(1000, g.clock.Now)},
		Identity: &IdentityConfig{
			PublicURL: g.url, DIDWebHost: g.host, DB: g.db, Registry: reg,
			Status: lists, IssuerKey: g.issuerKey, Grants: grants,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// As clawnet serve does in the background, so that decisions go
	// through the filter of decided actions.
	if err := s.LoadActionFilter(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	g.current.Store(&h)
	g.reg, g.srv, g.lists, g.grants = reg, s, lists, grants
}

// gsnap is the log size and every record of the database outside the log.
func (g *grantEnv) gsnap(t *testing.T) (uint64, map[string]string) {
	t.Helper()
	kv := map[string]string{}
	for _, r := range [][2]string{{"d/", "d0"}, {"s/", "s0"}, {"v/", "v0"}} {
		if err := g.db.Scan([]byte(r[0]), []byte(r[1]), func(k, v []byte) (bool, error) {
			kv[string(k)] = string(v)
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return g.log.Size(), kv
}

// grefuse sends a request that must be refused with status and code, and
// checks that the log and every state record are unchanged.
func (g *grantEnv) grefuse(t *testing.T, st int, code string, send func() response) {
	t.Helper()
	size, kv := g.gsnap(t)
	wantError(t, send(), st, code)
	size2, kv2 := g.gsnap(t)
	if size2 != size {
		t.Errorf("log grew from %d to %d", size, size2)
	}
	if len(kv2) != len(kv) {
		t.Errorf("state has %d records, had %d", len(kv2), len(kv))
	}
	for k, v := range kv {
		if kv2[k] != v {
			t.Errorf("state record %q changed", k)
		}
	}
}

// allocate reserves a status entry: by an owner with POST /v1/status, by
// an agent with POST /v1/status/for-subdelegation.
func (g *grantEnv) allocate(t testing.TB, p *idParty, owner string, sub bool) *delegation.StatusEntry {
	t.Helper()
	path := "/v1/status"
	if sub {
		path = "/v1/status/for-subdelegation"
	}
	m := g.mustMutate(t, p, "POST", path, struct{}{}, http.StatusCreated,
		transparency.Entry{Type: "vc.status_allocated", Actor: p.did, Owner: owner, Subject: "*", Resource: "*"})
	st := m.resp.Status
	if st == nil {
		t.Fatalf("no status entry in %+v", m.resp)
	}
	var idx uint64
	if _, err := fmt.Sscan(st.ListIndex, &idx); err != nil {
		t.Fatal(err)
	}
	e := delegation.NewStatusEntry(st.ListCredential, idx)
	return &e
}

// cred is a credential to issue.
type cred struct {
	issuer   *idParty
	subject  string
	scopes   string
	parent   string
	depth    int
	status   *delegation.StatusEntry
	from, to time.Time
	ldp      bool
	id       string
}

// issue signs c and returns the registration body and the credential id.
func (g *grantEnv) issue(t testing.TB, c cred) (map[string]json.RawMessage, string) {
	t.Helper()
	scopes, err := scope.Parse([]byte(c.scopes))
	if err != nil {
		t.Fatal(err)
	}
	id := c.id
	if id == "" {
		if id, err = delegation.NewID(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	if c.from.IsZero() {
		c.from = g.clock.Now()
	}
	if c.to.IsZero() {
		c.to = c.from.Add(24 * time.Hour)
	}
	dc := delegation.Credential{
		ID: id, Issuer: c.issuer.did, Subject: c.subject, IssuanceDate: c.from, ExpirationDate: c.to,
		Scopes: scopes, MaxSubdelegationDepth: c.depth, ParentCredential: c.parent, Status: c.status,
	}
	var raw json.RawMessage
	if c.ldp {
		if raw, err = delegation.IssueLDP(c.issuer.key, c.issuer.kid, dc, c.from); err != nil {
			t.Fatal(err)
		}
	} else {
		tok, err := delegation.IssueJWT(c.issuer.key, c.issuer.kid, dc)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = json.Marshal(tok)
	}
	return map[string]json.RawMessage{"credential": raw}, id
}

// mustGrant registers a credential and checks the answer, its receipt and
// the vc.granted entry.
func (g *grantEnv) mustGrant(t testing.TB, signer *idParty, owner string, body map[string]json.RawMessage, id, parent string) GrantResponse {
	t.Helper()
	r, s := g.call(signer, "POST", "/v1/credentials", body)
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", id, r.status, r.body)
	}
	var resp GrantResponse
	decodeStrict(t, r.body, &resp)
	if resp.Credential != id {
		t.Errorf("answer names %q, want %q", resp.Credential, id)
	}
	e := g.verifiedEntry(t, resp)
	raw := sentCredential(body)
	format := "ldp"
	if raw[0] == '"' {
		format = "jwt"
		var tok string
		_ = json.Unmarshal(raw, &tok)
		raw = json.RawMessage(tok)
	}
	want := transparency.Entry{
		Version: transparency.EntryVersion, Type: "vc.granted", Time: g.clock.Now(), Actor: signer.did, Owner: owner,
		Subject: id, Authz: &transparency.AuthzRef{Credential: id, Digest: delegation.Digest(raw)}, Resource: format,
		Decision: transparency.DecisionRecorded, RequestDigest: request.RequestDigest(s.jws),
	}
	if parent != "" {
		want.Reason = "subdelegation of " + parent
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(e)
	if !bytes.Equal(wb, gb) || !e.Time.Equal(want.Time) {
		t.Errorf("logged\n%s\nwant\n%s", gb, wb)
	}
	return resp
}

func (g *grantEnv) verifiedEntry(t testing.TB, resp GrantResponse) *transparency.Entry {
	t.Helper()
	rc, err := transparency.ParseReceipt(resp.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := transparency.VerifyReceipt(rc, g.verifier)
	if err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	if vr.Index != resp.Index {
		t.Errorf("receipt index %d, answer %d", vr.Index, resp.Index)
	}
	return vr.Entry
}

// family is an owner with two Identity Agents (work, family) and a
// Manager Agent, and a second owner with one Identity Agent.
type family struct {
	owner, work, home, mgr, bob, bobAgent *idParty
}

func (g *grantEnv) family(t testing.TB) family {
	t.Helper()
	f := family{owner: newKeyParty(t, "alice"), bob: newKeyParty(t, "bob")}
	g.register(t, f.owner)
	g.register(t, f.bob)
	f.work = g.bind(t, f.owner, "work", binding.RoleIdentity, "work")
	f.home = g.bind(t, f.owner, "home", binding.RoleIdentity, "family")
	f.mgr = g.bind(t, f.owner, "mgr", binding.RoleManager, "")
	f.bobAgent = g.bind(t, f.bob, "bob-work", binding.RoleIdentity, "work")
	return f
}

const (
	scopesWide   = `[{"id":"msg","effect":"allow","actions":["message"],"resources":["**"],"counterparties":["contacts"]},{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["**"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}]`
	scopesNarrow = `[{"id":"msg-work","effect":"allow","actions":["message/send"],"resources":["work/**"],"counterparties":["contacts"]}]`
	scopesOther  = `[{"effect":"allow","actions":["calendar"],"resources":["**"]}]`
)

func mustPost(t *testing.T, g *grantEnv, p *idParty, path string, body any) response {
	t.Helper()
	r, _ := g.call(p, "POST", path, body)
	return r
}

func TestGrantRegisterAndRead(t *testing.T) {
	g := newGrantEnv(t)
	f := g.family(t)
	var ids []string
	for _, ldp := range []bool{false, true} {
		body, id := g.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false), ldp: ldp})
		g.mustGrant(t, f.owner, f.owner.did, body, id, "")
		ids = append(ids, id)

		r := g.do("GET", "/v1/credentials/"+url.PathEscape(id), nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET credential: %d %s", r.status, r.body)
		}
		var v RegisteredCredential
		decodeStrict(t, r.body, &v)
		if v.ID != id || v.Subject != f.work.did || v.Owner != f.owner.did || v.Revoked || v.Depth != 0 ||
			!bytes.Equal(v.Credential, sentCredential(body)) {
			t.Errorf("public record %+v", v)
		}
	}
	r, _ := g.call(f.owner, "GET", "/v1/credentials", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/credentials: %d %s", r.status, r.body)
	}
	var list struct {
		Owner       string                 `json:"owner"`
		Credentials []RegisteredCredential `json:"credentials"`
	}
	decodeStrict(t, r.body, &list)
	if list.Owner != f.owner.did || len(list.Credentials) != 2 {
		t.Errorf("list %+v", list)
	}
	// The check at use.
	now := g.clock.Now()
	for _, tc := range []struct {
		name   string
		req    scope.Request
		effect scope.Effect
		reason scope.Reason
	}{
		{"allow", scope.Request{Action: "message/send", Resource: "x", Counterparty: f.bob.did, CounterpartyIsContact: true, Time: now}, scope.Allow, scope.ReasonAllowed},
		{"not a contact", scope.Request{Action: "message/send", Resource: "x", Counterparty: f.bob.did, Time: now}, scope.Deny, scope.ReasonCounterpartyNotAllowed},
		{"escalate", scope.Request{Action: "payment/send", Resource: "x", Args: map[string]scope.Value{"amount": scope.IntValue(250)}, Time: now}, scope.Escalate, scope.ReasonConstraintFailed},
		{"no scope", scope.Request{Action: "file/delete", Resource: "x", Time: now}, scope.Deny, scope.ReasonNoScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, id := range ids {
				d, rec, err := g.srv.checkDelegation(context.Background(), f.work.did, id, tc.req, now)
				if err != nil {
					t.Fatal(err)
				}
				if d.Effect != tc.effect || d.Reason != tc.reason || rec.ID != id {
					t.Errorf("decision %+v, want %s %s", d, tc.effect, tc.reason)
				}
			}
		})
	}
	for _, tc := range []struct {
		name, agent, id string
		at              time.Time
		code            grant.Code
	}{
		{"unknown", f.work.did, "urn:uuid:00000000-0000-4000-8000-000000000000", now, grant.CodeNotFound},
		{"subject not the agent", f.home.did, ids[0], now, grant.CodeSubjectMismatch},
		{"not yet valid", f.work.did, ids[0], now.Add(-2 * time.Minute), grant.CodeNotYetValid},
		{"expired", f.work.did, ids[0], now.Add(25 * time.Hour), grant.CodeExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := g.srv.checkDelegation(context.Background(), tc.agent, tc.id, scope.Request{Action: "message/send", Resource: "x", Time: tc.at}, tc.at)
			if grant.CodeOf(err) != tc.code {
				t.Errorf("error %v, want %s", err, tc.code)
			}
		})
	}
}

func TestGrantRegisterRefusals(t *testing.T) {
	g := newGrantEnv(t)
	f := g.family(t)
	used := g.allocate(t, f.owner, f.owner.did, false)
	body, usedID := g.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: used})
	g.mustGrant(t, f.owner, f.owner.did, body, usedID, "")
	now := g.clock.Now()
	for _, tc := range []struct {
		name   string
		signer *idParty
		c      func() cred
		mutate func(json.RawMessage) json.RawMessage
		status int
		code   string
	}{
		{"signed by someone other than the bound owner", f.bob, func() cred {
			return cred{issuer: f.bob, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.bob, f.bob.did, false)}
		}, nil, http.StatusForbidden, string(grant.CodeIssuerNotOwner)},
		{"request signer is not the issuer", f.work, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, nil, http.StatusForbidden, string(grant.CodeSignerNotIssuer)},
		{"subject not an agent", f.owner, func() cred {
			return cred{issuer: f.owner, subject: newKeyParty(t, "x").did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, nil, http.StatusUnprocessableEntity, string(grant.CodeSubjectNotAgent)},
		{"subject another owner's agent", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.bobAgent.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, nil, http.StatusForbidden, string(grant.CodeIssuerNotOwner)},
		{"subject a manager", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.mgr.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, nil, http.StatusUnprocessableEntity, string(grant.CodeSubjectManager)},
		{"expired", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false),
				from: now.Add(-48 * time.Hour), to: now.Add(-2 * time.Hour)}
		}, nil, http.StatusBadRequest, string(delegation.CodeExpired)},
		{"not yet valid", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false),
				from: now.Add(time.Hour)}
		}, nil, http.StatusBadRequest, string(delegation.CodeNotYetValid)},
		{"no status", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide}
		}, nil, http.StatusUnprocessableEntity, string(grant.CodeStatusMissing)},
		{"status of another owner", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.bob, f.bob.did, false)}
		}, nil, http.StatusForbidden, string(grant.CodeStatusNotYours)},
		{"status never allocated", f.owner, func() cred {
			st := delegation.NewStatusEntry(g.url+"/status/1", 9999)
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: &st}
		}, nil, http.StatusForbidden, string(grant.CodeStatusNotYours)},
		{"status of another server", f.owner, func() cred {
			st := delegation.NewStatusEntry("https://elsewhere.example/status/1", 0)
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: &st}
		}, nil, http.StatusForbidden, string(grant.CodeStatusNotYours)},
		{"status reused", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: used}
		}, nil, http.StatusConflict, string(grant.CodeStatusReused)},
		{"id taken", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false), id: usedID}
		}, nil, http.StatusConflict, string(grant.CodeIDTaken)},
		{"undefined JSON-LD term", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, status: g.allocate(t, f.owner, f.owner.did, false), ldp: true}
		}, func(raw json.RawMessage) json.RawMessage {
			return append([]byte(`{"nickname":"x",`), raw[1:]...)
		}, http.StatusBadRequest, string(delegation.CodeUndefinedTerm)},
		{"tampered Data Integrity proof", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesNarrow, status: g.allocate(t, f.owner, f.owner.did, false), ldp: true}
		}, func(raw json.RawMessage) json.RawMessage {
			return bytes.Replace(raw, []byte(`work/**`), []byte(`home/**`), 1)
		}, http.StatusUnauthorized, string(delegation.CodeSignatureInvalid)},
		{"tampered JWS", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesNarrow, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, func(raw json.RawMessage) json.RawMessage {
			var tok string
			_ = json.Unmarshal(raw, &tok)
			i := strings.LastIndexByte(tok, '.') + 3
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			b, _ := json.Marshal(tok[:i] + string(c) + tok[i+1:])
			return b
		}, http.StatusUnauthorized, string(delegation.CodeSignatureInvalid)},
		{"not a credential", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesNarrow, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, func(json.RawMessage) json.RawMessage { return json.RawMessage(`"hello"`) }, http.StatusBadRequest, string(delegation.CodeMalformed)},
		{"neither JWS nor LD", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesNarrow, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, func(json.RawMessage) json.RawMessage { return json.RawMessage(`[1]`) }, http.StatusBadRequest, string(delegation.CodeFormatUnknown)},
		{"no credential", f.owner, func() cred {
			return cred{issuer: f.owner, subject: f.work.did, scopes: scopesNarrow, status: g.allocate(t, f.owner, f.owner.did, false)}
		}, func(json.RawMessage) json.RawMessage { return json.RawMessage(`null`) }, http.StatusBadRequest, CodeBadJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := g.issue(t, tc.c())
			if tc.mutate != nil {
				body["credential"] = tc.mutate(body["credential"])
			}
			g.grefuse(t, tc.status, tc.code, func() response { return mustPost(t, g, tc.signer, "/v1/credentials", body) })
		})
	}
	// Unbound subject.
	st := g.allocate(t, f.owner, f.owner.did, false)
	if r, _ := g.call(f.owner, "DELETE", agentPath(f.home.did), nil); r.status != http.StatusOK {
		t.Fatalf("unbind: %d %s", r.status, r.body)
	}
	body, _ = g.issue(t, cred{issuer: f.owner, subject: f.home.did, scopes: scopesWide, status: st})
	g.grefuse(t, http.StatusConflict, string(grant.CodeSubjectUnbound), func() response { return mustPost(t, g, f.owner, "/v1/credentials", body) })
}

// chain registers root (owner → work, depth 2), child (work → home, 1)
// and returns their ids.
func (g *grantEnv) chain(t *testing.T, f family) (root, child string) {
	t.Helper()
	body, root := g.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: scopesWide, depth: 2, status: g.allocate(t, f.owner, f.owner.did, false)})
	g.mustGrant(t, f.owner, f.owner.did, body, root, "")
	body, child = g.issue(t, cred{issuer: f.work, subject: f.home.did, scopes: scopesNarrow, depth: 1, parent: root,
		status: g.allocate(t, f.work, f.owner.did, true)})
	g.mustGrant(t, f.work, f.owner.did, body, child, root)
	return root, child
}

func TestGrantSubdelegation(t *testing.T) {
	g := newGrantEnv(t)
	f := g.family(t)
	root, child := g.chain(t, f)
	r := g.do("GET", "/v1/credentials/"+url.PathEscape(child), nil, nil)
	var v RegisteredCredential
	decodeStrict(t, r.body, &v)
	if v.Depth != 1 || v.Parent != root || len(v.Chain) != 1 || v.Chain[0] != root || v.Issuer != f.work.did {
		t.Errorf("child record %+v", v)
	}
	now := g.clock.Now()
	d, _, err := g.srv.checkDelegation(context.Background(), f.home.did, child,
		scope.Request{Action: "message/send", Resource: "work/a", Counterparty: f.bob.did, CounterpartyIsContact: true, Time: now}, now)
	if err != nil || d.Effect != scope.Allow {
		t.Errorf("child allows: %+v %v", d, err)
	}
	sub := func(signer *idParty) *delegation.StatusEntry { return g.allocate(t, signer, f.owner.did, true) }
	for _, tc := range []struct {
		name   string
		signer *idParty
		c      func() cred
		status int
		code   grant.Code
	}{
		{"widened", f.work, func() cred {
			return cred{issuer: f.work, subject: f.home.did, scopes: scopesOther, parent: root, status: sub(f.work)}
		}, http.StatusForbidden, grant.CodeScopeWidened},
		{"depth exceeded", f.work, func() cred {
			return cred{issuer: f.work, subject: f.home.did, scopes: scopesNarrow, depth: 2, parent: root, status: sub(f.work)}
		}, http.StatusForbidden, grant.CodeDepthExceeded},
		{"validity exceeds parent", f.work, func() cred {
			return cred{issuer: f.work, subject: f.home.did, scopes: scopesNarrow, parent: root, status: sub(f.work), to: now.Add(48 * time.Hour)}
		}, http.StatusUnprocessableEntity, grant.CodeValidityExceedsParent},
		{"issuer not the parent's holder", f.home, func() cred {
			return cred{issuer: f.home, subject: f.work.did, scopes: scopesNarrow, parent: root, status: sub(f.home)}
		}, http.StatusForbidden, grant.CodeIssuerNotParentHolder},
		{"subject of another owner", f.work, func() cred {
			return cred{issuer: f.work, subject: f.bobAgent.did, scopes: scopesNarrow, parent: root, status: sub(f.work)}
		}, http.StatusForbidden, grant.CodeSubjectOtherOwner},
		{"parent unknown", f.work, func() cred {
			return cred{issuer: f.work, subject: f.home.did, scopes: scopesNarrow, parent: "urn:uuid:00000000-0000-4000-8000-000000000000", status: sub(f.work)}
		}, http.StatusUnprocessableEntity, grant.CodeParentUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := g.issue(t, tc.c())
			g.grefuse(t, tc.status, string(tc.code), func() response { return mustPost(t, g, tc.signer, "/v1/credentials", body) })
		})
	}
	// Depth: a grandchild (home → work, depth 0) is allowed; below it, none.
	body, grandchild := g.issue(t, cred{issuer: f.home, subject: f.work.did, scopes: scopesNarrow, parent: child, status: sub(f.home)})
	g.mustGrant(t, f.home, f.owner.did, body, grandchild, child)
	body, _ = g.issue(t, cred{issuer: f.work, subject: f.home.did, scopes: scopesNarrow, parent: grandchild, status: sub(f.work)})
	g.grefuse(t, http.StatusForbidden, string(grant.CodeDepthExceeded), func() response { return mustPost(t, g, f.work, "/v1/credentials", body) })

	// Only an active Identity Agent reserves sub-delegation entries.
	for _, p := range []*idParty{f.owner, f.mgr, newKeyParty(t, "stranger")} {
		g.grefuse(t, http.StatusForbidden, string(grant.CodeSubdelegationNotAgent), func() response {
			return mustPost(t, g, p, "/v1/status/for-subdelegation", struct{}{})
		})
	}
	// A revoked parent refuses new sub-delegations below it.
	g.revoke(t, f.owner, root, []string{child, grandchild})
	body, _ = g.issue(t, cred{issuer: f.home, subject: f.work.did, scopes: scopesNarrow, parent: child, status: sub(f.home)})
	g.grefuse(t, http.StatusConflict, string(grant.CodeParentRevoked), func() response { return mustPost(t, g, f.home, "/v1/credentials", body) })
}

// revoke revokes id by p and checks the vc.revoked entry and the answer.
func (g *grantEnv) revoke(t *testing.T, p *idParty, id string, cascade []string) {
	t.Helper()
	r, s := g.call(p, "POST", "/v1/revocations", map[string]string{"id": id})
	if r.status != http.StatusOK {
		t.Fatalf("revoke %s: %d %s", id, r.status, r.body)
	}
	var resp GrantResponse
	decodeStrict(t, r.body, &resp)
	if resp.Credential != id || strings.Join(resp.Cascade, " ") != strings.Join(cascade, " ") {
		t.Errorf("answer %+v, want cascade %v", resp, cascade)
	}
	e := g.verifiedEntry(t, resp)
	reason := "revoked"
	if len(cascade) > 0 {
		reason = "revoked with sub-delegations: " + strings.Join(cascade, " ")
	}
	rec, err := g.grants.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "vc.revoked" || e.Actor != p.did || e.Owner != rec.Owner || e.Subject != id || e.Resource != rec.Status.ID ||
		e.Reason != reason || e.RequestDigest != request.RequestDigest(s.jws) {
		t.Errorf("logged %+v", e)
	}
}

func TestGrantRevokeCascade(t *testing.T) {
	g := newGrantEnv(t)
	f := g.family(t)
	root, child := g.chain(t, f)
	body, grandchild := g.issue(t, cred{issuer: f.home, subject: f.work.did, scopes: scopesNarrow, parent: child,
		status: g.allocate(t, f.home, f.owner.did, true)})
	g.mustGrant(t, f.home, f.owner.did, body, grandchild, child)
	_, other := g.chain(t, f)

	now := g.clock.Now()
	req := scope.Request{Action: "message/send", Resource: "work/a", Counterparty: f.bob.did, CounterpartyIsContact: true, Time: now}
	holders := map[string]string{root: f.work.did, child: f.home.did, grandchild: f.work.did, other: f.home.did}
	check := func(id string, want grant.Code) {
		t.Helper()
		d, _, err := g.srv.checkDelegation(context.Background(), holders[id], id, req, now)
		if grant.CodeOf(err) != want || (want == "" && d.Effect != scope.Allow) {
			t.Errorf("check %s: %+v %v, want %q", id, d, err, want)
		}
	}
	for id := range holders {
		check(id, "")
	}
	// The issuer of a sub-delegation may revoke it; no one else but the owner.
	g.grefuse(t, http.StatusForbidden, string(grant.CodeNotYours), func() response {
		return mustPost(t, g, f.home, "/v1/revocations", map[string]string{"id": root})
	})
	g.grefuse(t, http.StatusForbidden, string(grant.CodeNotYours), func() response {
		return mustPost(t, g, f.bob, "/v1/revocations", map[string]string{"id": child})
	})
	g.grefuse(t, http.StatusNotFound, string(grant.CodeNotFound), func() response {
		return mustPost(t, g, f.owner, "/v1/revocations", map[string]string{"id": "urn:uuid:00000000-0000-4000-8000-000000000000"})
	})
	g.grefuse(t, http.StatusBadRequest, string(grant.CodeMalformed), func() response {
		return mustPost(t, g, f.owner, "/v1/revocations", map[string]string{"id": "nope"})
	})
	g.revoke(t, f.work, other, nil)
	check(other, grant.CodeRevoked)
	check(root, "")

	g.revoke(t, f.owner, root, []string{child, grandchild})
	after := func() {
		t.Helper()
		check(root, grant.CodeRevoked)
		check(child, grant.CodeRevoked)
		check(grandchild, grant.CodeRevoked)
		for _, id := range []string{root, child, grandchild} {
			rec, err := g.grants.Get(id)
			if err != nil || !rec.Revoked || rec.RevokedBy != root {
				t.Errorf("record %s: %+v %v", id, rec, err)
			}
		}
		g.grefuse(t, http.StatusConflict, string(grant.CodeAlreadyRevoked), func() response {
			return mustPost(t, g, f.owner, "/v1/revocations", map[string]string{"id": child})
		})
	}
	after()
	g.restart()
	after()
	// The published list has the bits.
	r := g.do("GET", "/status/1", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /status/1: %d", r.status)
	}
	vl, err := status.VerifyList(context.Background(), string(r.body), func(_ context.Context, d string) (*did.Document, error) {
		return did.ResolveKey(d)
	}, g.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{root, child, grandchild, other} {
		rec, _ := g.grants.Get(id)
		if bit, err := vl.Bits.Get(mustIndex(t, rec.Status)); err != nil || !bit {
			t.Errorf("bit of %s: %v %v", id, bit, err)
		}
	}
}

// TestGrantErrorCodes checks that every grant and delegation code has an
// HTTP status and is documented in spec/openapi.yaml as
// TestIdentityErrorCodes does for the identity codes.
func TestGrantErrorCodes(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	check := func(code string, st int, mapped bool) {
		t.Helper()
		if !mapped {
			t.Errorf("code %s has no HTTP status in server/", code)
		}
		if !strings.Contains(spec, "                - "+code+"\n") {
			t.Errorf("code %s is not in the Error schema's enum", code)
		}
		if row := fmt.Sprintf("| %d | `%s` |", st, code); !strings.Contains(spec, row) {
			t.Errorf("code %s is not in an error table as %q", code, row)
		}
	}
	for _, c := range grant.Codes() {
		st, ok := grantStatus[c]
		check(string(c), st, ok)
	}
	for _, c := range delegation.Codes {
		st, ok := grantDelegationStatus[c]
		check(string(c), st, ok)
	}
	if len(grantStatus) != len(grant.Codes()) || len(grantDelegationStatus) != len(delegation.Codes) {
		t.Error("a mapped code is not a code of its package")
	}
}

func mustIndex(t *testing.T, e status.Entry) uint64 {
	t.Helper()
	i, err := e.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// sentCredential is the credential's bytes as the client sends them (and
// the server digests them): encoding/json compacts an LD credential and
// escapes <, > and & in it.
func sentCredential(body map[string]json.RawMessage) []byte {
	b, _ := json.Marshal(body["credential"])
	return b
}
