package server

import (
	"net/http"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/grant"
)

// TestActionReplayAfterRevocation: a decided request id is found by the
// decision's Apply (there is no read before deciding), so a repeat after
// the credential was revoked, or the agent unbound, still gets the stored
// decision and logs nothing; while a new action right after the
// revocation is denied, and one right after the unbinding is denied too.
func TestActionReplayAfterRevocation(t *testing.T) {
	a := newActionEnv(t, false)
	f := a.f
	read := func(id string) map[string]any {
		return map[string]any{"id": id, "action": "file/read", "resource": "files/report", "args": map[string]any{"size": 3},
			"credential": a.workCred}
	}
	allowed := a.mustDecide(t, f.work, read("replay-after-revocation-1"), http.StatusOK, transparency.Entry{
		Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "file/read", Resource: "files/report",
		Decision: transparency.DecisionAllowed}, `allow by scope "files"`)

	replay := func(when string) {
		t.Helper()
		before := a.snap(t)
		r, _ := a.act(f.work, read("replay-after-revocation-1"))
		var again ActionResponse
		decodeStrict(t, r.body, &again)
		if r.status != http.StatusOK || r.header.Get("Idempotent-Replay") != "true" || again.Index != allowed.resp.Index ||
			again.Decision != transparency.DecisionAllowed || again.Reason != allowed.resp.Reason {
			t.Errorf("repeat %s: %d %v %+v", when, r.status, r.header, again)
		}
		a.unchanged(t, before)
	}

	a.revoke(t, f.owner, a.workCred, nil)
	// The very next new action is denied.
	a.mustDecide(t, f.work, read("replay-after-revocation-2"), http.StatusOK, transparency.Entry{
		Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "file/read", Resource: "files/report",
		Decision: transparency.DecisionDenied}, string(grant.CodeRevoked)+": ")
	replay("after the revocation")

	if r, _ := a.call(f.owner, "DELETE", agentPath(f.work.did), nil); r.status != http.StatusOK {
		t.Fatalf("unbind: %d %s", r.status, r.body)
	}
	a.mustDecide(t, f.work, read("replay-after-revocation-3"), http.StatusOK, transparency.Entry{
		Actor: f.work.did, Owner: f.owner.did, Action: "file/read", Resource: "files/report",
		Decision: transparency.DecisionDenied}, ReasonAgentUnbound+": ")
	replay("after the unbinding")
}
