package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/binding"
)

// The identity commands: hosted did:web (did create|rotate|deactivate),
// owners, agents and contacts. Each state change prints the index of its
// log entry and, with --receipt FILE, saves the receipt for clawaudit.

func init() {
	registerCommand(command{name: "owner", summary: "register an owner DID", run: cmdOwner})
	registerCommand(command{name: "agent", summary: "bind agents to an owner, list, show and unbind them", run: cmdAgent})
	registerCommand(command{name: "contact", summary: "request, accept, list and remove contacts between owners", run: cmdContact})
	didCommands["create"] = cmdDIDCreate
	didCommands["rotate"] = cmdDIDRotate
	didCommands["deactivate"] = cmdDIDDeactivate
}

// idFlags are the flags every identity command has.
type idFlags struct {
	fs      *flag.FlagSet
	server  *string
	receipt *string
}

func newIDFlags(name string, stderr io.Writer, mutating bool) *idFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &idFlags{fs: fs, server: fs.String("server", defaultServer, "server `URL` (its public URL)")}
	if mutating {
		f.receipt = fs.String("receipt", "", "save the log receipt to `FILE` (for clawaudit verify)")
	}
	return f
}

func (f *idFlags) receiptPath() string {
	if f.receipt == nil {
		return ""
	}
	return *f.receipt
}

// fail prints err for cmd and returns the exit code.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "clawnet %s: %v\n", cmd, err)
	return exitFail
}

func usageErr(stderr io.Writer, usage string) int {
	fmt.Fprintln(stderr, "usage: "+usage)
	return exitUsage
}

func printJSON(stdout io.Writer, b []byte) {
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") != nil {
		stdout.Write(b)
		return
	}
	fmt.Fprintln(stdout, pretty.String())
}

// ---- did create | rotate | deactivate ----

func cmdDIDCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "clawnet did create --key FILE --name owners/NAME|agents/NAME --out FILE [--receipt FILE] [--server URL]"
	f := newIDFlags("did create", stderr, true)
	keyPath := f.fs.String("key", "", "did:key key `FILE` whose key becomes the DID's first key")
	name := f.fs.String("name", "", "`owners/NAME` or agents/NAME")
	out := f.fs.String("out", "", "write the key file of the new did:web to `FILE`")
	if pos, err := parseInterspersed(f.fs, args); err != nil || len(pos) != 0 || *keyPath == "" || *name == "" || *out == "" {
		return usageErr(stderr, usage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "did create", err)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, "/v1/dids", map[string]string{"name": *name})
	if err != nil {
		return fail(stderr, "did create", err)
	}
	var res struct {
		DID string `json:"did"`
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.DID == "" || !strings.HasPrefix(res.KID, res.DID+"#") {
		return fail(stderr, "did create", errors.New("the server's answer has no DID and kid"))
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "did create", err)
	}
	if err := writeKeyFile(*out, k.Priv, res.KID, false); err != nil {
		return fail(stderr, "did create", fmt.Errorf("the DID %s was created, but its key file was not written: %w\n  hint: the key is still in %s; write a key file with kid %s", res.DID, err, *keyPath, res.KID))
	}
	fmt.Fprintf(stdout, "%s\nkey file %s (kid %s)\n", res.DID, *out, res.KID)
	return exitOK
}

