package server

import (
	"fmt"
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
	allowed := a.mustDecide(t, f.work, a.readReport("replay-after-revocation-1"), http.StatusOK, transparency.Entry{
		Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "file/read", Resource: "files/report",
		Decision: transparency.DecisionAllowed}, `allow by scope "files"`)

	replay := func(when string) {
		t.Helper()
		before := a.snap(t)
		r, _ := a.act(f.work, a.readReport("replay-after-revocation-1"))
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
	a.mustDecide(t, f.work, a.readReport("replay-after-revocation-2"), http.StatusOK, transparency.Entry{
		Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "file/read", Resource: "files/report",
		Decision: transparency.DecisionDenied}, string(grant.CodeRevoked)+": ")
	replay("after the revocation")

	if r, _ := a.call(f.owner, "DELETE", agentPath(f.work.did), nil); r.status != http.StatusOK {
		t.Fatalf("unbind: %d %s", r.status, r.body)
	}
	a.mustDecide(t, f.work, a.readReport("replay-after-revocation-3"), http.StatusOK, transparency.Entry{
		Actor: f.work.did, Owner: f.owner.did, Action: "file/read", Resource: "files/report",
		Decision: transparency.DecisionDenied}, ReasonAgentUnbound+": ")
	replay("after the unbinding")
}

// TestActionReplayAfterRestartThroughFilter: after a restart the filter of
// decided actions is loaded from the database (as clawnet serve loads it),
// and a request id decided before the restart, or in this process, is still
// found and answered with the stored decision, nothing logged; a new id is
// decided. With a filter that missed a stored id, the repeat would be decided
// again as a new action and logged a second time.
func TestActionReplayAfterRestartThroughFilter(t *testing.T) {
	a := newActionEnv(t, false)
	f := a.f
	want := transparency.Entry{Actor: f.work.did, Owner: f.owner.did, Authz: a.authz(), Action: "file/read",
		Resource: "files/report", Decision: transparency.DecisionAllowed}
	var first []decided
	for i := range 20 {
		first = append(first, a.mustDecide(t, f.work, a.readReport(fmt.Sprintf("before-restart-%04d", i)), http.StatusOK, want, `allow by scope "files"`))
	}
	repeat := func(when, id string, d decided) {
		t.Helper()
		before := a.snap(t)
		r, _ := a.act(f.work, a.readReport(id))
		var again ActionResponse
		decodeStrict(t, r.body, &again)
		if r.status != http.StatusOK || r.header.Get("Idempotent-Replay") != "true" || again.Index != d.resp.Index {
			t.Errorf("repeat of %s %s: %d %v %+v (first at %d)", id, when, r.status, r.header, again, d.resp.Index)
		}
		a.unchanged(t, before)
	}
	a.restartWith(t, 0, 0)
	if !a.grantEnv.srv.decided.Loaded() {
		t.Fatal("the restarted server's filter is not loaded")
	}
	for i, d := range first {
		repeat("after the restart", fmt.Sprintf("before-restart-%04d", i), d)
	}
	d := a.mustDecide(t, f.work, a.readReport("after-restart-0001"), http.StatusOK, want, `allow by scope "files"`)
	repeat("in the same process", "after-restart-0001", d)
}

// readReport is the work agent's allowed file/read of files/report with
// request id id.
func (a *actionEnv) readReport(id string) map[string]any {
	return map[string]any{"id": id, "action": "file/read", "resource": "files/report", "args": map[string]any{"size": 3},
		"credential": a.workCred}
}
