package main

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
)

func TestEscalationsCLI(t *testing.T) {
	e := newIDEnv(t)
	alice := e.newKey("alice.jwk")
	e.newKey("bob.jwk")
	e.ok("owner", "register", "--key", e.path("alice.jwk"))
	e.ok("owner", "register", "--key", e.path("bob.jwk"))
	out := e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work", "--out", e.path("work.jwk"))
	work := lineAfter(t, out, "identity (work) agent of "+alice+": ")
	out = e.ok("grant", "--owner-key", e.path("alice.jwk"), "--agent", work, "--out", e.path("work.cred"),
		"--scope", `{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["wallet/**"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}`)
	cred := strings.Fields(lineAfter(t, out, "credential "))[0]
	if out := e.ok("escalations", "list", "--owner-key", e.path("alice.jwk")); !strings.Contains(out, "no escalations for "+alice) {
		t.Errorf("empty list:\n%s", out)
	}
	esc := func(id string) string {
		t.Helper()
		code, sout, serr := runExit(t, "act", "--agent-key", e.path("work.jwk"), "--cred-id", cred, "--action", "payment/send",
			"--resource", "wallet/main", "--arg", "amount=250", "--id", id, "--server", e.srv.url)
		if code != exitEscalate {
			t.Fatalf("act: exit %d\n%s%s", code, sout, serr)
		}
		return strings.TrimSuffix(strings.Fields(lineAfter(t, sout, "escalation "))[0], ":")
	}
	first, second := esc("cli-escalation-0001"), esc("cli-escalation-0002")
	out = e.ok("escalations", "list", "--owner-key", e.path("alice.jwk"))
	if !strings.Contains(out, "escalation "+first+"  pending until ") || !strings.Contains(out, "request cli-escalation-0002") {
		t.Errorf("list:\n%s", out)
	}
	out = e.ok("escalations", "approve", "--owner-key", e.path("alice.jwk"), first, "--receipt", e.path("answer.receipt"))
	if !strings.Contains(out, "escalation "+first+" (request cli-escalation-0001 of "+work+"): approved") {
		t.Errorf("approve:\n%s", out)
	}
	if en := e.verifyReceipt(e.path("answer.receipt")); en.Type != "escalation.answered" || en.Actor != alice ||
		en.Subject != first || en.Decision != "approved" {
		t.Errorf("entry %+v", en)
	}
	e.ok("escalations", "deny", "--owner-key", e.path("alice.jwk"), second)
	e.refused("escalation_not_pending", "escalations", "deny", "--owner-key", e.path("alice.jwk"), first)
	e.refused("not_found", "escalations", "approve", "--owner-key", e.path("bob.jwk"), second)
	out = e.ok("escalations", "list", "--owner-key", e.path("alice.jwk"))
	if !strings.Contains(out, "escalation "+first+"  approved (entry ") || !strings.Contains(out, "escalation "+second+"  denied (entry ") {
		t.Errorf("list after the answers:\n%s", out)
	}
	for _, args := range [][]string{{"escalations"}, {"escalations", "list"}, {"escalations", "approve", "--owner-key", e.path("alice.jwk")},
		{"escalations", "maybe", "--owner-key", e.path("alice.jwk"), first}} {
		if code, _, _ := runExit(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want usage", args, code)
		}
	}
}

