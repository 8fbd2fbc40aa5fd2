package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/binding"
	"golang.org/x/mod/sumdb/note"
)

// The identity API under test is wired as cmd/clawnet serve wires it: a
// real store on t.TempDir(), a real sequencer, the registry, a resolver
// with the registry as its hosted source, and the server, served over
// loopback HTTP. The clients sign with did/request and issue binding
// credentials with vc/binding, as an agent runtime in any language would.

// idStart is the identity tests' start time, in whole seconds (entry and
// metadata times are compared with it).
var idStart = time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC)

// idClock is a clock the test moves: the server's, the registry's (through
// the server) and the clients' (so that their signatures are fresh).
type idClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *idClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *idClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// idEnv is the identity API over a real log on loopback.
type idEnv struct {
	t        testing.TB
	db       *store.DB
	log      *sequencer.Log
	vkey     string
	verifier note.Verifier
	clock    *idClock
	srv      *httptest.Server
	url      string // the public URL: the audience of signed requests
	host     string // the did:web host, e.g. 127.0.0.1%3A41234
	ttl      time.Duration
	// current is the handler of the server built last; restart swaps it.
	current atomic.Pointer[http.Handler]
	reg     *registry.Registry // the registry built last
}

// newIDEnv starts the identity API with contact requests living ttl
// (0: the registry's default).
func newIDEnv(t testing.TB, ttl time.Duration) *idEnv {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := transparency.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: testOrigin})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	e := &idEnv{t: t, db: db, log: l, vkey: vkey, verifier: verifier, clock: &idClock{t: idStart}, ttl: ttl}
	// The public URL is known only once the listener is up, and the
	// server needs it: listen first, build the server behind an
	// indirection afterwards.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.current.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.srv.Close()
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	e.url = e.srv.URL
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	e.host = strings.ReplaceAll(u.Host, ":", "%3A")
	e.restart()
	return e
}

