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
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/vc/verify"
)

// The VC-API client (spec/vc-api.md): clawnet vc verify and
// verify-presentation post to a server's /credentials/verify and
// /presentations/verify; clawnet vc present builds a VP-JWT locally with
// the agent's key; clawnet issuer manages the issuer instance key files
// of custodial issuance (<data>/issuers/<name>.jwk).

// issuersDir is the folder of issuer instance key files in a data folder.
const issuersDir = "issuers"

func init() {
	registerCommand(command{name: "vc", summary: "verify credentials and presentations (VC-API), build a presentation", run: cmdVC})
	registerCommand(command{name: "issuer", summary: "create and list the custodial issuer instances of a data folder", run: cmdIssuer})
}

func vcUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet vc verify FILE [--server URL] [--json]
      verify a credential (a VC-JWT or a JSON-LD credential) with the server's
      POST /credentials/verify; print verified, checks and problems; exit 0 if
      verified, 1 if not
  clawnet vc present --agent-key FILE --cred FILE [--cred FILE] --challenge C
                     [--domain D] [--expires 5m] --out vp.jwt
      build a VP-JWT that proves possession of the credentials, signed by the
      agent (holder) key
  clawnet vc verify-presentation FILE --challenge C [--domain D] [--server URL] [--json]
      verify a VP-JWT with the server's POST /presentations/verify
