package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// demoSteps are the receipts a demo writes, in order, with the type of
// their entry and, for decisions, the decision and reason code.
var demoSteps = []struct {
	name, typ, decision, code string
}{
	{"alice-register", "owner.registered", "recorded", ""},
	{"alice-manager", "agent.bound", "recorded", ""},
	{"alice-work", "agent.bound", "recorded", ""},
	{"bob-register", "owner.registered", "recorded", ""},
	{"bob-manager", "agent.bound", "recorded", ""},
	{"bob-friends", "agent.bound", "recorded", ""},
	{"contact-request", "contact.requested", "recorded", ""},
	{"contact-accept", "contact.accepted", "recorded", ""},
	{"grant-chat", "vc.granted", "recorded", ""},
	{"grant-listen", "vc.granted", "recorded", ""},
	{"grant-pay", "vc.granted", "recorded", ""},
	{"message-send", "action.decision", "allowed", "allowed_by_scope"},
	{"message-delivered", "message.delivered", "allowed", "delivered"},
	{"refund-denied", "action.decision", "denied", "constraint_failed"},
	{"manager-to-bob", "action.decision", "denied", "manager_isolation"},
	{"payment-escalated", "action.decision", "escalated", "constraint_failed"},
	{"escalation-approved", "escalation.answered", "approved", "approved once by the owner"},
	{"revoke-chat", "vc.revoked", "recorded", ""},
	{"message-after-revoke", "action.decision", "denied", "grant_revoked"},
}

// checkDemoOutput checks that dir holds exactly the demo's receipts, each
// verifying with vkey and logging the expected entry, and returns the
// size of the largest checkpoint among them.
func checkDemoOutput(t *testing.T, dir, vkey string) uint64 {
	t.Helper()
	v, err := transparency.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := filepath.Glob(filepath.Join(dir, "*.receipt.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(demoSteps) {
		t.Fatalf("%d receipts, want %d: %v", len(got), len(demoSteps), got)
	}
	var last, size uint64
	for i, s := range demoSteps {
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s.receipt.json", i+1, s.name))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := transparency.ParseReceipt(b)
		if err != nil {
			t.Fatal(err)
		}
		vr, err := transparency.VerifyReceipt(r, v)
		if err != nil {
			t.Fatalf("%s does not verify: %v", path, err)
		}
		e := vr.Entry
		if e.Type != s.typ || string(e.Decision) != s.decision || (s.code != "" && reasonCode(e.Reason) != s.code) {
			t.Errorf("%s: entry %s %s %q, want %s %s %s", path, e.Type, e.Decision, e.Reason, s.typ, s.decision, s.code)
		}
		if i > 0 && vr.Index <= last {
			t.Errorf("%s: entry %d is not after the previous receipt's %d", path, vr.Index, last)
		}
		last, size = vr.Index, max(size, vr.Checkpoint.Size)
	}
	return size
}

func TestDemoEmbedded(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	for run := range 2 { // the second run replaces the first one's output
		code, stdout, stderr := runExit(t, "demo", "--out", out)
		if code != exitOK {
			t.Fatalf("run %d: exit %d\n%s%s", run, code, stdout, stderr)
		}
		for _, want := range []string{
			`12 alice-work → bob: message/send chat/lunch "Lunch on Friday?" … allowed by scope "chat" (entry `,
			`   bob-friends reads its inbox: from alice-work, "Lunch on Friday?"`,
			"15 alice-manager → bob: message/send chat/lunch \"hi from the manager\" … denied: manager_isolation: ",
			"   alice's event stream: boundary.violation (entry ",
			"17 alice approves escalation ",
			"verified 19 receipts; log consistent at size ",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("run %d: no %q in\n%s", run, want, stdout)
			}
		}
		vkey, err := os.ReadFile(filepath.Join(out, "log.vkey"))
		if err != nil {
			t.Fatal(err)
		}
		checkDemoOutput(t, out, strings.TrimSpace(string(vkey)))
	}
	keys, err := filepath.Glob(filepath.Join(out, "keys", "*"))
	if err != nil || len(keys) != 9 {
		t.Errorf("keys: %v %v", keys, err)
	}
}

// TestDemoAgainstServer plays against a running clawnet serve, and checks
// the receipts with the verifier key the server printed at startup (not
// the one the demo fetched) and the size the demo found consistent with
// the server's log.
func TestDemoAgainstServer(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runExit(t, "demo", "--server", srv.url, "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	size := checkDemoOutput(t, out, srv.vkey)
	var health struct {
		TreeSize uint64 `json:"tree_size"`
	}
	getJSON(t, srv.url+"/healthz", &health)
	if health.TreeSize < size {
		t.Fatalf("server's tree size %d, below a receipt's %d", health.TreeSize, size)
	}
	if want := fmt.Sprintf("verified 19 receipts; log consistent at size %d\n", health.TreeSize); !strings.Contains(stdout, want) {
		t.Errorf("no %q in\n%s", want, stdout)
	}
}

// TestDemoReportsDifferentOutcome expects the Manager Agent's message to
// be allowed: the demo must say that step differed and exit 1.
func TestDemoReportsDifferentOutcome(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	expect := demoExpected()
	expect["manager-to-bob"] = demoOutcome{"allowed", "allowed_by_scope"}
	var stdout, stderr bytes.Buffer
	code := runDemo(context.Background(), demoConfig{server: srv.url, out: filepath.Join(dir, "out"), expect: expect}, &stdout, &stderr)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFail, stdout.String(), stderr.String())
	}
	if want := "DIFFERS: 15 manager-to-bob: got denied (manager_isolation), want allowed (allowed_by_scope)"; !strings.Contains(stdout.String(), want) {
		t.Errorf("no %q in\n%s", want, stdout.String())
	}
	if want := "1 step(s) differed from the expected outcome: 15 manager-to-bob\n"; !strings.Contains(stderr.String(), want) {
		t.Errorf("no %q in\n%s", want, stderr.String())
	}
}

