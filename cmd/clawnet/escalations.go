package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/clawnet/ledger/server"
)

// clawnet escalations: an owner lists the actions its agents were refused
// until it answers (spec/escalations.md), and approves or denies one. The
// answer is logged; --receipt saves its receipt.

func init() {
	registerCommand(command{name: "escalations", summary: "list an owner's escalations; approve or deny one", run: cmdEscalations})
}

const escalationsUsage = "clawnet escalations list --owner-key FILE [--server URL]\n" +
	"       clawnet escalations approve|deny --owner-key FILE ID [--receipt FILE] [--server URL]"

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
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 1 || *keyPath == "" || pos[0] == "" {
		return usageErr(stderr, escalationsUsage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, name, err)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, "/v1/escalations/"+url.PathEscape(pos[0])+"/answer", map[string]string{"decision": verb})
	if err != nil {
		return fail(stderr, name, err)
	}
	var res server.EscalationAnswer
	if err := json.Unmarshal(b, &res); err != nil {
		return fail(stderr, name, fmt.Errorf("the server's answer: %w", err))
	}
	fmt.Fprintf(stdout, "escalation %s (request %s of %s): %s\n", res.Escalation, terminalSafe(res.ID), terminalSafe(res.Agent), res.Decision)
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, name, err)
	}
	if d := res.Delivery; d != nil {
		fmt.Fprintf(stdout, "delivered as %s to %s (message.delivered, entry %d)\n", d.Message, d.Recipient, d.Index)
	}
	return exitOK
}
