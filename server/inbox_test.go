package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/binding"
)

// inboxEnv is the identity API with inboxes on, over a real log on
// loopback; put delivers messages as the orchestrator does, inside the
// Apply of a log entry.
type inboxEnv struct {
	*idEnv
	srv *Server // the server built last
	max int     // mailbox.Options.MaxUnacked
}

func newInboxEnv(t testing.TB, max int) *inboxEnv {
	t.Helper()
	ie := &inboxEnv{idEnv: newIDEnv(t, 0), max: max}
	ie.restart()
	return ie
}

// restart builds a new registry, mailbox and server over the same
// database and log, as a new process would.
func (ie *inboxEnv) restart() {
	ie.t.Helper()
	ie.idEnv.restart()
	reg := ie.reg
	s, err := New(Config{
		Log:         ie.log,
		VerifierKey: ie.vkey,
		Clock:       ie.clock.Now,
		Resolver:    &did.Resolver{Hosted: reg, HostedHost: ie.host, Cache: did.NewCache(1000, ie.clock.Now)},
		Identity: &IdentityConfig{
			PublicURL: ie.url, DIDWebHost: ie.host, DB: ie.db, Registry: reg,
			Mailbox: mailbox.New(ie.db, mailbox.Options{MaxUnacked: ie.max}),
		},
	})
	if err != nil {
		ie.t.Fatal(err)
	}
	h := s.Handler()
	ie.current.Store(&h)
	ie.srv = s
}

// put delivers message n from (from, fromOwner) to the agent to.
func (ie *inboxEnv) put(t testing.TB, from, fromOwner, to *idParty, n int) mailbox.Message {
	t.Helper()
	content := fmt.Sprintf("message %d", n)
	m := mailbox.Message{
		ID: mailbox.MessageID(from.did, fmt.Sprintf("req-%d", n)), From: from.did, FromOwner: fromOwner.did, To: to.did,
		Action: "message/send", Resource: "meeting/1",
		ContentDigest: transparency.DigestSHA256(sha256.Sum256([]byte(content))), Content: content,
		Time: ie.clock.Now().UTC(),
	}
	entry := &transparency.Entry{Version: transparency.EntryVersion, Type: "message.delivered", Time: m.Time,
		Actor: from.did, Subject: m.ID, Counterparty: fromOwner.did, Resource: to.did, RequestDigest: m.ContentDigest}
	a, err := ie.log.Append(context.Background(), entry, func(tx *store.Tx) error {
		m.DecisionIndex = tx.Index()
		_, err := ie.srv.deliver(tx, m)
		return err
	})
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	m.DecisionIndex = a.Index
	return m
}

func inboxPath(d string) string { return agentPath(d) + "/inbox" }

func (ie *inboxEnv) list(t *testing.T, agent *idParty, query string) InboxPage {
	t.Helper()
	r, _ := ie.call(agent, "GET", inboxPath(agent.did)+query, nil)
	if r.status != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var p InboxPage
	decodeStrict(t, r.body, &p)
	return p
}

func (ie *inboxEnv) ack(t *testing.T, agent *idParty, ids ...string) int {
	t.Helper()
	if ids == nil {
		ids = []string{}
	}
	r, _ := ie.call(agent, "POST", inboxPath(agent.did)+"/ack", InboxAck{IDs: ids})
	if r.status != http.StatusOK {
		t.Fatalf("ack: %d %s", r.status, r.body)
	}
	var a InboxAcked
	decodeStrict(t, r.body, &a)
	return a.Acked
}

func pageSeqs(p InboxPage) string {
	var s []string
	for _, m := range p.Messages {
		s = append(s, fmt.Sprint(m.Seq))
	}
	return strings.Join(s, ",")
}

// inboxParties registers Alice and Bob with one Identity Agent each.
func inboxParties(t *testing.T, ie *inboxEnv) (alice, aliceWork, bob, bobWork *idParty) {
	alice, bob = newKeyParty(t, "alice"), newKeyParty(t, "bob")
	ie.register(t, alice)
	ie.register(t, bob)
	aliceWork = ie.bind(t, alice, "alice-work", binding.RoleIdentity, "work")
	bobWork = ie.bind(t, bob, "bob-work", binding.RoleIdentity, "work")
	return
}

