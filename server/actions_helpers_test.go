package server

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
)

// actionEnv is grantEnv's family with Alice and Bob contacts (work facing
// bob-work), Carol a registered owner who is no one's contact, Bob's
// Manager Agent, and credentials: Alice's work agent holds senderScopes,
// Bob's agent recipientScopes (unless noRecipient).
type actionEnv struct {
	*grantEnv
	f                family
	carol, bobMgr    *idParty
	workCred         string
	bobCred          string
	workCredDigest   string
	recipientGranted bool
	// streams is the event streams of withStreams.
	streams *events.Streams
}

// senderScopes: messages to contacts; two explicit counterparties (to reach
// the contact check); payments up to 100 escalated beyond; file reads
// under a size constraint, denied beyond.
func senderScopes(carol, bobMgr string) string {
	return `[{"id":"msg","effect":"allow","actions":["message/send"],"resources":["**"],"counterparties":["contacts"]},` +
		`{"id":"direct","effect":"allow","actions":["message/send"],"resources":["direct/**"],"counterparties":["` + carol + `","` + bobMgr + `"]},` +
		`{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["**"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"},` +
		`{"id":"files","effect":"allow","actions":["file/read"],"resources":["files/**"],"constraints":[{"arg":"size","op":"<=","value":10}]}]`
}

const recipientScopes = `[{"id":"inbox","effect":"allow","actions":["message/receive"],"resources":["**"],"counterparties":["contacts"]}]`

func newActionEnv(t testing.TB, recipient bool) *actionEnv {
	t.Helper()
	g := newGrantEnv(t)
	a := &actionEnv{grantEnv: g, f: g.family(t), carol: newKeyParty(t, "carol")}
	f := a.f
	g.register(t, a.carol)
	a.bobMgr = g.bind(t, f.bob, "bob-mgr", binding.RoleManager, "")
	g.contact(t, f.owner, f.work, f.bob, f.bobAgent)
	body, id := g.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: senderScopes(a.carol.did, a.bobMgr.did),
		status: g.allocate(t, f.owner, f.owner.did, false)})
	resp := g.mustGrant(t, f.owner, f.owner.did, body, id, "")
	a.workCred = id
	a.workCredDigest = g.verifiedEntry(t, resp).Authz.Digest
	if recipient {
		body, id := g.issue(t, cred{issuer: f.bob, subject: f.bobAgent.did, scopes: recipientScopes,
			status: g.allocate(t, f.bob, f.bob.did, false)})
		g.mustGrant(t, f.bob, f.bob.did, body, id, "")
		a.bobCred, a.recipientGranted = id, true
	}
	return a
}

// act signs and sends POST /v1/actions by p.
func (a *actionEnv) act(p *idParty, body any) (response, idSigned) {
	a.t.Helper()
	return a.call(p, "POST", "/v1/actions", body)
}

// decided is a checked decision: the answer and its verified entry.
type decided struct {
	resp  ActionResponse
	entry *transparency.Entry
	r     response
}

