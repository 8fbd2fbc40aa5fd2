package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
)

// TestEscalationStale: an approval re-runs the checks the owner's answer
// cannot cure. When the world changed since the decision (the agent
// unbound, the contact ended, the recipient no longer accepting), the
// approval is refused with 409 escalation_stale, nothing is logged or
// delivered, and the escalation stays pending: the owner can still deny
// it, or it times out.
func TestEscalationStale(t *testing.T) {
	// refused checks that approving esc is refused as stale with reason
	// in its message, changing nothing, and that a denial still works.
	refused := func(t *testing.T, a *actionEnv, esc, reason string) {
		t.Helper()
		size := a.log.Size()
		r := a.answer(a.f.owner, esc, "approve")
		wantError(t, r, http.StatusConflict, CodeEscalationStale)
		if !strings.Contains(string(r.body), reason) {
			t.Errorf("refusal does not name %s: %s", reason, r.body)
		}
		if a.log.Size() != size {
			t.Fatalf("a refused approval logged %d entries", a.log.Size()-size)
		}
		if l := a.listEscalations(t, a.f.owner); len(l) == 0 || l[0].Escalation != esc || l[0].State != EscalationPending {
			t.Fatalf("after the refusal: %+v", l)
		}
		if page := a.inbox(t, a.f.bobAgent); len(page.Messages) != 0 {
			t.Fatalf("delivered: %+v", page)
		}
		if r := a.answer(a.f.owner, esc, "deny"); r.status != http.StatusOK {
			t.Fatalf("deny after the refusal: %d %s", r.status, r.body)
		}
	}

	t.Run("contact ended", func(t *testing.T) {
		a := newActionEnv(t, true)
		a.withStreams(t, 0)
		f := a.f
		esc := a.heldMessage(t, "stale-contact-0001", "held")
		if r, _ := a.call(f.bob, "POST", "/v1/contacts/remove", contactRemoveBody{f.owner.did}); r.status != http.StatusOK {
			t.Fatalf("remove contact: %d %s", r.status, r.body)
		}
		refused(t, a, esc, ReasonNotAContact)
	})
	t.Run("recipient no longer accepts", func(t *testing.T) {
		a := newActionEnv(t, true)
		a.withStreams(t, 0)
		f := a.f
		esc := a.heldMessage(t, "stale-recv-00001", "held")
		a.revoke(t, f.bob, a.bobCred, nil)
		refused(t, a, esc, ReasonRecipientRefuses)
	})
	t.Run("agent unbound", func(t *testing.T) {
		a := newActionEnv(t, true)
		a.withStreams(t, 0)
		f := a.f
		esc := a.heldMessage(t, "stale-agent-0001", "held")
		before := a.publicAgent(t, f.work.did)
		a.mustMutate(t, f.owner, "DELETE", agentPath(f.work.did), nil, http.StatusOK, transparency.Entry{
			Type: "agent.unbound", Actor: f.owner.did, Owner: f.owner.did, Subject: f.work.did,
			Authz: &transparency.AuthzRef{Credential: before.CredentialID, Digest: before.CredentialDigest}})
		refused(t, a, esc, ReasonAgentUnbound)
	})
	t.Run("unchanged: approved and delivered", func(t *testing.T) {
		a := newActionEnv(t, true)
		a.withStreams(t, 0)
		esc := a.heldMessage(t, "stale-none-00001", "held")
		// Another agent bound meanwhile changes nothing for this one.
		a.bind(t, a.f.owner, "other", binding.RoleIdentity, "other")
		r := a.answer(a.f.owner, esc, "approve")
		if r.status != http.StatusOK {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
		if page := a.inbox(t, a.f.bobAgent); len(page.Messages) != 1 {
			t.Fatalf("not delivered: %+v", page)
		}
	})
}
