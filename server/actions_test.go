package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/binding"
)

func TestActionAllowedIdempotentAndRead(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	body := a.send("urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100")
	body["content_digest"] = transparency.DigestSHA256(sha256.Sum256([]byte("lunch on Tuesday?")))
	want := transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "message/send",
		Resource: "calendar/2026-12-01", Counterparty: f.bob.did, Decision: transparency.DecisionAllowed}
	d := a.mustDecide(t, f.work, body, http.StatusOK, want, `allow by scope "msg"`)
	if d.resp.Escalate != "" || d.r.header.Get("Idempotent-Replay") != "" {
		t.Errorf("answer %+v %v", d.resp, d.r.header)
	}

	// The same id and fields: the stored decision, nothing logged.
	before := a.snap(t)
	r, _ := a.act(f.work, body)
	var again ActionResponse
	decodeStrict(t, r.body, &again)
	if r.status != http.StatusOK || r.header.Get("Idempotent-Replay") != "true" || again.Index != d.resp.Index ||
		again.Decision != d.resp.Decision || again.Reason != d.resp.Reason {
		t.Errorf("replay by id: %d %v %+v", r.status, r.header, again)
	}
	a.unchanged(t, before)
	// The digest given or computed from the content is the same field.
	delete(body, "content_digest")
	if r, _ := a.act(f.work, body); r.status != http.StatusOK || r.header.Get("Idempotent-Replay") != "true" {
		t.Errorf("same fields without content_digest: %d %s", r.status, r.body)
	}
	// The same id with other fields.
	other := a.send(body["id"].(string))
	other["resource"] = "calendar/2026-12-02"
	a.refuse(t, http.StatusConflict, CodeActionIDConflict, func() response { r, _ := a.act(f.work, other); return r })
	other = a.send(body["id"].(string))
	other["content"] = "dinner instead?"
	a.refuse(t, http.StatusConflict, CodeActionIDConflict, func() response { r, _ := a.act(f.work, other); return r })
	// Another agent may use the same id for its own action.
	a.mustDecide(t, f.home, map[string]any{"id": body["id"], "action": "message/send", "resource": "x",
		"counterparty": f.bob.did, "credential": a.workCred}, http.StatusOK,
		transparency.Entry{Actor: f.home.did, Owner: f.owner.did, Action: "message/send", Resource: "x",
			Counterparty: f.bob.did, Decision: transparency.DecisionDenied}, "grant_subject_mismatch: ")

	// A replayed signed request is refused before any decision.
	_, s := a.act(f.work, a.send("replayed-request-0001"))
	a.refuse(t, http.StatusUnauthorized, string(request.CodeReplayed), func() response { return a.send2(s) })

	// Reading the decision: the agent, its owner; nobody else.
	id := body["id"].(string)
	for _, tc := range []struct {
		name  string
		p     *idParty
		agent string
	}{{"agent", f.work, ""}, {"agent naming itself", f.work, f.work.did}, {"owner", f.owner, f.work.did}} {
		r := a.getAction(tc.p, id, tc.agent)
		if r.status != http.StatusOK {
			t.Fatalf("%s: GET: %d %s", tc.name, r.status, r.body)
		}
		var got ActionResponse
		decodeStrict(t, r.body, &got)
		if got.Index != d.resp.Index || got.Decision != transparency.DecisionAllowed || got.ID != id {
			t.Errorf("%s: %+v", tc.name, got)
		}
		rc, err := transparency.ParseReceipt(got.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		if vr, err := transparency.VerifyReceipt(rc, a.verifier); err != nil || vr.Index != d.resp.Index {
			t.Errorf("%s: receipt %v", tc.name, err)
		}
	}
	wantError(t, a.getAction(f.bob, id, f.work.did), http.StatusForbidden, CodeActionForbidden)
	wantError(t, a.getAction(f.home, id, f.work.did), http.StatusForbidden, CodeActionForbidden)
	wantError(t, a.getAction(f.bobAgent, id, ""), http.StatusNotFound, CodeNotFound)
	wantError(t, a.getAction(f.work, "urn:uuid:00000000-0000-4000-8000-000000000000", ""), http.StatusNotFound, CodeNotFound)

	// Decisions survive a restart.
	a.restart()
	if r := a.getAction(f.owner, id, f.work.did); r.status != http.StatusOK {
		t.Errorf("after restart: %d %s", r.status, r.body)
	}
}

// send2 resends a signed request as it was.
func (a *actionEnv) send2(s idSigned) response { return a.idEnv.send(s) }

