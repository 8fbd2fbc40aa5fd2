package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
)

// act asks the orchestrator to decide an agent's action (spec/actions.md)
// and prints the decision, its reason and the log index; the receipt is
// saved with --receipt. Exit status: 0 allowed, exitDeny denied,
// exitEscalate escalated (as scope check).

func init() {
	registerCommand(command{name: "act", summary: "ask for an agent's action to be decided and logged", run: cmdAct})
}

const actUsage = `clawnet act --agent-key FILE --cred FILE|--cred-id ID --action ACTION --resource RESOURCE
                   [--to OWNER_DID] [--arg K=V …] [--message TEXT] [--id REQUEST_ID] [--receipt FILE] [--server URL]
  --cred reads the credential's id from the file clawnet grant --out saved (it must be granted to this agent);
  --arg V is JSON when it is a number, bool, list or quoted string, else the string V;
  --id defaults to a fresh urn:uuid (sending the same --id again returns the same decision);
  exit status 0 allowed, 3 denied, 4 escalated`

func cmdAct(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	f := newIDFlags("act", stderr, true)
	keyPath := f.fs.String("agent-key", "", "the agent's key `FILE`")
	credID := f.fs.String("cred-id", "", "the registered delegation credential `ID`")
	credPath := f.fs.String("cred", "", "the delegation credential `FILE` (as clawnet grant --out saved it), instead of --cred-id")
	action := f.fs.String("action", "", "the `ACTION`, such as message/send")
	resource := f.fs.String("resource", "", "the `RESOURCE`")
	to := f.fs.String("to", "", "the counterparty owner's `DID`")
	var argv scopeFlags
	f.fs.Var(&argv, "arg", "an argument `K=V`; repeatable")
	message := f.fs.String("message", "", "the message `TEXT` (message/send)")
	id := f.fs.String("id", "", "the request `ID` (default: a fresh urn:uuid)")
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 0 || *keyPath == "" || (*credID == "") == (*credPath == "") || *action == "" || *resource == "" {
		return usageErr(stderr, actUsage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "act", err)
	}
	if *credPath != "" {
		// Checked offline as clawnet grant --parent checks it: signed by its
		// did:key issuer, in its validity period, and granted to this agent.
		c, err := readCredential(*credPath, time.Now())
		if err != nil {
			return fail(stderr, "act", fmt.Errorf("--cred: %w", err))
		}
		if c.Subject != k.DID {
			return fail(stderr, "act", fmt.Errorf("--cred: the credential was granted to %s, not to the agent of %s", c.Subject, *keyPath))
		}
		*credID = c.ID
	}
	body := map[string]any{"action": *action, "resource": *resource, "credential": *credID}
	if *to != "" {
		body["counterparty"] = *to
	}
	if *message != "" {
		body["content"] = *message
	}
	if len(argv) > 0 {
		am := map[string]scope.Value{}
		for _, a := range argv {
			k, v, err := parseArg(a)
			if err != nil {
				return fail(stderr, "act", err)
			}
			if _, dup := am[k]; dup {
				return fail(stderr, "act", fmt.Errorf("--arg %s given twice", k))
			}
			am[k] = v
		}
		body["args"] = am
	}
	if *id == "" {
		if *id, err = delegation.NewID(rand.Reader); err != nil {
			return fail(stderr, "act", err)
		}
	}
	body["id"] = *id
	b, err := call(ctx, *f.server, k, "POST", "/v1/actions", body)
	if err != nil {
		return fail(stderr, "act", err)
	}
	var res struct {
		Decision   string `json:"decision"`
		Reason     string `json:"reason"`
		Escalation string `json:"escalation"`
		Delivery   *struct {
			Message   string `json:"message"`
			Recipient string `json:"recipient"`
			Index     uint64 `json:"index"`
		} `json:"delivery"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fail(stderr, "act", fmt.Errorf("the server's answer: %w", err))
	}
	fmt.Fprintf(stdout, "action %s: %s\nreason: %s\n", *id, res.Decision, res.Reason)
	if res.Escalation != "" {
		fmt.Fprintf(stdout, "escalation %s: held for the owner's answer\n", res.Escalation)
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "act", err)
	}
	if d := res.Delivery; d != nil {
		fmt.Fprintf(stdout, "delivered as %s to %s (message.delivered, entry %d)\n", d.Message, d.Recipient, d.Index)
	}
	switch res.Decision {
	case "allowed":
		return exitOK
	case "escalated":
		return exitEscalate
	default:
		return exitDeny
	}
}