func TestInboxListAckRestart(t *testing.T) {
	ie := newInboxEnv(t, 0)
	alice, aliceWork, _, bobWork := inboxParties(t, ie)
	if p := ie.list(t, bobWork, ""); len(p.Messages) != 0 || p.NextAfter != 0 || p.Agent != bobWork.did {
		t.Fatalf("empty inbox: %+v", p)
	}
	var sent []mailbox.Message
	for n := 1; n <= 5; n++ {
		sent = append(sent, ie.put(t, aliceWork, alice, bobWork, n))
	}
	p := ie.list(t, bobWork, "")
	if pageSeqs(p) != "1,2,3,4,5" || p.NextAfter != 5 {
		t.Fatalf("list: %s next %d", pageSeqs(p), p.NextAfter)
	}
	m, want := p.Messages[0], sent[0]
	if m.ID != want.ID || m.From != aliceWork.did || m.FromOwner != alice.did || m.Content != want.Content ||
		m.ContentDigest != want.ContentDigest || m.DecisionIndex != want.DecisionIndex || !m.Time.Equal(want.Time) ||
		m.Action != "message/send" || m.Resource != "meeting/1" {
		t.Errorf("message %+v, sent %+v", m, want)
	}
	// The decision index names the entry that carried the message.
	if b, err := ie.log.Entry(m.DecisionIndex); err != nil || !strings.Contains(string(b), want.ID) {
		t.Errorf("entry %d: %s %v", m.DecisionIndex, b, err)
	}
	// Pages.
	p = ie.list(t, bobWork, "?limit=2")
	if pageSeqs(p) != "1,2" || p.NextAfter != 2 {
		t.Errorf("page 1: %s next %d", pageSeqs(p), p.NextAfter)
	}
	p = ie.list(t, bobWork, "?after=2&limit=2")
	if pageSeqs(p) != "3,4" || p.NextAfter != 4 {
		t.Errorf("page 2: %s next %d", pageSeqs(p), p.NextAfter)
	}
	p = ie.list(t, bobWork, "?after=5")
	if len(p.Messages) != 0 || p.NextAfter != 5 {
		t.Errorf("past the end: %s next %d", pageSeqs(p), p.NextAfter)
	}
	// The sender's inbox is its own.
	if p := ie.list(t, aliceWork, ""); len(p.Messages) != 0 {
		t.Errorf("sender's inbox: %s", pageSeqs(p))
	}

	// Ack two (one twice, one unknown): listed again until acknowledged.
	size := ie.log.Size()
	if n := ie.ack(t, bobWork, sent[0].ID, sent[2].ID, sent[2].ID, "msg-unknown"); n != 2 {
		t.Errorf("acked %d, want 2", n)
	}
	if n := ie.ack(t, bobWork, sent[0].ID); n != 0 {
		t.Errorf("acked again: %d", n)
	}
	if n := ie.ack(t, bobWork); n != 0 {
		t.Errorf("acked nothing: %d", n)
	}
	if ie.log.Size() != size {
		t.Errorf("acknowledgements were logged")
	}
	if got := pageSeqs(ie.list(t, bobWork, "")); got != "2,4,5" {
		t.Errorf("after ack: %s", got)
	}
	// Redelivery of an acknowledged message (the orchestrator retried)
	// does not show it again.
	ie.put(t, aliceWork, alice, bobWork, 1)

	// A new process over the same database.
	ie.restart()
	if got := pageSeqs(ie.list(t, bobWork, "")); got != "2,4,5" {
		t.Errorf("after restart: %s", got)
	}
	if n := ie.ack(t, bobWork, sent[1].ID, sent[3].ID, sent[4].ID); n != 3 {
		t.Errorf("acked after restart: %d", n)
	}
	if p := ie.list(t, bobWork, ""); len(p.Messages) != 0 {
		t.Errorf("left: %s", pageSeqs(p))
	}
}