// TestDemoDetectsAnswerNotMatchingReceipt puts a proxy in front of the
// server that turns the first denial into "allowed" in the answer (not
// in the signed receipt, which it cannot forge): the demo must notice.
func TestDemoDetectsAnswerNotMatchingReceipt(t *testing.T) {
	dir := t.TempDir()
	var target atomic.Pointer[url.URL]
	var rewrote atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := httputil.NewSingleHostReverseProxy(target.Load())
		p.ModifyResponse = func(resp *http.Response) error {
			if r.Method != http.MethodPost || r.URL.Path != "/v1/actions" {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if bytes.Contains(b, []byte(`"decision":"denied"`)) && rewrote.CompareAndSwap(false, true) {
				b = bytes.Replace(b, []byte(`"decision":"denied"`), []byte(`"decision":"allowed"`), 1)
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Del("Content-Length")
			return nil
		}
		p.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--public-url", proxy.URL)
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
	code, stdout, stderr := runExit(t, "demo", "--server", proxy.URL, "--out", filepath.Join(dir, "out"))
	if code != exitFail || !rewrote.Load() {
		t.Fatalf("exit %d, want %d (rewrote: %v)\n%s%s", code, exitFail, rewrote.Load(), stdout, stderr)
	}
	if want := `DIFFERS: 14 refund-denied: the server answered allowed "deny: constraint_failed: `; !strings.Contains(stdout, want) {
		t.Errorf("no %q in\n%s", want, stdout)
	}
	if want := "differed from the expected outcome: 14 refund-denied\n"; !strings.Contains(stderr, want) {
		t.Errorf("no %q in\n%s", want, stderr)
	}
}

func TestPrepareDemoDir(t *testing.T) {
	base := t.TempDir()
	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Missing and empty folders are taken.
	for _, dir := range []string{filepath.Join(base, "missing", "deeper"), filepath.Join(base, "empty")} {
		if dir == filepath.Join(base, "empty") {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := prepareDemoDir(dir); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			t.Fatal(err)
		}
	}
	// A previous demo's output is emptied.
	prev := filepath.Join(base, "prev")
	for _, f := range []string{demoMarker, "log.vkey", "01-alice-register.receipt.json", "keys/alice.jwk", "keys/grant-chat.jwt"} {
		write(filepath.Join(prev, f))
	}
	if err := prepareDemoDir(prev); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(prev); len(left) != 1 || left[0].Name() != demoMarker {
		t.Errorf("left in the previous output: %v", left)
	}
	// Anything the demo did not write is kept, and the folder refused.
	for _, tc := range []struct{ files []string }{
		{[]string{"notes.txt"}},                                 // not a demo's output
		{[]string{demoMarker, "notes.txt"}},                     // a stranger in a demo's output
		{[]string{demoMarker, "keys/id_ed25519"}},               // in its keys folder
		{[]string{demoMarker, "1-short.receipt.json"}},          // not a demo's name
		{[]string{demoMarker, "01-x.receipt.json/inside.json"}}, // a folder by a receipt's name
	} {
		dir, err := os.MkdirTemp(base, "refuse")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range tc.files {
			write(filepath.Join(dir, f))
		}
		if err := prepareDemoDir(dir); err == nil {
			t.Errorf("%v: taken", tc.files)
		}
		for _, f := range tc.files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%v: %s was removed", tc.files, f)
			}
		}
	}
}

func TestReasonCode(t *testing.T) {
	for _, tc := range []struct{ reason, code string }{
		{`allow by scope "chat"`, "allowed_by_scope"},
		{`deny: constraint_failed: scope "refund" amount <= 20 (got 50)`, "constraint_failed"},
		{`deny: denied_by_scope: scope "no-archive"`, "denied_by_scope"},
		{`escalate by scope "pay": constraint_failed: scope "pay" amount <= 100 (got 250)`, "constraint_failed"},
		{`escalate by scope "a: b": no_scope`, "no_scope"},
		{`escalate by scope "pay"`, `escalate by scope "pay"`}, // not a decision text: kept whole
		{"manager_isolation: a Manager Agent acts only within its owner's agent system", "manager_isolation"},
		{"grant_revoked: credential urn:uuid:1 is revoked", "grant_revoked"},
		{"approved once by the owner", "approved once by the owner"},
		{"", ""},
	} {
		if got := reasonCode(tc.reason); got != tc.code {
			t.Errorf("reasonCode(%q) = %q, want %q", tc.reason, got, tc.code)
		}
	}
}

// FuzzReasonCode: the code is a piece of the reason, and has no colon
// unless the reason is kept whole (an escalation text without its code).
func FuzzReasonCode(f *testing.F) {
	for _, s := range []string{`allow by scope "chat"`, `deny: constraint_failed: x`, `escalate by scope "pay": no_scope: y`,
		`escalate by scope "pay"`, "grant_revoked: z", "approved once by the owner", "deny: ", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reason string) {
		code := reasonCode(reason)
		if code == "allowed_by_scope" {
			return
		}
		if !strings.Contains(reason, code) {
			t.Fatalf("reasonCode(%q) = %q, not part of the reason", reason, code)
		}
		if strings.Contains(code, ":") && (code != reason || !strings.HasPrefix(reason, "escalate by scope ")) {
			t.Fatalf("reasonCode(%q) = %q has a colon", reason, code)
		}
	})
}