`)
}

func cmdVC(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		vcUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "verify":
		return cmdVCVerify(ctx, args[1:], stdout, stderr)
	case "present":
		return cmdVCPresent(args[1:], stdout, stderr)
	case "verify-presentation":
		return cmdVCVerifyPresentation(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		vcUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "clawnet vc: unknown command %q\n", args[0])
	vcUsage(stderr)
	return exitUsage
}

// credentialValue reads a credential file as the JSON value the VC-API
// takes: a JSON object for a JSON-LD credential, a JSON string for a
// VC-JWT (written bare or quoted in the file).
func credentialValue(path string) (json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := bytes.TrimSpace(b)
	switch {
	case len(t) == 0:
		return nil, fmt.Errorf("%s is empty", path)
	case t[0] == '{' || t[0] == '"':
		if !json.Valid(t) {
			return nil, fmt.Errorf("%s is not valid JSON", path)
		}
		return t, nil
	}
	return json.Marshal(string(t))
}

func cmdVCVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vc verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	srv := fs.String("server", defaultServer, "server `URL`")
	asJSON := fs.Bool("json", false, "print the server's answer as JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "clawnet vc verify: want one FILE")
		return exitUsage
	}
	cred, err := credentialValue(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "clawnet vc verify: %v\n", err)
		return exitFail
	}
	b, err := call(ctx, *srv, nil, "POST", "/credentials/verify", server.VerifyCredentialRequest{VerifiableCredential: cred})
	if err != nil {
		fmt.Fprintf(stderr, "clawnet vc verify: %v\n", err)
		return exitFail
	}
	var res server.VerificationResult
	if err := json.Unmarshal(b, &res); err != nil {
		fmt.Fprintf(stderr, "clawnet vc verify: the server's answer: %v\n", err)
		return exitFail
	}
	if *asJSON {
		stdout.Write(append(bytes.TrimSpace(b), '\n'))
	} else {
		printResult(stdout, "", res)
	}
	if !res.Verified {
		return exitFail
	}
	return exitOK
}

func printResult(w io.Writer, indent string, res server.VerificationResult) {
	fmt.Fprintf(w, "%sverified: %t\n", indent, res.Verified)
	if c := res.Credential; c != nil {
		fmt.Fprintf(w, "%scredential: %s %s (%s)\n", indent, c.ID, strings.Join(c.Types, ","), c.Format)
		if c.Issuer != "" {
			fmt.Fprintf(w, "%sissuer: %s\n%ssubject: %s\n", indent, c.Issuer, indent, c.Subject)
		}
	}
	fmt.Fprintf(w, "%schecks: %s\n", indent, strings.Join(res.Checks, ", "))
	printProblems(w, indent, "error", res.Errors)
	printProblems(w, indent, "warning", res.Warnings)
}

func printProblems(w io.Writer, indent, kind string, ps []server.ProblemDetail) {
	for _, p := range ps {
		fmt.Fprintf(w, "%s%s: %s: %s\n", indent, kind, p.Code, p.Detail)
	}
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdVCPresent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vc present", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("agent-key", "", "the holder's key `FILE` (clawnet key new)")
	var creds stringList
	fs.Var(&creds, "cred", "a credential `FILE` to present (repeatable)")
	challenge := fs.String("challenge", "", "the verifier's challenge (nonce)")
	domain := fs.String("domain", "", "the verifier's domain (aud)")
	expires := fs.Duration("expires", 5*time.Minute, "how long the presentation is valid")
	out := fs.String("out", "", "write the VP-JWT to `FILE` (default: stdout)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(rest) != 0 || *keyPath == "" || len(creds) == 0 || *challenge == "" || *expires <= 0 {
		fmt.Fprintln(stderr, "clawnet vc present: --agent-key, --cred and --challenge are required")
		return exitUsage
	}
	key, err := readKeyFile(*keyPath)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet vc present: %v\n", err)
		return exitFail
	}
	var raws [][]byte
	for _, c := range creds {
		v, err := credentialValue(c)
		if err != nil {
			fmt.Fprintf(stderr, "clawnet vc present: %v\n", err)
			return exitFail
		}
		if v[0] == '"' {
			var s string
			_ = json.Unmarshal(v, &s)
			v = []byte(s)
		}
		raws = append(raws, v)
	}
	now := time.Now().UTC().Truncate(time.Second)
	vp, err := verify.SignPresentation(key.Priv, key.KID, verify.PresentationClaims{
		Holder: key.DID, Audience: *domain, Nonce: *challenge, IssuedAt: now, Expires: now.Add(*expires), Credentials: raws,
	})
	if err != nil {
		fmt.Fprintf(stderr, "clawnet vc present: %v\n", err)
		return exitFail
	}
	if *out == "" {
		fmt.Fprintln(stdout, vp)
		return exitOK
	}
	if err := os.WriteFile(*out, []byte(vp+"\n"), 0o600); err != nil {
		fmt.Fprintf(stderr, "clawnet vc present: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "presentation by %s written to %s\n", key.DID, *out)
	return exitOK
}

func cmdVCVerifyPresentation(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vc verify-presentation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	srv := fs.String("server", defaultServer, "server `URL`")
	challenge := fs.String("challenge", "", "the challenge the presentation must answer (required)")
	domain := fs.String("domain", "", "the domain the presentation must be for")
	asJSON := fs.Bool("json", false, "print the server's answer as JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(rest) != 1 || *challenge == "" {
		fmt.Fprintln(stderr, "clawnet vc verify-presentation: want one FILE and --challenge")
		return exitUsage
	}
	vp, err := credentialValue(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "clawnet vc verify-presentation: %v\n", err)
		return exitFail
	}
	b, err := call(ctx, *srv, nil, "POST", "/presentations/verify", server.VerifyPresentationRequest{
		VerifiablePresentation: vp, Options: &server.VerifyOptions{Challenge: *challenge, Domain: *domain}})
	if err != nil {
		fmt.Fprintf(stderr, "clawnet vc verify-presentation: %v\n", err)
		return exitFail
	}
	var res server.PresentationResult
	if err := json.Unmarshal(b, &res); err != nil {
		fmt.Fprintf(stderr, "clawnet vc verify-presentation: the server's answer: %v\n", err)
		return exitFail
	}
	if *asJSON {
		stdout.Write(append(bytes.TrimSpace(b), '\n'))
	} else {
		fmt.Fprintf(stdout, "verified: %t\nholder: %s\nchecks: %s\n", res.Verified, res.Holder, strings.Join(res.Checks, ", "))
		printProblems(stdout, "", "error", res.Errors)
		printProblems(stdout, "", "warning", res.Warnings)
		for i, cr := range res.CredentialResults {
			fmt.Fprintf(stdout, "credential %d:\n", i)
			printResult(stdout, "  ", cr)
		}
	}
	if !res.Verified {
		return exitFail
	}
	return exitOK
}

func issuerUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet issuer new NAME --data DIR
      create the issuer instance NAME ([a-z0-9][a-z0-9-]{0,62}): a did:key key
      file DIR/issuers/NAME.jwk; print its DID. clawnet serve loads every
      instance at start (POST /issuers/NAME/credentials/issue)
  clawnet issuer list --data DIR
      list the issuer instances of DIR and their DIDs ("default" is the
      server's issuer key, DIR/issuer.jwk: POST /credentials/issue)
`)
}

