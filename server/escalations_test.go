package server

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// escalate makes the work agent's payment of amount escalate and returns
// its escalation id.
func (a *actionEnv) escalate(t *testing.T, id string) string {
	t.Helper()
	d := a.mustDecide(t, a.f.work, map[string]any{"id": id, "action": "payment/send", "resource": "wallet/main",
		"args": map[string]any{"amount": 500}, "credential": a.workCred}, http.StatusAccepted,
		transparency.Entry{Actor: a.f.work.did, Owner: a.f.owner.did, Authz: a.authz(), Action: "payment/send",
			Resource: "wallet/main", Decision: transparency.DecisionEscalated}, `escalate by scope "pay": `)
	return d.resp.Escalate
}

func (a *actionEnv) listEscalations(t *testing.T, p *idParty) []Escalation {
	t.Helper()
	r, _ := a.call(p, "GET", "/v1/escalations", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/escalations: %d %s", r.status, r.body)
	}
	var out struct {
		Owner       string       `json:"owner"`
		Escalations []Escalation `json:"escalations"`
	}
	decodeStrict(t, r.body, &out)
	return out.Escalations
}

func (a *actionEnv) answer(p *idParty, id, decision string) response {
	r, _ := a.call(p, "POST", "/v1/escalations/"+id+"/answer", map[string]any{"decision": decision})
	return r
}

func TestEscalationAnswer(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 0)
	f := a.f
	esc := a.escalate(t, "payment-esc-00001")
	l := a.listEscalations(t, f.owner)
	if len(l) != 1 || l[0].Escalation != esc || l[0].State != EscalationPending || l[0].ID != "payment-esc-00001" ||
		!l[0].Deadline.Equal(a.clock.Now().Add(escalationWindow)) {
		t.Fatalf("listed %+v", l)
	}
	if l := a.listEscalations(t, f.bob); len(l) != 0 {
		t.Errorf("bob sees %+v", l)
	}
	// Only the agent's owner answers: another owner's answer finds nothing.
	wantError(t, a.answer(f.bob, esc, "approve"), http.StatusNotFound, CodeNotFound)
	wantError(t, a.answer(f.owner, esc, "maybe"), http.StatusBadRequest, CodeBadJSON)
	wantError(t, a.answer(f.owner, "0"+esc, "approve"), http.StatusNotFound, CodeNotFound)
	size := a.log.Size()
	r := a.answer(f.owner, esc, "approve")
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	var ans EscalationAnswer
	decodeStrict(t, r.body, &ans)
	e, idx := a.verifyReceipt(t, ans.Receipt)
	if a.log.Size() != size+1 || idx != ans.Index || e.Type != "escalation.answered" || e.Actor != f.owner.did ||
		e.Owner != f.owner.did || e.Subject != esc || e.Decision != transparency.DecisionApproved ||
		e.Reason != "approved once by the owner" || e.Action != "payment/send" || e.Resource != "wallet/main" || e.RequestDigest == "" {
		t.Errorf("answer entry %+v at %d", e, idx)
	}
	var got ActionResponse
	decodeStrict(t, a.getAction(f.work, "payment-esc-00001", "").body, &got)
	if got.Answer != transparency.DecisionApproved || got.AnswerIndex != ans.Index || got.Decision != transparency.DecisionEscalated {
		t.Errorf("action after approval %+v", got)
	}
	for _, st := range []string{f.work.did, f.owner.did} {
		evs := eventsOf[EscalationAnsweredEvent](t, a, st, EventEscalationAnswered)
		if len(evs) != 1 || evs[0] != (EscalationAnsweredEvent{Escalation: esc, ID: "payment-esc-00001", Agent: f.work.did,
			Decision: transparency.DecisionApproved, Reason: "approved once by the owner", Index: ans.Index}) {
			t.Errorf("events of %s: %+v", st, evs)
		}
	}
	wantError(t, a.answer(f.owner, esc, "deny"), http.StatusConflict, CodeEscalationNotPending)
	if l := a.listEscalations(t, f.owner); len(l) != 1 || l[0].State != EscalationApproved || l[0].AnswerIndex != ans.Index {
		t.Errorf("listed after the answer %+v", l)
	}

	// Deny, and an answer after the deadline.
	esc2 := a.escalate(t, "payment-esc-00002")
	r = a.answer(f.owner, esc2, "deny")
	decodeStrict(t, r.body, &ans)
	if r.status != http.StatusOK || ans.Decision != transparency.DecisionDenied || ans.Reason != "denied by the owner" {
		t.Errorf("deny: %d %s", r.status, r.body)
	}
	esc3 := a.escalate(t, "payment-esc-00003")
	a.clock.Advance(escalationWindow)
	size = a.log.Size()
	wantError(t, a.answer(f.owner, esc3, "approve"), http.StatusGone, CodeEscalationExpired)
	if a.log.Size() != size {
		t.Errorf("a refused answer was logged")
	}
}

