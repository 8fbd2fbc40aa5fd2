package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
)

// TestEscalationTimeoutConfigured: the configured timeout sets the listed
// deadline, the answer's cut-off and the expiry, also for an escalation
// decided before a restart under another timeout.
func TestEscalationTimeoutConfigured(t *testing.T) {
	a := newActionEnv(t, true)
	f := a.f
	ctx := context.Background()
	a.restartWith(t, 0, 5*time.Minute)
	decided := a.clock.Now()
	esc := a.escalate(t, "payment-timeout-01")
	if l := a.listEscalations(t, f.owner); len(l) != 1 || !l[0].Deadline.Equal(decided.Add(5*time.Minute)) {
		t.Fatalf("listed %+v, want the deadline %s", l, decided.Add(5*time.Minute))
	}
	// The owner's escalation.opened event says the same deadline.
	if evs := eventsOf[EscalationOpenedEvent](t, a, f.owner.did, EventEscalationOpened); len(evs) != 1 || !evs[0].Deadline.Equal(decided.Add(5*time.Minute)) {
		t.Fatalf("escalation.opened events %+v, want one with the deadline %s", evs, decided.Add(5*time.Minute))
	}
	a.clock.Advance(5*time.Minute - time.Second)
	if n, err := a.srv.ExpireEscalations(ctx, a.clock.Now()); n != 0 || err != nil {
		t.Fatalf("expired %d a second before the deadline: %v", n, err)
	}
	a.clock.Advance(time.Second)
	size := a.log.Size()
	wantError(t, a.answer(f.owner, esc, "approve"), http.StatusGone, CodeEscalationExpired)
	if n, err := a.srv.ExpireEscalations(ctx, a.clock.Now()); n != 1 || err != nil {
		t.Fatalf("expired %d at the deadline: %v", n, err)
	}
	if a.log.Size() != size+1 {
		t.Fatalf("log grew by %d", a.log.Size()-size)
	}
	if l := a.listEscalations(t, f.owner); len(l) != 1 || l[0].State != EscalationTimedOut {
		t.Errorf("after the timeout %+v", l)
	}

	// Decided under the default, then restarted with 1 minute: the
	// shorter timeout applies to the pending escalation.
	a.restartWith(t, 0, 0)
	decided = a.clock.Now()
	esc2 := a.escalate(t, "payment-timeout-02")
	if l := a.listEscalations(t, f.owner); len(l) != 2 || l[0].Escalation != esc2 || !l[0].Deadline.Equal(decided.Add(DefaultEscalationTimeout)) {
		t.Fatalf("listed %+v", l)
	}
	a.restartWith(t, 0, time.Minute)
	a.clock.Advance(time.Minute)
	if n, err := a.srv.ExpireEscalations(ctx, a.clock.Now()); n != 1 || err != nil {
		t.Fatalf("expired %d after the restart: %v", n, err)
	}
	var got ActionResponse
	decodeStrict(t, a.getAction(f.work, "payment-timeout-02", "").body, &got)
	if got.Answer != transparency.DecisionTimedOut {
		t.Errorf("action %+v", got)
	}

	// A negative timeout is a configuration error.
	if _, err := New(Config{Log: a.log, VerifierKey: a.vkey, Identity: &IdentityConfig{
		PublicURL: a.url, DIDWebHost: a.host, DB: a.db, Registry: a.reg, EscalationTimeout: -time.Second,
	}}); err == nil {
		t.Error("a negative EscalationTimeout was accepted")
	}
}