func cmdIssuer(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		issuerUsage(stderr)
		return exitUsage
	}
	sub := args[0]
	if sub == "help" || sub == "-h" || sub == "--help" {
		issuerUsage(stdout)
		return exitOK
	}
	fs := flag.NewFlagSet("issuer "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the server's data `DIR`")
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitUsage
	}
	if *data == "" {
		fmt.Fprintln(stderr, "clawnet issuer: --data is required")
		return exitUsage
	}
	switch sub {
	case "new":
		if len(rest) != 1 || !server.ValidIssuerName(rest[0]) {
			fmt.Fprintln(stderr, "clawnet issuer new: want one NAME of [a-z0-9][a-z0-9-]{0,62}")
			return exitUsage
		}
		dir := filepath.Join(*data, issuersDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fmt.Fprintf(stderr, "clawnet issuer new: %v\n", err)
			return exitFail
		}
		d, priv, err := did.GenerateKey(rand.Reader)
		if err != nil {
			fmt.Fprintf(stderr, "clawnet issuer new: %v\n", err)
			return exitFail
		}
		if err := writeKeyFile(filepath.Join(dir, rest[0]+".jwk"), priv, keyDIDURL(d), false); err != nil {
			fmt.Fprintf(stderr, "clawnet issuer new: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(stdout, d)
		return exitOK
	case "list":
		if len(rest) != 0 {
			fmt.Fprintln(stderr, "clawnet issuer list: no arguments")
			return exitUsage
		}
		if k, err := readKeyFile(filepath.Join(*data, issuerKeyFile)); err == nil {
			fmt.Fprintf(stdout, "%-20s %s\n", "default", k.DID)
		}
		keys, err := loadIssuerInstances(*data)
		if err != nil {
			fmt.Fprintf(stderr, "clawnet issuer list: %v\n", err)
			return exitFail
		}
		names := make([]string, 0, len(keys))
		for n := range keys {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "%-20s %s\n", n, did.KeyDID(keys[n].Public().(ed25519.PublicKey)))
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "clawnet issuer: unknown command %q\n", sub)
	issuerUsage(stderr)
	return exitUsage
}

// loadIssuerInstances reads every DIR/issuers/<name>.jwk: did:key key
// files whose kid is the did:key's own method (the server signs with that
// kid). A folder that does not exist means no instances; any other file
// in it is an error, so that a typo is not silently ignored.
func loadIssuerInstances(data string) (map[string]ed25519.PrivateKey, error) {
	dir := filepath.Join(data, issuersDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]ed25519.PrivateKey{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".jwk")
		if !ok || e.IsDir() || !server.ValidIssuerName(name) {
			return nil, fmt.Errorf("%s: not an issuer key file <name>.jwk with a name of [a-z0-9][a-z0-9-]{0,62}", filepath.Join(dir, e.Name()))
		}
		k, err := readKeyFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(k.DID, "did:key:") || k.KID != keyDIDURL(k.DID) {
			return nil, fmt.Errorf("%s: an issuer instance key must be a did:key key file", k.Path)
		}
		out[name] = k.Priv
	}
	return out, nil
}
