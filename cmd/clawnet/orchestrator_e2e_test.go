package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/status"
)

func TestServeEscalationTimeoutFlag(t *testing.T) {
	for _, v := range []string{"0s", "-1m", "soon"} {
		code, _, serr := runExit(t, "serve", "--data", t.TempDir(), "--escalation-timeout", v)
		if code != exitUsage || !strings.Contains(serr, "escalation-timeout") {
			t.Errorf("--escalation-timeout %s: exit %d\n%s", v, code, serr)
		}
	}
	cfg, err := parseServeFlags(nil, new(strings.Builder))
	if err != nil || cfg.escalationTimeout != 30*time.Minute {
		t.Errorf("default %v %v", cfg.escalationTimeout, err)
	}
	for _, tc := range []struct{ timeout, want time.Duration }{
		{30 * time.Minute, 30 * time.Second}, {2 * time.Minute, 30 * time.Second}, {time.Minute, 15 * time.Second},
		{8 * time.Second, 2 * time.Second}, {4 * time.Second, time.Second}, {time.Second, time.Second}, {time.Millisecond, time.Second},
	} {
		if got := expiryInterval(tc.timeout); got != tc.want {
			t.Errorf("expiryInterval(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
}

// e2eServe is a `clawnet serve` child process of an end-to-end test, on
// one data folder and one address across restarts (the address is the
// public URL, the audience of signed requests and the host of the status
// lists that credentials name).
type e2eServe struct {
	t    *testing.T
	data string
	addr string // "" until the first start picked a port
	proc *serverProc
	vkey string
}

func (s *e2eServe) start(extra ...string) {
	s.t.Helper()
	if s.addr != "" {
		extra = append([]string{"--addr", s.addr}, extra...)
	}
	p := startServer(s.t, s.data, extra...)
	s.t.Cleanup(func() {
		if s.proc == p {
			_ = p.cmd.Process.Kill()
			<-p.done
			s.proc = nil
		}
	})
	if s.vkey != "" && p.vkey != s.vkey {
		s.t.Fatalf("verifier key changed across restarts: %q then %q", s.vkey, p.vkey)
	}
	s.proc, s.vkey, s.addr = p, p.vkey, strings.TrimPrefix(p.url, "http://")
}

func (s *e2eServe) url() string { return "http://" + s.addr }

// stop ends the process with sig and, for SIGTERM, checks that it shut
// down cleanly.
func (s *e2eServe) stop(sig syscall.Signal) {
	s.t.Helper()
	p := s.proc
	s.proc = nil
	if err := p.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if sig == syscall.SIGTERM && err != nil {
			s.t.Fatalf("clawnet serve after SIGTERM: %v", err)
		}
	case <-time.After(startupDeadline):
		_ = p.cmd.Process.Kill()
		s.t.Fatalf("clawnet serve did not exit after %v", sig)
	}
}

// lineWriter sends each line written to it (readStream writes one line
// per call) to ch.
type lineWriter struct{ ch chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	w.ch <- strings.TrimSuffix(string(p), "\n")
	return len(p), nil
}

// follower is an owner's event stream read by readStream in the
// background, as clawnet events --follow reads it.
type follower struct {
	lines  chan string
	cancel context.CancelFunc
	done   chan error
	last   uint64 // readStream's; read only after done
	got    []string
}

func follow(url string, k *signingKey, since uint64) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{lines: make(chan string, 1024), cancel: cancel, done: make(chan error, 1), last: since}
	go func() {
		f.done <- readStream(ctx, url, k, "/v1/owners/"+k.DID+"/events", &f.last, true, lineWriter{f.lines})
	}()
	return f
}

// isEvent says whether line, as readStream prints it ("ID TYPE JSON"),
// is an event typ of escalation esc.
func isEvent(line, typ, esc string) bool {
	return strings.Contains(line, " "+typ+" {") && strings.Contains(line, `"data":{"escalation":"`+esc+`"`)
}

// waitFor reads lines until event typ of escalation esc.
func (f *follower) waitFor(t *testing.T, typ, esc string) {
	want := typ + " of escalation " + esc
	t.Helper()
	deadline := time.After(startupDeadline)
	for {
		select {
		case l := <-f.lines:
			f.got = append(f.got, l)
			if isEvent(l, typ, esc) {
				return
			}
		case err := <-f.done:
			t.Fatalf("the stream ended (%v) before %q; got %q", err, want, f.got)
		case <-deadline:
			t.Fatalf("no event %q in time; got %q", want, f.got)
		}
	}
}

// end waits for the stream to end (after cancel or a dropped connection)
// and returns every line it printed.
func (f *follower) end(t *testing.T) []string {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(startupDeadline):
		t.Fatal("the stream did not end")
	}
	for {
		select {
		case l := <-f.lines:
			f.got = append(f.got, l)
		default:
			return f.got
		}
	}
}

