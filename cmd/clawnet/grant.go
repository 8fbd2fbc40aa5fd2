package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
)

// Delegation credentials (spec/grants.md): grant builds and signs a
// credential locally with the owner's (or, for a sub-delegation, the
// holding agent's) key, after reserving its status entry, and registers
// it; grant list, revoke; scope check explains locally what a credential
// file allows.

func init() {
	registerCommand(command{name: "grant", summary: "grant a delegation credential to an Identity Agent, or list them", run: cmdGrant})
	registerCommand(command{name: "revoke", summary: "revoke a delegation credential and its sub-delegations", run: cmdRevoke})
	registerCommand(command{name: "scope", summary: "check locally what a delegation credential allows", run: cmdScope})
}

// Exit codes of scope check besides exitOK (allow), exitFail and
// exitUsage: a denial and an escalation are answers, not failures.
const (
	exitDeny     = 3
	exitEscalate = 4
)

func grantUsage(w io.Writer) int {
	fmt.Fprint(w, `usage:
  clawnet grant --owner-key FILE --agent DID --scope JSON|@FILE [--scope …] --out FILE
                [--expires 24h] [--format jwt|ldp] [--allow-subdelegation N] [--receipt FILE] [--server URL]
      reserve a status entry, sign a delegation credential to the Identity
      Agent with the owner's key, register it; save it to --out (a VC-JWT
      line, or the JSON-LD credential)
  clawnet grant --agent-key FILE --parent CRED_FILE --agent DID --scope … --out FILE [flags as above]
      sub-delegate part of the credential in CRED_FILE (held by the agent of
      --agent-key) to another Identity Agent of the same owner; the
      expiry is capped at the parent's
  clawnet grant list --owner-key FILE [--server URL]
--scope is one scope object or an array of them (spec/scope-language.md);
@FILE reads it from FILE.
`)
	return exitUsage
}

// scopeFlags collects repeated --scope values.
type scopeFlags []string

func (s *scopeFlags) String() string     { return strings.Join(*s, " ") }
func (s *scopeFlags) Set(v string) error { *s = append(*s, v); return nil }

