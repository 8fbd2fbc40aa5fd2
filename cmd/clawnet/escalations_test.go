package main

import (
	"strings"
	"testing"
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
