package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/monitor"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
	"golang.org/x/mod/sumdb/note"
)

// clawnet demo plays the whole story of the README's walkthrough against a
// server: two owners, their agents, a contact, grants, an allowed
// cross-user message, a denied action, a Manager Agent kept inside its
// owner's system, an escalation the owner approves and a revocation. The
// state changes are made by the CLI's own commands (run in process, as a
// user would type them) or, for actions and inbox reads, with the same
// signed calls as clawnet act and clawnet inbox, so the demo exercises the
// client code it shows. Every outcome is compared with the expected one,
// and at the end every saved receipt is verified and the log is followed
// from its first entry to its latest checkpoint with package monitor, the
// code clawaudit monitor runs, through each receipt's checkpoint.

func init() {
	registerCommand(command{name: "demo", summary: "play the whole story (owners, agents, grants, actions, escalation, revocation) and audit it", run: cmdDemo})
}

const demoUsage = `clawnet demo [--server URL] [--out DIR]
  plays Alice and Bob: owners, Manager and Identity Agents, a contact,
  grants, an allowed cross-user message read from the inbox, a denied
  action, a Manager Agent blocked from messaging out, an escalation the
  owner approves, a revocation; then verifies every receipt and the log.
  Without --server, a server runs in process with a temporary data folder.
  DIR (default ./clawnet-demo) gets each receipt as NN-step.receipt.json,
  the keys and credentials in DIR/keys and the log key in DIR/log.vkey. DIR
  must be missing, empty or a previous demo's output (which is replaced);
  anything else is refused.
  exit status: 0 every outcome as expected and everything verified,
  1 a step failed or differed, 2 usage`

// demoOutcome is what a step decided: the decision of its log entry
// (allowed, denied, escalated; approved for an escalation's answer) and
// the reason code of the entry's reason (reasonCode).
type demoOutcome struct {
	Decision string
	Code     string
}

func (o demoOutcome) String() string { return o.Decision + " (" + o.Code + ")" }

// demoExpected is the outcome of each checked step, by step name.
func demoExpected() map[string]demoOutcome {
	return map[string]demoOutcome{
		"message-send":         {"allowed", "allowed_by_scope"},
		"message-delivered":    {"allowed", "delivered"},
		"refund-denied":        {"denied", "constraint_failed"},
		"manager-to-bob":       {"denied", "manager_isolation"},
		"payment-escalated":    {"escalated", "constraint_failed"},
		"escalation-approved":  {"approved", "approved once by the owner"},
		"message-after-revoke": {"denied", "grant_revoked"},
	}
}

// demoConfig is a demo run's configuration.
type demoConfig struct {
	server string // "" runs an embedded server
	out    string
	// expect is demoExpected(); tests change an entry to see the demo
	// report the step that differs.
	expect map[string]demoOutcome
}

func cmdDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	flags.SetOutput(stderr)
	srv := flags.String("server", "", "play against the server at `URL` (its public URL) instead of an embedded one")
	out := flags.String("out", "clawnet-demo", "write receipts, keys and the log key to `DIR`")
	if pos, err := parseInterspersed(flags, args); err != nil || len(pos) != 0 || *out == "" {
		return usageErr(stderr, demoUsage)
	}
	return runDemo(ctx, demoConfig{server: *srv, out: *out, expect: demoExpected()}, stdout, stderr)
}

// demo is one run: where it plays, what it wrote, what differed.
type demo struct {
	ctx    context.Context
	cfg    demoConfig
	server string
	stdout io.Writer
	v      note.Verifier
	// n numbers the receipts; receipts lists their files in order.
	n        int
	receipts []string
	// lastIndex is the index of the last receipt verified.
	lastIndex uint64
	// names labels the DIDs in the printed lines.
	names map[string]string
	// differed lists the steps whose outcome was not the expected one.
	differed []string
}

func runDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) int {
	if cfg.server != "" {
		if _, err := serverOrigin(cfg.server); err != nil {
			return fail(stderr, "demo", err)
		}
	}
	if err := prepareDemoDir(cfg.out); err != nil {
		return fail(stderr, "demo", err)
	}
	d := &demo{ctx: ctx, cfg: cfg, server: strings.TrimRight(cfg.server, "/"), stdout: stdout, names: map[string]string{}}
	where := "the server at " + d.server
	if cfg.server == "" {
		es, err := startEmbeddedServer(ctx, stderr)
		if err != nil {
			return fail(stderr, "demo", err)
		}
		defer func() {
			if err := es.stop(); err != nil {
				fmt.Fprintf(stderr, "clawnet demo: embedded server: %v\n", err)
			}
		}()
		d.server = es.url
		where = "an embedded server at " + es.url + " (temporary data)"
	}
	fmt.Fprintf(stdout, "clawnet demo: playing against %s; receipts in %s\n", where, cfg.out)
	if err := d.play(); err != nil {
		fmt.Fprintf(stderr, "clawnet demo: %v\n", err)
		return exitFail
	}
	n, size, err := d.audit()
	if err != nil {
		fmt.Fprintf(stderr, "clawnet demo: audit: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "verified %d receipts; log consistent at size %d\n", n, size)
	if len(d.differed) > 0 {
		fmt.Fprintf(stderr, "clawnet demo: %d step(s) differed from the expected outcome: %s\n", len(d.differed), strings.Join(d.differed, "; "))
		return exitFail
	}
	fmt.Fprintf(stdout, "every outcome as expected; check the receipts yourself with:\n  go run ./cmd/clawaudit verify %s --key %s\n",
		filepath.Join(cfg.out, "*.receipt.json"), filepath.Join(cfg.out, "log.vkey"))
	return exitOK
}

// Scopes of the story's grants (spec/scope-language.md).
const (
	demoChatScope   = `{"id":"chat","effect":"allow","actions":["message/send"],"resources":["chat/**"],"counterparties":["contacts"]}`
	demoListenScope = `{"id":"listen","effect":"allow","actions":["message/receive"],"resources":["chat/**"],"counterparties":["contacts"]}`
	demoPayScope    = `{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["invoices/**"],"counterparties":["contacts"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}`
	demoRefundScope = `{"id":"refund","effect":"allow","actions":["payment/refund"],"resources":["invoices/**"],"counterparties":["contacts"],"constraints":[{"arg":"amount","op":"<=","value":20}]}`
	demoMessage     = "Lunch on Friday?"
)

// play runs the story. A step that fails stops it; a step whose outcome
// differs is reported and the story goes on.
func (d *demo) play() error {
	vkey, err := call(d.ctx, d.server, nil, http.MethodGet, "/log/key", nil)
	if err != nil {
		return fmt.Errorf("read the log's verifier key: %w", err)
	}
	if d.v, err = transparency.NewVerifier(strings.TrimSpace(string(vkey))); err != nil {
		return fmt.Errorf("the server's log key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.cfg.out, "log.vkey"), vkey, 0o644); err != nil {
		return err
	}
	keys := filepath.Join(d.cfg.out, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		return err
	}
	key := func(name string) string { return filepath.Join(keys, name) }

	// Owners and their agents.
	var alice, bob string
	for _, o := range []struct {
		name, context string
		did           *string
	}{{"alice", "work", &alice}, {"bob", "friends", &bob}} {
		if _, err := d.cli("key", "new", "--out", key(o.name+".jwk")); err != nil {
			return err
		}
		k, err := readKeyFile(key(o.name + ".jwk"))
		if err != nil {
			return err
		}
		*o.did = k.DID
		d.names[k.DID] = o.name
		if _, err := d.change(o.name+"-register", "owner.registered", fmt.Sprintf("%s registers as an owner, %s", o.name, short(k.DID)),
			"owner", "register", "--key", key(o.name+".jwk")); err != nil {
			return err
		}
		for _, a := range []struct{ role, name, desc string }{
			{"manager", o.name + "-manager", "a Manager Agent"},
			{"identity", o.name + "-" + o.context, "an Identity Agent (" + o.context + ")"},
		} {
			args := []string{"agent", "add", "--owner-key", key(o.name + ".jwk"), "--role", a.role, "--out", key(a.name + ".jwk")}
			if a.role == "identity" {
				args = append(args, "--context", o.context)
			}
			e, err := d.change(a.name, "agent.bound", fmt.Sprintf("%s binds %s, %s", o.name, a.desc, a.name), args...)
			if err != nil {
				return err
			}
			d.names[e.Subject] = a.name
		}
	}
	aliceWork, err := readKeyFile(key("alice-work.jwk"))
	if err != nil {
		return err
	}
	aliceManager, err := readKeyFile(key("alice-manager.jwk"))
	if err != nil {
		return err
	}
	bobFriends, err := readKeyFile(key("bob-friends.jwk"))
	if err != nil {
		return err
	}

	// The contact: Alice asks, Bob accepts; each maps the other to an
	// Identity Agent.
	if _, err := d.change("contact-request", "contact.requested", "alice asks bob to be a contact (alice-work faces him)",
		"contact", "request", "--owner-key", key("alice.jwk"), "--to", bob, "--agent", aliceWork.DID); err != nil {
		return err
	}
	reqID := strconv.FormatUint(d.lastIndex, 10) // a request's id is its entry's index (spec/identity.md §4)
	if _, err := d.change("contact-accept", "contact.accepted", "bob accepts (bob-friends faces alice)",
		"contact", "accept", "--owner-key", key("bob.jwk"), "--request", reqID, "--agent", bobFriends.DID); err != nil {
		return err
	}

	// Grants: delegation credentials, signed by the owners, registered.
	grant := func(step, owner, agentName, agentDID, desc string, scopes ...string) (string, error) {
		args := []string{"grant", "--owner-key", key(owner + ".jwk"), "--agent", agentDID, "--expires", "1h", "--out", key(step + ".jwt")}
		for _, s := range scopes {
			args = append(args, "--scope", s)
		}
		e, err := d.change(step, "vc.granted", fmt.Sprintf("%s grants %s %s", owner, agentName, desc), args...)
		if err != nil {
			return "", err
		}
		return e.Subject, nil // the credential id (spec/grants.md)
	}
	chat, err := grant("grant-chat", "alice", "alice-work", aliceWork.DID, `"chat": message/send on chat/** to contacts`, demoChatScope)
	if err != nil {
		return err
	}
	if _, err := grant("grant-listen", "bob", "bob-friends", bobFriends.DID, `"listen": message/receive on chat/** from contacts`, demoListenScope); err != nil {
		return err
	}
	pay, err := grant("grant-pay", "alice", "alice-work", aliceWork.DID,
		`"pay": payment/send amount <= 100, else escalate; "refund": payment/refund amount <= 20`, demoPayScope, demoRefundScope)
	if err != nil {
		return err
	}

	// 1. An allowed cross-user message, delivered and read from the inbox.
	sent, err := d.act("message-send", aliceWork, chat, "message/send", bob, "chat/lunch", demoMessage)
	if err != nil {
		return err
	}
	if sent.Delivery == nil {
		d.differ("message-delivered", "the allowed message/send was not delivered")
	} else {
		if err := d.delivered(sent.Delivery, bobFriends); err != nil {
			return err
		}
	}

	// 2. A denied action: the evaluator's closest miss is a constraint.
	if _, err := d.act("refund-denied", aliceWork, pay, "payment/refund", bob, "invoices/2026/7", "", "amount=50"); err != nil {
		return err
	}

	// 3. A Manager Agent never acts toward another owner.
	if _, err := d.act("manager-to-bob", aliceManager, chat, "message/send", bob, "chat/lunch", "hi from the manager"); err != nil {
		return err
	}

	// 4. An escalation: held, seen by the owner, approved, carried out.
	held, err := d.act("payment-escalated", aliceWork, pay, "payment/send", bob, "invoices/2026/9", "", "amount=250")
	if err != nil {
		return err
	}
	if held.Escalate == "" {
		d.differ("escalation-approved", "no escalation to approve")
	} else if err := d.approve(held, key("alice.jwk"), aliceWork); err != nil {
		return err
	}

	// 5. A revocation: the credential that allowed the message is revoked,
	// and the same message is now denied.
	if _, err := d.change("revoke-chat", "vc.revoked", `alice revokes "chat"`, "revoke", "--owner-key", key("alice.jwk"), chat); err != nil {
		return err
	}
	if _, err := d.act("message-after-revoke", aliceWork, chat, "message/send", bob, "chat/lunch", demoMessage); err != nil {
		return err
	}
	return nil
}

// cli runs a clawnet command in process, against the demo's server unless
// it is key new, and returns its stdout; a non-zero exit is an error with
// what the command printed on stderr.
func (d *demo) cli(args ...string) (string, error) {
	c, ok := commands[args[0]]
	if !ok {
		return "", fmt.Errorf("no command %s", args[0])
	}
	if args[0] != "key" {
		args = append(args, "--server", d.server)
	}
	var out, errb bytes.Buffer
	if code := c.run(d.ctx, args[1:], strings.NewReader(""), &out, &errb); code != exitOK {
		return out.String(), fmt.Errorf("clawnet %s: exit %d: %s", strings.Join(args[:2], " "), code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// receiptPath numbers the next receipt.
func (d *demo) receiptPath(step string) (string, string) {
	d.n++
	nn := fmt.Sprintf("%02d", d.n)
	return nn, filepath.Join(d.cfg.out, nn+"-"+step+".receipt.json")
}

// change runs a state-changing command that saves its receipt, checks the
// receipt and the entry's type, and prints the step.
func (d *demo) change(step, typ, desc string, args ...string) (*transparency.Entry, error) {
	nn, path := d.receiptPath(step)
	if _, err := d.cli(append(args, "--receipt", path)...); err != nil {
		return nil, fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	e, err := d.verified(path)
	if err != nil {
		return nil, fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	if e.Type != typ {
		return nil, fmt.Errorf("step %s %s: the receipt's entry is %s, want %s", nn, step, e.Type, typ)
	}
	fmt.Fprintf(d.stdout, "%s %s … %s (entry %d)\n", nn, desc, typ, d.lastIndex)
	return e, nil
}

// verified reads a saved receipt, verifies it with the log key, and
// returns its entry; lastIndex is set to its index.
func (d *demo) verified(path string) (*transparency.Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := transparency.ParseReceipt(b)
	if err != nil {
		return nil, err
	}
	vr, err := transparency.VerifyReceipt(r, d.v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.receipts = append(d.receipts, path)
	d.lastIndex = vr.Index
	return vr.Entry, nil
}

// check compares a step's outcome, read from its verified entry, with the
// expected one, and the server's answer with the entry.
func (d *demo) check(nn, step string, e *transparency.Entry, answer demoOutcome, answerReason string) demoOutcome {
	got := demoOutcome{Decision: string(e.Decision), Code: reasonCode(e.Reason)}
	if answer.Decision != got.Decision || answerReason != e.Reason {
		d.differ(nn+" "+step, fmt.Sprintf("the server answered %s %q, but its receipt says %s %q", answer.Decision, answerReason, e.Decision, e.Reason))
	}
	if want, ok := d.cfg.expect[step]; ok && got != want {
		d.differ(nn+" "+step, fmt.Sprintf("got %s, want %s", got, want))
	}
	return got
}

// differ records and prints a step that did not go as expected.
func (d *demo) differ(step, msg string) {
	d.differed = append(d.differed, step)
	fmt.Fprintf(d.stdout, "   DIFFERS: %s: %s\n", step, msg)
}

// act asks for an action as clawnet act does, saves its receipt and
// checks the decision.
func (d *demo) act(step string, agent *signingKey, cred, action, to, resource, message string, args ...string) (*server.ActionResponse, error) {
	nn, path := d.receiptPath(step)
	id, err := delegation.NewID(rand.Reader)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"id": id, "action": action, "resource": resource, "credential": cred, "counterparty": to}
	if message != "" {
		body["content"] = message
	}
	if len(args) > 0 {
		am := map[string]scope.Value{}
		for _, a := range args {
			k, v, err := parseArg(a)
			if err != nil {
				return nil, err
			}
			am[k] = v
		}
		body["args"] = am
	}
	b, err := call(d.ctx, d.server, agent, http.MethodPost, "/v1/actions", body)
	if err != nil {
		return nil, fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	var res server.ActionResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("step %s %s: the server's answer: %w", nn, step, err)
	}
	if _, err := reportMutation(b, path, io.Discard); err != nil {
		return nil, fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	e, err := d.verified(path)
	if err != nil {
		return nil, fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	what := action + " " + resource
	if message != "" {
		what += " " + strconv.Quote(message)
	}
	if len(args) > 0 {
		what += " " + strings.Join(args, " ")
	}
	fmt.Fprintf(d.stdout, "%s %s → %s: %s … %s (entry %d)\n", nn, d.name(agent.DID), d.name(to), what, decisionText(e), d.lastIndex)
	d.check(nn, step, e, demoOutcome{Decision: string(res.Decision)}, res.Reason)
	return &res, nil
}

// delivered saves the delivery's receipt, then reads the recipient's
// inbox as clawnet inbox does, finds the message and acknowledges it.
func (d *demo) delivered(dl *server.ActionDelivery, recipient *signingKey) error {
	const step = "message-delivered"
	nn, path := d.receiptPath(step)
	b, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	if _, err := reportMutation(b, path, io.Discard); err != nil {
		return fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	e, err := d.verified(path)
	if err != nil {
		return fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	fmt.Fprintf(d.stdout, "%s %s → %s: the message is delivered to its inbox … %s (entry %d)\n", nn, d.name(e.Actor), d.name(dl.Recipient), e.Type, d.lastIndex)
	d.check(nn, step, e, demoOutcome{Decision: string(e.Decision)}, e.Reason)
	if dl.Recipient != recipient.DID {
		d.differ(nn+" "+step, fmt.Sprintf("delivered to %s, want %s", dl.Recipient, recipient.DID))
		return nil
	}
	base := "/v1/agents/" + url.PathEscape(recipient.DID) + "/inbox"
	b, err = call(d.ctx, d.server, recipient, http.MethodGet, base+"?after=0&limit="+strconv.Itoa(inboxPage), nil)
	if err != nil {
		return fmt.Errorf("read %s's inbox: %w", d.name(recipient.DID), err)
	}
	var page server.InboxPage
	if err := json.Unmarshal(b, &page); err != nil {
		return fmt.Errorf("read %s's inbox: %w", d.name(recipient.DID), err)
	}
	var found *server.InboxMessage
	for i, m := range page.Messages {
		if m.ID == dl.Message {
			found = &page.Messages[i]
		}
	}
	if found == nil || found.Content != demoMessage {
		d.differ(nn+" "+step, fmt.Sprintf("message %s with the text %q is not in %s's inbox", dl.Message, demoMessage, d.name(recipient.DID)))
		return nil
	}
	b, err = call(d.ctx, d.server, recipient, http.MethodPost, base+"/ack", server.InboxAck{IDs: []string{found.ID}})
	if err != nil {
		return fmt.Errorf("acknowledge the message: %w", err)
	}
	var acked server.InboxAcked
	if err := json.Unmarshal(b, &acked); err != nil || acked.Acked != 1 {
		d.differ(nn+" "+step, fmt.Sprintf("acknowledging the message: %s", b))
		return nil
	}
	fmt.Fprintf(d.stdout, "   %s reads its inbox: from %s, %q (allowed by entry %d); acknowledged\n",
		d.name(recipient.DID), d.name(found.From), terminalSafe(found.Content), found.DecisionIndex)
	return nil
}

// approve shows the owner the held action (on her event stream and her
// list of escalations), approves it with clawnet escalations approve, and
// reads the outcome as the agent.
func (d *demo) approve(held *server.ActionResponse, ownerKey string, agent *signingKey) error {
	const step = "escalation-approved"
	owner, err := readKeyFile(ownerKey)
	if err != nil {
		return err
	}
	origin, err := serverOrigin(d.server)
	if err != nil {
		return err
	}
	var events bytes.Buffer
	var last uint64
	if err := readStream(d.ctx, origin, owner, "/v1/owners/"+url.PathEscape(owner.DID)+"/events", &last, false, &events); err != nil {
		return fmt.Errorf("read %s's event stream: %w", d.name(owner.DID), err)
	}
	// Each line is "<id> <type> <event JSON>" (readStream), the event's
	// data as spec/events.md §6 gives it.
	seen := false
	var shown []string
	sc := bufio.NewScanner(&events)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		var ev struct {
			Data server.EscalationOpenedEvent `json:"data"`
		}
		if len(f) != 3 || json.Unmarshal([]byte(f[2]), &ev) != nil {
			return fmt.Errorf("%s's event stream sent %.80q", d.name(owner.DID), sc.Text())
		}
		shown = append(shown, fmt.Sprintf("%s (entry %d)", f[1], ev.Data.Index))
		seen = seen || (f[1] == "escalation.opened" && ev.Data.Escalation == held.Escalate)
	}
	if !seen {
		d.differ(step, fmt.Sprintf("escalation %s is not on %s's event stream", held.Escalate, d.name(owner.DID)))
	}
	fmt.Fprintf(d.stdout, "   %s's event stream: %s\n", d.name(owner.DID), strings.Join(shown, ", "))
	b, err := call(d.ctx, d.server, owner, http.MethodGet, "/v1/escalations", nil)
	if err != nil {
		return fmt.Errorf("list %s's escalations: %w", d.name(owner.DID), err)
	}
	var list struct {
		Escalations []server.Escalation `json:"escalations"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("list %s's escalations: %w", d.name(owner.DID), err)
	}
	pending := false
	for _, e := range list.Escalations {
		pending = pending || (e.Escalation == held.Escalate && e.State == server.EscalationPending)
	}
	if !pending {
		d.differ(step, fmt.Sprintf("escalation %s is not pending in GET /v1/escalations", held.Escalate))
	}
	fmt.Fprintf(d.stdout, "   %s's GET /v1/escalations: escalation %s pending\n", d.name(owner.DID), held.Escalate)

	nn, path := d.receiptPath(step)
	if _, err := d.cli("escalations", "approve", "--owner-key", ownerKey, held.Escalate, "--receipt", path); err != nil {
		return fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	e, err := d.verified(path)
	if err != nil {
		return fmt.Errorf("step %s %s: %w", nn, step, err)
	}
	answerIndex := d.lastIndex
	fmt.Fprintf(d.stdout, "%s %s approves escalation %s once … %s: %s (entry %d)\n", nn, d.name(owner.DID), held.Escalate, e.Type, e.Decision, answerIndex)
	d.check(nn, step, e, demoOutcome{Decision: string(e.Decision)}, e.Reason)

	b, err = call(d.ctx, d.server, agent, http.MethodGet, "/v1/actions/"+url.PathEscape(held.ID), nil)
	if err != nil {
		return fmt.Errorf("read the action's outcome: %w", err)
	}
	var res server.ActionResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("read the action's outcome: %w", err)
	}
	if res.Decision != transparency.Decision("escalated") || res.Answer != transparency.Decision("approved") || res.AnswerIndex != answerIndex {
		d.differ(nn+" "+step, fmt.Sprintf("GET /v1/actions/{id} says %s, answer %q (entry %d), want escalated, answer approved (entry %d)",
			res.Decision, res.Answer, res.AnswerIndex, answerIndex))
		return nil
	}
	fmt.Fprintf(d.stdout, "   %s reads GET /v1/actions/{id}: %s, answer %s (entry %d): the payment goes ahead\n",
		d.name(agent.DID), res.Decision, res.Answer, res.AnswerIndex)
	return nil
}

// audit verifies every saved receipt as clawaudit verify does, then
// follows the log as clawaudit monitor does, from the empty tree through
// each receipt's checkpoint, smallest first, to the latest checkpoint:
// every step recomputes the root from the entries the log serves, so each
// receipt's checkpoint is shown to be a prefix of the final tree. It
// returns the number of receipts and the final size.
func (d *demo) audit() (int, uint64, error) {
	var cps []*transparency.SignedCheckpoint
	for _, path := range d.receipts {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, 0, err
		}
		r, err := transparency.ParseReceipt(b)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		vr, err := transparency.VerifyReceipt(r, d.v)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		cps = append(cps, vr.Checkpoint)
	}
	raw, err := call(d.ctx, d.server, nil, http.MethodGet, "/log/checkpoint", nil)
	if err != nil {
		return 0, 0, err
	}
	final, err := transparency.OpenCheckpoint(raw, d.v)
	if err != nil {
		return 0, 0, fmt.Errorf("latest checkpoint: %w", err)
	}
	cps = append(cps, final)
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	var state *monitor.State
	for _, cp := range cps {
		if state, err = d.follow(state, cp); err != nil {
			return 0, 0, err
		}
	}
	return len(d.receipts), state.Size(), nil
}

// follow verifies that cp extends the trusted state, with the entry
// bundles and hash tiles the server serves (monitor.Sync).
func (d *demo) follow(state *monitor.State, cp *transparency.SignedCheckpoint) (*monitor.State, error) {
	y, err := monitor.Begin(state, cp)
	if err != nil {
		return nil, fmt.Errorf("checkpoint of size %d: %w", cp.Size, err)
	}
	tile := func(id transparency.TileID) ([]byte, error) {
		return call(d.ctx, d.server, nil, http.MethodGet, "/log/"+id.Path(), nil)
	}
	for _, id := range y.Tiles() {
		bundle, err := tile(id)
		if err != nil {
			return nil, err
		}
		hid := id
		hid.Entries = false
		hashes, err := tile(hid)
		if err != nil {
			return nil, err
		}
		if err := y.AddTile(id, bundle, hashes); err != nil {
			return nil, fmt.Errorf("checkpoint of size %d: %w", cp.Size, err)
		}
	}
	for _, id := range y.UpperTiles() {
		data, err := tile(id)
		if err != nil {
			return nil, err
		}
		if err := y.CheckUpperTile(id, data); err != nil {
			return nil, fmt.Errorf("checkpoint of size %d: %w", cp.Size, err)
		}
	}
	next, err := y.Finish()
	if err != nil {
		return nil, fmt.Errorf("checkpoint of size %d: %w", cp.Size, err)
	}
	return next, nil
}

// decisionText is an action.decision entry's decision and reason for a
// printed line: "allowed by scope "chat"", "denied: constraint_failed: …".
func decisionText(e *transparency.Entry) string {
	r := terminalSafe(e.Reason)
	for _, p := range []struct{ from, to string }{
		{"allow by scope ", "allowed by scope "}, {"deny: ", "denied: "}, {"escalate by scope ", "escalated by scope "},
	} {
		if rest, ok := strings.CutPrefix(r, p.from); ok {
			return p.to + rest
		}
	}
	return string(e.Decision) + ": " + r
}

// name is the story's name of a DID, or the DID shortened.
func (d *demo) name(did string) string {
	if n, ok := d.names[did]; ok {
		return n
	}
	return short(did)
}

// short abbreviates a DID for a printed line.
func short(did string) string {
	if len(did) <= 24 {
		return did
	}
	return did[:20] + "…" + did[len(did)-4:]
}

// reasonCode is the code of a decision's reason as logged
// (spec/actions.md §4): allowed_by_scope for `allow by scope "x"`, the
// code after "deny: " or after `escalate by scope "x": `, otherwise the
// text before the first colon (`grant_revoked: …`), or the whole reason
// when it has none (an escalation's answer).
func reasonCode(reason string) string {
	switch {
	case strings.HasPrefix(reason, "allow by scope "):
		return "allowed_by_scope"
	case strings.HasPrefix(reason, "deny: "):
		reason = reason[len("deny: "):]
	case strings.HasPrefix(reason, "escalate by scope "):
		_, rest, ok := strings.Cut(reason, `": `)
		if !ok {
			return reason
		}
		reason = rest
	}
	code, _, _ := strings.Cut(reason, ":")
	return code
}

// demoFile is a file a demo writes at the top of DIR.
var demoFile = regexp.MustCompile(`^[0-9]{2}-[a-z0-9-]+\.receipt\.json$`)

// demoMarker marks DIR as a demo's output, which a later run may replace.
const demoMarker = ".clawnet-demo"

// prepareDemoDir makes dir ready for a run: it creates it when missing,
// takes it when empty, and empties it when it holds only what a previous
// demo wrote (its marker, receipts, log key and keys folder). Anything
// else is refused: the demo never deletes a file it did not write.
func prepareDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("%s is not empty and is not a previous demo's output; give another --out, or empty it", dir)
		}
		var remove []string
		for _, e := range entries {
			name := e.Name()
			switch {
			case name == demoMarker, name == "log.vkey" && e.Type().IsRegular(), demoFile.MatchString(name) && e.Type().IsRegular():
			case name == "keys" && e.IsDir():
				keys, err := os.ReadDir(filepath.Join(dir, name))
				if err != nil {
					return err
				}
				for _, k := range keys {
					if ext := filepath.Ext(k.Name()); !k.Type().IsRegular() || (ext != ".jwk" && ext != ".jwt") {
						return fmt.Errorf("%s holds %s, which clawnet demo did not write; not replacing it", dir, filepath.Join(name, k.Name()))
					}
					remove = append(remove, filepath.Join(name, k.Name()))
				}
			default:
				return fmt.Errorf("%s holds %s, which clawnet demo did not write; not replacing it", dir, name)
			}
			remove = append(remove, name)
		}
		for _, name := range remove {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), []byte("written by clawnet demo: a later run replaces this folder\n"), 0o644)
}
