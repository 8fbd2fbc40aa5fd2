package registry

import (
	"sync"
	"testing"
)

func TestRegisterBindUnbind(t *testing.T) {
	e := newEnv(t)
	o := newKey(t)
	q := e.req(o)
	op, err := e.reg.RegisterOwner(q)
	a := e.must(op, err)
	checkEntry(t, op.Entry, "owner.registered", o, o, o, "", "", q)
	if got, err := e.reg.Owner(o); err != nil || got.DID != o || got.Index != a.Index || !got.Time.Equal(q.Time) {
		t.Fatalf("Owner = %+v, %v", got, err)
	}

	m, w := newKey(t), newKey(t)
	qm := e.req(m)
	bm := binding(o, m, RoleManager, "")
	op, err = e.reg.BindAgent(qm, bm)
	am := e.must(op, err)
	checkEntry(t, op.Entry, "agent.bound", m, o, m, "manager", "", qm)
	if z := op.Entry.Authz; z == nil || z.Credential != bm.CredentialID || z.Digest != bm.Digest {
		t.Fatalf("authz %+v", z)
	}
	qw := e.req(w)
	op, err = e.reg.BindAgent(qw, binding(o, w, RoleIdentity, "work"))
	e.must(op, err)
	checkEntry(t, op.Entry, "agent.bound", w, o, w, "identity:work", "", qw)

	got, err := e.reg.Agent(m)
	if err != nil || got.Owner != o || got.Role != RoleManager || got.Context != "" || got.Credential != bm.Token ||
		got.CredentialID != bm.CredentialID || got.BoundIndex != am.Index || got.Revoked {
		t.Fatalf("Agent(manager) = %+v, %v", got, err)
	}
	list, err := e.reg.Agents(o)
	if err != nil || len(list) != 2 {
		t.Fatalf("Agents = %+v, %v", list, err)
	}

	qu := e.req(o)
	op, err = e.reg.UnbindAgent(qu, w)
	au := e.must(op, err)
	checkEntry(t, op.Entry, "agent.unbound", o, o, w, "", "", qu)
	if z := op.Entry.Authz; z == nil || z.Credential != binding(o, w, "", "").CredentialID {
		t.Fatalf("unbind authz %+v", z)
	}
	got, err = e.reg.Agent(w)
	if err != nil || !got.Revoked || got.UnboundIndex != au.Index || got.Context != "work" {
		t.Fatalf("Agent(unbound) = %+v, %v", got, err)
	}
	// The context is free again, for another agent DID.
	e.agent(o, RoleIdentity, "work")
	// So is the manager slot after an unbind.
	e.must(e.reg.UnbindAgent(e.req(o), m))
	e.agent(o, RoleManager, "")
	list, err = e.reg.Agents(o)
	if err != nil || len(list) != 4 {
		t.Fatalf("Agents = %+v, %v", list, err)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].DID >= list[i].DID {
			t.Fatal("Agents not sorted by DID")
		}
	}
}

