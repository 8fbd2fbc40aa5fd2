package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestGrantCLI(t *testing.T) {
	e := newIDEnv(t)
	alice := e.newKey("alice.jwk")
	e.ok("owner", "register", "--key", e.path("alice.jwk"))
	out := e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work", "--out", e.path("work.jwk"))
	work := lineAfter(t, out, "identity (work) agent of "+alice+": ")
	out = e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "home", "--out", e.path("home.jwk"))
	home := lineAfter(t, out, "identity (home) agent of "+alice+": ")
	if err := os.WriteFile(e.path("pay.json"), []byte(`[{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["**"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := `{"id":"msg","effect":"allow","actions":["message"],"resources":["work/**"]}`
	ids := map[string]string{}

	for _, format := range []string{"jwt", "ldp"} {
		cred := e.path("root-" + format + ".cred")
		out = e.ok("grant", "--owner-key", e.path("alice.jwk"), "--agent", work, "--scope", msg, "--scope", "@"+e.path("pay.json"),
			"--format", format, "--allow-subdelegation", "1", "--out", cred, "--receipt", e.path("grant.receipt"))
		id := strings.Fields(lineAfter(t, out, "credential "))[0]
		ids[format] = id
		en := e.verifyReceipt(e.path("grant.receipt"))
		if en.Type != "vc.granted" || en.Subject != id || en.Owner != alice || en.Actor != alice || en.Resource != format || en.Authz == nil {
			t.Fatalf("granted entry %+v", en)
		}
		// scope check, offline: allow, deny, escalate, each with its exit status.
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"--action", "message/send", "--resource", "work/x"}, exitOK, `allow by scope "msg"`},
			{[]string{"--action", "message/send", "--resource", "home/x"}, exitDeny, "deny: resource_not_matched"},
			{[]string{"--action", "payment/send", "--resource", "x", "--arg", "amount=250"}, exitEscalate, `escalate by scope "pay"`},
			{[]string{"--action", "payment/send", "--resource", "x", "--arg", "amount=99.5"}, exitOK, `allow by scope "pay"`},
		} {
			code, sout, serr := runExit(t, append([]string{"scope", "check", "--cred", cred}, tc.args...)...)
			if code != tc.code || !strings.Contains(sout, tc.want) {
				t.Errorf("scope check %v: exit %d, want %d\n%s%s", tc.args, code, tc.code, sout, serr)
			}
		}
	}
	// A sub-delegation by the work agent to the home agent, then the list.
	out = e.ok("grant", "--agent-key", e.path("work.jwk"), "--parent", e.path("root-jwt.cred"), "--agent", home,
		"--scope", `{"effect":"allow","actions":["message/send"],"resources":["work/a/**"]}`, "--out", e.path("child.cred"))
	child := strings.Fields(lineAfter(t, out, "credential "))[0]
	e.refused("grant_scope_widened", "grant", "--agent-key", e.path("work.jwk"), "--parent", e.path("root-jwt.cred"), "--agent", home,
		"--scope", `{"effect":"allow","actions":["file"],"resources":["**"]}`, "--out", e.path("wide.cred"))
	list := e.ok("grant", "list", "--owner-key", e.path("alice.jwk"))
	if !strings.Contains(list, child) || strings.Count(list, `"revoked": false`) != 3 {
		t.Errorf("grant list:\n%s", list)
	}
	// Revoke the root: the child goes with it.
	rootID := ids["jwt"]
	out = e.ok("revoke", "--owner-key", e.path("alice.jwk"), rootID, "--receipt", e.path("revoke.receipt"))
	if !strings.Contains(out, "sub-delegation "+child+" revoked with it") {
		t.Errorf("revoke output:\n%s", out)
	}
	if en := e.verifyReceipt(e.path("revoke.receipt")); en.Type != "vc.revoked" || en.Subject != rootID || en.Reason != "revoked with sub-delegations: "+child {
		t.Errorf("revoked entry %+v", en)
	}
	e.refused("grant_already_revoked", "revoke", "--owner-key", e.path("alice.jwk"), child)
	e.refused("grant_parent_revoked", "grant", "--agent-key", e.path("home.jwk"), "--parent", e.path("child.cred"), "--agent", work,
		"--scope", `{"effect":"allow","actions":["message/send"],"resources":["work/a/b"]}`, "--out", e.path("x.cred"))
	if list := e.ok("grant", "list", "--owner-key", e.path("alice.jwk")); strings.Count(list, `"revoked": true`) != 2 {
		t.Errorf("grant list after revoke:\n%s", list)
	}
}

func TestParseArg(t *testing.T) {
	for _, tc := range []struct {
		in, key, want string
		ok            bool
	}{
		{"amount=100", "amount", "100", true},
		{"amount=1e2", "amount", "100", true},
		{"currency=USD", "currency", `"USD"`, true},
		{`currency="USD"`, "currency", `"USD"`, true},
		{"flag=true", "flag", "true", true},
		{`tags=["a","b"]`, "tags", `["a","b"]`, true},
		{"path=/docs/a=b", "path", `"/docs/a=b"`, true},
		{"empty=", "empty", `""`, true},
		{"=1", "", "", false},
		{"novalue", "", "", false},
	} {
		k, v, err := parseArg(tc.in)
		if (err == nil) != tc.ok || k != tc.key || (tc.ok && v.String() != tc.want) {
			t.Errorf("parseArg(%q) = %q, %s, %v; want %q, %s", tc.in, k, v.String(), err, tc.key, tc.want)
		}
	}
}

func TestParseScopeArgs(t *testing.T) {
	files := map[string]string{"a.json": `[{"effect":"allow","actions":["x"],"resources":["**"]}]`}
	read := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return []byte(b), nil
		}
		return nil, errors.New("no such file")
	}
	for _, tc := range []struct {
		name string
		args []string
		n    int
	}{
		{"object", []string{`{"effect":"deny","actions":["*"],"resources":["secret/**"]}`}, 1},
		{"array and file", []string{`[{"effect":"allow","actions":["y"],"resources":["a"]}]`, "@a.json"}, 2},
		{"missing file", []string{"@b.json"}, 0},
		{"not JSON", []string{"allow everything"}, 0},
		{"unknown member", []string{`{"effect":"allow","actions":["x"],"resources":["**"],"extra":1}`}, 0},
		{"empty array", []string{`[]`}, 0},
		{"duplicate ids across flags", []string{`{"id":"a","effect":"allow","actions":["x"],"resources":["**"]}`, `{"id":"a","effect":"allow","actions":["y"],"resources":["**"]}`}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := parseScopeArgs(tc.args, read)
			if (err == nil) != (tc.n > 0) || len(list) != tc.n {
				t.Errorf("got %d scopes, %v; want %d", len(list), err, tc.n)
			}
		})
	}
}

func FuzzParseArg(f *testing.F) {
	for _, s := range []string{"amount=100", "c=USD", `t=["a"]`, "=", "x=1e99999", "k=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := parseArg(s)
		if err != nil {
			return
		}
		if k == "" || !strings.HasPrefix(s, k+"=") {
			t.Fatalf("key %q from %q", k, s)
		}
		_ = v.String()
	})
}

func FuzzParseScopeArgs(f *testing.F) {
	f.Add(`{"effect":"allow","actions":["message"],"resources":["**"]}`)
	f.Add(`[{"effect":"deny","actions":["*"],"resources":["a/*/b"]}]`)
	f.Add(`@x`)
	f.Fuzz(func(t *testing.T, s string) {
		list, err := parseScopeArgs([]string{s}, func(string) ([]byte, error) { return nil, errors.New("no files") })
		if err != nil {
			return
		}
		if len(list) == 0 {
			t.Fatal("accepted an empty list")
		}
	})
}
