package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
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