func cmdGrant(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "list" {
		f := newIDFlags("grant list", stderr, false)
		keyPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
		if pos, err := parseInterspersed(f.fs, args[1:]); err != nil || len(pos) != 0 || *keyPath == "" {
			return grantUsage(stderr)
		}
		return signedGet(ctx, "grant list", *f.server, *keyPath, "/v1/credentials", stdout, stderr)
	}
	f := newIDFlags("grant", stderr, true)
	ownerPath := f.fs.String("owner-key", "", "the owner's key `FILE` (signs the credential)")
	agentKeyPath := f.fs.String("agent-key", "", "for a sub-delegation: the holding agent's key `FILE`")
	parentPath := f.fs.String("parent", "", "for a sub-delegation: the parent credential `FILE`")
	agent := f.fs.String("agent", "", "the Identity Agent's `DID` (the subject)")
	var scopes scopeFlags
	f.fs.Var(&scopes, "scope", "a scope object or array (`JSON` or @FILE); repeatable")
	expires := f.fs.Duration("expires", 24*time.Hour, "lifetime")
	format := f.fs.String("format", "jwt", "`jwt` (VC-JWT) or ldp (Data Integrity)")
	depth := f.fs.Int("allow-subdelegation", 0, "how many further levels the agent may sub-delegate (`N`)")
	out := f.fs.String("out", "", "write the credential to `FILE`")
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 0 || *agent == "" || len(scopes) == 0 || *out == "" ||
		(*ownerPath == "") == (*agentKeyPath == "") || (*agentKeyPath != "") != (*parentPath != "") {
		fmt.Fprintln(stderr, "clawnet grant: needs --agent, --scope, --out and either --owner-key, or --agent-key with --parent")
		return grantUsage(stderr)
	}
	if *format != string(delegation.FormatJWT) && *format != string(delegation.FormatLDP) {
		return fail(stderr, "grant", fmt.Errorf("--format %q: want jwt or ldp", *format))
	}
	if *expires <= 0 {
		return fail(stderr, "grant", errors.New("--expires must be positive"))
	}
	list, err := parseScopeArgs(scopes, os.ReadFile)
	if err != nil {
		return fail(stderr, "grant", err)
	}
	keyPath, statusPath := *ownerPath, "/v1/status"
	if *agentKeyPath != "" {
		keyPath, statusPath = *agentKeyPath, "/v1/status/for-subdelegation"
	}
	k, err := readKeyFile(keyPath)
	if err != nil {
		return fail(stderr, "grant", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	c := delegation.Credential{
		Issuer: k.DID, Subject: *agent, IssuanceDate: now, ExpirationDate: now.Add(*expires),
		Scopes: list, MaxSubdelegationDepth: *depth,
	}
	if *parentPath != "" {
		parent, err := readCredential(*parentPath, now)
		if err != nil {
			return fail(stderr, "grant", fmt.Errorf("parent: %w", err))
		}
		if parent.Subject != k.DID {
			return fail(stderr, "grant", fmt.Errorf("the parent credential was granted to %s, not to the agent of %s", parent.Subject, keyPath))
		}
		c.ParentCredential = parent.ID
		if c.ExpirationDate.After(parent.ExpirationDate) {
			c.ExpirationDate = parent.ExpirationDate
			fmt.Fprintf(stdout, "expiry capped at the parent's: %s\n", c.ExpirationDate.Format(time.RFC3339))
		}
	}
	sent, err := issueDelegation(ctx, *f.server, k, statusPath, &c, delegation.Format(*format), now)
	if err != nil {
		return fail(stderr, "grant", err)
	}
	res, err := call(ctx, *f.server, k, http.MethodPost, "/v1/credentials", map[string]json.RawMessage{"credential": sent})
	if err != nil {
		return fail(stderr, "grant", err)
	}
	if err := os.WriteFile(*out, append(credentialFile(sent), '\n'), 0o644); err != nil {
		return fail(stderr, "grant", fmt.Errorf("credential %s was registered, but not saved: %w", c.ID, err))
	}
	if _, err := reportMutation(res, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "grant", err)
	}
	fmt.Fprintf(stdout, "credential %s granted to %s, saved to %s\n", c.ID, *agent, *out)
	return exitOK
}

// issueDelegation gives c a fresh id and a status entry reserved with a
// signed POST to statusPath (spec/grants.md §1 steps 1 and 2), and signs it
// with k in format, without registering it. It returns the credential as
// a request body carries it (a JSON string for a VC-JWT, the JSON-LD
// object otherwise): what the server digests, and what a credential file
// holds (credentialFile).
func issueDelegation(ctx context.Context, server string, k *signingKey, statusPath string, c *delegation.Credential,
	format delegation.Format, now time.Time) (json.RawMessage, error) {
	var err error
	if c.ID, err = delegation.NewID(rand.Reader); err != nil {
		return nil, err
	}
	b, err := call(ctx, server, k, http.MethodPost, statusPath, struct{}{})
	if err != nil {
		return nil, fmt.Errorf("reserve a status entry: %w", err)
	}
	entry, err := statusEntryOf(b)
	if err != nil {
		return nil, err
	}
	c.Status = &entry
	if format == delegation.FormatJWT {
		tok, err := delegation.IssueJWT(k.Priv, k.KID, *c)
		if err != nil {
			return nil, err
		}
		return json.Marshal(tok)
	}
	ld, err := delegation.IssueLDP(k.Priv, k.KID, *c, now)
	if err != nil {
		return nil, err
	}
	// encoding/json escapes <, > and & inside the request: save the same
	// bytes.
	return json.Marshal(json.RawMessage(ld))
}

// credentialFile is the content of a credential file for sent, a
// credential as issueDelegation returns it: the bare VC-JWT, or the
// JSON-LD credential.
func credentialFile(sent json.RawMessage) []byte {
	var tok string
	if json.Unmarshal(sent, &tok) == nil {
		return []byte(tok)
	}
	return sent
}

// statusEntryOf reads the status entry from the server's answer to a
// reservation (POST /v1/status or /v1/agents/{did}/status).
func statusEntryOf(answer []byte) (delegation.StatusEntry, error) {
	var st struct {
		Status *struct {
			ListIndex      string `json:"statusListIndex"`
			ListCredential string `json:"statusListCredential"`
		} `json:"status"`
	}
	if err := json.Unmarshal(answer, &st); err != nil || st.Status == nil {
		return delegation.StatusEntry{}, errors.New("the server's answer has no status entry")
	}
	idx, err := strconv.ParseUint(st.Status.ListIndex, 10, 64)
	if err != nil {
		return delegation.StatusEntry{}, fmt.Errorf("the server's status entry has index %q", st.Status.ListIndex)
	}
	return delegation.NewStatusEntry(st.Status.ListCredential, idx), nil
}

// parseScopeArgs parses --scope values: each a JSON scope object or array
// of them, or @FILE holding one. The list is validated as a whole.
func parseScopeArgs(args []string, readFile func(string) ([]byte, error)) ([]scope.Scope, error) {
	var all []scope.Scope
	for _, a := range args {
		b := []byte(a)
		if name, ok := strings.CutPrefix(a, "@"); ok {
			var err error
			if b, err = readFile(name); err != nil {
				return nil, fmt.Errorf("--scope %s: %w", a, err)
			}
		}
		b = bytes.TrimSpace(b)
		switch {
		case len(b) > 0 && b[0] == '[':
			list, err := scope.Parse(b)
			if err != nil {
				return nil, fmt.Errorf("--scope %.60s: %w", a, err)
			}
			all = append(all, list...)
		case len(b) > 0 && b[0] == '{':
			sc, err := scope.ParseScope(b)
			if err != nil {
				return nil, fmt.Errorf("--scope %.60s: %w", a, err)
			}
			all = append(all, sc)
		default:
			return nil, fmt.Errorf("--scope %.60s: want a JSON scope object or array, or @FILE", a)
		}
	}
	if len(all) == 0 {
		return nil, errors.New("no scope: an empty list grants nothing")
	}
	if err := scope.Validate(all); err != nil {
		return nil, fmt.Errorf("--scope: %w", err)
	}
	return all, nil
}

// readCredential reads a credential file and verifies it locally at now:
// a did:key issuer resolves without the network; another DID method does
// not, and is refused (verify it with the server instead).
func readCredential(path string, now time.Time) (*delegation.Verified, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := delegation.Verify(context.Background(), bytes.TrimSpace(b), delegation.VerifyOptions{
		Resolve: func(_ context.Context, d string) (*did.Document, error) {
			if !strings.HasPrefix(d, "did:key:") {
				return nil, fmt.Errorf("%s is not a did:key: it cannot be resolved offline", d)
			}
			return did.ResolveKey(d)
		},
		Now: now,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ---- revoke ----

func cmdRevoke(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	const usage = "clawnet revoke --owner-key FILE|--agent-key FILE CREDENTIAL_ID [--receipt FILE] [--server URL]\n" +
		"  revokes the credential and every sub-delegation below it (an agent key: a sub-delegation it issued)"
	f := newIDFlags("revoke", stderr, true)
	ownerPath := f.fs.String("owner-key", "", "the owner's key `FILE`")
	agentPath := f.fs.String("agent-key", "", "the issuing agent's key `FILE` (sub-delegations it issued)")
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 1 || (*ownerPath == "") == (*agentPath == "") {
		return usageErr(stderr, usage)
	}
	keyPath := *ownerPath + *agentPath
	k, err := readKeyFile(keyPath)
	if err != nil {
		return fail(stderr, "revoke", err)
	}
	b, err := call(ctx, *f.server, k, http.MethodPost, "/v1/revocations", map[string]string{"id": pos[0]})
	if err != nil {
		return fail(stderr, "revoke", err)
	}
	if _, err := reportMutation(b, f.receiptPath(), stdout); err != nil {
		return fail(stderr, "revoke", err)
	}
	var res struct {
		Cascade []string `json:"cascade"`
	}
	_ = json.Unmarshal(b, &res)
	fmt.Fprintf(stdout, "credential %s revoked\n", pos[0])
	for _, c := range res.Cascade {
		fmt.Fprintf(stdout, "sub-delegation %s revoked with it\n", c)
	}
	return exitOK
}

// ---- scope check ----

func cmdScope(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	const usage = `clawnet scope check --cred FILE --action ACTION --resource RESOURCE [--arg K=V …] [--to OWNER_DID [--contact]] [--at TIME]
  verifies the credential file offline (its issuer must be a did:key) and
  evaluates its own scopes (not its parents', not its revocation status).
  --arg V is JSON when it parses as a JSON number, string, bool or array,
  else a string. --at is RFC 3339 (default: now).
  exit status: 0 allow, 3 deny, 4 escalate, 1 error, 2 usage`
	if len(args) == 0 || args[0] != "check" {
		return usageErr(stderr, usage)
	}
	fs := flag.NewFlagSet("scope check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	credPath := fs.String("cred", "", "the credential `FILE`")
	action := fs.String("action", "", "the `ACTION`, such as message/send")
	resource := fs.String("resource", "", "the `RESOURCE`")
	var argv scopeFlags
	fs.Var(&argv, "arg", "an argument `K=V`; repeatable")
	to := fs.String("to", "", "the counterparty owner's `DID`")
	contact := fs.Bool("contact", false, "the counterparty is a live contact of the owner")
	at := fs.String("at", "", "decision `TIME` (RFC 3339)")
	if pos, err := parseInterspersed(fs, args[1:]); err != nil || len(pos) != 0 || *credPath == "" || *action == "" || *resource == "" {
		return usageErr(stderr, usage)
	}
	now := time.Now().UTC()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fail(stderr, "scope check", fmt.Errorf("--at: %w", err))
		}
		now = t.UTC()
	}
	req := scope.Request{Action: *action, Resource: *resource, Counterparty: *to, CounterpartyIsContact: *contact, Time: now}
	if len(argv) > 0 {
		req.Args = map[string]scope.Value{}
		for _, a := range argv {
			k, v, err := parseArg(a)
			if err != nil {
				return fail(stderr, "scope check", err)
			}
			if _, dup := req.Args[k]; dup {
				return fail(stderr, "scope check", fmt.Errorf("--arg %s given twice", k))
			}
			req.Args[k] = v
		}
	}
	vc, err := readCredential(*credPath, now)
	if err != nil {
		return fail(stderr, "scope check", err)
	}
	d := scope.Evaluate(vc.Scopes, req)
	fmt.Fprintf(stdout, "%s\ncredential %s (issuer %s, subject %s)\n", d.String(), vc.ID, vc.Issuer, vc.Subject)
	switch d.Effect {
	case scope.Allow:
		return exitOK
	case scope.Escalate:
		return exitEscalate
	default:
		return exitDeny
	}
}

// parseArg parses an --arg K=V: V is a JSON value when it is one a scope
// argument may be (a number, a string, a bool, an array of scalars), else
// the string V itself.
func parseArg(s string) (string, scope.Value, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", scope.Value{}, fmt.Errorf("--arg %.60q: want K=V", s)
	}
	if val, err := scope.ParseValue([]byte(v)); err == nil {
		return k, val, nil
	}
	if len(v) > scope.MaxStringLen {
		return "", scope.Value{}, fmt.Errorf("--arg %s: value longer than %d bytes", k, scope.MaxStringLen)
	}
	return k, scope.StringValue(v), nil
}