// backlog reads an owner's stored events after since, as clawnet events
// without --follow does.
func backlog(t *testing.T, url string, k *signingKey, since uint64) ([]string, uint64) {
	t.Helper()
	var b strings.Builder
	last := since
	if err := readStream(context.Background(), url, k, "/v1/owners/"+k.DID+"/events", &last, false, &b); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"), last
}

// waitEntry polls the log, with a deadline and no request to the
// escalation, until an entry after from matches, and returns it.
func waitEntry(t *testing.T, s *e2eServe, from uint64, within time.Duration, match func(*transparency.Entry) bool) *transparency.Entry {
	t.Helper()
	deadline := time.Now().Add(within)
	for next := from; ; {
		size := logSize(t, s.url(), s.vkey)
		for i, en := range logEntries(t, s.url(), next, size) {
			if match(en) {
				return en
			}
			next = from + uint64(i) + 1
		}
		next = max(next, size)
		if time.Now().After(deadline) {
			t.Fatalf("no such entry in the log within %v", within)
		}
		time.Sleep(50 * time.Millisecond) // a poll of the public log, bounded by the deadline
	}
}

// aliceAndBob registers the owners Alice and Bob (keys alice.jwk and
// bob.jwk in e) with one Identity Agent each, Alice's "work" (work.jwk) and
// Bob's "friends" (friends.jwk), made contacts; grants Alice's agent
// chatScope (chat.cred) and Bob's the receipt of chat/** messages from
// contacts (listen.cred). receipt, if not nil, names the files for the
// receipts of Alice's registration and of her grant. It returns the four
// DIDs and the id of Alice's credential.
func aliceAndBob(e *idEnv, chatScope string, receipt func(name string) string) (alice, bob, work, friends, cred string) {
	t := e.t
	t.Helper()
	withReceipt := func(name string, args ...string) []string {
		if receipt == nil {
			return args
		}
		return append(args, "--receipt", receipt(name))
	}
	alice, bob = e.newKey("alice.jwk"), e.newKey("bob.jwk")
	e.ok(withReceipt("alice.receipt", "owner", "register", "--key", e.path("alice.jwk"))...)
	e.ok("owner", "register", "--key", e.path("bob.jwk"))
	work = lineAfter(t, e.ok("agent", "add", "--owner-key", e.path("alice.jwk"), "--role", "identity", "--context", "work",
		"--out", e.path("work.jwk")), "identity (work) agent of "+alice+": ")
	friends = lineAfter(t, e.ok("agent", "add", "--owner-key", e.path("bob.jwk"), "--role", "identity", "--context", "friends",
		"--out", e.path("friends.jwk")), "identity (friends) agent of "+bob+": ")
	req := strings.Fields(lineAfter(t, e.ok("contact", "request", "--owner-key", e.path("alice.jwk"), "--to", bob, "--agent", work), "contact request "))[0]
	e.ok("contact", "accept", "--owner-key", e.path("bob.jwk"), "--request", req, "--agent", friends)
	cred = strings.Fields(lineAfter(t, e.ok(withReceipt("grant.receipt", "grant", "--owner-key", e.path("alice.jwk"), "--agent", work,
		"--out", e.path("chat.cred"), "--scope", chatScope)...), "credential "))[0]
	e.ok("grant", "--owner-key", e.path("bob.jwk"), "--agent", friends, "--out", e.path("listen.cred"),
		"--scope", `{"id":"listen","effect":"allow","actions":["message/receive"],"resources":["chat/**"],"counterparties":["contacts"]}`)
	return alice, bob, work, friends, cred
}

