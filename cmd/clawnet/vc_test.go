package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVCCLI runs the operator's issuer commands, a server with an issuer
// instance, a custodial issuance over HTTP, and the vc commands against it.
func TestVCCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	code, out, errs := runExit(t, "issuer", "new", "acme", "--data", data)
	if code != exitOK || !strings.HasPrefix(out, "did:key:z6Mk") {
		t.Fatalf("issuer new: %d %s %s", code, out, errs)
	}
	acme := strings.TrimSpace(out)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"issuer", "new", "acme", "--data", data}, exitFail},   // exists: a key is never replaced
		{[]string{"issuer", "new", "Acme!", "--data", data}, exitUsage}, // bad name
		{[]string{"issuer", "new", "x"}, exitUsage},                     // no --data
		{[]string{"issuer", "rotate", "x", "--data", data}, exitUsage},  // unknown command
		{[]string{"vc", "present", "--cred", "x", "--challenge", "c"}, exitUsage},
		{[]string{"vc", "verify-presentation", "vp.jwt"}, exitUsage}, // no --challenge
	} {
		if c, _, errs := runExit(t, tc.args...); c != tc.code {
			t.Errorf("clawnet %s: exit %d, want %d: %s", strings.Join(tc.args, " "), c, tc.code, errs)
		}
	}

	e := &idEnv{t: t, dir: dir}
	e.srv = startServe(t, "--addr", "127.0.0.1:0", "--data", data)
	if out := e.ok2("issuer", "list", "--data", data); !strings.Contains(out, "acme") || !strings.Contains(out, acme) || !strings.Contains(out, "default") {
		t.Errorf("issuer list: %s", out)
	}
	agent := e.newKey("agent.jwk")

	token, err := os.ReadFile(e.srv.tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"credential":{"@context":["https://www.w3.org/2018/credentials/v1","https://w3id.org/clawnet/delegation/v1","https://www.w3.org/ns/credentials/status/v1"],` +
		`"type":["VerifiableCredential","DelegationCredential"],"expirationDate":"2099-01-01T00:00:00Z",` +
		`"credentialSubject":{"id":"` + agent + `","scopes":[{"effect":"allow","actions":["calendar"],"resources":["calendar/**"]}],"maxSubdelegationDepth":0}},"options":{"format":"jwt"}}`
	req, _ := http.NewRequest("POST", e.srv.url+"/issuers/acme/credentials/issue", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("issue: %d %s", resp.StatusCode, rb)
	}
	var issued struct {
		VerifiableCredential string `json:"verifiableCredential"`
	}
	if err := json.Unmarshal(rb, &issued); err != nil {
		t.Fatal(err)
	}
	cred := e.path("cred.jwt")
	if err := os.WriteFile(cred, []byte(issued.VerifiableCredential+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out = e.ok("vc", "verify", cred)
	if !strings.Contains(out, "verified: true") || !strings.Contains(out, "issuer: "+acme) || !strings.Contains(out, "checks: proof, expiration, schema") {
		t.Errorf("vc verify: %s", out)
	}
	// Tampered: exit 1 and the problem printed.
	bad := e.path("bad.jwt")
	tok := issued.VerifiableCredential
	_ = os.WriteFile(bad, []byte(tok[:len(tok)-4]+"AAAA"), 0o600)
	c, out, _ := runExit(t, "vc", "verify", bad, "--server", e.srv.url)
	if c != exitFail || !strings.Contains(out, "verified: false") || !strings.Contains(out, "delegation_signature_invalid") {
		t.Errorf("vc verify tampered: exit %d\n%s", c, out)
	}

	vp := e.path("vp.jwt")
	e.ok2("vc", "present", "--agent-key", e.path("agent.jwk"), "--cred", cred, "--challenge", "c-1", "--domain", "verifier.example", "--out", vp)
	out = e.ok("vc", "verify-presentation", vp, "--challenge", "c-1", "--domain", "verifier.example")
	if !strings.Contains(out, "verified: true") || !strings.Contains(out, "holder: "+agent) {
		t.Errorf("vc verify-presentation: %s", out)
	}
	c, out, _ = runExit(t, "vc", "verify-presentation", vp, "--challenge", "c-2", "--server", e.srv.url)
	if c != exitFail || !strings.Contains(out, "presentation_challenge_mismatch") {
		t.Errorf("wrong challenge: exit %d\n%s", c, out)
	}
	// --json prints the server's answer.
	out = e.ok("vc", "verify", cred, "--json")
	if !json.Valid(bytes.TrimSpace([]byte(out))) || !strings.Contains(out, `"verified":true`) {
		t.Errorf("--json: %s", out)
	}
}

// ok2 runs a command that takes no --server and must succeed.
func (e *idEnv) ok2(args ...string) string {
	e.t.Helper()
	code, out, errs := runExit(e.t, args...)
	if code != exitOK {
		e.t.Fatalf("clawnet %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestBenchCredentials(t *testing.T) {
	dir := t.TempDir()
	r := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	for _, tc := range []struct{ op, format string }{{"issue", "jwt"}, {"issue", "ldp"}, {"verify", "jwt"}, {"verify", "ldp"}} {
		code, out, errs := runExit(t, "bench", "credentials", "--server", r.url, "--op", tc.op, "--format", tc.format,
			"--token", r.tokenPath, "--clients", "2", "--duration", "200ms", "--json")
		if code != exitOK {
			t.Fatalf("%s %s: exit %d %s %s", tc.op, tc.format, code, out, errs)
		}
		res := decodeOne[credBenchResult](t, out)
		if res.Op != tc.op || res.Format != tc.format || res.Requests == 0 || res.Errors != 0 || res.CredsPerS <= 0 {
			t.Errorf("%+v", res)
		}
	}
	// Issuing without the operator token fails at the first request.
	bad := filepath.Join(dir, "bad.token")
	_ = os.WriteFile(bad, []byte("nope\n"), 0o600)
	if code, _, errs := runExit(t, "bench", "credentials", "--server", r.url, "--token", bad, "--duration", "100ms"); code != exitFail || !strings.Contains(errs, "401") {
		t.Errorf("wrong token: exit %d %s", code, errs)
	}
	if code, _, _ := runExit(t, "bench", "credentials", "--server", r.url, "--op", "issue"); code != exitUsage {
		t.Errorf("issue without --token: exit %d", code)
	}
}

func TestCheckCredAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		status   int
		body     string
		ok       bool
	}{
		{"issued", "issue", 201, `{"verifiableCredential":"a.b.c","index":1,"receipt":{"x":1}}`, true},
		{"issue 200", "issue", 200, `{"verifiableCredential":"a.b.c","index":1,"receipt":{}}`, false},
		{"issue without credential", "issue", 201, `{"index":1,"receipt":{}}`, false},
		{"issue junk", "issue", 201, `nope`, false},
		{"verified", "verify", 200, `{"verified":true,"checks":["proof"],"warnings":[],"errors":[]}`, true},
		{"not verified", "verify", 200, `{"verified":false,"checks":[],"warnings":[],"errors":[]}`, false},
		{"verify 400", "verify", 400, `{"error":{"code":"bad_json","message":"x"}}`, false},
	} {
		if err := checkCredAnswer(tc.op, tc.status, []byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