// mustDecide sends an action by p that must be decided with status and
// checks the answer, its receipt, Location and the entry's fields: want
// gives type-independent fields (Actor, Owner, Authz, Action, Resource,
// Counterparty, Decision); Subject, time and request digest are checked
// here. reasonPrefix must start the entry's reason.
func (a *actionEnv) mustDecide(t *testing.T, p *idParty, body map[string]any, status int, want transparency.Entry, reasonPrefix string) decided {
	t.Helper()
	size := a.log.Size()
	r, s := a.act(p, body)
	if r.status != status {
		t.Fatalf("POST /v1/actions by %s: %d, want %d: %s", p.name, r.status, status, r.body)
	}
	var d decided
	d.r = r
	decodeStrict(t, r.body, &d.resp)
	if a.log.Size() != size+1 {
		t.Errorf("log grew by %d entries, want 1", a.log.Size()-size)
	}
	rc, err := transparency.ParseReceipt(d.resp.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := transparency.VerifyReceipt(rc, a.verifier)
	if err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	if vr.Index != d.resp.Index || d.resp.ID != body["id"] {
		t.Errorf("answer %+v, receipt index %d", d.resp, vr.Index)
	}
	if loc := r.header.Get("Location"); loc != "/log/v1/entries/"+itoa(d.resp.Index) {
		t.Errorf("Location %q", loc)
	}
	got := vr.Entry
	want.Version, want.Type, want.Time = transparency.EntryVersion, "action.decision", a.clock.Now()
	want.Subject, want.RequestDigest = body["id"].(string), request.RequestDigest(s.jws)
	want.Reason = got.Reason
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if !bytes.Equal(wb, gb) || !got.Time.Equal(want.Time) {
		t.Errorf("logged\n%s\nwant\n%s", gb, wb)
	}
	if len(got.Reason) < len(reasonPrefix) || got.Reason[:len(reasonPrefix)] != reasonPrefix {
		t.Errorf("reason %q, want prefix %q", got.Reason, reasonPrefix)
	}
	if d.resp.Reason != got.Reason || d.resp.Decision != got.Decision {
		t.Errorf("answer %q %q, entry %q %q", d.resp.Decision, d.resp.Reason, got.Decision, got.Reason)
	}
	d.entry = got
	return d
}

// getAction reads a decision with a signed GET by p, for agent (empty: no
// query).
func (a *actionEnv) getAction(p *idParty, id, agent string) response {
	a.t.Helper()
	path := "/v1/actions/" + url.PathEscape(id)
	if agent != "" {
		path += "?agent=" + url.QueryEscape(agent)
	}
	r, _ := a.call(p, "GET", path, nil)
	return r
}

// authz is the authz of the work agent's credential.
func (a *actionEnv) authz() *transparency.AuthzRef {
	return &transparency.AuthzRef{Credential: a.workCred, Digest: a.workCredDigest}
}

// send is a message/send body from the work agent to Bob.
func (a *actionEnv) send(id string) map[string]any {
	return map[string]any{"id": id, "action": "message/send", "resource": "calendar/2026-12-01",
		"counterparty": a.f.bob.did, "content": "lunch on Tuesday?", "credential": a.workCred}
}

// withStreams rebuilds the server over the same database, log and
// registries with inboxes (at most max unacknowledged messages; 0: the
// default) and event streams on, as clawnet serve wires them, like a
// restart: the in-memory caches start empty.
func (a *actionEnv) withStreams(t *testing.T, max int) {
	t.Helper()
	a.restartWith(t, max, 0)
}

// restartWith is withStreams with the escalation timeout too (0: the
// default), as a restart of clawnet serve --escalation-timeout would be.
func (a *actionEnv) restartWith(t *testing.T, max int, escalationTimeout time.Duration) {
	t.Helper()
	st, err := events.New(events.Config{DB: a.db})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Log: a.log, VerifierKey: a.vkey, Clock: a.clock.Now,
		Resolver: &did.Resolver{Hosted: a.reg, HostedHost: a.host, Cache: did.NewCache(1000, a.clock.Now)},
		Identity: &IdentityConfig{
			PublicURL: a.url, DIDWebHost: a.host, DB: a.db, Registry: a.reg,
			Status: a.lists, IssuerKey: a.issuerKey, Grants: a.grants,
			Mailbox: mailbox.New(a.db, mailbox.Options{MaxUnacked: max}), Events: st,
			EscalationTimeout: escalationTimeout,
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
	t.Cleanup(s.CloseEvents)
	h := s.Handler()
	a.current.Store(&h)
	a.grantEnv.srv, a.streams = s, st
}

// streamOf returns every stored event of stream.
func (a *actionEnv) streamOf(t *testing.T, stream string) []events.Event {
	t.Helper()
	evs, err := a.streams.Since(stream, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// eventsOf returns the data of the events of type typ in stream, decoded
// strictly into a new T each.
func eventsOf[T any](t *testing.T, a *actionEnv, stream, typ string) []T {
	t.Helper()
	var out []T
	for _, e := range a.streamOf(t, stream) {
		if e.Type == typ {
			var v T
			decodeStrict(t, e.Data, &v)
			out = append(out, v)
		}
	}
	return out
}

// inbox lists the agent p's inbox over HTTP, signed by p.
func (a *actionEnv) inbox(t *testing.T, p *idParty) InboxPage {
	t.Helper()
	r, _ := a.call(p, "GET", "/v1/agents/"+url.PathEscape(p.did)+"/inbox", nil)
	if r.status != 200 {
		t.Fatalf("GET inbox of %s: %d %s", p.name, r.status, r.body)
	}
	var page InboxPage
	decodeStrict(t, r.body, &page)
	return page
}

// verifyReceipt verifies a receipt and returns its entry and index.
func (a *actionEnv) verifyReceipt(t *testing.T, b json.RawMessage) (*transparency.Entry, uint64) {
	t.Helper()
	rc, err := transparency.ParseReceipt(b)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := transparency.VerifyReceipt(rc, a.verifier)
	if err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	return vr.Entry, vr.Index
}