// TestEscalationConcurrentAnswers: of concurrent answers over HTTP,
// exactly one is logged.
func TestEscalationConcurrentAnswers(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	esc := a.escalate(t, "payment-race-0001")
	size := a.log.Size()
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = a.answer(f.owner, esc, []string{"approve", "deny"}[i%2]).status
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 || a.log.Size() != size+1 {
		t.Errorf("%d answers won, log grew by %d", ok, a.log.Size()-size)
	}
}

// TestEscalationExpiry: a pending escalation survives a restart and times
// out after it, once.
func TestEscalationExpiry(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	esc := a.escalate(t, "payment-exp-00001")
	a.withStreams(t, 0) // a restart
	ctx := context.Background()
	if n, err := a.srv.ExpireEscalations(ctx, a.clock.Now()); n != 0 || err != nil {
		t.Fatalf("expired %d before the deadline: %v", n, err)
	}
	if l := a.listEscalations(t, f.owner); len(l) != 1 || l[0].State != EscalationPending {
		t.Fatalf("after restart %+v", l)
	}
	a.clock.Advance(escalationWindow)
	size := a.log.Size()
	if n, err := a.srv.ExpireEscalations(ctx, a.clock.Now()); n != 1 || err != nil {
		t.Fatalf("expired %d: %v", n, err)
	}
	if n, err := a.srv.ExpireEscalations(ctx, a.clock.Now()); n != 0 || err != nil {
		t.Fatalf("expired %d again: %v", n, err)
	}
	if a.log.Size() != size+1 {
		t.Errorf("log grew by %d", a.log.Size()-size)
	}
	l := a.listEscalations(t, f.owner)
	if len(l) != 1 || l[0].State != EscalationTimedOut {
		t.Fatalf("after expiry %+v", l)
	}
	var got ActionResponse
	decodeStrict(t, a.getAction(f.work, "payment-exp-00001", "").body, &got)
	if got.Answer != transparency.DecisionTimedOut || got.AnswerIndex != l[0].AnswerIndex {
		t.Errorf("action %+v", got)
	}
	wantError(t, a.answer(f.owner, esc, "approve"), http.StatusConflict, CodeEscalationNotPending)
	evs := eventsOf[EscalationAnsweredEvent](t, a, f.owner.did, EventEscalationAnswered)
	if len(evs) != 1 || evs[0].Decision != transparency.DecisionTimedOut || !strings.HasPrefix(evs[0].Reason, "timed out") {
		t.Errorf("events %+v", evs)
	}
}

// TestEscalationCodesDocumented: every escalation code is in the Error
// enum and an error table of spec/openapi.yaml and in spec/escalations.md.
func TestEscalationCodesDocumented(t *testing.T) {
	spec, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("../spec/escalations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range escalationCodes {
		if !strings.Contains(string(spec), "                - "+c+"\n") || !strings.Contains(string(spec), "| `"+c+"` |") {
			t.Errorf("code %s is not documented in spec/openapi.yaml", c)
		}
		if !strings.Contains(string(md), "`"+c+"`") {
			t.Errorf("code %s is not in spec/escalations.md", c)
		}
	}
}

