package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/vc/delegation"
)

// clawnet escalations: an owner lists the actions its agents were refused
// until it answers (spec/escalations.md), and approves or denies one, or
// approves and widens (--widen): the CLI then issues a delegation
// credential as clawnet grant does, but lets the server register it with
// the answer. The answer is logged; --receipt saves its receipt.

func init() {
	registerCommand(command{name: "escalations", summary: "list an owner's escalations; approve or deny one", run: cmdEscalations})
}

const escalationsUsage = "clawnet escalations list --owner-key FILE [--server URL]\n" +
	"       clawnet escalations approve|deny --owner-key FILE ID [--receipt FILE] [--server URL]\n" +
	"       clawnet escalations approve --owner-key FILE ID --widen --scope JSON|@FILE [--scope …] [--expires 24h]\n" +
	"                [--format jwt|ldp] [--agent DID] [--out FILE] [--grant-receipt FILE] [--receipt FILE] [--server URL]\n" +
	"  --widen approves once and registers a new delegation credential, signed with the owner's key,\n" +
	"  for the escalated action's agent (spec/escalations.md §7)"

func cmdEscalations(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageErr(stderr, escalationsUsage)
	}
	switch args[0] {
	case "list":
		return cmdEscalationsList(ctx, args[1:], stdout, stderr)
	case "approve", "deny":
		return cmdEscalationAnswer(ctx, args[0], args[1:], stdout, stderr)
	}
	return usageErr(stderr, escalationsUsage)
}

func cmdEscalationsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newIDFlags("escalations list", stderr, false)
	keyPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
	if pos, err := parseInterspersed(f.fs, args); err != nil || len(pos) != 0 || *keyPath == "" {
		return usageErr(stderr, escalationsUsage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "escalations list", err)
	}
	b, err := call(ctx, *f.server, k, http.MethodGet, "/v1/escalations", nil)
	if err != nil {
		return fail(stderr, "escalations list", err)
	}
	var res struct {
		Owner       string              `json:"owner"`
		Escalations []server.Escalation `json:"escalations"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fail(stderr, "escalations list", fmt.Errorf("the server's answer is not a list of escalations: %w", err))
	}
	if len(res.Escalations) == 0 {
		fmt.Fprintf(stdout, "no escalations for %s\n", res.Owner)
		return exitOK
	}
	for _, e := range res.Escalations {
		fmt.Fprintf(stdout, "escalation %s  %s", e.Escalation, e.State)
		if e.State == server.EscalationPending {
			fmt.Fprintf(stdout, " until %s", e.Deadline.UTC().Format("2006-01-02T15:04:05Z07:00"))
		} else {
			fmt.Fprintf(stdout, " (entry %d)", e.AnswerIndex)
		}
		fmt.Fprintf(stdout, "\n  agent %s, request %s\n  %s %s", terminalSafe(e.Agent), terminalSafe(e.ID), terminalSafe(e.Action), terminalSafe(e.Resource))
		if e.Counterparty != "" {
			fmt.Fprintf(stdout, " with %s", terminalSafe(e.Counterparty))
		}
		fmt.Fprintf(stdout, "  (decision entry %d)\n", e.Index)
	}
	return exitOK
}

func cmdEscalationAnswer(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	name := "escalations " + verb
	f := newIDFlags(name, stderr, true)
	keyPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
	widen := f.fs.Bool("widen", false, "approve and widen: register a new delegation credential for the action's agent with --scope")
	var scopes scopeFlags
	f.fs.Var(&scopes, "scope", "with --widen: a scope object or array (`JSON` or @FILE); repeatable")
	expires := f.fs.Duration("expires", 24*time.Hour, "with --widen: the credential's lifetime")
	format := f.fs.String("format", "jwt", "with --widen: `jwt` (VC-JWT) or ldp (Data Integrity)")
	agent := f.fs.String("agent", "", "with --widen: the escalated action's agent `DID` (default: read from the owner's escalations)")
	out := f.fs.String("out", "", "with --widen: save the credential to `FILE`")
	grantReceipt := f.fs.String("grant-receipt", "", "with --widen: save the receipt of the credential's vc.granted entry to `FILE`")
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 1 || *keyPath == "" || pos[0] == "" {
		return usageErr(stderr, escalationsUsage)
	}
	widenOnly := len(scopes) > 0 || *agent != "" || *out != "" || *grantReceipt != ""
	f.fs.Visit(func(fl *flag.Flag) { widenOnly = widenOnly || fl.Name == "expires" || fl.Name == "format" })
	switch {
	case *widen && verb != "approve":
		fmt.Fprintln(stderr, "clawnet escalations deny: --widen goes with approve")
		return usageErr(stderr, escalationsUsage)
	case *widen && len(scopes) == 0:
		fmt.Fprintln(stderr, "clawnet escalations approve: --widen needs --scope")
		return usageErr(stderr, escalationsUsage)
	case !*widen && widenOnly:
		fmt.Fprintf(stderr, "clawnet %s: --scope, --expires, --format, --agent, --out and --grant-receipt go with --widen\n", name)
		return usageErr(stderr, escalationsUsage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, name, err)
	}
	path := "/v1/escalations/" + url.PathEscape(pos[0]) + "/answer"
	var body any = map[string]string{"decision": verb}
	if *widen {
		cred, err := widenCredential(ctx, *f.server, k, pos[0], *agent, scopes, *expires, *format)
		if err != nil {
			return fail(stderr, name, err)
		}
		body = map[string]any{"decision": verb, "widen": map[string]json.RawMessage{"credential": cred}}
		// --out is written only once the server registered the
		// credential: a refused one is of no use to anyone.
		b, err := call(ctx, *f.server, k, http.MethodPost, path, body)
		if err != nil {
			return fail(stderr, name, err)
		}
		return reportAnswer(b, name, f.receiptPath(), &widened{cred: cred, out: *out, receipt: *grantReceipt}, stdout, stderr)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, path, body)
	if err != nil {
		return fail(stderr, name, err)
	}
	return reportAnswer(b, name, f.receiptPath(), nil, stdout, stderr)
}

// widened is what approve --widen saves of the credential it sent.
type widened struct {
	cred    json.RawMessage // as sent
	out     string          // the credential file, or ""
	receipt string          // the vc.granted receipt file, or ""
}

// reportAnswer prints the server's answer to an escalation and saves its
// receipt, and for approve --widen the registered credential's.
func reportAnswer(b []byte, name, receiptPath string, w *widened, stdout, stderr io.Writer) int {
	var res server.EscalationAnswer
	if err := json.Unmarshal(b, &res); err != nil {
		return fail(stderr, name, fmt.Errorf("the server's answer: %w", err))
	}
	fmt.Fprintf(stdout, "escalation %s (request %s of %s): %s\n", res.Escalation, terminalSafe(res.ID), terminalSafe(res.Agent), res.Decision)
	if _, err := reportMutation(b, receiptPath, stdout); err != nil {
		return fail(stderr, name, err)
	}
	if d := res.Delivery; d != nil {
		fmt.Fprintf(stdout, "delivered as %s to %s (message.delivered, entry %d)\n", d.Message, d.Recipient, d.Index)
	}
	if w == nil {
		return exitOK
	}
	if res.Widened == nil {
		return fail(stderr, name, errors.New("the server approved without registering the widening credential"))
	}
	fmt.Fprintf(stdout, "credential %s registered for %s (vc.granted, entry %d)\n", terminalSafe(res.Widened.Credential), terminalSafe(res.Agent), res.Widened.Index)
	if w.receipt != "" {
		g, err := json.Marshal(mutation{Index: res.Widened.Index, Receipt: res.Widened.Receipt})
		if err == nil {
			_, err = reportMutation(g, w.receipt, io.Discard)
		}
		if err != nil {
			return fail(stderr, name, fmt.Errorf("the credential's receipt: %w", err))
		}
		fmt.Fprintf(stdout, "credential receipt saved to %s\n", w.receipt)
	}
	if w.out != "" {
		if err := os.WriteFile(w.out, append(credentialFile(w.cred), '\n'), 0o644); err != nil {
			return fail(stderr, name, fmt.Errorf("credential %s was registered, but not saved: %w", res.Widened.Credential, err))
		}
		fmt.Fprintf(stdout, "credential saved to %s\n", w.out)
	}
	return exitOK
}

// widenCredential issues, without registering it, the delegation
// credential of approve --widen: signed by the owner k, for the escalated
// action's agent (agent, or as the owner's escalation list names it),
// with the scopes, valid for expires from now. The escalation must be
// pending: the status entry it reserves is not wasted on an answer the
// server would refuse anyway.
func widenCredential(ctx context.Context, srv string, k *signingKey, esc, agent string, scopeArgs []string,
	expires time.Duration, format string) (json.RawMessage, error) {
	if format != string(delegation.FormatJWT) && format != string(delegation.FormatLDP) {
		return nil, fmt.Errorf("--format %q: want jwt or ldp", format)
	}
	if expires <= 0 {
		return nil, errors.New("--expires must be positive")
	}
	list, err := parseScopeArgs(scopeArgs, os.ReadFile)
	if err != nil {
		return nil, err
	}
	if agent == "" {
		b, err := call(ctx, srv, k, http.MethodGet, "/v1/escalations", nil)
		if err != nil {
			return nil, fmt.Errorf("find the escalation's agent: %w", err)
		}
		var res struct {
			Escalations []server.Escalation `json:"escalations"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("the server's answer is not a list of escalations: %w", err)
		}
		for _, e := range res.Escalations {
			if e.Escalation != esc {
				continue
			}
			if e.State != server.EscalationPending {
				return nil, fmt.Errorf("escalation %s is %s, not pending: nothing to approve", esc, e.State)
			}
			agent = e.Agent
		}
		if agent == "" {
			return nil, fmt.Errorf("no pending escalation %s among %s's (clawnet escalations list)", terminalSafe(esc), k.DID)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	c := delegation.Credential{Issuer: k.DID, Subject: agent, IssuanceDate: now, ExpirationDate: now.Add(expires), Scopes: list}
	return issueDelegation(ctx, srv, k, "/v1/status", &c, delegation.Format(format), now)
}