func TestOwnerAgentRefusals(t *testing.T) {
	e := newEnv(t)
	o, other, stranger := e.owner(), e.owner(), newKey(t)
	m := e.agent(o, RoleManager, "")
	w := e.agent(o, RoleIdentity, "work")
	gone := e.agent(o, RoleIdentity, "old")
	e.must(e.reg.UnbindAgent(e.req(o), gone))
	// A hosted owner that is deactivated, and a hosted agent DID that is.
	hk := newKey(t)
	hop, err := e.reg.CreateHosted(e.req(hk), "owners/dead")
	e.must(hop, err)
	deadOwner := hop.DID
	e.must(e.reg.RegisterOwner(e.reqKID(deadOwner, deadOwner+"#key-1")))
	hop, err = e.reg.CreateHosted(e.req(newKey(t)), "agents/dead")
	e.must(hop, err)
	deadAgent := hop.DID
	e.must(e.reg.DeactivateHosted(e.reqKID(deadOwner, deadOwner+"#key-1"), deadOwner))
	e.must(e.reg.DeactivateHosted(e.reqKID(deadAgent, deadAgent+"#key-1"), deadAgent))

	fresh := newKey(t)
	for _, tc := range []struct {
		name, code string
		op         func() (*Op, error)
	}{
		{"owner twice", CodeOwnerExists, func() (*Op, error) { return e.reg.RegisterOwner(e.req(o)) }},
		{"agent as owner", CodeDIDIsAgent, func() (*Op, error) { return e.reg.RegisterOwner(e.req(w)) }},
		{"unbound agent as owner", CodeDIDIsAgent, func() (*Op, error) { return e.reg.RegisterOwner(e.req(gone)) }},
		{"owner as agent", CodeDIDIsOwner, func() (*Op, error) { return e.reg.BindAgent(e.req(other), binding(o, other, RoleIdentity, "x")) }},
		{"signer is not the subject", CodeBindingSubjectMismatch, func() (*Op, error) {
			return e.reg.BindAgent(e.req(stranger), binding(o, fresh, RoleIdentity, "x"))
		}},
		{"issuer not an owner", CodeBindingIssuerNotOwner, func() (*Op, error) {
			return e.reg.BindAgent(e.req(fresh), binding(stranger, fresh, RoleIdentity, "x"))
		}},
		{"issuer not a DID", CodeBindingIssuerNotOwner, func() (*Op, error) {
			return e.reg.BindAgent(e.req(fresh), binding("owner", fresh, RoleIdentity, "x"))
		}},
		{"agent bound twice", CodeAgentAlreadyBound, func() (*Op, error) { return e.reg.BindAgent(e.req(w), binding(o, w, RoleIdentity, "x")) }},
		{"agent bound to a second owner", CodeAgentAlreadyBound, func() (*Op, error) {
			return e.reg.BindAgent(e.req(w), binding(other, w, RoleIdentity, "x"))
		}},
		{"unbound agent bound again", CodeAgentAlreadyBound, func() (*Op, error) {
			return e.reg.BindAgent(e.req(gone), binding(o, gone, RoleIdentity, "new"))
		}},
		{"second manager", CodeSecondManager, func() (*Op, error) { return e.reg.BindAgent(e.req(fresh), binding(o, fresh, RoleManager, "")) }},
		{"duplicate context", CodeDuplicateContext, func() (*Op, error) {
			return e.reg.BindAgent(e.req(fresh), binding(o, fresh, RoleIdentity, "work"))
		}},
		{"context uppercase", CodeInvalidContext, func() (*Op, error) {
			return e.reg.BindAgent(e.req(fresh), binding(o, fresh, RoleIdentity, "Work"))
		}},
		{"context empty", CodeInvalidContext, func() (*Op, error) { return e.reg.BindAgent(e.req(fresh), binding(o, fresh, RoleIdentity, "")) }},
		{"manager with context", CodeInvalidContext, func() (*Op, error) {
			return e.reg.BindAgent(e.req(fresh), binding(other, fresh, RoleManager, "work"))
		}},
		{"unknown role", CodeBindingRoleInvalid, func() (*Op, error) { return e.reg.BindAgent(e.req(fresh), binding(o, fresh, "admin", "")) }},
		{"bind a deactivated agent DID", CodeDIDDeactivated, func() (*Op, error) {
			return e.reg.BindAgent(e.reqKID(deadAgent, deadAgent+"#key-1"), binding(o, deadAgent, RoleIdentity, "x"))
		}},
		{"bind to a deactivated owner", CodeDIDDeactivated, func() (*Op, error) {
			return e.reg.BindAgent(e.req(fresh), binding(deadOwner, fresh, RoleIdentity, "x"))
		}},
		{"unbind by a non-owner", CodeOwnerNotRegistered, func() (*Op, error) { return e.reg.UnbindAgent(e.req(stranger), w) }},
		{"unbind by a deactivated owner", CodeDIDDeactivated, func() (*Op, error) {
			return e.reg.UnbindAgent(e.reqKID(deadOwner, deadOwner+"#key-1"), w)
		}},
		{"unbind unknown agent", CodeAgentNotFound, func() (*Op, error) { return e.reg.UnbindAgent(e.req(o), fresh) }},
		{"unbind not a DID", CodeInvalidDID, func() (*Op, error) { return e.reg.UnbindAgent(e.req(o), "agent") }},
		{"unbind another owner's agent", CodeAgentNotYours, func() (*Op, error) { return e.reg.UnbindAgent(e.req(other), m) }},
		{"unbind twice", CodeAgentUnbound, func() (*Op, error) { return e.reg.UnbindAgent(e.req(o), gone) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer e.with(t)()
			op, err := tc.op()
			e.refused(tc.code, op, err)
		})
	}

	for _, tc := range []struct {
		name, code string
		err        error
	}{
		{"Owner of a stranger", CodeOwnerNotFound, second(e.reg.Owner(stranger))},
		{"Agent of a stranger", CodeAgentNotFound, second(e.reg.Agent(stranger))},
		{"Agents of a stranger", CodeOwnerNotRegistered, second(e.reg.Agents(stranger))},
		{"Contacts of a stranger", CodeOwnerNotRegistered, second(e.reg.Contacts(stranger))},
	} {
		if got := CodeOf(tc.err); got != tc.code {
			t.Errorf("%s: %q (%v), want %s", tc.name, got, tc.err, tc.code)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestUnbindDeactivatedAgent: an owner can always cut an agent off, even
// one whose hosted DID was deactivated.
func TestUnbindDeactivatedAgent(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	op, err := e.reg.CreateHosted(e.req(newKey(t)), "agents/bot")
	e.must(op, err)
	a := op.DID
	e.must(e.reg.BindAgent(e.reqKID(a, a+"#key-1"), binding(o, a, RoleIdentity, "work")))
	e.must(e.reg.DeactivateHosted(e.reqKID(a, a+"#key-1"), a))
	e.must(e.reg.UnbindAgent(e.req(o), a))
	if got, err := e.reg.Agent(a); err != nil || !got.Revoked {
		t.Fatalf("Agent = %+v, %v", got, err)
	}
}

// race runs ops concurrently through the log and returns how many were
// accepted and the codes of the refused ones.
func race(t *testing.T, e *env, ops []*Op) (won int, codes []string) {
	t.Helper()
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.run(op, nil)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			codes = append(codes, CodeOf(err))
		}
	}
	return won, codes
}

func TestBindRaces(t *testing.T) {
	e := newEnv(t)
	const n = 8
	for _, tc := range []struct {
		name, code string
		ops        func(o, o2 string) []*Op
	}{
		{"second manager", CodeSecondManager, func(o, _ string) []*Op {
			var ops []*Op
			for range n {
				a := newKey(t)
				op, err := e.reg.BindAgent(e.req(a), binding(o, a, RoleManager, ""))
				if err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op)
			}
			return ops
		}},
		{"same context", CodeDuplicateContext, func(o, _ string) []*Op {
			var ops []*Op
			for range n {
				a := newKey(t)
				op, err := e.reg.BindAgent(e.req(a), binding(o, a, RoleIdentity, "work"))
				if err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op)
			}
			return ops
		}},
		{"same agent, two owners", CodeAgentAlreadyBound, func(o, o2 string) []*Op {
			a := newKey(t)
			var ops []*Op
			for i := range n {
				owner := o
				if i%2 == 1 {
					owner = o2
				}
				op, err := e.reg.BindAgent(e.req(a), binding(owner, a, RoleIdentity, "c"+string(rune('a'+i))))
				if err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op)
			}
			return ops
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, o2 := e.owner(), e.owner()
			size := e.log.Size()
			won, codes := race(t, e, tc.ops(o, o2))
			if won != 1 || len(codes) != n-1 {
				t.Fatalf("%d won, refusals %v", won, codes)
			}
			for _, c := range codes {
				if c != tc.code {
					t.Fatalf("refused with %s, want %s", c, tc.code)
				}
			}
			if got := e.log.Size(); got != size+1 {
				t.Fatalf("log grew by %d", got-size)
			}
			a1, err := e.reg.Agents(o)
			if err != nil {
				t.Fatal(err)
			}
			a2, err := e.reg.Agents(o2)
			if err != nil {
				t.Fatal(err)
			}
			if len(a1)+len(a2) != 1 {
				t.Fatalf("%d agents bound", len(a1)+len(a2))
			}
		})
	}
}