func cmdDIDRotate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "clawnet did rotate --key FILE --new-key FILE --out FILE [--receipt FILE] [--server URL]"
	f := newIDFlags("did rotate", stderr, true)
	keyPath := f.fs.String("key", "", "the hosted DID's current key `FILE`")
	newPath := f.fs.String("new-key", "", "key `FILE` of the new key (from clawnet key new)")
	out := f.fs.String("out", "", "write the DID's new key file to `FILE`")
	if pos, err := parseInterspersed(f.fs, args); err != nil || len(pos) != 0 || *keyPath == "" || *newPath == "" || *out == "" {
		return usageErr(stderr, usage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "did rotate", err)
	}
	nk, err := readKeyFile(*newPath)
	if err != nil {
		return fail(stderr, "did rotate", err)
	}
	newDID := did.KeyDID(nk.Priv.Public().(ed25519.PublicKey))
	b, err := call(ctx, *f.server, k, http.MethodPost, "/v1/dids/rotate", map[string]string{"did": k.DID, "key": newDID})
	if err != nil {
		return fail(stderr, "did rotate", err)
	}
	var res struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &res); err != nil || !strings.HasPrefix(res.KID, k.DID+"#") {
		return fail(stderr, "did rotate", errors.New("the server's answer has no kid"))
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "did rotate", err)
	}
	if err := writeKeyFile(*out, nk.Priv, res.KID, false); err != nil {
		return fail(stderr, "did rotate", fmt.Errorf("the key was rotated, but the new key file was not written: %w\n  hint: the new key is in %s; write a key file with kid %s", err, *newPath, res.KID))
	}
	fmt.Fprintf(stdout, "%s now uses %s\nkey file %s\n", k.DID, res.KID, *out)
	return exitOK
}

func cmdDIDDeactivate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "clawnet did deactivate --key FILE [--receipt FILE] [--server URL]"
	f := newIDFlags("did deactivate", stderr, true)
	keyPath := f.fs.String("key", "", "the hosted DID's current key `FILE`")
	if pos, err := parseInterspersed(f.fs, args); err != nil || len(pos) != 0 || *keyPath == "" {
		return usageErr(stderr, usage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "did deactivate", err)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, "/v1/dids/deactivate", map[string]string{"did": k.DID})
	if err != nil {
		return fail(stderr, "did deactivate", err)
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "did deactivate", err)
	}
	fmt.Fprintf(stdout, "%s is deactivated\n", k.DID)
	return exitOK
}

// ---- owner ----

func cmdOwner(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	const usage = "clawnet owner register --key FILE [--receipt FILE] [--server URL]"
	if len(args) == 0 || args[0] != "register" {
		return usageErr(stderr, usage)
	}
	f := newIDFlags("owner register", stderr, true)
	keyPath := f.fs.String("key", "", "the owner's key `FILE`")
	if pos, err := parseInterspersed(f.fs, args[1:]); err != nil || len(pos) != 0 || *keyPath == "" {
		return usageErr(stderr, usage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "owner register", err)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, "/v1/owners", struct{}{})
	if err != nil {
		return fail(stderr, "owner register", err)
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "owner register", err)
	}
	fmt.Fprintf(stdout, "owner %s registered\n", k.DID)
	return exitOK
}

// ---- agent ----

func agentUsage(w io.Writer) int {
	fmt.Fprint(w, `usage:
  clawnet agent add --owner-key FILE --role identity --context NAME --out FILE [--agent-key FILE] [--receipt FILE] [--server URL]
  clawnet agent add --owner-key FILE --role manager --out FILE [--agent-key FILE] [--receipt FILE] [--server URL]
      create an agent key (or use --agent-key), bind it to the owner with an
      owner-signed binding credential; prints the agent's DID
  clawnet agent list --owner-key FILE [--server URL]
  clawnet agent show AGENT_DID [--server URL]      the public binding of an agent
  clawnet agent unbind --owner-key FILE AGENT_DID [--receipt FILE] [--server URL]
`)
	return exitUsage
}