func TestActionDecisions(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	deniedBy := func(p *idParty, owner string, authz *transparency.AuthzRef, action, resource, cp string) transparency.Entry {
		return transparency.Entry{Actor: p.did, Owner: owner, Authz: authz, Action: action, Resource: resource,
			Counterparty: cp, Decision: transparency.DecisionDenied}
	}
	t.Run("constraint violated", func(t *testing.T) {
		a.mustDecide(t, f.work, map[string]any{"id": "files-read-000001", "action": "file/read", "resource": "files/a",
			"args": map[string]any{"size": 11}, "credential": a.workCred}, http.StatusOK,
			deniedBy(f.work, f.owner.did, a.authz(), "file/read", "files/a", ""),
			`deny: constraint_failed: scope "files" size <= 10 (got 11)`)
	})
	t.Run("escalated", func(t *testing.T) {
		d := a.mustDecide(t, f.work, map[string]any{"id": "payment-00000001", "action": "payment/send", "resource": "wallet/main",
			"args": map[string]any{"amount": 250, "currency": "EUR"}, "credential": a.workCred}, http.StatusAccepted,
			transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "payment/send",
				Resource: "wallet/main", Decision: transparency.DecisionEscalated},
			`escalate by scope "pay": constraint_failed`)
		if d.resp.Escalate != itoa(d.resp.Index) {
			t.Errorf("escalation %q, want the entry's index %d", d.resp.Escalate, d.resp.Index)
		}
		r := a.getAction(f.work, "payment-00000001", "")
		var got ActionResponse
		decodeStrict(t, r.body, &got)
		if got.Decision != transparency.DecisionEscalated || got.Escalate != d.resp.Escalate {
			t.Errorf("read back %+v", got)
		}
	})
	t.Run("not a contact, by the contacts scope", func(t *testing.T) {
		a.mustDecide(t, f.work, map[string]any{"id": "to-carol-0000001", "action": "message/send", "resource": "x",
			"counterparty": a.carol.did, "credential": a.workCred}, http.StatusOK,
			deniedBy(f.work, f.owner.did, a.authz(), "message/send", "x", a.carol.did), "deny: counterparty_not_allowed")
	})
	t.Run("not a contact, named by the scope", func(t *testing.T) {
		a.mustDecide(t, f.work, map[string]any{"id": "to-carol-0000002", "action": "message/send", "resource": "direct/x",
			"counterparty": a.carol.did, "credential": a.workCred}, http.StatusOK,
			deniedBy(f.work, f.owner.did, a.authz(), "message/send", "direct/x", a.carol.did), ReasonNotAContact+": ")
	})
	t.Run("to the counterparty's Manager Agent", func(t *testing.T) {
		// A Manager Agent is never a contact mapping: even named by the
		// scope, it is not a contact.
		a.mustDecide(t, f.work, map[string]any{"id": "to-bob-mgr-00001", "action": "message/send", "resource": "direct/x",
			"counterparty": a.bobMgr.did, "credential": a.workCred}, http.StatusOK,
			deniedBy(f.work, f.owner.did, a.authz(), "message/send", "direct/x", a.bobMgr.did), ReasonNotAContact+": ")
	})
	t.Run("from a Manager Agent outward", func(t *testing.T) {
		a.mustDecide(t, f.mgr, map[string]any{"id": "from-mgr-0000001", "action": "message/send", "resource": "x",
			"counterparty": f.bob.did, "credential": a.workCred}, http.StatusOK,
			deniedBy(f.mgr, f.owner.did, nil, "message/send", "x", f.bob.did), ReasonManagerIsolation+": ")
	})
	t.Run("no scope", func(t *testing.T) {
		a.mustDecide(t, f.work, map[string]any{"id": "delete-000000001", "action": "file/delete", "resource": "files/a",
			"credential": a.workCred}, http.StatusOK,
			deniedBy(f.work, f.owner.did, a.authz(), "file/delete", "files/a", ""), "deny: no_scope")
	})
	t.Run("unknown credential", func(t *testing.T) {
		a.mustDecide(t, f.work, map[string]any{"id": "unknown-cred-001", "action": "file/read", "resource": "files/a",
			"credential": "urn:uuid:00000000-0000-4000-8000-000000000000"}, http.StatusOK,
			deniedBy(f.work, f.owner.did, nil, "file/read", "files/a", ""), "grant_not_found: ")
	})
	t.Run("unbound agent", func(t *testing.T) {
		temp := a.bind(t, f.owner, "temp", binding.RoleIdentity, "temp")
		before := a.publicAgent(t, temp.did)
		a.mustMutate(t, f.owner, "DELETE", agentPath(temp.did), nil, http.StatusOK, transparency.Entry{
			Type: "agent.unbound", Actor: f.owner.did, Owner: f.owner.did, Subject: temp.did,
			Authz: &transparency.AuthzRef{Credential: before.CredentialID, Digest: before.CredentialDigest}})
		a.mustDecide(t, temp, map[string]any{"id": "unbound-00000001", "action": "file/read", "resource": "files/a",
			"credential": a.workCred}, http.StatusOK,
			deniedBy(temp, f.owner.did, nil, "file/read", "files/a", ""), ReasonAgentUnbound+": ")
	})
}

