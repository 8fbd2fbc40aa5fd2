package server

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
)

// TestIdentityOwnersAgentsContacts walks the registry's life over HTTP:
// owners register, bind a Manager and Identity Agents, list them, show a
// public binding, become contacts, list them on both sides, remove the
// contact, become contacts again, and unbind an agent that faces a
// contact (the contact goes with it). Every change comes with a receipt
// whose entry records exactly that request.
func TestIdentityOwnersAgentsContacts(t *testing.T) {
	e := newIDEnv(t, 0)
	alice, bob := newKeyParty(t, "alice"), newKeyParty(t, "bob")
	for _, o := range []*idParty{alice, bob} {
		m := e.register(t, o)
		if m.resp.Owner != o.did {
			t.Errorf("register answer owner %q, want %q", m.resp.Owner, o.did)
		}
	}

	manager := e.bind(t, alice, "alice-manager", binding.RoleManager, "")
	work := e.bind(t, alice, "alice-work", binding.RoleIdentity, "work")
	family := e.bind(t, alice, "alice-family", binding.RoleIdentity, "family")
	bobWork := e.bind(t, bob, "bob-work", binding.RoleIdentity, "work")

	mine := e.myAgents(t, alice)
	got := map[string]string{}
	for _, a := range mine.Agents {
		if a.Owner != alice.did || a.Revoked || a.Credential == "" || a.CredentialID == "" {
			t.Errorf("alice's agent %+v", a)
		}
		got[a.DID] = a.Role + "/" + a.Context
	}
	want := map[string]string{manager.did: "manager/", work.did: "identity/work", family.did: "identity/family"}
	if len(got) != len(want) {
		t.Errorf("alice's agents %v, want %v", got, want)
	}
	for d, rc := range want {
		if got[d] != rc {
			t.Errorf("agent %s: %q, want %q", d, got[d], rc)
		}
	}
	if n := len(e.myAgents(t, bob).Agents); n != 1 {
		t.Errorf("bob has %d agents, want 1", n)
	}

	pub := e.publicAgent(t, work.did)
	if pub.DID != work.did || pub.Owner != alice.did || pub.Role != "identity" || pub.Context != "work" || pub.Revoked {
		t.Errorf("public binding %+v", pub)
	}
	if pub.CredentialDigest != binding.Digest(pub.Credential) || pub.CredentialID != credentialID(t, pub.Credential) {
		t.Errorf("public binding's credential id/digest do not match its credential: %+v", pub)
	}
	// The bound index is the agent.bound entry, whose receipt anyone can get.
	if b, err := e.log.Entry(pub.BoundIndex); err != nil || !bytes.Contains(b, []byte(`"agent.bound"`)) || !bytes.Contains(b, []byte(work.did)) {
		t.Errorf("bound_index %d is not the agent.bound entry of %s: %s (%v)", pub.BoundIndex, work.did, b, err)
	}

	// A contact request, seen pending by both sides.
	m := e.mustMutate(t, alice, "POST", "/v1/contacts/requests", contactRequestBody{bob.did, work.did}, http.StatusCreated,
		transparency.Entry{Type: "contact.requested", Actor: alice.did, Owner: alice.did, Counterparty: bob.did, Subject: "*"})
	reqID := m.resp.Request
	if reqID != itoa(m.resp.Index) || m.resp.Contact != bob.did {
		t.Errorf("request answer %+v", m.resp)
	}
	if exp, err := time.Parse(time.RFC3339, m.resp.Expires); err != nil || !exp.Equal(e.clock.Now().Add(registry.DefaultContactRequestTTL)) {
		t.Errorf("expires %q, want now + %v (%v)", m.resp.Expires, registry.DefaultContactRequestTTL, err)
	}
	in := e.myContacts(t, bob)
	if len(in.Incoming) != 1 || in.Incoming[0].ID != reqID || in.Incoming[0].From != alice.did || in.Incoming[0].FromAgent != work.did || len(in.Contacts) != 0 {
		t.Errorf("bob's contacts before accepting: %+v", in)
	}
	if out := e.myContacts(t, alice); len(out.Outgoing) != 1 || out.Outgoing[0].ID != reqID || out.Outgoing[0].To != bob.did {
		t.Errorf("alice's contacts before acceptance: %+v", out)
	}

	m = e.mustMutate(t, bob, "POST", "/v1/contacts/accept", contactAcceptBody{reqID, bobWork.did}, http.StatusOK,
		transparency.Entry{Type: "contact.accepted", Actor: bob.did, Owner: bob.did, Counterparty: alice.did, Subject: reqID})
	if m.resp.Request != reqID || m.resp.Contact != alice.did {
		t.Errorf("accept answer %+v", m.resp)
	}
	checkContacts := func(t *testing.T, o *idParty, other, mine, theirs *idParty) {
		t.Helper()
		c := e.myContacts(t, o)
		if len(c.Contacts) != 1 || len(c.Incoming) != 0 || len(c.Outgoing) != 0 {
			t.Fatalf("%s's contacts: %+v", o.name, c)
		}
		if got := c.Contacts[0]; got.Owner != other.did || got.MyAgent != mine.did || got.TheirAgent != theirs.did || got.RequestID != reqID {
			t.Errorf("%s's contact %+v", o.name, got)
		}
	}
	checkContacts(t, alice, bob, work, bobWork)
	checkContacts(t, bob, alice, bobWork, work)

	// Either side may end it: bob does.
	m = e.mustMutate(t, bob, "POST", "/v1/contacts/remove", contactRemoveBody{alice.did}, http.StatusOK,
		transparency.Entry{Type: "contact.removed", Actor: bob.did, Owner: bob.did, Counterparty: alice.did, Subject: reqID})
	if m.resp.Contact != alice.did {
		t.Errorf("remove answer %+v", m.resp)
	}
	for _, o := range []*idParty{alice, bob} {
		if c := e.myContacts(t, o); len(c.Contacts) != 0 {
			t.Errorf("%s still has contacts: %+v", o.name, c.Contacts)
		}
	}

	// Contacts again, then alice unbinds the agent that faces bob: the
	// contact goes in the same change, on both sides.
	reqID = e.contact(t, alice, work, bob, bobWork)
	checkContacts(t, alice, bob, work, bobWork)
	before := e.publicAgent(t, work.did)
	m = e.mustMutate(t, alice, "DELETE", agentPath(work.did), nil, http.StatusOK, transparency.Entry{
		Type: "agent.unbound", Actor: alice.did, Owner: alice.did, Subject: work.did,
		Authz: &transparency.AuthzRef{Credential: before.CredentialID, Digest: before.CredentialDigest},
	})
	if m.resp.Agent != work.did || !slices.Equal(m.resp.RemovedContacts, []string{bob.did}) {
		t.Errorf("unbind answer %+v, want removed_contacts [%s]", m.resp, bob.did)
	}
	for _, o := range []*idParty{alice, bob} {
		if c := e.myContacts(t, o); len(c.Contacts) != 0 {
			t.Errorf("%s still has contacts after the unbind: %+v", o.name, c.Contacts)
		}
	}
	pub = e.publicAgent(t, work.did)
	if !pub.Revoked || pub.UnboundIndex != m.resp.Index || pub.Owner != alice.did || pub.BoundIndex != before.BoundIndex {
		t.Errorf("public binding after the unbind %+v", pub)
	}
	// The owner's list keeps the revoked agent, marked.
	for _, a := range e.myAgents(t, alice).Agents {
		if (a.DID == work.did) != a.Revoked {
			t.Errorf("agent %s revoked = %v", a.DID, a.Revoked)
		}
	}
}