// TestOrchestratorEndToEnd drives escalations through real `clawnet
// serve` processes: pending escalations survive a SIGTERM and a SIGKILL
// restart and are then approved and carried out (the held message is
// delivered; the agent reads the answer on GET /v1/actions/{id}); two
// concurrent approvals, exactly one wins; the owner's stream, resumed
// with Last-Event-ID after a disconnect and after a SIGKILL, loses and
// repeats nothing; with --escalation-timeout short, the expiry loop times
// escalations out with no request touching them; and clawaudit, built
// from source, verifies every receipt saved and monitors the whole log.
func TestOrchestratorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs clawnet serve processes and builds clawaudit; skipped in -short")
	}
	dir := t.TempDir()
	s := &e2eServe{t: t, data: filepath.Join(dir, "data")}
	s.start()
	e := &idEnv{t: t, srv: &running{url: s.url()}, dir: dir, vkey: s.vkey}
	var receipts []string
	receipt := func(name string) string { p := e.path(name); receipts = append(receipts, p); return p }

	alice, bob, work, friends, cred := aliceAndBob(e,
		`{"id":"chat","effect":"allow","actions":["message/send"],"resources":["chat/**"],"counterparties":["contacts"],"constraints":[{"arg":"n","op":"<=","value":1}],"outside":"escalate"}`,
		receipt)
	escalate := func(id, text string) string {
		t.Helper()
		code, out, serr := runExit(t, "act", "--agent-key", e.path("work.jwk"), "--cred-id", cred, "--action", "message/send",
			"--to", bob, "--resource", "chat/"+id, "--arg", "n=5", "--message", text, "--id", id,
			"--receipt", receipt(id+".receipt"), "--server", s.url())
		if code != exitEscalate {
			t.Fatalf("act %s: exit %d\n%s%s", id, code, out, serr)
		}
		return strings.TrimSuffix(strings.Fields(lineAfter(t, out, "escalation "))[0], ":")
	}
	owner, err := readKeyFile(e.path("alice.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	agentKey, err := readKeyFile(e.path("work.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	// actionAnswer is the action as its agent reads it.
	actionAnswer := func(id string) server.ActionResponse {
		t.Helper()
		b, err := call(context.Background(), s.url(), agentKey, http.MethodGet, "/v1/actions/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r server.ActionResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	pending := func(want ...string) {
		t.Helper()
		out := e.ok("escalations", "list", "--owner-key", e.path("alice.jwk"))
		for _, esc := range want {
			if !strings.Contains(out, "escalation "+esc+"  pending until ") {
				t.Fatalf("escalation %s is not pending:\n%s", esc, out)
			}
		}
	}
	// carriedOut checks that the approved message reached Bob's agent.
	carriedOut := func(id, text string) {
		t.Helper()
		a := actionAnswer(id)
		if a.Decision != "escalated" || a.Answer != "approved" || a.AnswerIndex == 0 || a.Delivery == nil || a.Delivery.Recipient != friends {
			t.Fatalf("action %s as its agent reads it: %+v", id, a)
		}
		if out := e.ok("inbox", "--agent-key", e.path("friends.jwk")); !strings.Contains(out, "  | "+text+"\n") {
			t.Fatalf("inbox of Bob's agent, want %q:\n%s", text, out)
		}
	}

	// The owner follows its stream; two escalations; it disconnects.
	f1 := follow(s.url(), owner, 0)
	esc1 := escalate("e2e-held-action-0001", "survives a clean restart")
	esc2 := escalate("e2e-held-action-0002", "survives a crash")
	f1.waitFor(t, "escalation.opened", esc2)
	f1.cancel()
	seg1 := f1.end(t)

	// SIGTERM, restart: both pending; a third escalation while the owner
	// is away; the first is approved and carried out.
	s.stop(syscall.SIGTERM)
	s.start()
	pending(esc1, esc2)
	esc3 := escalate("e2e-held-action-0003", "never answered")
	out := e.ok("escalations", "approve", "--owner-key", e.path("alice.jwk"), esc1, "--receipt", receipt("approve1.receipt"))
	if !strings.Contains(out, "escalation "+esc1+" (request e2e-held-action-0001 of "+work+"): approved") || !strings.Contains(out, "delivered as ") {
		t.Fatalf("approve after restart:\n%s", out)
	}
	carriedOut("e2e-held-action-0001", "survives a clean restart")

	// The owner resumes from its last event id and follows until the
	// server is killed under it.
	f2 := follow(s.url(), owner, f1.last)
	f2.waitFor(t, "escalation.answered", esc1)
	s.stop(syscall.SIGKILL)
	seg2 := f2.end(t)

	// SIGKILL, restart: still pending; two concurrent approvals, one wins.
	s.start()
	pending(esc2, esc3)
	codes := make(chan string, 2)
	for range 2 {
		go func() {
			_, err := call(context.Background(), s.url(), owner, http.MethodPost, "/v1/escalations/"+esc2+"/answer", map[string]string{"decision": "approve"})
			var ae *apiError
			switch {
			case err == nil:
				codes <- "ok"
			case errors.As(err, &ae):
				codes <- ae.Code
			default:
				codes <- err.Error()
			}
		}()
	}
	if got := []string{<-codes, <-codes}; !slices.Contains(got, "ok") || !slices.Contains(got, "escalation_not_pending") {
		t.Fatalf("two concurrent approvals: %q, want one ok and one escalation_not_pending", got)
	}
	carriedOut("e2e-held-action-0002", "survives a crash")

	// The rest of the stream after the crash: all segments together are
	// the stream, each event once, in order.
	seg3, _ := backlog(t, s.url(), owner, f2.last)
	all, _ := backlog(t, s.url(), owner, 0)
	got := slices.Concat(seg1, seg2, seg3)
	if !slices.Equal(got, all) {
		t.Fatalf("the resumed segments differ from the stream:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
	}
	for _, want := range [][2]string{
		{"escalation.opened", esc1}, {"escalation.opened", esc2}, {"escalation.opened", esc3},
		{"escalation.answered", esc1}, {"escalation.answered", esc2},
	} {
		if n := countEvents(all, want[0], want[1]); n != 1 {
			t.Errorf("%d events %s of escalation %s in the stream, want 1", n, want[0], want[1])
		}
	}

	// A short timeout: at start the expiry closes the escalation pending
	// since before the restart, and then, with the server left alone, a
	// new one once its deadline passes.
	s.stop(syscall.SIGTERM)
	const timeout = 2 * time.Second
	s.start("--escalation-timeout", timeout.String())
	timedOut := func(esc string) func(*transparency.Entry) bool {
		return func(en *transparency.Entry) bool {
			return en.Type == "escalation.answered" && en.Subject == esc && en.Decision == transparency.DecisionTimedOut
		}
	}
	waitEntry(t, s, 0, startupDeadline, timedOut(esc3))
	from := logSize(t, s.url(), s.vkey)
	esc4 := escalate("e2e-held-action-0004", "times out while nobody looks")
	decided := e.verifyReceipt(e.path("e2e-held-action-0004.receipt")).Time
	en := waitEntry(t, s, from, timeout+expiryInterval(timeout)+startupDeadline, timedOut(esc4))
	if en.Time.Before(decided.Add(timeout)) || en.Actor != "" || en.Owner != alice ||
		en.Reason != "timed out: no answer by the owner before the deadline" {
		t.Errorf("timeout entry %+v, decided at %s", en, decided)
	}
	if a := actionAnswer("e2e-held-action-0004"); a.Answer != transparency.DecisionTimedOut {
		t.Errorf("action after the timeout: %+v", a)
	}
	e.refused("escalation_not_pending", "escalations", "approve", "--owner-key", e.path("alice.jwk"), esc4)

	// clawaudit, built from its source, verifies every receipt saved and
	// monitors the log from its first entry.
	audit := buildClawaudit(t)
	if b, err := exec.Command(audit, append([]string{"verify", "--key", s.vkey}, receipts...)...).CombinedOutput(); err != nil ||
		strings.Count(string(b), "OK ") != len(receipts) {
		t.Fatalf("clawaudit verify %d receipts: %v\n%s", len(receipts), err, b)
	}
	auditMonitor(t, s)
	s.stop(syscall.SIGTERM)
}

func countEvents(lines []string, typ, esc string) int {
	n := 0
	for _, l := range lines {
		if isEvent(l, typ, esc) {
			n++
		}
	}
	return n
}

// goTool is the go command of the toolchain running the tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build clawaudit with")
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// noDeliveryLog refuses every message.delivered entry, as a crash right
// after a decision's commit would leave it missing.
type noDeliveryLog struct{ server.Log }

func (l noDeliveryLog) Append(ctx context.Context, e *transparency.Entry, apply sequencer.Apply) (sequencer.Appended, error) {
	if e.Type == "message.delivered" {
		return sequencer.Appended{}, errors.New("test: crashed before the delivery entry")
	}
	return l.Log.Append(ctx, e, apply)
}

// serveWithoutDeliveries serves the data folder of s on its address, in
// process and wired as clawnet serve wires it, but with a log that loses
// every message.delivered entry, until the returned stop is called.
func serveWithoutDeliveries(t *testing.T, s *e2eServe) (stop func()) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	keys, err := loadOrCreateKeys(s.data, "", "", logger)
	if err != nil {
		t.Fatal(err)
	}
	issuerKey, err := loadOrCreateIssuerKey(s.data, logger)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(s.data, dbDir), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: keys.signer, Origin: keys.signer.Name()})
	if err != nil {
		t.Fatal(err)
	}
	publicURL := s.url()
	host, err := didWebHost(publicURL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{DB: db, Host: host, PublicURL: publicURL})
	if err != nil {
		t.Fatal(err)
	}
	lists, err := status.New(status.Config{DB: db, BaseURL: publicURL + "/status/"})
	if err != nil {
		t.Fatal(err)
	}
	grants, err := grant.New(grant.Config{DB: db, Status: lists})
	if err != nil {
		t.Fatal(err)
	}
	streams, err := events.New(events.Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Log: noDeliveryLog{l}, VerifierKey: keys.vkey,
		Resolver: &did.Resolver{Hosted: reg, HostedHost: host, Cache: did.NewCache(1000, time.Now)},
		Identity: &server.IdentityConfig{
			PublicURL: publicURL, DIDWebHost: host, DB: db, Registry: reg,
			Status: lists, IssuerKey: issuerKey.Priv, Grants: grants,
			Mailbox: mailbox.New(db, mailbox.Options{}), Events: streams,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	hs.RegisterOnShutdown(srv.CloseEvents)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	return func() {
		t.Helper()
		if err := hs.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		<-served
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestServeRecoversDeliveries: an allowed message whose message.delivered
// entry was lost (committed decision and inbox, no delivery entry) gets
// its entry when clawnet serve starts, before it serves; the recipient
// has the message once, and clawaudit's monitor accepts the log.
func TestServeRecoversDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs clawnet serve processes; skipped in -short")
	}
	dir := t.TempDir()
	s := &e2eServe{t: t, data: filepath.Join(dir, "data")}
	s.start()
	e := &idEnv{t: t, srv: &running{url: s.url()}, dir: dir, vkey: s.vkey}
	_, bob, work, friends, cred := aliceAndBob(e,
		`{"id":"chat","effect":"allow","actions":["message/send"],"resources":["chat/**"],"counterparties":["contacts"]}`, nil)
	s.stop(syscall.SIGTERM)

	stop := serveWithoutDeliveries(t, s)
	code, out, serr := runExit(t, "act", "--agent-key", e.path("work.jwk"), "--cred-id", cred, "--action", "message/send",
		"--to", bob, "--resource", "chat/lost", "--message", "delivered, entry lost", "--id", "e2e-lost-delivery-01", "--server", s.url())
	if code != exitFail || !strings.Contains(serr, "500") {
		t.Fatalf("act with the delivery entry lost: exit %d\n%s%s", code, out, serr)
	}
	stop()

	// serve appends the missing entry before it serves.
	s.start()
	size := logSize(t, s.url(), s.vkey)
	var decision, delivered []uint64
	for i, en := range logEntries(t, s.url(), 0, size) {
		switch {
		case en.Type == "action.decision" && en.Subject == "e2e-lost-delivery-01" && en.Decision == transparency.DecisionAllowed:
			decision = append(decision, uint64(i))
		case en.Type == "message.delivered" && en.Actor == work && en.Counterparty == bob:
			delivered = append(delivered, uint64(i))
		}
	}
	if len(decision) != 1 || len(delivered) != 1 || delivered[0] <= decision[0] {
		t.Fatalf("decision entries %v, delivery entries %v", decision, delivered)
	}
	agentKey, err := readKeyFile(e.path("work.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := call(context.Background(), s.url(), agentKey, http.MethodGet, "/v1/actions/e2e-lost-delivery-01", nil)
	if err != nil {
		t.Fatal(err)
	}
	var a server.ActionResponse
	if err := json.Unmarshal(b, &a); err != nil || a.Delivery == nil || a.Delivery.Index != delivered[0] || a.Delivery.Recipient != friends {
		t.Fatalf("action after recovery: %v %s", err, b)
	}
	if out := e.ok("inbox", "--agent-key", e.path("friends.jwk")); strings.Count(out, "  | delivered, entry lost\n") != 1 {
		t.Fatalf("inbox after recovery:\n%s", out)
	}
	// Recovered once: another restart appends nothing.
	s.stop(syscall.SIGKILL)
	s.start()
	if n := logSize(t, s.url(), s.vkey); n != size {
		t.Errorf("a second start grew the log from %d to %d", size, n)
	}
	auditMonitor(t, s)
	s.stop(syscall.SIGTERM)
}

// auditMonitor builds clawaudit and runs monitor --once over the log of
// s from its first entry: every entry parses and the tree it serves is
// the one its signed checkpoint commits to.
func auditMonitor(t *testing.T, s *e2eServe) {
	t.Helper()
	audit := buildClawaudit(t)
	size := logSize(t, s.url(), s.vkey)
	b, err := exec.Command(audit, "monitor", "--server", s.url(), "--key", s.vkey, "--state", filepath.Join(t.TempDir(), "state"), "--once").CombinedOutput()
	if n := strconv.FormatUint(size, 10); err != nil || !strings.Contains(string(b), "verified checkpoint of size "+n+" (") ||
		!strings.Contains(string(b), ", "+n+" new entries") {
		t.Fatalf("clawaudit monitor --once (log size %d): %v\n%s", size, err, b)
	}
}

// buildClawaudit builds cmd/clawaudit from source into a temporary folder.
func buildClawaudit(t *testing.T) string {
	t.Helper()
	audit := filepath.Join(t.TempDir(), "clawaudit")
	if b, err := exec.Command(goTool(t), "build", "-o", audit, "github.com/clawnet/ledger/cmd/clawaudit").CombinedOutput(); err != nil {
		t.Fatalf("build clawaudit: %v\n%s", err, b)
	}
	return audit
}