// TestEscalationApprovedMessage: an approved message/send is delivered to
// the recipient's inbox with its message.delivered entry.
func TestEscalationApprovedMessage(t *testing.T) {
	a := newActionEnv(t, true)
	a.withStreams(t, 0)
	f := a.f
	esc := a.heldMessage(t, "message-esc-00001", "held for approval")
	if page := a.inbox(t, f.bobAgent); len(page.Messages) != 0 {
		t.Fatalf("delivered before the answer: %+v", page)
	}
	r := a.answer(f.owner, esc, "approve")
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	var ans EscalationAnswer
	decodeStrict(t, r.body, &ans)
	if ans.Delivery == nil || ans.Delivery.Recipient != f.bobAgent.did || ans.Delivery.Index != ans.Index+1 {
		t.Fatalf("delivery %+v (answer at %d)", ans.Delivery, ans.Index)
	}
	e, _ := a.verifyReceipt(t, ans.Delivery.Receipt)
	if e.Type != "message.delivered" || e.Actor != f.work.did || e.Counterparty != f.bob.did {
		t.Errorf("delivery entry %+v", e)
	}
	page := a.inbox(t, f.bobAgent)
	if len(page.Messages) != 1 || page.Messages[0].Content != "held for approval" || page.Messages[0].ID != ans.Delivery.Message {
		t.Errorf("inbox %+v", page)
	}
	var got ActionResponse
	decodeStrict(t, a.getAction(f.work, "message-esc-00001", "").body, &got)
	if got.Delivery == nil || got.Delivery.Index != ans.Delivery.Index || got.Answer != transparency.DecisionApproved {
		t.Errorf("action %+v", got)
	}
}

// heldMessage grants the work agent message/send with a constraint that
// n <= 1 and "outside": "escalate", sends content to Bob with n = 5, and
// returns the escalation id of the held action.
func (a *actionEnv) heldMessage(t *testing.T, id, content string) string {
	t.Helper()
	f := a.f
	body, credID := a.issue(t, cred{issuer: f.owner, subject: f.work.did,
		scopes: `[{"id":"big","effect":"allow","actions":["message/send"],"resources":["big/**"],"counterparties":["contacts"],` +
			`"constraints":[{"arg":"n","op":"<=","value":1}],"outside":"escalate"}]`,
		status: a.allocate(t, f.owner, f.owner.did, false)})
	a.mustGrant(t, f.owner, f.owner.did, body, credID, "")
	r, _ := a.act(f.work, map[string]any{"id": id, "action": "message/send", "resource": "big/x",
		"counterparty": f.bob.did, "args": map[string]any{"n": 5}, "content": content, "credential": credID})
	if r.status != http.StatusAccepted {
		t.Fatalf("escalate: %d %s", r.status, r.body)
	}
	var d ActionResponse
	decodeStrict(t, r.body, &d)
	return d.Escalate
}