// docDigest is how an entry names a hosted DID document version.
func docDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// identifierPath is the DID resolution path of d (percent-encoded once),
// with a versionId if v is not empty.
func identifierPath(d, v string) string {
	p := identifiersPrefix + url.PathEscape(d)
	if v != "" {
		p += "?versionId=" + v
	}
	return p
}

// hostedResult is a DID resolution result of a hosted did:web, decoded
// strictly.
type hostedResult struct {
	Context  string          `json:"@context"`
	Document json.RawMessage `json:"didDocument"`
	Meta     struct {
		ContentType  string `json:"contentType"`
		Error        string `json:"error"`
		ErrorMessage string `json:"errorMessage"`
		ClawnetError string `json:"clawnetError"`
	} `json:"didResolutionMetadata"`
	DocMeta did.DocumentMetadata `json:"didDocumentMetadata"`
}

func (e *idEnv) resolve(t *testing.T, d, v string, status int) hostedResult {
	t.Helper()
	r := e.do("GET", identifierPath(d, v), http.Header{"Accept": {did.MediaTypeDIDResolution}}, nil)
	if r.status != status {
		t.Fatalf("resolve %s version %q: status %d, want %d: %s", d, v, r.status, status, r.body)
	}
	var res hostedResult
	decodeStrict(t, r.body, &res)
	if res.Context != did.ContextDIDResolutionV1 {
		t.Errorf("@context %q", res.Context)
	}
	return res
}

// checkHostedDoc checks a hosted document version: the contract's shape
// with key-<n> holding key.
func checkHostedDoc(t *testing.T, b []byte, d string, n int, key *idParty) {
	t.Helper()
	doc, err := did.ParseDocument(b)
	if err != nil {
		t.Fatalf("document: %v\n%s", err, b)
	}
	kid := d + "#key-" + strconvItoa(n)
	msid := strings.TrimPrefix(key.did, "did:key:")
	if doc.ID != d || !slices.Equal(doc.Context, []string{did.ContextDIDv1, "https://w3id.org/security/suites/ed25519-2020/v1"}) ||
		len(doc.VerificationMethod) != 1 || !slices.Equal(doc.Authentication, []string{kid}) || !slices.Equal(doc.AssertionMethod, []string{kid}) {
		t.Errorf("document of %s version key-%d:\n%s", d, n, b)
	}
	if len(doc.VerificationMethod) == 1 {
		vm := doc.VerificationMethod[0]
		if vm.ID != kid || vm.Type != "Ed25519VerificationKey2020" || vm.Controller != d || vm.PublicKeyMultibase != msid {
			t.Errorf("verification method %+v, want %s holding %s", vm, kid, msid)
		}
	}
}

func strconvItoa(n int) string { return itoa(uint64(n)) }

