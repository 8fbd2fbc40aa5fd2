package registry

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestContactLifecycle(t *testing.T) {
	e := newEnv(t)
	a, b := e.owner(), e.owner()
	aw, bw := e.agent(a, RoleIdentity, "work"), e.agent(b, RoleIdentity, "friends")

	qr := e.req(a)
	op, err := e.reg.RequestContact(qr, b, aw)
	ar := e.must(op, err)
	if op.RequestID != strconv.FormatUint(ar.Index, 10) {
		t.Fatalf("request id %s, entry %d", op.RequestID, ar.Index)
	}
	checkEntry(t, op.Entry, "contact.requested", a, a, "", "", b, qr)
	id := op.RequestID

	in, out, err := e.reg.ContactRequests(b, qr.Time)
	if err != nil || len(in) != 1 || len(out) != 0 || in[0].ID != id || in[0].From != a || in[0].FromAgent != aw ||
		!in[0].Expires.Equal(qr.Time.Add(DefaultContactRequestTTL)) {
		t.Fatalf("B's requests: %+v %+v %v", in, out, err)
	}
	if in, out, err := e.reg.ContactRequests(a, qr.Time); err != nil || len(in) != 0 || len(out) != 1 || out[0].ID != id {
		t.Fatalf("A's requests: %+v %+v %v", in, out, err)
	}
	// Expired requests are not listed.
	if in, _, _ := e.reg.ContactRequests(b, qr.Time.Add(DefaultContactRequestTTL)); len(in) != 0 {
		t.Fatalf("expired request listed: %+v", in)
	}

	qa := e.req(b)
	op, err = e.reg.AcceptContact(qa, id, bw)
	aa := e.must(op, err)
	checkEntry(t, op.Entry, "contact.accepted", b, b, id, "", a, qa)

	ca, err := e.reg.Contacts(a)
	if err != nil || len(ca) != 1 || ca[0] != (Contact{Owner: b, MyAgent: aw, TheirAgent: bw, RequestID: id, Since: aa.Index, Time: qa.Time}) {
		t.Fatalf("A's contacts %+v, %v", ca, err)
	}
	cb, err := e.reg.Contacts(b)
	if err != nil || len(cb) != 1 || cb[0] != (Contact{Owner: a, MyAgent: bw, TheirAgent: aw, RequestID: id, Since: aa.Index, Time: qa.Time}) {
		t.Fatalf("B's contacts %+v, %v", cb, err)
	}
	if in, out, _ := e.reg.ContactRequests(b, qa.Time); len(in)+len(out) != 0 {
		t.Fatalf("accepted request still pending: %+v %+v", in, out)
	}

	qx := e.req(b)
	op, err = e.reg.RemoveContact(qx, a)
	e.must(op, err)
	checkEntry(t, op.Entry, "contact.removed", b, b, id, "", a, qx)
	for _, o := range []string{a, b} {
		if c, err := e.reg.Contacts(o); err != nil || len(c) != 0 {
			t.Fatalf("contacts after removal: %+v %v", c, err)
		}
	}
	// They can become contacts again, the other way round.
	e.contacts(b, bw, a, aw)
}

func TestUnbindRemovesContacts(t *testing.T) {
	e := newEnv(t)
	a, b, c, d := e.owner(), e.owner(), e.owner(), e.owner()
	aw, ah := e.agent(a, RoleIdentity, "work"), e.agent(a, RoleIdentity, "home")
	bw, cw, dw := e.agent(b, RoleIdentity, "work"), e.agent(c, RoleIdentity, "work"), e.agent(d, RoleIdentity, "work")
	e.contacts(a, aw, b, bw)
	e.contacts(c, cw, a, aw)
	e.contacts(a, ah, d, dw)

	op, err := e.reg.UnbindAgent(e.req(a), aw)
	e.must(op, err)
	want := []string{b, c}
	slices.Sort(want)
	if !slices.Equal(op.RemovedContacts, want) {
		t.Fatalf("removed %v, want %v", op.RemovedContacts, want)
	}
	if ca, err := e.reg.Contacts(a); err != nil || len(ca) != 1 || ca[0].Owner != d {
		t.Fatalf("A's contacts %+v %v", ca, err)
	}
	for _, o := range []string{b, c} {
		if co, err := e.reg.Contacts(o); err != nil || len(co) != 0 {
			t.Fatalf("contacts of %s: %+v %v", o, co, err)
		}
	}
	// B's agent no longer lists A: removing B's agent removes nothing.
	op, err = e.reg.UnbindAgent(e.req(b), bw)
	e.must(op, err)
	if len(op.RemovedContacts) != 0 {
		t.Fatalf("removed %v", op.RemovedContacts)
	}
	// D's contact is intact on both sides and removable.
	e.must(e.reg.RemoveContact(e.req(d), a))
}

