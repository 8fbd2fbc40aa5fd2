package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// idEnv is a running server and a folder of key files for CLI tests.
type idEnv struct {
	t    *testing.T
	srv  *running
	dir  string
	vkey string
}

func newIDEnv(t *testing.T) *idEnv {
	t.Helper()
	dir := t.TempDir()
	r := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	return &idEnv{t: t, srv: r, dir: dir, vkey: r.vkey}
}

func (e *idEnv) path(name string) string { return filepath.Join(e.dir, name) }

// ok runs a clawnet command against the server and fails the test unless
// it succeeds; it returns stdout.
func (e *idEnv) ok(args ...string) string {
	e.t.Helper()
	code, out, errs := runExit(e.t, append(args, "--server", e.srv.url)...)
	if code != exitOK {
		e.t.Fatalf("clawnet %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// refused runs a command that must fail with the given server error code.
func (e *idEnv) refused(code string, args ...string) {
	e.t.Helper()
	c, out, errs := runExit(e.t, append(args, "--server", e.srv.url)...)
	if c != exitFail || !strings.Contains(errs, ": "+code+": ") {
		e.t.Fatalf("clawnet %s: exit %d, want refusal %s\n%s%s", strings.Join(args, " "), c, code, out, errs)
	}
}

// newKey creates a key file and returns its DID.
func (e *idEnv) newKey(name string) string {
	e.t.Helper()
	code, out, errs := runExit(e.t, "key", "new", "--out", e.path(name))
	if code != exitOK {
		e.t.Fatalf("key new: %d %s", code, errs)
	}
	return strings.TrimSpace(out)
}

// lastLine returns the line of out that starts with prefix, without it.
func lineAfter(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no line %q in\n%s", prefix, out)
	return ""
}

// verifyReceipt checks a saved receipt as clawaudit verify does and
// returns its entry.
func (e *idEnv) verifyReceipt(path string) *transparency.Entry {
	e.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := transparency.ParseReceipt(b)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := transparency.NewVerifier(e.vkey)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := transparency.VerifyReceipt(r, v); err != nil {
		e.t.Fatalf("receipt %s does not verify: %v", path, err)
	}
	entry, err := transparency.ParseEntry(r.Entry)
	if err != nil {
		e.t.Fatal(err)
	}
	return entry
}

// TestIdentityCLI walks the CLI: keys, owners, agents, contacts,
// each state change with a receipt that verifies and names the right
// event, and the refusals a user meets on the way.
func TestIdentityCLI(t *testing.T) {
	e := newIDEnv(t)
	alice := e.newKey("alice.jwk")
	bob := e.newKey("bob.jwk")

	out := e.ok("owner", "register", "--key", e.path("alice.jwk"), "--receipt", e.path("alice.receipt"))
	if !strings.Contains(out, "logged as entry 0") {
		t.Fatalf("owner register output:\n%s", out)
	}
	if en := e.verifyReceipt(e.path("alice.receipt")); en.Type != "owner.registered" || en.Actor != alice || en.Subject != alice {
		t.Fatalf("owner register entry %+v", en)
	}
	e.refused("owner_exists", "owner", "register", "--key", e.path("alice.jwk"))
	e.ok("owner", "register", "--key", e.path("bob.jwk"))

	out = e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work",
		"--out", e.path("alice-work.jwk"), "--receipt", e.path("bind.receipt"))
	work := lineAfter(t, out, "identity (work) agent of "+alice+": ")
	if en := e.verifyReceipt(e.path("bind.receipt")); en.Type != "agent.bound" || en.Subject != work || en.Owner != alice ||
		en.Authz == nil || en.Resource != "identity:work" {
		t.Fatalf("agent bound entry %+v", en)
	}
	out = e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "manager", "--out", e.path("alice-mgr.jwk"))
	mgr := lineAfter(t, out, "manager agent of "+alice+": ")
	e.refused("second_manager", "agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "manager", "--out", e.path("m2.jwk"))
	e.refused("duplicate_context", "agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work", "--out", e.path("w2.jwk"))
	// Bob may not take over Alice's agent.
	e.refused("agent_already_bound", "agent", "add", "--owner-key", e.path("bob.jwk"), "--role", "identity", "--context", "x", "--agent-key", e.path("alice-work.jwk"))
	out = e.ok("agent", "add", "--owner-key", e.path("bob.jwk"), "--role", "identity", "--context", "friends", "--out", e.path("bob-friends.jwk"))
	bobFriends := lineAfter(t, out, "identity (friends) agent of "+bob+": ")

	list := e.ok("agent", "list", "--owner-key", e.path("alice.jwk"))
	for _, d := range []string{work, mgr} {
		if !strings.Contains(list, d) {
			t.Fatalf("agent list misses %s:\n%s", d, list)
		}
	}
	if strings.Contains(list, bobFriends) {
		t.Fatalf("agent list shows another owner's agent:\n%s", list)
	}
	e.refused("owner_not_registered", "agent", "list", "--owner-key", e.path("alice-work.jwk"))
	show := e.ok("agent", "show", work)
	if !strings.Contains(show, `"owner": "`+alice+`"`) || !strings.Contains(show, `"revoked": false`) {
		t.Fatalf("agent show:\n%s", show)
	}

	// Contacts: the Manager Agent is never a mapping; only the addressee
	// accepts.
	e.refused("manager_agent_not_allowed", "contact", "request", "--owner-key", e.path("alice.jwk"), "--to", bob, "--agent", mgr)
	out = e.ok("contact", "request", "--owner-key", e.path("alice.jwk"), "--to", bob, "--agent", work, "--receipt", e.path("req.receipt"))
	reqID := strings.Fields(lineAfter(t, out, "contact request "))[0]
	// The request's id is the index of its own entry.
	if en := e.verifyReceipt(e.path("req.receipt")); en.Type != "contact.requested" || en.Counterparty != bob || en.Actor != alice {
		t.Fatalf("contact request entry %+v (request %s)", en, reqID)
	}
	if b, _ := os.ReadFile(e.path("req.receipt")); !strings.Contains(string(b), `"index": `+reqID+`,`) {
		t.Fatalf("request id %s is not the index of its entry: %s", reqID, b)
	}
	e.refused("contact_request_not_addressed_to_you", "contact", "accept", "--owner-key", e.path("alice.jwk"), "--request", reqID, "--agent", work)
	e.ok("contact", "accept", "--owner-key", e.path("bob.jwk"), "--request", reqID, "--agent", bobFriends, "--receipt", e.path("acc.receipt"))
	if en := e.verifyReceipt(e.path("acc.receipt")); en.Type != "contact.accepted" || en.Actor != bob || en.Counterparty != alice {
		t.Fatalf("contact accepted entry %+v", en)
	}
	for _, who := range []string{"alice.jwk", "bob.jwk"} {
		if l := e.ok("contact", "list", "--owner-key", e.path(who)); !strings.Contains(l, work) || !strings.Contains(l, bobFriends) {
			t.Fatalf("%s contact list:\n%s", who, l)
		}
	}

	// Unbinding the agent that maps Bob ends that contact too.
	out = e.ok("agent", "unbind", "--owner-key", e.path("alice.jwk"), work, "--receipt", e.path("unbind.receipt"))
	if !strings.Contains(out, "contact "+bob+" removed") {
		t.Fatalf("agent unbind output:\n%s", out)
	}
	if en := e.verifyReceipt(e.path("unbind.receipt")); en.Type != "agent.unbound" || en.Subject != work {
		t.Fatalf("agent unbound entry %+v", en)
	}
	if show := e.ok("agent", "show", work); !strings.Contains(show, `"revoked": true`) {
		t.Fatalf("unbound agent's public binding:\n%s", show)
	}
	if l := e.ok("contact", "list", "--owner-key", e.path("bob.jwk")); strings.Contains(l, alice) {
		t.Fatalf("contact survived the unbinding of its agent:\n%s", l)
	}
	e.refused("contact_not_found", "contact", "remove", "--owner-key", e.path("bob.jwk"), "--contact", alice)
}

// TestHostedDIDCLI: a did:web hosted by the server, created, used as an
// owner, rotated and deactivated from the CLI.
func TestHostedDIDCLI(t *testing.T) {
	e := newIDEnv(t)
	e.newKey("carol0.jwk")
	out := e.ok("did", "create", "--key", e.path("carol0.jwk"), "--name", "owners/carol", "--out", e.path("carol.jwk"),
		"--receipt", e.path("create.receipt"))
	host := strings.ReplaceAll(strings.TrimPrefix(e.srv.url, "http://"), ":", "%3A")
	carol := "did:web:" + host + ":owners:carol"
	if !strings.Contains(out, carol+"\n") {
		t.Fatalf("did create output:\n%s", out)
	}
	if en := e.verifyReceipt(e.path("create.receipt")); en.Type != "did.created" || en.Subject != carol ||
		!strings.HasPrefix(en.Resource, "sha256:") {
		t.Fatalf("did created entry %+v", en)
	}
	e.refused("name_taken", "did", "create", "--key", e.path("carol0.jwk"), "--name", "owners/carol", "--out", e.path("x.jwk"))
	res := e.ok("did", "resolve", carol)
	if !strings.Contains(res, carol+"#key-1") || !strings.Contains(res, `"versionId": "0"`) {
		t.Fatalf("did resolve:\n%s", res)
	}
	e.ok("owner", "register", "--key", e.path("carol.jwk"))

	e.newKey("carol1.jwk")
	e.ok("did", "rotate", "--key", e.path("carol.jwk"), "--new-key", e.path("carol1.jwk"), "--out", e.path("carol2.jwk"))
	// The old key no longer speaks for the DID; the new one does.
	e.refused("key_not_found", "agent", "list", "--owner-key", e.path("carol.jwk"))
	e.ok("agent", "list", "--owner-key", e.path("carol2.jwk"))
	if past := e.ok("did", "resolve", carol, "--version-id", "0"); !strings.Contains(past, carol+"#key-1") || strings.Contains(past, "#key-2") {
		t.Fatalf("version 0:\n%s", past)
	}

	e.ok("did", "deactivate", "--key", e.path("carol2.jwk"))
	code, res, _ := runExit(t, "did", "resolve", carol, "--server", e.srv.url)
	if code != exitFail || !strings.Contains(res, `"error": "deactivated"`) || !strings.Contains(res, `"deactivated": true`) {
		t.Fatalf("resolve deactivated: %d\n%s", code, res)
	}
	e.refused("did_deactivated", "agent", "list", "--owner-key", e.path("carol2.jwk"))
}