// logSize is the size of the server's signed checkpoint, verified.
func logSize(t *testing.T, url, vkey string) uint64 {
	t.Helper()
	b, err := get(context.Background(), http.DefaultClient, url+"/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	v, err := transparency.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := transparency.OpenCheckpoint(b, v)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

// logEntries reads the entries [from, to) of the server's log.
func logEntries(t *testing.T, url string, from, to uint64) []*transparency.Entry {
	t.Helper()
	var out []*transparency.Entry
	for i := from; i < to; i++ {
		var r struct {
			Entry []byte `json:"entry"`
		}
		if code := getJSON(t, url+"/log/v1/entries/"+strconv.FormatUint(i, 10), &r); code != http.StatusOK {
			t.Fatalf("entry %d: %d", i, code)
		}
		e, err := transparency.ParseEntry(r.Entry)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// TestEscalationsWidenCLI: approve --widen issues a credential for the
// escalated action's agent, the server registers it with the answer, and
// the agent's next such action is allowed under it; a credential for
// another agent is refused and changes nothing but its status entry.
func TestEscalationsWidenCLI(t *testing.T) {
	e := newIDEnv(t)
	alice := e.newKey("alice.jwk")
	e.ok("owner", "register", "--key", e.path("alice.jwk"))
	out := e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work", "--out", e.path("work.jwk"))
	work := lineAfter(t, out, "identity (work) agent of "+alice+": ")
	out = e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "home", "--out", e.path("home.jwk"))
	home := lineAfter(t, out, "identity (home) agent of "+alice+": ")
	out = e.ok("grant", "--owner-key", e.path("alice.jwk"), "--agent", work, "--out", e.path("work.cred"),
		"--scope", `{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["wallet/**"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}`)
	cred := strings.Fields(lineAfter(t, out, "credential "))[0]
	act := func(cred, id string, amount int) (int, string) {
		t.Helper()
		code, sout, serr := runExit(t, "act", "--agent-key", e.path("work.jwk"), "--cred-id", cred, "--action", "payment/send",
			"--resource", "wallet/main", "--arg", "amount="+strconv.Itoa(amount), "--id", id, "--server", e.srv.url)
		return code, sout + serr
	}
	esc := func(id string) string {
		t.Helper()
		code, out := act(cred, id, 250)
		if code != exitEscalate {
			t.Fatalf("act: exit %d\n%s", code, out)
		}
		return strings.TrimSuffix(strings.Fields(lineAfter(t, out, "escalation "))[0], ":")
	}
	const wider = `{"id":"pay-more","effect":"allow","actions":["payment/send"],"resources":["wallet/**"],"constraints":[{"arg":"amount","op":"<=","value":1000}]}`
	first := esc("cli-widen-000001")

	// A credential for another agent: refused by the server, nothing
	// logged but the status entry reserved for it.
	size := logSize(t, e.srv.url, e.vkey)
	e.refused("widen_subject_mismatch", "escalations", "approve", "--owner-key", e.path("alice.jwk"), first,
		"--widen", "--agent", home, "--scope", wider, "--out", e.path("refused.cred"))
	after := logSize(t, e.srv.url, e.vkey)
	for _, en := range logEntries(t, e.srv.url, size, after) {
		if en.Type != "vc.status_allocated" {
			t.Errorf("a refused widening logged %s", en.Type)
		}
	}
	if after != size+1 {
		t.Errorf("the refused widening grew the log by %d, want 1 (the status entry)", after-size)
	}
	if _, err := os.Stat(e.path("refused.cred")); err == nil {
		t.Errorf("the refused credential was saved")
	}
	if out := e.ok("escalations", "list", "--owner-key", e.path("alice.jwk")); !strings.Contains(out, "escalation "+first+"  pending until ") {
		t.Errorf("after the refusal:\n%s", out)
	}

	// The agent is read from the escalation; the answer and the grant are
	// two entries whose receipts verify.
	out = e.ok("escalations", "approve", "--owner-key", e.path("alice.jwk"), first, "--widen", "--scope", wider, "--expires", "2h",
		"--out", e.path("widened.cred"), "--receipt", e.path("answer.receipt"), "--grant-receipt", e.path("grant.receipt"))
	if !strings.Contains(out, "escalation "+first+" (request cli-widen-000001 of "+work+"): approved") {
		t.Errorf("approve --widen:\n%s", out)
	}
	widened := strings.Fields(lineAfter(t, out, "credential "))[0]
	if !strings.Contains(out, "credential "+widened+" registered for "+work+" (vc.granted, entry ") {
		t.Errorf("approve --widen:\n%s", out)
	}
	g := e.verifyReceipt(e.path("grant.receipt"))
	a := e.verifyReceipt(e.path("answer.receipt"))
	if g.Type != "vc.granted" || g.Subject != widened || g.Actor != alice {
		t.Errorf("grant entry %+v", g)
	}
	if a.Type != "escalation.answered" || a.Decision != "approved" || a.Subject != first || a.Authz == nil ||
		a.Authz.Credential != widened || a.Reason != "approved by the owner, scope widened by credential "+widened {
		t.Errorf("answer entry %+v", a)
	}
	vc, err := readCredential(e.path("widened.cred"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vc.ID != widened || vc.Subject != work || vc.Issuer != alice || vc.ExpirationDate.Sub(vc.IssuanceDate) != 2*time.Hour {
		t.Errorf("saved credential %+v", vc)
	}
	if code, out := act(widened, "cli-widen-000002", 250); code != exitOK {
		t.Errorf("an action under the widened credential: exit %d\n%s", code, out)
	}
	// Answered: refused before a status entry is reserved.
	size = logSize(t, e.srv.url, e.vkey)
	if code, _, serr := runExit(t, "escalations", "approve", "--owner-key", e.path("alice.jwk"), first, "--widen", "--scope", wider,
		"--server", e.srv.url); code != exitFail || !strings.Contains(serr, "is approved, not pending") {
		t.Errorf("widen an approved escalation: exit %d %s", code, serr)
	}
	if n := logSize(t, e.srv.url, e.vkey); n != size {
		t.Errorf("the log grew by %d", n-size)
	}

	// Data Integrity, with the agent named.
	second := esc("cli-widen-000003")
	out = e.ok("escalations", "approve", "--owner-key", e.path("alice.jwk"), second, "--widen", "--agent", work, "--format", "ldp",
		"--scope", wider, "--out", e.path("widened-ld.cred"))
	if vc, err := readCredential(e.path("widened-ld.cred"), time.Now()); err != nil || vc.Subject != work ||
		!strings.Contains(out, "credential "+vc.ID+" registered for "+work) {
		t.Errorf("ldp: %v\n%s", err, out)
	}

	for _, args := range [][]string{
		{"escalations", "deny", "--owner-key", e.path("alice.jwk"), first, "--widen", "--scope", wider},
		{"escalations", "approve", "--owner-key", e.path("alice.jwk"), first, "--widen"},
		{"escalations", "approve", "--owner-key", e.path("alice.jwk"), first, "--scope", wider},
		{"escalations", "approve", "--owner-key", e.path("alice.jwk"), first, "--format", "ldp"},
	} {
		if code, _, _ := runExit(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want usage", args, code)
		}
	}
	if code, _, serr := runExit(t, "escalations", "approve", "--owner-key", e.path("alice.jwk"), second, "--widen", "--scope", wider,
		"--format", "ld", "--server", e.srv.url); code != exitFail || !strings.Contains(serr, "want jwt or ldp") {
		t.Errorf("--format ld: exit %d %s", code, serr)
	}
}