// TestIdentityHostedDID runs a hosted did:web through its life over HTTP:
// created by a did:key, served at its did:web path, resolved with its
// metadata, used to sign, rotated (the old key is refused from then on,
// the new one works, the first version still resolves), deactivated (410
// everywhere, no request signed by it is accepted, past versions still
// resolve). Every version's logEntry leads to a receipt of its entry.
func TestIdentityHostedDID(t *testing.T) {
	e := newIDEnv(t, 0)
	k1, k2 := newKeyParty(t, "carol-key-1"), newKeyParty(t, "carol-key-2")
	d := "did:web:" + e.host + ":owners:carol"

	// Create: the entry's resource is the digest of the document served.
	m := e.mustMutate(t, k1, "POST", "/v1/dids", map[string]string{"name": "owners/carol"}, http.StatusCreated,
		transparency.Entry{Type: "did.created", Actor: k1.did, Subject: d, Resource: "*"})
	v1 := itoa(m.resp.Index)
	if m.resp.DID != d || m.resp.KID != d+"#key-1" || m.resp.VersionID != v1 {
		t.Errorf("create answer %+v", m.resp)
	}
	created := idStart.Format(time.RFC3339)
	r := e.do("GET", "/owners/carol/did.json", nil, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != did.MediaTypeDIDLDJSON {
		t.Fatalf("GET /owners/carol/did.json: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	checkHostedDoc(t, r.body, d, 1, k1)
	if m.entry.Resource != docDigest(r.body) {
		t.Errorf("did.created resource %s, want the digest of the served document %s", m.entry.Resource, docDigest(r.body))
	}
	res := e.resolve(t, d, "", http.StatusOK)
	checkHostedDoc(t, res.Document, d, 1, k1)
	if want := (did.DocumentMetadata{Created: created, Updated: created, VersionID: v1, LogEntry: e.url + "/log/v1/receipts/" + v1}); res.DocMeta != want {
		t.Errorf("metadata %+v, want %+v", res.DocMeta, want)
	}
	e.checkLogEntryLink(t, res.DocMeta.LogEntry, "did.created", d)

	// The hosted DID signs with key-1: it registers as an owner.
	carol := &idParty{name: "carol", did: d, kid: d + "#key-1", key: k1.key}
	e.register(t, carol)

	// Rotate to k2, signed with key-1.
	e.clock.Advance(time.Minute)
	m = e.mustMutate(t, carol, "POST", "/v1/dids/rotate", map[string]string{"did": d, "key": k2.did}, http.StatusOK,
		transparency.Entry{Type: "did.updated", Actor: d, Subject: d, Resource: "*"})
	v2 := itoa(m.resp.Index)
	if m.resp.DID != d || m.resp.KID != d+"#key-2" || m.resp.VersionID != v2 {
		t.Errorf("rotate answer %+v", m.resp)
	}
	updated := e.clock.Now().Format(time.RFC3339)
	r = e.do("GET", "/owners/carol/did.json", nil, nil)
	checkHostedDoc(t, r.body, d, 2, k2)
	if m.entry.Resource != docDigest(r.body) {
		t.Errorf("did.updated resource %s, want %s", m.entry.Resource, docDigest(r.body))
	}

	// The old key no longer signs for carol, under either kid; the new
	// one does.
	oldKID := &idParty{name: "carol with key-1", did: d, kid: d + "#key-1", key: k1.key}
	oldKey := &idParty{name: "carol's old key as key-2", did: d, kid: d + "#key-2", key: k1.key}
	e.refuse(t, http.StatusUnauthorized, "key_not_found", func() response {
		r, _ := e.call(oldKID, "GET", "/v1/me/agents", nil)
		return r
	})
	e.refuse(t, http.StatusUnauthorized, "request_signature_invalid", func() response {
		r, _ := e.call(oldKey, "POST", "/v1/dids/rotate", map[string]string{"did": d, "key": k1.did})
		return r
	})
	carol.kid, carol.key = d+"#key-2", k2.key
	if got := e.myAgents(t, carol); len(got.Agents) != 0 {
		t.Errorf("carol's agents %+v", got.Agents)
	}

	// Versions: the current one, and the first one with its successor.
	res = e.resolve(t, d, "", http.StatusOK)
	checkHostedDoc(t, res.Document, d, 2, k2)
	if want := (did.DocumentMetadata{Created: created, Updated: updated, VersionID: v2, LogEntry: e.url + "/log/v1/receipts/" + v2}); res.DocMeta != want {
		t.Errorf("current metadata %+v, want %+v", res.DocMeta, want)
	}
	e.checkLogEntryLink(t, res.DocMeta.LogEntry, "did.updated", d)
	res = e.resolve(t, d, v1, http.StatusOK)
	checkHostedDoc(t, res.Document, d, 1, k1)
	if want := (did.DocumentMetadata{Created: created, Updated: created, VersionID: v1, NextUpdate: updated, NextVersionID: v2,
		LogEntry: e.url + "/log/v1/receipts/" + v1}); res.DocMeta != want {
		t.Errorf("first version's metadata %+v, want %+v", res.DocMeta, want)
	}

	// Deactivate, signed with key-2.
	e.clock.Advance(time.Minute)
	m = e.mustMutate(t, carol, "POST", "/v1/dids/deactivate", map[string]string{"did": d}, http.StatusOK,
		transparency.Entry{Type: "did.deactivated", Actor: d, Subject: d})
	v3 := itoa(m.resp.Index)
	if m.resp.DID != d || m.resp.VersionID != v3 {
		t.Errorf("deactivate answer %+v", m.resp)
	}
	deactivated := e.clock.Now().Format(time.RFC3339)
	res = e.resolve(t, d, "", http.StatusGone)
	if string(res.Document) != "null" || res.Meta.Error != did.ErrorDeactivated {
		t.Errorf("deactivated result: document %s, error %q", res.Document, res.Meta.Error)
	}
	if want := (did.DocumentMetadata{Created: created, Updated: deactivated, Deactivated: true, VersionID: v3,
		LogEntry: e.url + "/log/v1/receipts/" + v3}); res.DocMeta != want {
		t.Errorf("deactivated metadata %+v, want %+v", res.DocMeta, want)
	}
	e.checkLogEntryLink(t, res.DocMeta.LogEntry, "did.deactivated", d)
	res = e.resolve(t, d, v1, http.StatusOK)
	checkHostedDoc(t, res.Document, d, 1, k1)
	if res.DocMeta.NextVersionID != v2 {
		t.Errorf("first version after deactivation: nextVersionId %q, want %s", res.DocMeta.NextVersionID, v2)
	}
	res = e.resolve(t, d, v2, http.StatusOK)
	if res.DocMeta.NextVersionID != v3 {
		t.Errorf("second version after deactivation: nextVersionId %q, want %s", res.DocMeta.NextVersionID, v3)
	}
	r = e.do("GET", "/owners/carol/did.json", nil, nil)
	wantError(t, r, http.StatusGone, registry.CodeDIDDeactivated)

	// Nothing is done by or to it any more.
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/me/agents", nil},
		{"POST", "/v1/dids/rotate", map[string]string{"did": d, "key": k1.did}},
		{"POST", "/v1/dids/deactivate", map[string]string{"did": d}},
		{"POST", "/v1/contacts/requests", contactRequestBody{newKeyParty(t, "x").did, k2.did}},
	} {
		e.refuse(t, http.StatusGone, "did_deactivated", func() response {
			r, _ := e.call(carol, tc.method, tc.path, tc.body)
			return r
		})
	}
	// Nor can its name be taken again, by anyone.
	e.refuse(t, http.StatusConflict, registry.CodeNameTaken, func() response {
		r, _ := e.call(k2, "POST", "/v1/dids", map[string]string{"name": "owners/carol"})
		return r
	})
	r = e.do("GET", "/owners/nobody/did.json", nil, nil)
	wantError(t, r, http.StatusNotFound, CodeNotFound)
}

// checkLogEntryLink follows a version's logEntry metadata: a receipt that
// verifies, of an entry of that type about d.
func (e *idEnv) checkLogEntryLink(t *testing.T, link, typ, d string) {
	t.Helper()
	path, ok := strings.CutPrefix(link, e.url)
	if !ok {
		t.Fatalf("logEntry %q is not under %s", link, e.url)
	}
	r := e.do("GET", path, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	rc, err := transparency.ParseReceipt(r.body)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := transparency.VerifyReceipt(rc, e.verifier)
	if err != nil {
		t.Fatalf("receipt of %s: %v", link, err)
	}
	if vr.Entry.Type != typ || vr.Entry.Subject != d {
		t.Errorf("logEntry %s is a %s about %s, want %s about %s", link, vr.Entry.Type, vr.Entry.Subject, typ, d)
	}
}

// resign replaces a compact JWS's protected header by one naming kid and
// signs it again with priv: a credential whose claims say one issuer and
// whose signature is by another.
func resign(tok, kid string, priv ed25519.PrivateKey) string {
	hdr, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": "JWT"})
	parts := strings.Split(tok, ".")
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + parts[1]
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

// TestIdentityRefusals sends every refusal of the identity API over HTTP:
// each gets its status and stable code, and changes nothing: the log
// does not grow, no registry or jti record changes, and the read
// endpoints (owners' agents and contacts, public bindings, resolution)
// answer as before.
func TestIdentityRefusals(t *testing.T) {
	e := newIDEnv(t, 0)
	alice, bob, carol := newKeyParty(t, "alice"), newKeyParty(t, "bob"), newKeyParty(t, "carol")
	dave := newKeyParty(t, "dave") // never an owner
	for _, o := range []*idParty{alice, bob, carol} {
		e.register(t, o)
	}
	aliceManager := e.bind(t, alice, "alice-manager", binding.RoleManager, "")
	aliceWork := e.bind(t, alice, "alice-work", binding.RoleIdentity, "work")
	bobManager := e.bind(t, bob, "bob-manager", binding.RoleManager, "")
	bobWork := e.bind(t, bob, "bob-work", binding.RoleIdentity, "work")
	carolWork := e.bind(t, carol, "carol-work", binding.RoleIdentity, "work")
	m := e.mustMutate(t, alice, "POST", "/v1/contacts/requests", contactRequestBody{bob.did, aliceWork.did}, http.StatusCreated,
		transparency.Entry{Type: "contact.requested", Actor: alice.did, Owner: alice.did, Counterparty: bob.did, Subject: "*"})
	pending := m.resp.Request

	// zed is a hosted owner that issued a credential, then deactivated.
	zk := newKeyParty(t, "zed-key")
	zedDID := e.mustMutate(t, zk, "POST", "/v1/dids", map[string]string{"name": "owners/zed"}, http.StatusCreated,
		transparency.Entry{Type: "did.created", Actor: zk.did, Subject: "*", Resource: "*"}).resp.DID
	zed := &idParty{name: "zed", did: zedDID, kid: zedDID + "#key-1", key: zk.key}
	e.register(t, zed)
	zedAgent := newKeyParty(t, "zed-agent")
	zedCredential := e.credential(t, zed, zedAgent.did, binding.RoleIdentity, "work")
	e.mustMutate(t, zed, "POST", "/v1/dids/deactivate", map[string]string{"did": zedDID}, http.StatusOK,
		transparency.Entry{Type: "did.deactivated", Actor: zedDID, Subject: zedDID})

	// yan is an active hosted DID.
	yk := newKeyParty(t, "yan-key")
	yanDID := e.mustMutate(t, yk, "POST", "/v1/dids", map[string]string{"name": "agents/yan"}, http.StatusCreated,
		transparency.Entry{Type: "did.created", Actor: yk.did, Subject: "*", Resource: "*"}).resp.DID
	yan := &idParty{name: "yan", did: yanDID, kid: yanDID + "#key-1", key: yk.key}

	// views reads everything a refusal could have changed.
	views := func(t *testing.T) string {
		t.Helper()
		var b strings.Builder
		for _, o := range []*idParty{alice, bob, carol} {
			for _, p := range []string{"/v1/me/agents", "/v1/me/contacts"} {
				r, _ := e.call(o, "GET", p, nil)
				b.WriteString(p + " " + o.name + ": " + string(r.body))
			}
		}
		for _, a := range []*idParty{aliceManager, aliceWork, bobWork, zedAgent, dave} {
			r := e.do("GET", agentPath(a.did), nil, nil)
			b.WriteString(a.name + ": " + strconvItoa(r.status) + " " + string(r.body))
		}
		for _, d := range []string{zedDID, yanDID} {
			r := e.do("GET", identifierPath(d, ""), nil, nil)
			b.WriteString(d + ": " + strconvItoa(r.status) + " " + string(r.body))
		}
		return b.String()
	}

	// bindAs sends a binding credential for agent, signed by signer.
	bindAs := func(signer *idParty, tok string) response {
		r, _ := e.call(signer, "POST", "/v1/agents", bindBody{tok})
		return r
	}
	call := func(p *idParty, method, path string, body any) func() response {
		return func() response {
			r, _ := e.call(p, method, path, body)
			return r
		}
	}
	example := &idParty{name: "did:example", did: "did:example:123", kid: "did:example:123#key-1", key: dave.key}
	deactivated := &idParty{name: "zed deactivated", did: zedDID, kid: zedDID + "#key-1", key: zk.key}

	for _, tc := range []struct {
		name   string
		status int
		code   string
		send   func() response
		header string // a header the refusal must carry, "Name: substring"
	}{
		// Malformed DIDs.
		{"contact request to a malformed DID", 400, registry.CodeInvalidDID,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{"did:bad", aliceWork.did}), ""},
		{"contact request facing a malformed agent DID", 400, registry.CodeInvalidDID,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{carol.did, "notadid"}), ""},
		{"public binding of a malformed DID", 400, registry.CodeInvalidDID,
			func() response { return e.do("GET", agentPath("notadid"), nil, nil) }, ""},
		{"unbind a malformed DID", 400, registry.CodeInvalidDID,
			call(alice, "DELETE", agentPath("did:bad"), nil), ""},
		{"rotate a malformed DID", 400, registry.CodeDIDNotHosted,
			call(alice, "POST", "/v1/dids/rotate", map[string]string{"did": "did:web:", "key": dave.did}), ""},
		{"create a malformed name", 400, registry.CodeInvalidName,
			call(dave, "POST", "/v1/dids", map[string]string{"name": "owners/Not_A_Name"}), ""},

		// Signed requests.
		{"signer of an unsupported DID method", 400, "did_method_not_supported",
			call(example, "POST", "/v1/owners", struct{}{}), ""},
		{"bad signature", 401, "request_signature_invalid", func() response {
			s := e.sign(dave, "POST", "/v1/owners", []byte(`{}`))
			tok := []byte(s.jws)
			i := strings.LastIndexByte(s.jws, '.') + 10
			// Another base64url character in the middle of the signature.
			if tok[i] == 'A' {
				tok[i] = 'B'
			} else {
				tok[i] = 'A'
			}
			s.header.Set("Authorization", "ClawNet-JWS "+string(tok))
			return e.send(s)
		}, `Www-Authenticate: error="request_signature_invalid"`},
		{"unsigned request", 401, "request_header_missing", func() response {
			return e.do("POST", "/v1/owners", http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
		}, `Www-Authenticate: ClawNet-JWS error="request_header_missing"`},
		{"request signed by a deactivated DID", 410, "did_deactivated",
			call(deactivated, "POST", "/v1/contacts/requests", contactRequestBody{alice.did, zedAgent.did}), ""},
		{"read signed by a deactivated DID", 410, "did_deactivated",
			call(deactivated, "GET", "/v1/me/agents", nil), ""},
		{"request for another server", 401, "request_wrong_audience", func() response {
			s := &idParty{name: "dave elsewhere", did: dave.did, kid: dave.kid, key: dave.key}
			r := httptest.NewRequest("POST", "/v1/owners", strings.NewReader(`{}`))
			sg := &request.Signer{Key: s.key, KID: s.kid, Audience: "http://other.example", Now: e.clock.Now}
			if err := sg.SignRequest(r); err != nil {
				t.Fatal(err)
			}
			return e.do("POST", "/v1/owners", http.Header{"Authorization": r.Header.Values("Authorization"),
				"Content-Type": {"application/json"}}, []byte(`{}`))
		}, ""},

		// Bodies.
		{"unknown JSON member", 400, CodeBadJSON, call(dave, "POST", "/v1/owners", map[string]int{"x": 1}), ""},
		{"duplicate JSON member", 400, CodeBadJSON, func() response {
			return e.send(e.sign(alice, "POST", "/v1/contacts/requests",
				[]byte(`{"to":"`+carol.did+`","to":"`+bob.did+`","agent":"`+aliceWork.did+`"}`)))
		}, ""},
		{"wrong Content-Type", 415, CodeUnsupportedMediaType, func() response {
			s := e.sign(dave, "POST", "/v1/owners", []byte(`{}`))
			s.header.Set("Content-Type", "text/plain")
			return e.send(s)
		}, ""},
		{"oversized body", 413, CodeBodyTooLarge, func() response {
			body := []byte(`{"to":"` + strings.Repeat("a", maxBodySize) + `","agent":""}`)
			return e.send(e.sign(alice, "POST", "/v1/contacts/requests", body))
		}, ""},
		{"binding without a credential", 400, CodeBadJSON, call(dave, "POST", "/v1/agents", struct{}{}), ""},

		// Owners' reads.
		{"agents read by a non-owner", 403, registry.CodeOwnerNotRegistered, call(dave, "GET", "/v1/me/agents", nil), ""},
		{"contacts read by a non-owner", 403, registry.CodeOwnerNotRegistered, call(dave, "GET", "/v1/me/contacts", nil), ""},
		{"owner registers twice", 409, registry.CodeOwnerExists, call(alice, "POST", "/v1/owners", struct{}{}), ""},
		{"agent registers as an owner", 409, registry.CodeDIDIsAgent, call(aliceWork, "POST", "/v1/owners", struct{}{}), ""},

		// Agents.
		{"second Manager Agent", 409, registry.CodeSecondManager, func() response {
			a := newKeyParty(t, "second-manager")
			return bindAs(a, e.credential(t, alice, a.did, binding.RoleManager, ""))
		}, ""},
		{"duplicate context", 409, registry.CodeDuplicateContext, func() response {
			a := newKeyParty(t, "work-again")
			return bindAs(a, e.credential(t, alice, a.did, binding.RoleIdentity, "work"))
		}, ""},
		{"agent bound twice to its owner", 409, registry.CodeAgentAlreadyBound, func() response {
			return bindAs(aliceWork, e.credential(t, alice, aliceWork.did, binding.RoleIdentity, "travel"))
		}, ""},
		{"agent bound twice, to another owner", 409, registry.CodeAgentAlreadyBound, func() response {
			return bindAs(aliceWork, e.credential(t, bob, aliceWork.did, binding.RoleIdentity, "travel"))
		}, ""},
		{"owner bound as an agent", 409, registry.CodeDIDIsOwner, func() response {
			return bindAs(carol, e.credential(t, bob, carol.did, binding.RoleIdentity, "travel"))
		}, ""},
		{"binding credential subject is not the signer", 403, registry.CodeBindingSubjectMismatch, func() response {
			a, b := newKeyParty(t, "named"), newKeyParty(t, "signer")
			return bindAs(b, e.credential(t, alice, a.did, binding.RoleIdentity, "travel"))
		}, ""},
		{"binding credential issued by a non-owner", 403, registry.CodeBindingIssuerNotOwner, func() response {
			a := newKeyParty(t, "daves-agent")
			return bindAs(a, e.credential(t, dave, a.did, binding.RoleIdentity, "travel"))
		}, ""},
		{"binding credential signed by another key than its issuer's", 401, string(binding.CodeSignatureInvalid), func() response {
			a := newKeyParty(t, "forged")
			forger := &idParty{name: "dave as alice", did: alice.did, kid: alice.kid, key: dave.key}
			return bindAs(a, e.credential(t, forger, a.did, binding.RoleIdentity, "travel"))
		}, ""},
		{"binding credential whose kid is not its issuer's", 400, string(binding.CodeIssuerMismatch), func() response {
			a := newKeyParty(t, "mismatched")
			return bindAs(a, resign(e.credential(t, alice, a.did, binding.RoleIdentity, "travel"), dave.kid, dave.key))
		}, ""},
		{"binding credential that is not a JWS", 400, string(binding.CodeMalformed), func() response {
			return bindAs(newKeyParty(t, "junk"), "not.a.jws")
		}, ""},
		{"binding credential issued by a deactivated owner", 410, "did_deactivated", func() response {
			return bindAs(zedAgent, zedCredential)
		}, ""},
		{"unbind another owner's agent", 403, registry.CodeAgentNotYours, call(bob, "DELETE", agentPath(aliceWork.did), nil), ""},
		{"unbind an agent that was never bound", 404, registry.CodeAgentNotFound, call(bob, "DELETE", agentPath(dave.did), nil), ""},

		// Contacts.
		{"Manager Agent as a contact mapping, requesting", 422, registry.CodeManagerAgentNotAllowed,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{carol.did, aliceManager.did}), ""},
		{"Manager Agent as a contact mapping, accepting", 422, registry.CodeManagerAgentNotAllowed,
			call(bob, "POST", "/v1/contacts/accept", contactAcceptBody{pending, bobManager.did}), ""},
		{"another owner's agent as a contact mapping", 403, registry.CodeAgentNotYours,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{carol.did, bobWork.did}), ""},
		{"accepting a contact request you were not sent", 403, registry.CodeContactRequestNotAddressedToYou,
			call(carol, "POST", "/v1/contacts/accept", contactAcceptBody{pending, carolWork.did}), ""},
		{"accepting an unknown contact request", 404, registry.CodeContactRequestNotFound,
			call(bob, "POST", "/v1/contacts/accept", contactAcceptBody{"999999", bobWork.did}), ""},
		{"contact request to yourself", 400, registry.CodeContactSelf,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{alice.did, aliceWork.did}), ""},
		{"contact request sent twice", 409, registry.CodeContactRequestExists,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{bob.did, aliceWork.did}), ""},
		{"contact request to a non-owner", 404, registry.CodeOwnerNotFound,
			call(alice, "POST", "/v1/contacts/requests", contactRequestBody{dave.did, aliceWork.did}), ""},
		{"contact request by a non-owner", 403, registry.CodeOwnerNotRegistered,
			call(dave, "POST", "/v1/contacts/requests", contactRequestBody{alice.did, aliceWork.did}), ""},
		{"removing a contact that does not exist", 404, registry.CodeContactNotFound,
			call(carol, "POST", "/v1/contacts/remove", contactRemoveBody{alice.did}), ""},

		// Hosted DIDs.
		{"rotate a DID that is not hosted here", 400, registry.CodeDIDNotHosted,
			call(alice, "POST", "/v1/dids/rotate", map[string]string{"did": alice.did, "key": dave.did}), ""},
		{"rotate a deactivated DID", 410, registry.CodeDIDDeactivated,
			call(alice, "POST", "/v1/dids/rotate", map[string]string{"did": zedDID, "key": dave.did}), ""},
		{"create a taken name", 409, registry.CodeNameTaken,
			call(dave, "POST", "/v1/dids", map[string]string{"name": "owners/zed"}), ""},
		{"create signed by a did:web", 400, registry.CodeKeyInvalid,
			call(yan, "POST", "/v1/dids", map[string]string{"name": "owners/yan2"}), ""},
		{"rotate to a key that is not a did:key", 400, registry.CodeKeyInvalid,
			call(yan, "POST", "/v1/dids/rotate", map[string]string{"did": yan.did, "key": "did:web:example.com"}), ""},
		{"rotate signed by another DID", 403, registry.CodeNotController,
			call(alice, "POST", "/v1/dids/rotate", map[string]string{"did": yan.did, "key": dave.did}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := views(t)
			r := e.refuse(t, tc.status, tc.code, tc.send)
			if tc.header != "" {
				name, sub, _ := strings.Cut(tc.header, ": ")
				if got := r.header.Get(name); !strings.Contains(got, sub) {
					t.Errorf("%s: %q, want it to contain %q", name, got, sub)
				}
			}
			if after := views(t); after != before {
				t.Errorf("the read endpoints changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestIdentityReplay sends signed requests twice: in one process every
// replay is refused, reads included; after a restart on the same database
// (a new registry and server, empty caches) a replay of a request that
// took effect is still refused, because its jti was recorded with the
// change. A refused request is remembered in memory only: replayed after
// the restart it is refused again for what it is, and changes nothing.
func TestIdentityReplay(t *testing.T) {
	e := newIDEnv(t, 0)
	alice, dave := newKeyParty(t, "alice"), newKeyParty(t, "dave")
	e.register(t, alice)

	took := e.sign(dave, "POST", "/v1/owners", []byte(`{}`))
	if r := e.send(took); r.status != http.StatusCreated {
		t.Fatalf("register dave: %d %s", r.status, r.body)
	}
	read := e.sign(dave, "GET", "/v1/me/agents", nil)
	if r := e.send(read); r.status != http.StatusOK {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	refused := e.sign(alice, "POST", "/v1/owners", []byte(`{}`))
	e.refuse(t, http.StatusConflict, registry.CodeOwnerExists, func() response { return e.send(refused) })

	for _, s := range []idSigned{took, read, refused} {
		r := e.refuse(t, http.StatusUnauthorized, "request_replayed", func() response { return e.send(s) })
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="request_replayed"`) {
			t.Errorf("WWW-Authenticate %q", got)
		}
	}
	// The same signature over another body is not a replay but a forgery.
	e.refuse(t, http.StatusUnauthorized, "request_body_mismatch", func() response {
		return e.do(took.method, took.path, took.header, []byte(`{ }`))
	})

	e.restart()
	r := e.refuse(t, http.StatusUnauthorized, "request_replayed", func() response { return e.send(took) })
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="request_replayed"`) {
		t.Errorf("WWW-Authenticate %q", got)
	}
	e.refuse(t, http.StatusConflict, registry.CodeOwnerExists, func() response { return e.send(refused) })
	// The restarted server knows dave from the database.
	if got := e.myAgents(t, dave); len(got.Agents) != 0 {
		t.Errorf("dave's agents after the restart: %+v", got.Agents)
	}
}

// TestIdentityContactRequestExpiry moves the server's clock: a request is
// accepted until just before its expiry and refused from then on
// (contact_request_expired, nothing changed); an expired request is no
// longer listed, and the requester may ask again.
func TestIdentityContactRequestExpiry(t *testing.T) {
	const ttl = time.Hour
	e := newIDEnv(t, ttl)
	alice, bob, carol := newKeyParty(t, "alice"), newKeyParty(t, "bob"), newKeyParty(t, "carol")
	agents := map[*idParty]*idParty{}
	for _, o := range []*idParty{alice, bob, carol} {
		e.register(t, o)
		agents[o] = e.bind(t, o, o.name+"-work", binding.RoleIdentity, "work")
	}
	ask := func(from, to *idParty) string {
		m := e.mustMutate(t, from, "POST", "/v1/contacts/requests", contactRequestBody{to.did, agents[from].did}, http.StatusCreated,
			transparency.Entry{Type: "contact.requested", Actor: from.did, Owner: from.did, Counterparty: to.did, Subject: "*"})
		if exp, err := time.Parse(time.RFC3339, m.resp.Expires); err != nil || !exp.Equal(e.clock.Now().Add(ttl)) {
			t.Errorf("expires %q, want now + %v", m.resp.Expires, ttl)
		}
		return m.resp.Request
	}
	toBob, toCarol := ask(alice, bob), ask(alice, carol)

	e.clock.Advance(ttl - time.Second)
	e.mustMutate(t, bob, "POST", "/v1/contacts/accept", contactAcceptBody{toBob, agents[bob].did}, http.StatusOK,
		transparency.Entry{Type: "contact.accepted", Actor: bob.did, Owner: bob.did, Counterparty: alice.did, Subject: toBob})
	if c := e.myContacts(t, carol); len(c.Incoming) != 1 || c.Incoming[0].ID != toCarol {
		t.Errorf("carol's pending requests before the expiry: %+v", c.Incoming)
	}

	e.clock.Advance(time.Second)
	e.refuse(t, http.StatusGone, registry.CodeContactRequestExpired, func() response {
		r, _ := e.call(carol, "POST", "/v1/contacts/accept", contactAcceptBody{toCarol, agents[carol].did})
		return r
	})
	if c := e.myContacts(t, carol); len(c.Incoming) != 0 || len(c.Contacts) != 0 {
		t.Errorf("carol's contacts after the expiry: %+v", c)
	}
	if c := e.myContacts(t, alice); len(c.Outgoing) != 0 || len(c.Contacts) != 1 {
		t.Errorf("alice's contacts after the expiry: %+v", c)
	}
	again := ask(alice, carol)
	e.mustMutate(t, carol, "POST", "/v1/contacts/accept", contactAcceptBody{again, agents[carol].did}, http.StatusOK,
		transparency.Entry{Type: "contact.accepted", Actor: carol.did, Owner: carol.did, Counterparty: alice.did, Subject: again})
}

// race sends the signed requests at once, each from its own goroutine, and
// returns the responses in order.
func (e *idEnv) race(t *testing.T, reqs ...idSigned) []response {
	t.Helper()
	out := make([]response, len(reqs))
	errs := make([]error, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = e.try(s.method, s.path, s.header, s.body)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// oneWins checks that exactly one of rs has status win and the others are
// refused with status and code; it returns the winner's position.
func oneWins(t *testing.T, rs []response, win, status int, code string) int {
	t.Helper()
	winner := -1
	for i, r := range rs {
		if r.status == win {
			if winner >= 0 {
				t.Errorf("requests %d and %d both won", winner, i)
			}
			winner = i
			continue
		}
		wantError(t, r, status, code)
	}
	if winner < 0 {
		t.Fatalf("no request won: %v", rs)
	}
	return winner
}

// TestIdentityConcurrency races conflicting requests over HTTP: of two
// Manager Agent bindings for one owner exactly one is bound, the other
// refused second_manager; of two acceptances of one contact request
// exactly one makes the contact. The log grows by one entry per race.
func TestIdentityConcurrency(t *testing.T) {
	e := newIDEnv(t, 0)
	for round := range 4 {
		owner := newKeyParty(t, "owner")
		e.register(t, owner)
		a1, a2 := newKeyParty(t, "manager-1"), newKeyParty(t, "manager-2")
		reqs := []idSigned{}
		for _, a := range []*idParty{a1, a2} {
			b, _ := json.Marshal(bindBody{e.credential(t, owner, a.did, binding.RoleManager, "")})
			reqs = append(reqs, e.sign(a, "POST", "/v1/agents", b))
		}
		size := e.log.Size()
		w := oneWins(t, e.race(t, reqs...), http.StatusCreated, http.StatusConflict, registry.CodeSecondManager)
		if got := e.log.Size(); got != size+1 {
			t.Errorf("round %d: log grew by %d entries, want 1", round, got-size)
		}
		agents := e.myAgents(t, owner).Agents
		if len(agents) != 1 || agents[0].DID != []*idParty{a1, a2}[w].did || agents[0].Role != "manager" {
			t.Errorf("round %d: agents %+v, want only the winner", round, agents)
		}

		requester, accepter := newKeyParty(t, "requester"), newKeyParty(t, "accepter")
		e.register(t, requester)
		e.register(t, accepter)
		ra := e.bind(t, requester, "requester-work", binding.RoleIdentity, "work")
		b1 := e.bind(t, accepter, "accepter-work", binding.RoleIdentity, "work")
		b2 := e.bind(t, accepter, "accepter-home", binding.RoleIdentity, "home")
		id := e.mustMutate(t, requester, "POST", "/v1/contacts/requests", contactRequestBody{accepter.did, ra.did}, http.StatusCreated,
			transparency.Entry{Type: "contact.requested", Actor: requester.did, Owner: requester.did, Counterparty: accepter.did, Subject: "*"}).resp.Request
		reqs = nil
		for _, a := range []*idParty{b1, b2} {
			b, _ := json.Marshal(contactAcceptBody{id, a.did})
			reqs = append(reqs, e.sign(accepter, "POST", "/v1/contacts/accept", b))
		}
		size = e.log.Size()
		w = oneWins(t, e.race(t, reqs...), http.StatusOK, http.StatusNotFound, registry.CodeContactRequestNotFound)
		if got := e.log.Size(); got != size+1 {
			t.Errorf("round %d: log grew by %d entries, want 1", round, got-size)
		}
		c := e.myContacts(t, accepter).Contacts
		if len(c) != 1 || c[0].MyAgent != []*idParty{b1, b2}[w].did || c[0].TheirAgent != ra.did {
			t.Errorf("round %d: accepter's contacts %+v, want one facing the winner's agent", round, c)
		}
	}
}

// identityPosts are the identity API's POST endpoints.
var identityPosts = []string{
	"/v1/dids", "/v1/dids/rotate", "/v1/dids/deactivate", "/v1/owners", "/v1/agents",
	"/v1/contacts/requests", "/v1/contacts/accept", "/v1/contacts/remove",
}

// FuzzIdentityBodies sends arbitrary bodies, each validly signed over
// that body by one of a few parties (an owner, its agent, a hosted
// did:web, a stranger), to each identity POST endpoint: no body yields a
// 5xx, a refusal changes neither the log nor any state record, and a
// success appends exactly one entry whose receipt verifies.
func FuzzIdentityBodies(f *testing.F) {
	e := newIDEnv(f, 0)
	alice, bob, dave := newKeyParty(f, "alice"), newKeyParty(f, "bob"), newKeyParty(f, "dave")
	e.register(f, alice)
	e.register(f, bob)
	work := e.bind(f, alice, "alice-work", binding.RoleIdentity, "work")
	bobWork := e.bind(f, bob, "bob-work", binding.RoleIdentity, "work")
	yk := newKeyParty(f, "yan-key")
	yanDID := e.mustMutate(f, yk, "POST", "/v1/dids", map[string]string{"name": "owners/yan"}, http.StatusCreated,
		transparency.Entry{Type: "did.created", Actor: yk.did, Subject: "*", Resource: "*"}).resp.DID
	yan := &idParty{name: "yan", did: yanDID, kid: yanDID + "#key-1", key: yk.key}
	signers := []*idParty{alice, work, yan, dave}

	pending := e.mustMutate(f, bob, "POST", "/v1/contacts/requests", contactRequestBody{alice.did, bobWork.did}, http.StatusCreated,
		transparency.Entry{Type: "contact.requested", Actor: bob.did, Owner: bob.did, Counterparty: alice.did, Subject: "*"}).resp.Request
	newAgent := newKeyParty(f, "new-agent")
	seeds := []struct {
		endpoint, signer int
		body             any
	}{
		{0, 3, map[string]string{"name": "agents/fuzz"}},
		{0, 3, map[string]string{"name": "owners/yan"}},
		{1, 2, map[string]string{"did": yanDID, "key": dave.did}},
		{2, 2, map[string]string{"did": yanDID}},
		{3, 3, struct{}{}},
		{3, 0, struct{}{}},
		{4, 1, bindBody{e.credential(f, alice, work.did, binding.RoleManager, "")}},
		{4, 3, bindBody{e.credential(f, alice, newAgent.did, binding.RoleIdentity, "home")}},
		{5, 0, contactRequestBody{bob.did, work.did}},
		{5, 0, contactRequestBody{"did:bad", work.did}},
		{6, 0, contactAcceptBody{pending, work.did}},
		{6, 0, contactAcceptBody{"18446744073709551616", work.did}},
		{7, 0, contactRemoveBody{bob.did}},
	}
	for _, s := range seeds {
		b, err := json.Marshal(s.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(s.endpoint), uint8(s.signer), b)
	}
	f.Add(uint8(3), uint8(0), []byte(`{"x":1}`))
	f.Add(uint8(4), uint8(1), []byte(`{"credential":"a.b.c"}`))
	f.Add(uint8(6), uint8(0), []byte(`{"request":"1","agent":"`+work.did+`","request":"2"}`))
	f.Add(uint8(1), uint8(2), []byte("{\"did\":\"\xff\"}"))
	f.Add(uint8(5), uint8(0), []byte(`[]`))

	f.Fuzz(func(t *testing.T, endpoint, signer uint8, body []byte) {
		path := identityPosts[int(endpoint)%len(identityPosts)]
		p := signers[int(signer)%len(signers)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		s := &request.Signer{Key: p.key, KID: p.kid, Audience: e.url, Now: e.clock.Now}
		if err := s.SignRequest(req); err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		before := e.snap(t)
		rec := httptest.NewRecorder()
		(*e.current.Load()).ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s by %s %q: %d %s", path, p.name, body, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			e.unchanged(t, before)
			var eb ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("POST %s: %d with a bad error body: %s", path, rec.Code, rec.Body)
			}
			return
		}
		if got := e.log.Size(); got != before.size+1 {
			t.Fatalf("POST %s %q succeeded and the log grew by %d entries", path, body, got-before.size)
		}
		var resp mutationResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		rc, err := transparency.ParseReceipt(resp.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.VerifyReceipt(rc, e.verifier); err != nil || rc.Index != before.size {
			t.Fatalf("receipt of entry %d: %v", rc.Index, err)
		}
	})
}

// bindingCodes are the binding credential's refusal codes (vc/binding has
// no list of them; this is the list of its Code constants).
var bindingCodes = []binding.Code{
	binding.CodeMalformed, binding.CodeAlgNotAllowed, binding.CodeKIDInvalid, binding.CodeIssuerMismatch,
	binding.CodeIssuerUnresolvable, binding.CodeKeyNotAuthorized, binding.CodeSignatureInvalid,
	binding.CodeNotYetValid, binding.CodeExpired, binding.CodeRoleInvalid, binding.CodeContextInvalid,
}

// TestIdentityErrorCodes checks that every refusal code of signed
// requests, of the registry and of binding credentials has an HTTP status
// (an unmapped one would be answered as a 500) and is documented in
// spec/openapi.yaml: in the Error schema's enum and in the error table,
// with that status.
func TestIdentityErrorCodes(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	check := func(code string, status int, mapped bool) {
		t.Helper()
		if !mapped {
			t.Errorf("code %s has no HTTP status in server/", code)
		}
		if !strings.Contains(spec, "                - "+code+"\n") {
			t.Errorf("code %s is not in the Error schema's enum", code)
		}
		if row := fmt.Sprintf("| %d | `%s` |", status, code); !strings.Contains(spec, row) {
			t.Errorf("code %s is not in an error table as %q", code, row)
		}
	}
	if len(request.Codes()) == 0 || len(registry.Codes()) == 0 {
		t.Fatal("no codes")
	}
	for _, c := range request.Codes() {
		status, ok := requestStatus[c]
		check(string(c), status, ok)
	}
	for _, c := range registry.Codes() {
		status, ok := registryStatus[c]
		check(c, status, ok)
	}
	for _, c := range bindingCodes {
		status, ok := bindingStatus[c]
		check(string(c), status, ok)
	}
	if len(bindingStatus) != len(bindingCodes) {
		t.Errorf("server maps %d binding codes, the test knows %d: update bindingCodes", len(bindingStatus), len(bindingCodes))
	}
}

// TestIdentityRoutesDocumented checks that every identity route is a path
// of spec/openapi.yaml with its method.
func TestIdentityRoutesDocumented(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]map[string]bool{}
	var cur string
	inPaths := false
	method := regexp.MustCompile(`^    (get|post|put|delete|patch):$`)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && len(line) > 0 && line[0] != ' ':
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /"):
			cur = strings.TrimSuffix(strings.TrimSpace(line), ":")
			paths[cur] = map[string]bool{}
		case inPaths && cur != "" && method.MatchString(line):
			paths[cur][strings.ToUpper(strings.Trim(line, " :"))] = true
		}
	}
	routes := (&Server{}).identityRoutes()
	if len(routes) == 0 {
		t.Fatal("no identity routes")
	}
	for _, rt := range routes {
		if !paths[rt.path][rt.method] {
			t.Errorf("%s %s is not documented in spec/openapi.yaml", rt.method, rt.path)
		}
	}
}