func TestInboxRefusals(t *testing.T) {
	ie := newInboxEnv(t, 0)
	alice, aliceWork, bob, bobWork := inboxParties(t, ie)
	m := ie.put(t, aliceWork, alice, bobWork, 1)
	stranger := newKeyParty(t, "stranger")
	list := func(p *idParty, d, query string) func() response {
		return func() response { r, _ := ie.call(p, "GET", inboxPath(d)+query, nil); return r }
	}
	ack := func(p *idParty, d string, body any) func() response {
		return func() response { r, _ := ie.call(p, "POST", inboxPath(d)+"/ack", body); return r }
	}
	raw := func(p *idParty, d, body string) func() response {
		return func() response {
			s := ie.sign(p, "POST", inboxPath(d)+"/ack", []byte(body))
			return ie.send(s)
		}
	}
	many := make([]string, maxAckIDs+1)
	for i := range many {
		many[i] = fmt.Sprintf("msg-%d", i)
	}
	for _, tc := range []struct {
		name   string
		status int
		code   string
		send   func() response
	}{
		{"unsigned list", 401, string(request.CodeHeaderMissing), func() response {
			return ie.do("GET", inboxPath(bobWork.did), nil, nil)
		}},
		{"unsigned ack", 401, string(request.CodeHeaderMissing), func() response {
			return ie.do("POST", inboxPath(bobWork.did)+"/ack", http.Header{"Content-Type": {"application/json"}}, []byte(`{"ids":[]}`))
		}},
		{"another agent lists", 403, CodeInboxNotYours, list(aliceWork, bobWork.did, "")},
		{"the recipient's owner lists", 403, CodeInboxNotYours, list(bob, bobWork.did, "")},
		{"another agent acks", 403, CodeInboxNotYours, ack(aliceWork, bobWork.did, InboxAck{IDs: []string{m.ID}})},
		{"an owner's own DID", 403, registry.CodeAgentNotFound, list(bob, bob.did, "")},
		{"a stranger's own DID", 403, registry.CodeAgentNotFound, list(stranger, stranger.did, "")},
		{"after not canonical", 400, CodeBadRequest, list(bobWork, bobWork.did, "?after=01")},
		{"after negative", 400, CodeBadRequest, list(bobWork, bobWork.did, "?after=-1")},
		{"after too big", 400, CodeBadRequest, list(bobWork, bobWork.did, "?after=18446744073709551616")},
		{"limit zero", 400, CodeBadRequest, list(bobWork, bobWork.did, "?limit=0")},
		{"limit too big", 400, CodeBadRequest, list(bobWork, bobWork.did, "?limit=1001")},
		{"unknown parameter", 400, CodeBadRequest, list(bobWork, bobWork.did, "?since=1")},
		{"repeated parameter", 400, CodeBadRequest, list(bobWork, bobWork.did, "?after=1&after=2")},
		{"malformed query", 400, CodeBadRequest, list(bobWork, bobWork.did, "?after=%zz")},
		{"ack without ids", 400, CodeBadJSON, raw(bobWork, bobWork.did, `{}`)},
		{"ack ids null", 400, CodeBadJSON, raw(bobWork, bobWork.did, `{"ids":null}`)},
		{"ack unknown member", 400, CodeBadJSON, raw(bobWork, bobWork.did, `{"ids":[],"all":true}`)},
		{"ack not an object", 400, CodeBadJSON, raw(bobWork, bobWork.did, `["x"]`)},
		{"ack malformed id", 400, CodeBadRequest, ack(bobWork, bobWork.did, InboxAck{IDs: []string{"a b"}})},
		{"ack too many ids", 400, CodeBadRequest, ack(bobWork, bobWork.did, InboxAck{IDs: many})},
	} {
		t.Run(tc.name, func(t *testing.T) { ie.refuse(t, tc.status, tc.code, tc.send) })
	}
	// A replayed list request is refused like any signed request.
	r, s := ie.call(bobWork, "GET", inboxPath(bobWork.did), nil)
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	wantError(t, ie.send(s), 401, string(request.CodeReplayed))
	// Nothing above acknowledged the message.
	if got := pageSeqs(ie.list(t, bobWork, "")); got != "1" {
		t.Errorf("left: %q", got)
	}
	// An unbound agent has no inbox any more.
	if r, _ := ie.call(bob, "DELETE", agentPath(bobWork.did), nil); r.status != 200 {
		t.Fatalf("unbind: %d %s", r.status, r.body)
	}
	ie.refuse(t, 403, registry.CodeAgentUnbound, list(bobWork, bobWork.did, ""))
	ie.refuse(t, 403, registry.CodeAgentUnbound, ack(bobWork, bobWork.did, InboxAck{IDs: []string{m.ID}}))
}