// restart builds a new registry, resolver and server over the same
// database and log, as a new process would, and serves it at the same
// URL: every in-memory cache (replays, registry, resolution) starts empty.
func (e *idEnv) restart() {
	e.t.Helper()
	reg, err := registry.New(registry.Config{DB: e.db, Host: e.host, PublicURL: e.url, ContactRequestTTL: e.ttl})
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := New(Config{
		Log:         e.log,
		VerifierKey: e.vkey,
		Clock:       e.clock.Now,
		Resolver: &did.Resolver{
			Hosted: reg, HostedHost: e.host, Cache: did.NewCache(1000, e.clock.Now),
		},
		Identity: &IdentityConfig{
			PublicURL: e.url, DIDWebHost: e.host, DB: e.db, Registry: reg, ContactRequestTTL: e.ttl,
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	h := s.Handler()
	e.current.Store(&h)
	e.reg = reg
}

// idParty is a key holder: an owner or an agent, by did:key or by a hosted
// did:web, and the verification method it signs with.
type idParty struct {
	name string
	did  string
	kid  string
	key  ed25519.PrivateKey
}

func newKeyParty(t testing.TB, name string) *idParty {
	t.Helper()
	d, priv, err := did.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &idParty{name: name, did: d, kid: keyKID(d), key: priv}
}

// keyKID is the verification method of a did:key.
func keyKID(d string) string { return d + "#" + strings.TrimPrefix(d, "did:key:") }

// idSigned is one signed request as sent: the headers (Authorization and,
// with a body, Content-Type) and its compact JWS.
type idSigned struct {
	method, path string
	header       http.Header
	body         []byte
	jws          string
}

// sign signs a request by p at the clock's time.
func (e *idEnv) sign(p *idParty, method, path string, body []byte) idSigned {
	e.t.Helper()
	var rb io.Reader
	if body != nil {
		rb = bytes.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rb)
	s := &request.Signer{Key: p.key, KID: p.kid, Audience: e.url, Now: e.clock.Now}
	if err := s.SignRequest(r); err != nil {
		e.t.Fatalf("sign %s %s as %s: %v", method, path, p.name, err)
	}
	h := http.Header{"Authorization": r.Header.Values("Authorization")}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	jws, _ := strings.CutPrefix(r.Header.Get("Authorization"), request.Scheme+" ")
	return idSigned{method, path, h, body, jws}
}

// send sends a request as it was signed; sending it twice is a replay.
func (e *idEnv) send(s idSigned) response {
	e.t.Helper()
	return e.do(s.method, s.path, s.header, s.body)
}

func (e *idEnv) do(method, path string, header http.Header, body []byte) response {
	e.t.Helper()
	r, err := e.try(method, path, header, body)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// try sends a request and returns what went wrong instead of failing the
// test, for goroutines other than the test's.
func (e *idEnv) try(method, path string, header http.Header, body []byte) (response, error) {
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}, nil
}

// call signs and sends a request by p with a JSON body (nil: none).
func (e *idEnv) call(p *idParty, method, path string, body any) (response, idSigned) {
	e.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	s := e.sign(p, method, path, b)
	return e.send(s), s
}

// mutation is a successful state change: the response and its verified
// receipt.
type mutation struct {
	resp  mutationResponse
	entry *transparency.Entry
	jws   string
}

// mustMutate sends a signed mutation and checks its answer: the status,
// a receipt that verifies against the log's key, for the index answered
// and with Location naming it, and an entry that records this request:
// its fields as want says (Subject or Resource "*" leaves that field
// unchecked), decision recorded, the clock's time and the request digest
// of its JWS.
func (e *idEnv) mustMutate(t testing.TB, p *idParty, method, path string, body any, status int, want transparency.Entry) mutation {
	t.Helper()
	r, s := e.call(p, method, path, body)
	if r.status != status {
		t.Fatalf("%s %s by %s: status %d, want %d: %s", method, path, p.name, r.status, status, r.body)
	}
	var m mutation
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m.resp); err != nil {
		t.Fatalf("%s %s: answer: %v: %s", method, path, err, r.body)
	}
	rc, err := transparency.ParseReceipt(m.resp.Receipt)
	if err != nil {
		t.Fatalf("%s %s: receipt: %v", method, path, err)
	}
	vr, err := transparency.VerifyReceipt(rc, e.verifier)
	if err != nil {
		t.Fatalf("%s %s: receipt does not verify: %v", method, path, err)
	}
	if vr.Index != m.resp.Index {
		t.Errorf("receipt index %d, response index %d", vr.Index, m.resp.Index)
	}
	if loc, want := r.header.Get("Location"), "/log/v1/entries/"+itoa(m.resp.Index); loc != want {
		t.Errorf("Location %q, want %q", loc, want)
	}
	got := vr.Entry
	want.Version = transparency.EntryVersion
	want.Time = e.clock.Now()
	want.Decision = transparency.DecisionRecorded
	want.RequestDigest = request.RequestDigest(s.jws)
	if want.Subject == "*" {
		want.Subject = got.Subject
	}
	if want.Resource == "*" {
		want.Resource = got.Resource
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if !bytes.Equal(wb, gb) || !got.Time.Equal(want.Time) {
		t.Errorf("%s %s: logged entry\n%s at %s\nwant\n%s at %s", method, path, gb, got.Time, wb, want.Time)
	}
	// The entry can also be read back by anyone from the log.
	if b, err := e.log.Entry(m.resp.Index); err != nil || !bytes.Equal(b, vr.EntryBytes) {
		t.Errorf("log entry %d differs from the receipt's (%v)", m.resp.Index, err)
	}
	m.entry, m.jws = got, s.jws
	return m
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// idSnap is what a refused request must leave as it was: the log size and
// every registry and jti record in the database.
type idSnap struct {
	size uint64
	kv   map[string]string
}

func (e *idEnv) snap(t testing.TB) idSnap {
	t.Helper()
	s := idSnap{size: e.log.Size(), kv: map[string]string{}}
	for _, r := range [][2]string{{"d/", "d0"}, {jtiPrefix, "s/jti0"}} {
		err := e.db.Scan([]byte(r[0]), []byte(r[1]), func(k, v []byte) (bool, error) {
			s.kv[string(k)] = string(v)
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (e *idEnv) unchanged(t testing.TB, before idSnap) {
	t.Helper()
	after := e.snap(t)
	if after.size != before.size {
		t.Errorf("log grew from %d to %d entries", before.size, after.size)
	}
	if len(after.kv) != len(before.kv) {
		t.Errorf("state has %d records, had %d", len(after.kv), len(before.kv))
	}
	for k, v := range before.kv {
		if after.kv[k] != v {
			t.Errorf("state record %q changed", k)
		}
	}
}

// refuse sends a request that must be refused with status and code, and
// checks that it changed nothing.
func (e *idEnv) refuse(t *testing.T, status int, code string, send func() response) response {
	t.Helper()
	before := e.snap(t)
	r := send()
	wantError(t, r, status, code)
	e.unchanged(t, before)
	return r
}

// register makes p an owner.
func (e *idEnv) register(t testing.TB, p *idParty) mutation {
	t.Helper()
	return e.mustMutate(t, p, "POST", "/v1/owners", struct{}{}, http.StatusCreated,
		transparency.Entry{Type: "owner.registered", Actor: p.did, Owner: p.did, Subject: p.did})
}

// credential issues a binding credential by owner for agent.
func (e *idEnv) credential(t testing.TB, owner *idParty, agent string, role binding.Role, context string) string {
	t.Helper()
	id, err := binding.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := binding.Issue(owner.key, owner.kid, binding.Binding{
		ID: id, Issuer: owner.did, Subject: agent, Role: role, Context: context, IssuedAt: e.clock.Now(),
	})
	if err != nil {
		t.Fatalf("issue binding credential: %v", err)
	}
	return tok
}

type bindBody struct {
	Credential string `json:"credential"`
}

// bind binds a new did:key agent to owner and checks the agent.bound entry.
func (e *idEnv) bind(t testing.TB, owner *idParty, name string, role binding.Role, context string) *idParty {
	t.Helper()
	a := newKeyParty(t, name)
	e.bindParty(t, owner, a, role, context)
	return a
}

func (e *idEnv) bindParty(t testing.TB, owner, a *idParty, role binding.Role, context string) mutation {
	t.Helper()
	tok := e.credential(t, owner, a.did, role, context)
	resource := string(role)
	if role == binding.RoleIdentity {
		resource = "identity:" + context
	}
	vb := credentialID(t, tok)
	m := e.mustMutate(t, a, "POST", "/v1/agents", bindBody{tok}, http.StatusCreated, transparency.Entry{
		Type: "agent.bound", Actor: a.did, Owner: owner.did, Subject: a.did, Resource: resource,
		Authz: &transparency.AuthzRef{Credential: vb, Digest: binding.Digest(tok)},
	})
	if m.resp.Agent != a.did || m.resp.Owner != owner.did || m.resp.Role != string(role) || m.resp.Context != context {
		t.Errorf("bind answer %+v", m.resp)
	}
	return m
}

// credentialID reads the jti of a binding credential, which the tests
// compare with what the server logged and serves.
func credentialID(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("credential %q is not a compact JWS", tok)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(p, &c); err != nil || c.ID == "" {
		t.Fatalf("credential payload %s: %v", p, err)
	}
	return c.ID
}

// agentPath is the path of an agent's binding: the DID percent-encoded
// once, as the contract asks of clients.
func agentPath(d string) string { return "/v1/agents/" + url.PathEscape(d) }

// myAgents and myContacts are the owner reads, decoded strictly.
type myAgentsBody struct {
	Owner  string           `json:"owner"`
	Agents []registry.Agent `json:"agents"`
}

type myContactsBody struct {
	Owner    string                    `json:"owner"`
	Contacts []registry.Contact        `json:"contacts"`
	Incoming []registry.ContactRequest `json:"incoming"`
	Outgoing []registry.ContactRequest `json:"outgoing"`
}

func (e *idEnv) myAgents(t *testing.T, owner *idParty) myAgentsBody {
	t.Helper()
	r, _ := e.call(owner, "GET", "/v1/me/agents", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/me/agents by %s: %d %s", owner.name, r.status, r.body)
	}
	var b myAgentsBody
	decodeStrict(t, r.body, &b)
	if b.Owner != owner.did {
		t.Errorf("owner %q, want %q", b.Owner, owner.did)
	}
	return b
}

func (e *idEnv) myContacts(t *testing.T, owner *idParty) myContactsBody {
	t.Helper()
	r, _ := e.call(owner, "GET", "/v1/me/contacts", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/me/contacts by %s: %d %s", owner.name, r.status, r.body)
	}
	var b myContactsBody
	decodeStrict(t, r.body, &b)
	if b.Owner != owner.did {
		t.Errorf("owner %q, want %q", b.Owner, owner.did)
	}
	return b
}

// publicAgent reads an agent's public binding, unsigned.
func (e *idEnv) publicAgent(t *testing.T, d string) registry.Agent {
	t.Helper()
	r := e.do("GET", agentPath(d), nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", agentPath(d), r.status, r.body)
	}
	var a registry.Agent
	decodeStrict(t, r.body, &a)
	return a
}

type contactRequestBody struct {
	To    string `json:"to"`
	Agent string `json:"agent"`
}

type contactAcceptBody struct {
	Request string `json:"request"`
	Agent   string `json:"agent"`
}

type contactRemoveBody struct {
	Contact string `json:"contact"`
}

// contact makes a and b contacts, facing each other with aa and ba, and
// returns the request id.
func (e *idEnv) contact(t testing.TB, a, aa, b, ba *idParty) string {
	t.Helper()
	m := e.mustMutate(t, a, "POST", "/v1/contacts/requests", contactRequestBody{b.did, aa.did}, http.StatusCreated,
		transparency.Entry{Type: "contact.requested", Actor: a.did, Owner: a.did, Counterparty: b.did, Subject: "*"})
	id := m.resp.Request
	if id != itoa(m.resp.Index) {
		t.Errorf("request id %q, want the entry's index %d", id, m.resp.Index)
	}
	e.mustMutate(t, b, "POST", "/v1/contacts/accept", contactAcceptBody{id, ba.did}, http.StatusOK,
		transparency.Entry{Type: "contact.accepted", Actor: b.did, Owner: b.did, Counterparty: a.did, Subject: id})
	return id
}
