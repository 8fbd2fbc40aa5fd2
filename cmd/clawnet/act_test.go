package main

import (
	"os"
	"strings"
	"testing"
)

func TestActCLI(t *testing.T) {
	e := newIDEnv(t)
	alice := e.newKey("alice.jwk")
	e.ok("owner", "register", "--key", e.path("alice.jwk"))
	out := e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work", "--out", e.path("work.jwk"))
	work := lineAfter(t, out, "identity (work) agent of "+alice+": ")
	out = e.ok("grant", "--owner-key", e.path("alice.jwk"), "--agent", work, "--out", e.path("work.cred"),
		"--scope", `{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["wallet/**"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}`,
		"--scope", `{"id":"read","effect":"allow","actions":["file/read"],"resources":["files/**"],"constraints":[{"arg":"size","op":"<=","value":10}]}`)
	cred := strings.Fields(lineAfter(t, out, "credential "))[0]
	for _, tc := range []struct {
		args   []string
		code   int
		want   string
		typeOK string
	}{
		{[]string{"--action", "payment/send", "--resource", "wallet/main", "--arg", "amount=50", "--id", "cli-action-000001"}, exitOK, `reason: allow by scope "pay"`, "allowed"},
		{[]string{"--action", "payment/send", "--resource", "wallet/main", "--arg", "amount=250", "--arg", "currency=EUR"}, exitEscalate, "escalation ", "escalated"},
		{[]string{"--action", "file/read", "--resource", "files/a", "--arg", "size=11"}, exitDeny, "reason: deny: constraint_failed", "denied"},
		// The same id and fields: the same decision.
		{[]string{"--action", "payment/send", "--resource", "wallet/main", "--arg", "amount=50", "--id", "cli-action-000001"}, exitOK, `reason: allow by scope "pay"`, "allowed"},
	} {
		args := append([]string{"act", "--agent-key", e.path("work.jwk"), "--cred-id", cred, "--receipt", e.path("act.receipt"),
			"--server", e.srv.url}, tc.args...)
		code, sout, serr := runExit(t, args...)
		if code != tc.code || !strings.Contains(sout, tc.want) {
			t.Fatalf("act %v: exit %d, want %d\n%s%s", tc.args, code, tc.code, sout, serr)
		}
		en := e.verifyReceipt(e.path("act.receipt"))
		if en.Type != "action.decision" || en.Actor != work || en.Owner != alice || string(en.Decision) != tc.typeOK {
			t.Errorf("entry %+v", en)
		}
	}
	e.refused("action_id_conflict", "act", "--agent-key", e.path("work.jwk"), "--cred-id", cred, "--action", "payment/send",
		"--resource", "wallet/other", "--id", "cli-action-000001")
	e.refused("not_an_agent", "act", "--agent-key", e.path("alice.jwk"), "--cred-id", cred, "--action", "file/read", "--resource", "files/a")
	if code, _, _ := runExit(t, "act", "--agent-key", e.path("work.jwk")); code != exitUsage {
		t.Errorf("usage: exit %d", code)
	}

	// --cred FILE: the id read from the saved credential, the same decision.
	code, sout, serr := runExit(t, "act", "--agent-key", e.path("work.jwk"), "--cred", e.path("work.cred"), "--receipt", e.path("act.receipt"),
		"--server", e.srv.url, "--action", "payment/send", "--resource", "wallet/main", "--arg", "amount=50", "--id", "cli-action-000001")
	if code != exitOK || !strings.Contains(sout, `reason: allow by scope "pay"`) {
		t.Fatalf("act --cred: exit %d\n%s%s", code, sout, serr)
	}
	if en := e.verifyReceipt(e.path("act.receipt")); en.Authz == nil || en.Authz.Credential != cred {
		t.Errorf("act --cred: the entry's credential is %+v, want %s", en.Authz, cred)
	}
	// Another agent's key with it: refused before anything is sent.
	e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "home", "--out", e.path("home.jwk"))
	if code, _, serr := runExit(t, "act", "--agent-key", e.path("home.jwk"), "--cred", e.path("work.cred"), "--server", e.srv.url,
		"--action", "file/read", "--resource", "files/a"); code != exitFail || !strings.Contains(serr, "not to the agent of") {
		t.Errorf("act --cred with another agent's key: exit %d, %s", code, serr)
	}
	// A credential file that does not verify, and both or neither of --cred and --cred-id.
	if err := os.WriteFile(e.path("bad.cred"), []byte("eyJhbGciOiJFZERTQSJ9.e30.AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, serr := runExit(t, "act", "--agent-key", e.path("work.jwk"), "--cred", e.path("bad.cred"), "--server", e.srv.url,
		"--action", "file/read", "--resource", "files/a"); code != exitFail || !strings.Contains(serr, "--cred: ") {
		t.Errorf("act --cred with a bad file: exit %d, %s", code, serr)
	}
	for _, both := range [][]string{{"--cred", e.path("work.cred"), "--cred-id", cred}, {}} {
		args := append([]string{"act", "--agent-key", e.path("work.jwk"), "--action", "file/read", "--resource", "files/a", "--server", e.srv.url}, both...)
		if code, _, _ := runExit(t, args...); code != exitUsage {
			t.Errorf("act %v: exit %d, want usage", both, code)
		}
	}
}