func cmdAgent(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return agentUsage(stderr)
	}
	switch args[0] {
	case "add":
		return cmdAgentAdd(ctx, args[1:], stdout, stderr)
	case "list":
		f := newIDFlags("agent list", stderr, false)
		keyPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
		if pos, err := parseInterspersed(f.fs, args[1:]); err != nil || len(pos) != 0 || *keyPath == "" {
			return agentUsage(stderr)
		}
		return signedGet(ctx, "agent list", *f.server, *keyPath, "/v1/me/agents", stdout, stderr)
	case "show":
		f := newIDFlags("agent show", stderr, false)
		pos, err := parseInterspersed(f.fs, args[1:])
		if err != nil || len(pos) != 1 {
			return agentUsage(stderr)
		}
		b, err := call(ctx, *f.server, nil, http.MethodGet, "/v1/agents/"+url.PathEscape(pos[0]), nil)
		if err != nil {
			return fail(stderr, "agent show", err)
		}
		printJSON(stdout, b)
		return exitOK
	case "unbind":
		f := newIDFlags("agent unbind", stderr, true)
		keyPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
		pos, err := parseInterspersed(f.fs, args[1:])
		if err != nil || len(pos) != 1 || *keyPath == "" {
			return agentUsage(stderr)
		}
		k, err := readKeyFile(*keyPath)
		if err != nil {
			return fail(stderr, "agent unbind", err)
		}
		b, err := call(ctx, *f.server, k, http.MethodDelete, "/v1/agents/"+url.PathEscape(pos[0]), nil)
		if err != nil {
			return fail(stderr, "agent unbind", err)
		}
		if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
			return fail(stderr, "agent unbind", err)
		}
		var res struct {
			Removed []string `json:"removed_contacts"`
		}
		_ = json.Unmarshal(b, &res)
		fmt.Fprintf(stdout, "agent %s unbound\n", pos[0])
		for _, c := range res.Removed {
			fmt.Fprintf(stdout, "contact %s removed (it was mapped to this agent)\n", c)
		}
		return exitOK
	default:
		return agentUsage(stderr)
	}
}

func cmdAgentAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newIDFlags("agent add", stderr, true)
	ownerPath := f.fs.String("owner-key", "", "the owner's key `FILE` (signs the binding credential)")
	role := f.fs.String("role", "", "`identity` or manager")
	context_ := f.fs.String("context", "", "the Identity Agent's context `NAME` (work, family, ...)")
	out := f.fs.String("out", "", "write the new agent's key to `FILE`")
	agentPath := f.fs.String("agent-key", "", "bind the agent of this existing key `FILE` instead of creating one")
	expires := f.fs.Duration("expires", 0, "binding credential lifetime (0: no expiry)")
	if pos, err := parseInterspersed(f.fs, args); err != nil || len(pos) != 0 || *ownerPath == "" || *role == "" ||
		(*out == "") == (*agentPath == "") {
		fmt.Fprintln(stderr, "clawnet agent add: needs --owner-key, --role and exactly one of --out or --agent-key")
		return agentUsage(stderr)
	}
	owner, err := readKeyFile(*ownerPath)
	if err != nil {
		return fail(stderr, "agent add", err)
	}
	var agent *signingKey
	if *agentPath != "" {
		if agent, err = readKeyFile(*agentPath); err != nil {
			return fail(stderr, "agent add", err)
		}
	} else {
		d, priv, err := did.GenerateKey(rand.Reader)
		if err != nil {
			return fail(stderr, "agent add", err)
		}
		if err := writeKeyFile(*out, priv, keyDIDURL(d), false); err != nil {
			return fail(stderr, "agent add", err)
		}
		agent = &signingKey{Priv: priv, KID: keyDIDURL(d), DID: d, Path: *out}
	}
	id, err := binding.NewID(rand.Reader)
	if err != nil {
		return fail(stderr, "agent add", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	b := binding.Binding{
		ID: id, Issuer: owner.DID, Subject: agent.DID, Role: binding.Role(*role), Context: *context_, IssuedAt: now,
	}
	if *expires > 0 {
		b.Expires = now.Add(*expires)
	}
	token, err := binding.Issue(owner.Priv, owner.KID, b)
	if err != nil {
		return fail(stderr, "agent add", fmt.Errorf("binding credential: %w", err))
	}
	res, err := call(ctx, *f.server, agent, http.MethodPost, "/v1/agents", map[string]string{"credential": token})
	if err != nil {
		return fail(stderr, "agent add", err)
	}
	if _, err := reportMutation(res, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "agent add", err)
	}
	desc := string(b.Role)
	if b.Context != "" {
		desc += " (" + b.Context + ")"
	}
	fmt.Fprintf(stdout, "%s agent of %s: %s\n", desc, owner.DID, agent.DID)
	if *out != "" {
		fmt.Fprintf(stdout, "agent key saved to %s\n", *out)
	}
	return exitOK
}