func TestContactRefusals(t *testing.T) {
	e := newEnv(t)
	a, b, c, stranger := e.owner(), e.owner(), e.owner(), newKey(t)
	am := e.agent(a, RoleManager, "")
	aw, bw, cw := e.agent(a, RoleIdentity, "work"), e.agent(b, RoleIdentity, "work"), e.agent(c, RoleIdentity, "work")
	ag := e.agent(a, RoleIdentity, "gone")
	e.must(e.reg.UnbindAgent(e.req(a), ag))
	cx := e.agent(c, RoleIdentity, "spare")
	bg := e.agent(b, RoleIdentity, "gone")
	e.must(e.reg.UnbindAgent(e.req(b), bg))

	// A deactivated hosted owner with an agent, and an owner with a
	// deactivated hosted agent.
	hop, err := e.reg.CreateHosted(e.req(newKey(t)), "owners/dead")
	e.must(hop, err)
	dead := hop.DID
	e.must(e.reg.RegisterOwner(e.reqKID(dead, dead+"#key-1")))
	deadw := newKey(t)
	e.must(e.reg.BindAgent(e.req(deadw), binding(dead, deadw, RoleIdentity, "work")))
	e.contacts(dead, deadw, a, aw)
	e.must(e.reg.DeactivateHosted(e.reqKID(dead, dead+"#key-1"), dead))
	hop, err = e.reg.CreateHosted(e.req(newKey(t)), "agents/deadbot")
	e.must(hop, err)
	deadbot := hop.DID
	e.must(e.reg.BindAgent(e.reqKID(deadbot, deadbot+"#key-1"), binding(c, deadbot, RoleIdentity, "bot")))
	e.must(e.reg.DeactivateHosted(e.reqKID(deadbot, deadbot+"#key-1"), deadbot))

	// A → B pending; B ↔ C contacts; A → C pending, then A's agent for it
	// unbound; an expired request C → B.
	pend, err := e.reg.RequestContact(e.req(a), b, aw)
	e.must(pend, err)
	e.contacts(b, bw, c, cw)
	orphan, err := e.reg.RequestContact(e.req(a), c, cx)
	if err != nil { // cx is C's: that is refused in Apply, just below
		t.Fatal(err)
	}
	e.refused(CodeAgentNotYours, orphan, nil)
	aspare := e.agent(a, RoleIdentity, "spare")
	orphan, err = e.reg.RequestContact(e.req(a), c, aspare)
	e.must(orphan, err)
	e.must(e.reg.UnbindAgent(e.req(a), aspare))
	oldq := e.req(c)
	oldq.Time = t0.Add(-30 * 24 * time.Hour)
	old, err := e.reg.RequestContact(oldq, a, cw)
	e.must(old, err)

	d := e.owner()
	dreq, err := e.reg.RequestContact(e.req(d), a, e.agent(d, RoleIdentity, "work"))
	e.must(dreq, err)

	for _, tc := range []struct {
		name, code string
		op         func() (*Op, error)
	}{
		{"request to self", CodeContactSelf, func() (*Op, error) { return e.reg.RequestContact(e.req(a), a, aw) }},
		{"request by a non-owner", CodeOwnerNotRegistered, func() (*Op, error) { return e.reg.RequestContact(e.req(stranger), a, aw) }},
		{"request by a deactivated owner", CodeDIDDeactivated, func() (*Op, error) {
			return e.reg.RequestContact(e.reqKID(dead, dead+"#key-1"), a, deadw)
		}},
		{"request to a non-owner", CodeOwnerNotFound, func() (*Op, error) { return e.reg.RequestContact(e.req(a), stranger, aw) }},
		{"request to a non-DID", CodeInvalidDID, func() (*Op, error) { return e.reg.RequestContact(e.req(a), "bob", aw) }},
		{"request to a deactivated owner", CodeDIDDeactivated, func() (*Op, error) { return e.reg.RequestContact(e.req(a), dead, aw) }},
		{"request to a contact", CodeAlreadyContacts, func() (*Op, error) { return e.reg.RequestContact(e.req(b), c, bw) }},
		{"request twice", CodeContactRequestExists, func() (*Op, error) { return e.reg.RequestContact(e.req(a), b, aw) }},
		{"request with the manager", CodeManagerAgentNotAllowed, func() (*Op, error) { return e.reg.RequestContact(e.req(a), c, am) }},
		{"request with an unknown agent", CodeAgentNotFound, func() (*Op, error) { return e.reg.RequestContact(e.req(b), a, stranger) }},
		{"request with another's agent", CodeAgentNotYours, func() (*Op, error) { return e.reg.RequestContact(e.req(b), a, aw) }},
		{"request with an unbound agent", CodeAgentUnbound, func() (*Op, error) { return e.reg.RequestContact(e.req(a), c, ag) }},
		{"request with a deactivated agent", CodeDIDDeactivated, func() (*Op, error) { return e.reg.RequestContact(e.req(c), a, deadbot) }},
		{"accept unknown id", CodeContactRequestNotFound, func() (*Op, error) { return e.reg.AcceptContact(e.req(b), "99999", bw) }},
		{"accept non-canonical id", CodeContactRequestNotFound, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(b), "0"+pend.RequestID, bw)
		}},
		{"accept not addressed to you", CodeContactRequestNotAddressedToYou, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(c), pend.RequestID, cw)
		}},
		{"accept own request", CodeContactRequestNotAddressedToYou, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(a), pend.RequestID, aw)
		}},
		{"accept by a non-owner", CodeOwnerNotRegistered, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(stranger), pend.RequestID, bw)
		}},
		{"accept expired", CodeContactRequestExpired, func() (*Op, error) { return e.reg.AcceptContact(e.req(a), old.RequestID, aw) }},
		{"accept with the manager", CodeManagerAgentNotAllowed, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(a), dreq.RequestID, am)
		}},
		{"accept with an unbound agent", CodeAgentUnbound, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(b), pend.RequestID, bg)
		}},
		{"accept when the requester's agent is unbound", CodeAgentUnbound, func() (*Op, error) {
			return e.reg.AcceptContact(e.req(c), orphan.RequestID, cw)
		}},
		{"remove a non-contact", CodeContactNotFound, func() (*Op, error) { return e.reg.RemoveContact(e.req(a), b) }},
		{"remove a non-DID", CodeInvalidDID, func() (*Op, error) { return e.reg.RemoveContact(e.req(a), "bob") }},
		{"remove by a deactivated owner", CodeDIDDeactivated, func() (*Op, error) {
			return e.reg.RemoveContact(e.reqKID(dead, dead+"#key-1"), a)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer e.with(t)()
			op, err := tc.op()
			e.refused(tc.code, op, err)
		})
	}
	// The live side may still end a contact with a deactivated owner.
	e.must(e.reg.RemoveContact(e.req(a), dead))
}