// FuzzEscalationAnswer: arbitrary answer bodies and ids, signed by the
// owner, never yield a 5xx, and the log grows only by one
// escalation.answered entry for an accepted answer.
func FuzzEscalationAnswer(f *testing.F) {
	for _, s := range [][2]string{
		{`{"decision":"approve"}`, ""}, {`{"decision":"deny"}`, "0"}, {`{"decision":"approve","widen":{}}`, ""}, {`{"decision":"approve","widen":{"credential":"a.b.c"}}`, ""},
		{`{"decision":"approve","decision":"deny"}`, ""}, {`[`, "1"}, {`{}`, "99999999999999999999"}, {`{"decision":null}`, "-1"},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		a := newActionEnv(t, false)
		esc := a.escalate(t, "payment-fuzz-0001")
		if id == "" {
			id = esc
		}
		size := a.log.Size()
		r := a.idEnv.send(a.sign(a.f.owner, "POST", "/v1/escalations/"+url.PathEscape(id)+"/answer", body))
		if r.status >= 500 {
			t.Fatalf("%d %s for %q", r.status, r.body, body)
		}
		switch n := a.log.Size(); {
		case n == size:
			if r.status/100 == 2 {
				t.Errorf("accepted without an entry: %s", r.body)
			}
		case n == size+1:
			eb, err := a.log.Entry(size)
			if err != nil {
				t.Fatal(err)
			}
			e, err := transparency.ParseEntry(eb)
			if err != nil || e.Type != "escalation.answered" || r.status != http.StatusOK || e.Subject != esc {
				t.Errorf("logged %s (%v) with status %d", eb, err, r.status)
			}
		default:
			t.Errorf("log grew by %d", n-size)
		}
	})
}

// TestEscalationApproveAndWiden: the owner approves while registering a
// wider delegation; the next such action is allowed under it.
func TestEscalationApproveAndWiden(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	esc := a.escalate(t, "payment-widen-001")
	wider := `[{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["**"],"constraints":[{"arg":"amount","op":"<=","value":1000}]}]`
	other, _ := a.issue(t, cred{issuer: f.owner, subject: f.home.did, scopes: wider, status: a.allocate(t, f.owner, f.owner.did, false)})
	size := a.log.Size()
	r, _ := a.call(f.owner, "POST", "/v1/escalations/"+esc+"/answer", map[string]any{"decision": "approve", "widen": other})
	wantError(t, r, http.StatusUnprocessableEntity, CodeWidenSubjectMismatch)
	r, _ = a.call(f.owner, "POST", "/v1/escalations/"+esc+"/answer", map[string]any{"decision": "deny", "widen": other})
	wantError(t, r, http.StatusBadRequest, CodeBadJSON)
	if a.log.Size() != size {
		t.Fatalf("a refused widening was logged")
	}
	body, credID := a.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: wider, status: a.allocate(t, f.owner, f.owner.did, false)})
	size = a.log.Size()
	r, _ = a.call(f.owner, "POST", "/v1/escalations/"+esc+"/answer", map[string]any{"decision": "approve", "widen": body})
	if r.status != http.StatusOK {
		t.Fatalf("approve and widen: %d %s", r.status, r.body)
	}
	var ans EscalationAnswer
	decodeStrict(t, r.body, &ans)
	if ans.Widened == nil || ans.Widened.Credential != credID || ans.Widened.Index != size || ans.Index != size+1 || a.log.Size() != size+2 {
		t.Fatalf("answer %+v, log %d -> %d", ans, size, a.log.Size())
	}
	g, _ := a.verifyReceipt(t, ans.Widened.Receipt)
	e, _ := a.verifyReceipt(t, ans.Receipt)
	if g.Type != "vc.granted" || e.Type != "escalation.answered" || e.Decision != transparency.DecisionApproved ||
		e.Authz == nil || e.Authz.Credential != credID || e.Reason != "approved by the owner, scope widened by credential "+credID {
		t.Errorf("entries %+v %+v", g, e)
	}
	a.mustDecide(t, f.work, map[string]any{"id": "payment-widen-002", "action": "payment/send", "resource": "wallet/main",
		"args": map[string]any{"amount": 500}, "credential": credID}, http.StatusOK,
		transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: e.Authz, Action: "payment/send",
			Resource: "wallet/main", Decision: transparency.DecisionAllowed}, `allow by scope "pay"`)
	r, _ = a.call(f.owner, "POST", "/v1/escalations/"+esc+"/answer", map[string]any{"decision": "approve", "widen": body})
	wantError(t, r, http.StatusConflict, CodeEscalationNotPending)
}
