package main

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
)

// inboxServer is the identity API with inboxes, in process on loopback,
// wired as clawnet serve wires it, with the log and mailbox at hand so
// that the test can deliver messages as the orchestrator does.
type inboxServer struct {
	url string
	log *sequencer.Log
	mb  *mailbox.Mailbox
}

func newInboxServer(t *testing.T) *inboxServer {
	t.Helper()
	l, db, vkey := newTestLog(t)
	var h atomic.Pointer[http.Handler]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(ts.Close) // before the log and the database close (cleanups run last first)
	host, err := didWebHost(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{DB: db, Host: host, PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	mb := mailbox.New(db, mailbox.Options{})
	srv, err := server.New(server.Config{
		Log: l, VerifierKey: vkey,
		Resolver: &did.Resolver{Hosted: reg, HostedHost: host, Cache: did.NewCache(100, time.Now)},
		Identity: &server.IdentityConfig{PublicURL: ts.URL, DIDWebHost: host, DB: db, Registry: reg, Mailbox: mb},
	})
	if err != nil {
		t.Fatal(err)
	}
	handler := srv.Handler()
	h.Store(&handler)
	return &inboxServer{url: ts.URL, log: l, mb: mb}
}

func (s *inboxServer) deliver(t *testing.T, m mailbox.Message) {
	t.Helper()
	m.ContentDigest = transparency.DigestSHA256(sha256.Sum256([]byte(m.Content)))
	_, err := s.log.Append(context.Background(), &transparency.Entry{
		Version: transparency.EntryVersion, Type: "message.delivered", Time: m.Time, Actor: m.From, Subject: m.ID,
	}, func(tx *store.Tx) error {
		m.DecisionIndex = tx.Index()
		_, err := s.mb.Deliver(tx, m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInboxCLI(t *testing.T) {
	s := newInboxServer(t)
	e := &idEnv{t: t, srv: &running{url: s.url}, dir: t.TempDir()}
	alice, bob := e.newKey("alice.jwk"), e.newKey("bob.jwk")
	e.ok("owner", "register", "--key", e.path("alice.jwk"))
	e.ok("owner", "register", "--key", e.path("bob.jwk"))
	out := e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work", "--out", e.path("alice-work.jwk"))
	aliceWork := lineAfter(t, out, "identity (work) agent of "+alice+": ")
	out = e.ok("agent", "add", "--owner-key", e.path("bob.jwk"), "--role", "identity", "--context", "work", "--out", e.path("bob-work.jwk"))
	bobWork := lineAfter(t, out, "identity (work) agent of "+bob+": ")

	if out := e.ok("inbox", "--agent-key", e.path("bob-work.jwk")); !strings.Contains(out, "no unacknowledged messages") {
		t.Fatalf("empty inbox:\n%s", out)
	}
	now := time.Now().UTC()
	first := mailbox.Message{ID: mailbox.MessageID(aliceWork, "r1"), From: aliceWork, FromOwner: alice, To: bobWork,
		Action: "message/send", Resource: "meeting/1", Content: "Tuesday 10:00?\n\x1b[2Jroom 4", Time: now}
	second := first
	second.ID, second.Content = mailbox.MessageID(aliceWork, "r2"), "or Wednesday"
	s.deliver(t, first)
	s.deliver(t, second)

	out = e.ok("inbox", "--agent-key", e.path("bob-work.jwk"))
	for _, want := range []string{"#1 " + first.ID, "#2 " + second.ID, "from " + aliceWork + " (owner " + alice + ")",
		"message/send meeting/1", "| Tuesday 10:00?", `| \u001b[2Jroom 4`, "| or Wednesday", "2 messages (not acknowledged"} {
		if !strings.Contains(out, want) {
			t.Errorf("inbox output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("a control character reached the terminal:\n%q", out)
	}
	// Not acknowledged: shown again, then acknowledged.
	out = e.ok("inbox", "--agent-key", e.path("bob-work.jwk"), "--ack")
	if !strings.Contains(out, "#1 ") || !strings.Contains(out, "2 messages, 2 acknowledged") {
		t.Fatalf("inbox --ack:\n%s", out)
	}
	if out := e.ok("inbox", "--agent-key", e.path("bob-work.jwk")); !strings.Contains(out, "no unacknowledged messages") {
		t.Fatalf("after --ack:\n%s", out)
	}
	// --after and --json.
	third := second
	third.ID, third.Content = mailbox.MessageID(aliceWork, "r3"), "third"
	s.deliver(t, third)
	out = e.ok("inbox", "--agent-key", e.path("bob-work.jwk"), "--json")
	if !strings.Contains(out, `"seq": 3`) || !strings.Contains(out, `"next_after": 3`) {
		t.Errorf("inbox --json:\n%s", out)
	}
	if out := e.ok("inbox", "--agent-key", e.path("bob-work.jwk"), "--after", "3"); !strings.Contains(out, "no unacknowledged") {
		t.Errorf("inbox --after 3:\n%s", out)
	}
	// Only agents have inboxes.
	e.refused("agent_not_found", "inbox", "--agent-key", e.path("bob.jwk"))
	if code, _, _ := runExit(t, "inbox"); code != exitUsage {
		t.Errorf("inbox without --agent-key: exit %d", code)
	}
}

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "tab\there": "tab\there", "\x1b[31m": `\u001b[31m`, "a\rb": `a\u000db`,
		"\u2028": `\u2028`, "é ✓": "é ✓", "\x7f": `\u007f`, "\u0085": `\u0085`,
	} {
		if got := terminalSafe(in); got != want {
			t.Errorf("terminalSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