func TestActionRecipientRefuses(t *testing.T) {
	a := newActionEnv(t, false)
	f := a.f
	a.mustDecide(t, f.work, a.send("no-recipient-0001"), http.StatusOK, transparency.Entry{Actor: f.work.did, Owner: f.owner.did,
		Authz: a.authz(), Action: "message/send", Resource: "calendar/2026-12-01", Counterparty: f.bob.did,
		Decision: transparency.DecisionDenied}, ReasonRecipientRefuses+": ")
}

func TestActionRevokedParent(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	root, child := a.chain(t, f)
	send := func(id string) map[string]any {
		return map[string]any{"id": id, "action": "message/send", "resource": "work/plan", "counterparty": f.bob.did, "credential": child}
	}
	rec, err := a.grants.Get(child)
	if err != nil {
		t.Fatal(err)
	}
	authz := &transparency.AuthzRef{Credential: child, Digest: rec.Digest}
	want := transparency.Entry{Actor: f.home.did, Owner: f.owner.did, Authz: authz, Action: "message/send",
		Resource: "work/plan", Counterparty: f.bob.did}
	// home faces nobody: Alice's contact with Bob is mapped to work, but
	// the contact is the owners', so home may message Bob too.
	want.Decision = transparency.DecisionAllowed
	a.mustDecide(t, f.home, send("child-before-0001"), http.StatusOK, want, `allow by scope "msg-work"`)
	a.revoke(t, f.owner, root, []string{child})
	// Revoking the root revokes the child with it (spec/grants.md §3): the
	// child's own status bit decides first.
	want.Decision = transparency.DecisionDenied
	a.mustDecide(t, f.home, send("child-after-00001"), http.StatusOK, want, "grant_revoked: ")
}

func TestActionRefusals(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	ok := func() map[string]any { return a.send("refused-request-01") }
	with := func(k string, v any) map[string]any { b := ok(); b[k] = v; return b }
	without := func(k string) map[string]any { b := ok(); delete(b, k); return b }
	stranger := newKeyParty(t, "stranger")
	for _, tc := range []struct {
		name   string
		p      *idParty
		body   any
		status int
		code   string
	}{
		{"not an agent", stranger, ok(), http.StatusForbidden, CodeNotAnAgent},
		{"an owner", f.owner, ok(), http.StatusForbidden, CodeNotAnAgent},
		{"bad id", f.work, with("id", "short"), http.StatusBadRequest, CodeBadJSON},
		{"uppercase uuid", f.work, with("id", "urn:uuid:0F0E0D0C-0B0A-4908-8706-050403020100"), http.StatusBadRequest, CodeBadJSON},
		{"no action", f.work, without("action"), http.StatusBadRequest, CodeBadJSON},
		{"no resource", f.work, without("resource"), http.StatusBadRequest, CodeBadJSON},
		{"no credential", f.work, without("credential"), http.StatusBadRequest, CodeBadJSON},
		{"message without counterparty", f.work, without("counterparty"), http.StatusBadRequest, CodeBadJSON},
		{"counterparty not a DID", f.work, with("counterparty", "bob"), http.StatusBadRequest, CodeBadJSON},
		{"unknown member", f.work, with("extra", 1), http.StatusBadRequest, CodeBadJSON},
		{"args not an object", f.work, with("args", []int{1}), http.StatusBadRequest, CodeBadJSON},
		{"args null value", f.work, with("args", map[string]any{"a": nil}), http.StatusBadRequest, CodeBadJSON},
		{"args nested", f.work, with("args", map[string]any{"a": map[string]int{"b": 1}}), http.StatusBadRequest, CodeBadJSON},
		{"arg name", f.work, with("args", map[string]any{"1a": 1}), http.StatusBadRequest, CodeBadJSON},
		{"digest malformed", f.work, with("content_digest", "sha256:00"), http.StatusBadRequest, CodeBadJSON},
		{"digest mismatch", f.work, with("content_digest", "sha256:"+strings.Repeat("0", 64)), http.StatusBadRequest, CodeContentDigestMismatch},
		{"content too long", f.work, with("content", strings.Repeat("a", maxActionContent+1)), http.StatusBadRequest, CodeBadJSON},
		{"content on another action", f.work, map[string]any{"id": "refused-request-01", "action": "file/read",
			"resource": "files/a", "content": "x", "credential": a.workCred}, http.StatusBadRequest, CodeBadJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.grefuse(t, tc.status, tc.code, func() response { r, _ := a.act(tc.p, tc.body); return r })
		})
	}
	// Duplicate argument names, which encoding/json would merge.
	raw := []byte(`{"id":"refused-request-02","action":"file/read","resource":"files/a","args":{"size":1,"size":99},"credential":"` + a.workCred + `"}`)
	a.grefuse(t, http.StatusBadRequest, CodeBadJSON, func() response { return a.idEnv.send(a.sign(f.work, "POST", "/v1/actions", raw)) })
	// Unknown query parameters on the read.
	wantError(t, func() response {
		r, _ := a.call(f.work, "GET", "/v1/actions/refused-request-01?x=1", nil)
		return r
	}(), http.StatusBadRequest, CodeBadRequest)
}