// TestContactRequestExpiry: an expired pending request no longer blocks a
// new one, and expiry follows the configured TTL and the request's time.
func TestContactRequestExpiry(t *testing.T) {
	e := newEnv(t)
	reg, err := New(Config{DB: e.db, Host: testHost, PublicURL: testURL, ContactRequestTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	a, b := e.owner(), e.owner()
	aw, bw := e.agent(a, RoleIdentity, "work"), e.agent(b, RoleIdentity, "work")
	q := e.req(a)
	first, err := e.reg.RequestContact(q, b, aw)
	e.must(first, err)
	late := e.req(b)
	late.Time = q.Time.Add(time.Hour)
	{
		op, err := e.reg.AcceptContact(late, first.RequestID, bw)
		e.refused(CodeContactRequestExpired, op, err)
	}
	again := e.req(a)
	again.Time = q.Time.Add(time.Hour)
	op, err := e.reg.RequestContact(again, b, aw)
	e.must(op, err)
	// The expired request is gone with its replacement's arrival.
	{
		op, err := e.reg.AcceptContact(late, first.RequestID, bw)
		e.refused(CodeContactRequestNotFound, op, err)
	}
	in, _, err := e.reg.ContactRequests(b, again.Time)
	if err != nil || len(in) != 1 || in[0].ID != op.RequestID {
		t.Fatalf("requests %+v %v", in, err)
	}
	ok := e.req(b)
	ok.Time = again.Time.Add(time.Hour - time.Second)
	e.must(e.reg.AcceptContact(ok, op.RequestID, bw))
}

// TestCrossRequests: when A and B both asked, accepting one makes the
// other moot.
func TestCrossRequests(t *testing.T) {
	e := newEnv(t)
	a, b := e.owner(), e.owner()
	aw, bw := e.agent(a, RoleIdentity, "work"), e.agent(b, RoleIdentity, "work")
	ab, err := e.reg.RequestContact(e.req(a), b, aw)
	e.must(ab, err)
	ba, err := e.reg.RequestContact(e.req(b), a, bw)
	e.must(ba, err)
	e.must(e.reg.AcceptContact(e.req(b), ab.RequestID, bw))
	{
		op, err := e.reg.AcceptContact(e.req(a), ba.RequestID, aw)
		e.refused(CodeContactRequestNotFound, op, err)
	}
	for _, o := range []string{a, b} {
		if in, out, err := e.reg.ContactRequests(o, t0.Add(time.Hour)); err != nil || len(in)+len(out) != 0 {
			t.Fatalf("pending for %s: %+v %+v %v", o, in, out, err)
		}
	}
}

func TestAcceptRace(t *testing.T) {
	e := newEnv(t)
	a, b := e.owner(), e.owner()
	aw, bw := e.agent(a, RoleIdentity, "work"), e.agent(b, RoleIdentity, "work")
	req, err := e.reg.RequestContact(e.req(a), b, aw)
	e.must(req, err)
	var ops []*Op
	for range 6 {
		op, err := e.reg.AcceptContact(e.req(b), req.RequestID, bw)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	size := e.log.Size()
	won, codes := race(t, e, ops)
	if won != 1 {
		t.Fatalf("%d accepts won", won)
	}
	for _, c := range codes {
		if c != CodeContactRequestNotFound {
			t.Fatalf("loser refused with %q", c)
		}
	}
	if e.log.Size() != size+1 {
		t.Fatalf("log grew by %d", e.log.Size()-size)
	}
	if c, err := e.reg.Contacts(a); err != nil || len(c) != 1 {
		t.Fatalf("contacts %+v %v", c, err)
	}
}