// signedGet prints the answer of a private read signed with the key file.
func signedGet(ctx context.Context, cmd, server, keyPath, path string, stdout, stderr io.Writer) int {
	k, err := readKeyFile(keyPath)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	b, err := call(ctx, server, k, http.MethodGet, path, nil)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	printJSON(stdout, b)
	return exitOK
}

// ---- contact ----

func contactUsage(w io.Writer) int {
	fmt.Fprint(w, `usage:
  clawnet contact request --owner-key FILE --to OWNER_DID --agent MY_IDENTITY_AGENT_DID [--receipt FILE] [--server URL]
  clawnet contact accept --owner-key FILE --request ID --agent MY_IDENTITY_AGENT_DID [--receipt FILE] [--server URL]
  clawnet contact list --owner-key FILE [--server URL]     contacts and pending requests
  clawnet contact remove --owner-key FILE --contact OWNER_DID [--receipt FILE] [--server URL]
`)
	return exitUsage
}

func cmdContact(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return contactUsage(stderr)
	}
	sub := args[0]
	f := newIDFlags("contact "+sub, stderr, sub != "list")
	keyPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
	var to, agent, reqID, other *string
	switch sub {
	case "request":
		to = f.fs.String("to", "", "the other owner's `DID`")
		agent = f.fs.String("agent", "", "your Identity Agent `DID` that this contact will see")
	case "accept":
		reqID = f.fs.String("request", "", "the contact request `ID`")
		agent = f.fs.String("agent", "", "your Identity Agent `DID` that this contact will see")
	case "remove":
		other = f.fs.String("contact", "", "the other owner's `DID`")
	case "list":
	default:
		return contactUsage(stderr)
	}
	pos, err := parseInterspersed(f.fs, args[1:])
	if err != nil || len(pos) != 0 || *keyPath == "" {
		return contactUsage(stderr)
	}
	if sub == "list" {
		return signedGet(ctx, "contact list", *f.server, *keyPath, "/v1/me/contacts", stdout, stderr)
	}
	var path string
	var body map[string]string
	switch sub {
	case "request":
		if *to == "" || *agent == "" {
			return contactUsage(stderr)
		}
		path, body = "/v1/contacts/requests", map[string]string{"to": *to, "agent": *agent}
	case "accept":
		if *reqID == "" || *agent == "" {
			return contactUsage(stderr)
		}
		path, body = "/v1/contacts/accept", map[string]string{"request": *reqID, "agent": *agent}
	case "remove":
		if *other == "" {
			return contactUsage(stderr)
		}
		path, body = "/v1/contacts/remove", map[string]string{"contact": *other}
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "contact "+sub, err)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, path, body)
	if err != nil {
		return fail(stderr, "contact "+sub, err)
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "contact "+sub, err)
	}
	switch sub {
	case "request":
		var res struct {
			Request string `json:"request"`
			Expires string `json:"expires"`
		}
		_ = json.Unmarshal(b, &res)
		fmt.Fprintf(stdout, "contact request %s sent to %s (expires %s)\n  the other owner accepts it with: clawnet contact accept --request %s --agent THEIR_AGENT_DID --owner-key THEIR_KEY\n", res.Request, *to, res.Expires, res.Request)
	case "accept":
		fmt.Fprintf(stdout, "contact request %s accepted\n", *reqID)
	case "remove":
		fmt.Fprintf(stdout, "contact %s removed\n", *other)
	}
	return exitOK
}