func TestInboxFullRefusesDelivery(t *testing.T) {
	ie := newInboxEnv(t, 2)
	alice, aliceWork, _, bobWork := inboxParties(t, ie)
	ie.put(t, aliceWork, alice, bobWork, 1)
	ie.put(t, aliceWork, alice, bobWork, 2)
	_, err := ie.log.Append(context.Background(), &transparency.Entry{Version: 1, Type: "message.delivered",
		Time: ie.clock.Now()}, func(tx *store.Tx) error {
		_, err := ie.srv.deliver(tx, mailbox.Message{ID: "msg-3", From: aliceWork.did, FromOwner: alice.did,
			To: bobWork.did, Action: "message/send", Time: ie.clock.Now().UTC()})
		return err
	})
	if mailbox.CodeOf(err) != mailbox.CodeInboxFull {
		t.Fatalf("deliver to a full inbox: %v", err)
	}
	// Without inboxes configured, deliver refuses rather than drops.
	if _, err := (&Server{}).deliver(nil, mailbox.Message{}); err == nil {
		t.Errorf("deliver without a mailbox succeeded")
	}
}

// TestInboxDocumented: the inbox routes and CodeInboxNotYours are in
// spec/openapi.yaml, and the inbox routes are off without a mailbox.
func TestInboxDocumented(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, rt := range (&Server{}).inboxRoutes() {
		head := "\n  " + rt.path + ":\n"
		i := strings.Index(spec, head)
		if i < 0 {
			t.Errorf("%s is not documented", rt.path)
			continue
		}
		rest := spec[i+len(head)-1:]
		if j := strings.Index(rest, "\n  /"); j >= 0 {
			rest = rest[:j]
		}
		if !strings.Contains(rest, "\n    "+strings.ToLower(rt.method)+":\n") {
			t.Errorf("%s %s is not documented", rt.method, rt.path)
		}
	}
	if !strings.Contains(spec, "                - "+CodeInboxNotYours+"\n") || !strings.Contains(spec, "| `"+CodeInboxNotYours+"` |") {
		t.Errorf("%s is not in the Error enum and table", CodeInboxNotYours)
	}
	for _, rt := range (&Server{registry: &registry.Registry{}}).routeTable() {
		if strings.Contains(rt.path, "/inbox") {
			t.Errorf("%s routed without a mailbox", rt.path)
		}
	}
}

// FuzzInboxQuery: parseInboxQuery never panics, refuses with a 400 only,
// and what it accepts is the canonical query it was given.
func FuzzInboxQuery(f *testing.F) {
	for _, s := range []string{"", "after=0", "after=5&limit=10", "limit=1000", "after=01", "limit=0", "x=1", "after=%zz", "after=1&after=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		after, limit, err := parseInboxQuery(raw)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if limit < 1 || limit > maxInboxLimit {
			t.Fatalf("%q: limit %d", raw, limit)
		}
		q, _ := url.ParseQuery(raw)
		if v := q.Get("after"); v != "" && v != fmt.Sprint(after) {
			t.Fatalf("%q: after %d", raw, after)
		}
		if v := q.Get("limit"); v != "" && v != fmt.Sprint(limit) {
			t.Fatalf("%q: limit %d", raw, limit)
		}
	})
}