// TestActionCodesDocumented: every code of the action API is in the
// Error enum and an error table, and every reason code in spec/actions.md.
func TestActionCodesDocumented(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, c := range actionCodes {
		if !strings.Contains(spec, "                - "+c+"\n") || !strings.Contains(spec, "| `"+c+"` |") {
			t.Errorf("code %s is not documented in spec/openapi.yaml", c)
		}
	}
	md, err := os.ReadFile("../spec/actions.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append([]string{ReasonAgentUnbound, ReasonAgentBindingExpired, ReasonManagerIsolation, ReasonNotAContact,
		ReasonCounterpartyAgentUnavailable, ReasonRecipientRefuses}, actionCodes...) {
		if !strings.Contains(string(md), "`"+c+"`") {
			t.Errorf("%s is not in spec/actions.md", c)
		}
	}
}

// FuzzActionBody: arbitrary bodies, signed by a bound agent, never yield
// a 5xx, and the log grows only by one action.decision entry. One server
// serves every input (as it would serve every request): an id decided by
// an earlier input answers from its stored decision or with 409.
func FuzzActionBody(f *testing.F) {
	a := newActionEnv(f, false)
	for _, s := range []string{
		`{}`, `{"id":"fuzz-request-0001","action":"message/send","resource":"x","counterparty":"did:key:z6Mk","credential":"c"}`,
		`{"id":"fuzz-request-0002","action":"file/read","resource":"files/a","args":{"size":1e9999},"credential":"urn:uuid:x"}`,
		`{"id":"fuzz-request-0003","action":"a/../b","resource":"/..","args":{"l":[1,"a"]},"credential":"x"}`,
		`{"id":"fuzz-request-0004","action":"message/send","resource":"x","counterparty":"did:x:y","content":"\u0000","content_digest":"sha256:` + strings.Repeat("a", 64) + `","credential":"x"}`,
		`[`, `{"args":{"a":1,"a":2}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a.t = t // the helpers report to this input's test (inputs run one at a time)
		size := a.log.Size()
		r := a.idEnv.send(a.sign(a.f.work, "POST", "/v1/actions", body))
		if r.status >= 500 {
			t.Fatalf("%d %s for %q", r.status, r.body, body)
		}
		switch n := a.log.Size(); {
		case n == size:
		case n == size+1:
			eb, err := a.log.Entry(size)
			if err != nil {
				t.Fatal(err)
			}
			e, err := transparency.ParseEntry(eb)
			if err != nil || e.Type != "action.decision" || r.status/100 != 2 {
				t.Errorf("logged %s (%v) with status %d", eb, err, r.status)
			}
		default:
			t.Errorf("log grew by %d", n-size)
		}
		if r.status/100 == 2 {
			// A new decision is the entry just appended; a stored one (an
			// id decided by an earlier input, same fields) is an earlier
			// action.decision of that id, answered as a replay.
			var resp ActionResponse
			err := json.Unmarshal(r.body, &resp)
			switch replay := r.header.Get("Idempotent-Replay") == "true"; {
			case err != nil:
				t.Errorf("answer %s: %v", r.body, err)
			case !replay && resp.Index != size, replay && (resp.Index >= size || a.log.Size() != size):
				t.Errorf("answer (replay %v) at index %d, log size %d before: %s", replay, resp.Index, size, r.body)
			case replay:
				eb, err := a.log.Entry(resp.Index)
				if err != nil {
					t.Fatal(err)
				}
				if e, err := transparency.ParseEntry(eb); err != nil || e.Type != "action.decision" || e.Subject != resp.ID {
					t.Errorf("replayed answer names entry %d: %s (%v)", resp.Index, eb, err)
				}
			}
		}
	})
}

// postDelivered sends an allowed message/send by the work agent that must
// be delivered, checks the answer, both receipts and the delivery entry,
// and returns the answer.
func (a *actionEnv) postDelivered(t *testing.T, body map[string]any) ActionResponse {
	t.Helper()
	f := a.f
	size := a.log.Size()
	r, _ := a.act(f.work, body)
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/actions: %d %s", r.status, r.body)
	}
	var resp ActionResponse
	decodeStrict(t, r.body, &resp)
	if resp.Decision != transparency.DecisionAllowed || resp.Delivery == nil {
		t.Fatalf("answer %+v", resp)
	}
	if n := a.log.Size(); n != size+2 {
		t.Errorf("log grew by %d entries, want 2 (decision, delivery)", n-size)
	}
	if e, i := a.verifyReceipt(t, resp.Receipt); i != resp.Index || e.Type != "action.decision" {
		t.Errorf("decision receipt: entry %d %s", i, e.Type)
	}
	id := body["id"].(string)
	dl := resp.Delivery
	mid := mailbox.MessageID(f.work.did, id)
	if dl.Message != mid || dl.Recipient != f.bobAgent.did || dl.Index != resp.Index+1 {
		t.Errorf("delivery %+v, want message %s to %s at %d", dl, mid, f.bobAgent.did, resp.Index+1)
	}
	e, i := a.verifyReceipt(t, dl.Receipt)
	digest := ""
	if c, ok := body["content"].(string); ok {
		digest = transparency.DigestSHA256(sha256.Sum256([]byte(c)))
	}
	want := &transparency.Entry{Version: transparency.EntryVersion, Type: "message.delivered", Time: a.clock.Now(),
		Actor: f.work.did, Owner: f.owner.did, Subject: mid, Action: "message/send", Resource: f.bobAgent.did,
		Counterparty: f.bob.did, Decision: transparency.DecisionAllowed, Reason: e.Reason, RequestDigest: digest}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(e)
	if i != dl.Index || !bytes.Equal(wb, gb) || !strings.HasPrefix(e.Reason, "delivered: action.decision entry "+itoa(resp.Index)+", inbox seq ") {
		t.Errorf("delivery entry %d\n%s\nwant\n%s", i, gb, wb)
	}
	return resp
}

func TestActionMessageDelivered(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 0)
	f := a.f
	body := a.send("deliver-00000001")
	resp := a.postDelivered(t, body)
	mid := resp.Delivery.Message

	page := a.inbox(t, f.bobAgent)
	if len(page.Messages) != 1 {
		t.Fatalf("inbox %+v, want one message", page)
	}
	m := page.Messages[0]
	if m.ID != mid || m.From != f.work.did || m.FromOwner != f.owner.did || m.Action != "message/send" ||
		m.Resource != "calendar/2026-12-01" || m.Content != "lunch on Tuesday?" || m.DecisionIndex != resp.Index ||
		m.ContentDigest != transparency.DigestSHA256(sha256.Sum256([]byte("lunch on Tuesday?"))) || m.Seq != 1 {
		t.Errorf("message %+v", m)
	}

	// A retry with the same id: the stored decision and delivery, nothing
	// logged, nothing delivered again.
	before := a.snap(t)
	r, _ := a.act(f.work, body)
	var again ActionResponse
	decodeStrict(t, r.body, &again)
	if r.status != http.StatusOK || r.header.Get("Idempotent-Replay") != "true" || again.Index != resp.Index ||
		again.Delivery == nil || again.Delivery.Index != resp.Delivery.Index || again.Delivery.Message != mid {
		t.Errorf("retry: %d %+v", r.status, again)
	}
	if _, i := a.verifyReceipt(t, again.Delivery.Receipt); i != resp.Delivery.Index {
		t.Errorf("retry: delivery receipt of %d", i)
	}
	a.unchanged(t, before)
	if page := a.inbox(t, f.bobAgent); len(page.Messages) != 1 {
		t.Errorf("after retry: %d messages", len(page.Messages))
	}
	// Reading the decision shows the delivery, to the agent and its owner.
	for _, p := range []*idParty{f.work, f.owner} {
		agent := ""
		if p == f.owner {
			agent = f.work.did
		}
		r := a.getAction(p, "deliver-00000001", agent)
		var got ActionResponse
		decodeStrict(t, r.body, &got)
		if r.status != http.StatusOK || got.Delivery == nil || got.Delivery.Index != resp.Delivery.Index {
			t.Errorf("GET by %s: %d %s", p.name, r.status, r.body)
		}
	}

	// Events: the sender's action.decided, the recipient's message.received,
	// nothing for the owner.
	dec := eventsOf[ActionDecidedEvent](t, a, f.work.did, EventActionDecided)
	if len(dec) != 1 || dec[0] != (ActionDecidedEvent{ID: "deliver-00000001", Decision: transparency.DecisionAllowed,
		Reason: resp.Reason, Index: resp.Index}) {
		t.Errorf("action.decided %+v", dec)
	}
	rcv := eventsOf[MessageReceivedEvent](t, a, f.bobAgent.did, EventMessageReceived)
	if len(rcv) != 1 || rcv[0] != (MessageReceivedEvent{Message: mid, From: f.work.did, FromOwner: f.owner.did, Seq: 1,
		Index: resp.Delivery.Index}) {
		t.Errorf("message.received %+v", rcv)
	}
	if evs := a.streamOf(t, f.owner.did); len(evs) != 0 {
		t.Errorf("owner stream %+v, want none for an allowed action", evs)
	}
}

func TestActionRecipientRefusesDeliversNothing(t *testing.T) {
	a := newActionEnv(t, false)
	a.withStreams(t, 0)
	f := a.f
	d := a.mustDecide(t, f.work, a.send("refused-00000001"), http.StatusOK, transparency.Entry{Actor: f.work.did, Owner: f.owner.did,
		Authz: a.authz(), Action: "message/send", Resource: "calendar/2026-12-01", Counterparty: f.bob.did,
		Decision: transparency.DecisionDenied}, ReasonRecipientRefuses+": ")
	if d.resp.Delivery != nil {
		t.Errorf("delivery %+v", d.resp.Delivery)
	}
	if page := a.inbox(t, f.bobAgent); len(page.Messages) != 0 {
		t.Errorf("inbox %+v", page)
	}
	if evs := a.streamOf(t, f.bobAgent.did); len(evs) != 0 {
		t.Errorf("recipient stream %+v", evs)
	}
	bv := eventsOf[BoundaryViolationEvent](t, a, f.owner.did, EventBoundaryViolation)
	if len(bv) != 1 || bv[0] != (BoundaryViolationEvent{ID: "refused-00000001", Agent: f.work.did, Action: "message/send",
		Resource: "calendar/2026-12-01", Counterparty: f.bob.did, Code: ReasonRecipientRefuses, Reason: d.resp.Reason, Index: d.resp.Index}) {
		t.Errorf("boundary.violation %+v", bv)
	}
}

func TestActionRecipientInboxFull(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 1)
	f := a.f
	a.postDelivered(t, a.send("inbox-full-00001"))
	d := a.mustDecide(t, f.work, a.send("inbox-full-00002"), http.StatusOK, transparency.Entry{Actor: f.work.did, Owner: f.owner.did,
		Authz: a.authz(), Action: "message/send", Resource: "calendar/2026-12-01", Counterparty: f.bob.did,
		Decision: transparency.DecisionDenied}, ReasonRecipientInboxFull+": ")
	if d.resp.Delivery != nil {
		t.Errorf("delivery %+v", d.resp.Delivery)
	}
	if page := a.inbox(t, f.bobAgent); len(page.Messages) != 1 || page.Messages[0].ID != mailbox.MessageID(f.work.did, "inbox-full-00001") {
		t.Errorf("inbox %+v", page)
	}
	// The denial is stored: a retry replays it even once the inbox has room.
	if r, _ := a.call(f.bobAgent, "POST", "/v1/agents/"+url.PathEscape(f.bobAgent.did)+"/inbox/ack",
		InboxAck{IDs: []string{mailbox.MessageID(f.work.did, "inbox-full-00001")}}); r.status != http.StatusOK {
		t.Fatalf("ack: %d %s", r.status, r.body)
	}
	r, _ := a.act(f.work, a.send("inbox-full-00002"))
	var again ActionResponse
	decodeStrict(t, r.body, &again)
	if r.header.Get("Idempotent-Replay") != "true" || again.Decision != transparency.DecisionDenied || again.Index != d.resp.Index {
		t.Errorf("retry: %d %+v", r.status, again)
	}
	// Not a boundary violation: the agent did nothing wrong.
	if bv := eventsOf[BoundaryViolationEvent](t, a, f.owner.did, EventBoundaryViolation); len(bv) != 0 {
		t.Errorf("boundary.violation %+v", bv)
	}
	dec := eventsOf[ActionDecidedEvent](t, a, f.work.did, EventActionDecided)
	if len(dec) != 2 || dec[1].Decision != transparency.DecisionDenied || dec[1].Index != d.resp.Index {
		t.Errorf("action.decided %+v", dec)
	}
}

func TestActionOwnerEvents(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 0)
	f := a.f
	esc := a.mustDecide(t, f.work, map[string]any{"id": "payment-00000001", "action": "payment/send", "resource": "wallet/main",
		"args": map[string]any{"currency": "EUR", "amount": 250}, "credential": a.workCred}, http.StatusAccepted,
		transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "payment/send",
			Resource: "wallet/main", Decision: transparency.DecisionEscalated}, `escalate by scope "pay": `)
	scopeDenied := a.mustDecide(t, f.work, map[string]any{"id": "files-read-000001", "action": "file/read", "resource": "files/a",
		"args": map[string]any{"size": 11}, "credential": a.workCred}, http.StatusOK,
		transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "file/read", Resource: "files/a",
			Decision: transparency.DecisionDenied}, "deny: constraint_failed: ")
	iso := a.mustDecide(t, f.mgr, map[string]any{"id": "from-mgr-0000001", "action": "message/send", "resource": "x",
		"counterparty": f.bob.did, "credential": a.workCred}, http.StatusOK,
		transparency.Entry{Actor: f.mgr.did, Owner: f.owner.did, Action: "message/send", Resource: "x",
			Counterparty: f.bob.did, Decision: transparency.DecisionDenied}, ReasonManagerIsolation+": ")
	// A credential failure is not a boundary violation.
	a.mustDecide(t, f.work, map[string]any{"id": "unknown-cred-001", "action": "file/read", "resource": "files/a",
		"credential": "urn:uuid:00000000-0000-4000-8000-000000000000"}, http.StatusOK,
		transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Action: "file/read", Resource: "files/a",
			Decision: transparency.DecisionDenied}, "grant_not_found: ")

	eo := eventsOf[EscalationOpenedEvent](t, a, f.owner.did, EventEscalationOpened)
	if len(eo) != 1 {
		t.Fatalf("escalation.opened %+v", eo)
	}
	want := EscalationOpenedEvent{Escalation: itoa(esc.resp.Index), ID: "payment-00000001", Agent: f.work.did,
		Action: "payment/send", Resource: "wallet/main", Args: json.RawMessage(`{"amount":250,"currency":"EUR"}`),
		Reason: esc.resp.Reason, Index: esc.resp.Index, Deadline: a.clock.Now().UTC().Add(30 * time.Minute)}
	if wb, gb := mustJSON(t, want), mustJSON(t, eo[0]); !bytes.Equal(wb, gb) {
		t.Errorf("escalation.opened\n%s\nwant\n%s", gb, wb)
	}
	bv := eventsOf[BoundaryViolationEvent](t, a, f.owner.did, EventBoundaryViolation)
	wantBV := []BoundaryViolationEvent{
		{ID: "files-read-000001", Agent: f.work.did, Action: "file/read", Resource: "files/a", Code: "denied_by_scope",
			Reason: scopeDenied.resp.Reason, Index: scopeDenied.resp.Index},
		{ID: "from-mgr-0000001", Agent: f.mgr.did, Action: "message/send", Resource: "x", Counterparty: f.bob.did,
			Code: ReasonManagerIsolation, Reason: iso.resp.Reason, Index: iso.resp.Index},
	}
	if len(bv) != 2 || bv[0] != wantBV[0] || bv[1] != wantBV[1] {
		t.Errorf("boundary.violation\n%+v\nwant\n%+v", bv, wantBV)
	}
	if n := len(a.streamOf(t, f.owner.did)); n != 3 {
		t.Errorf("owner stream has %d events, want 3", n)
	}
	if dec := eventsOf[ActionDecidedEvent](t, a, f.work.did, EventActionDecided); len(dec) != 3 ||
		dec[0] != (ActionDecidedEvent{ID: "payment-00000001", Decision: transparency.DecisionEscalated, Reason: esc.resp.Reason, Index: esc.resp.Index}) {
		t.Errorf("action.decided %+v", dec)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crashBeforeDelivery decides body for the work agent as postAction does
// but stops after the decision committed, as a crash would.
func (a *actionEnv) crashBeforeDelivery(t *testing.T, body map[string]any) actionRecord {
	t.Helper()
	s := a.grantEnv.srv
	p, err := parseAction(mustJSON(t, body))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := s.registry.Agent(a.f.work.did)
	if err != nil {
		t.Fatal(err)
	}
	now := a.clock.Now().UTC()
	vd, err := s.decideAction(context.Background(), agent, p, now)
	if err != nil {
		t.Fatal(err)
	}
	_, rec, err := s.appendDecision(context.Background(), agent, p, "", vd, now, func(*store.Tx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rec.Message == "" || rec.DeliveryIndex != 0 {
		t.Fatalf("record %+v", rec)
	}
	return rec
}

// deliveredEntries counts the message.delivered entries of message id.
func (a *actionEnv) deliveredEntries(t *testing.T, id string) []uint64 {
	t.Helper()
	var out []uint64
	for i := uint64(0); i < a.log.Size(); i++ {
		b, err := a.log.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		e, err := transparency.ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "message.delivered" && e.Subject == id {
			out = append(out, i)
		}
	}
	return out
}

func TestActionDeliveryRecovery(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 0)
	f := a.f
	rec := a.crashBeforeDelivery(t, a.send("crashed-00000001"))
	// The message is in the inbox with its decision; its entry is missing.
	if page := a.inbox(t, f.bobAgent); len(page.Messages) != 1 || page.Messages[0].ID != rec.Message {
		t.Fatalf("inbox %+v", page)
	}
	if got := a.deliveredEntries(t, rec.Message); len(got) != 0 {
		t.Fatalf("delivery entries %v before recovery", got)
	}
	// A restart recovers it, once.
	a.withStreams(t, 0)
	n, err := a.grantEnv.srv.RecoverDeliveries(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("RecoverDeliveries: %d %v", n, err)
	}
	if n, err := a.grantEnv.srv.RecoverDeliveries(context.Background()); err != nil || n != 0 {
		t.Fatalf("second RecoverDeliveries: %d %v", n, err)
	}
	got := a.deliveredEntries(t, rec.Message)
	if len(got) != 1 {
		t.Fatalf("delivery entries %v, want one", got)
	}
	rcv := eventsOf[MessageReceivedEvent](t, a, f.bobAgent.did, EventMessageReceived)
	if len(rcv) != 1 || rcv[0].Message != rec.Message || rcv[0].Index != got[0] || rcv[0].Seq != 1 {
		t.Errorf("message.received %+v", rcv)
	}
	// The retry answers with the recovered delivery.
	r, _ := a.act(f.work, a.send("crashed-00000001"))
	var again ActionResponse
	decodeStrict(t, r.body, &again)
	if r.header.Get("Idempotent-Replay") != "true" || again.Delivery == nil || again.Delivery.Index != got[0] {
		t.Errorf("retry: %d %s", r.status, r.body)
	}

	// Without a restart, the retry of the request itself appends the
	// missing entry, and recovery then has nothing to do.
	rec = a.crashBeforeDelivery(t, a.send("crashed-00000002"))
	size := a.log.Size()
	r, _ = a.act(f.work, a.send("crashed-00000002"))
	decodeStrict(t, r.body, &again)
	if r.status != http.StatusOK || again.Delivery == nil || again.Delivery.Index != size || a.log.Size() != size+1 {
		t.Errorf("retry after crash: %d %s (log %d → %d)", r.status, r.body, size, a.log.Size())
	}
	if n, err := a.grantEnv.srv.RecoverDeliveries(context.Background()); err != nil || n != 0 {
		t.Errorf("RecoverDeliveries after the retry: %d %v", n, err)
	}
	if got := a.deliveredEntries(t, rec.Message); len(got) != 1 {
		t.Errorf("delivery entries %v, want one", got)
	}
	if page := a.inbox(t, f.bobAgent); len(page.Messages) != 2 {
		t.Errorf("inbox %+v", page)
	}
}

// TestActionEventsOverSSE: an owner following its stream over HTTP is told
// of its agent's escalation as the decision commits.
func TestActionEventsOverSSE(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 0)
	f := a.f
	ev := &evEnv{idEnv: a.idEnv}
	c, r := ev.openStream(t, a.url, f.owner, ownerEventsPath(f.owner.did), nil)
	if r != nil {
		t.Fatalf("open owner stream: %d %s", r.status, r.body)
	}
	t.Cleanup(c.cancel)
	c.opened(t)
	c.live(t)
	esc := a.mustDecide(t, f.work, map[string]any{"id": "payment-00000002", "action": "payment/send", "resource": "wallet/main",
		"counterparty": f.bob.did, "args": map[string]any{"amount": 500}, "credential": a.workCred}, http.StatusAccepted,
		transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "payment/send",
			Resource: "wallet/main", Counterparty: f.bob.did, Decision: transparency.DecisionEscalated}, `escalate by scope "pay": `)
	want := EscalationOpenedEvent{Escalation: itoa(esc.resp.Index), ID: "payment-00000002", Agent: f.work.did,
		Action: "payment/send", Resource: "wallet/main", Counterparty: f.bob.did, Args: json.RawMessage(`{"amount":500}`),
		Reason: esc.resp.Reason, Index: esc.resp.Index, Deadline: a.clock.Now().UTC().Add(escalationWindow)}
	c.expectEvent(t, 1, EventEscalationOpened, string(mustJSON(t, want)))
}
