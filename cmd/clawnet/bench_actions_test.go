package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
)

// TestBenchActionsEmbedded runs bench actions briefly against its embedded
// server, closed loop and at a rate, and checks that every answer was
// right and that the figures hang together.
func TestBenchActionsEmbedded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		rate  float64
	}{
		{"closed loop", nil, 0},
		{"open loop", []string{"--rate", "200"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "actions", "--agents", "6", "--duration", "300ms", "--sample", "3", "--json"}, tc.extra...)
			code, out, errOut := runExit(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &raw); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
			}
			for _, k := range []string{"actions_per_s", "p50_ms", "p99_ms", "max_ms", "errors"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("--json has no %q: %s", k, out)
				}
			}
			res := decodeOne[actionBenchResult](t, out)
			if res.Errors != 0 || res.Wrong != 0 || res.FirstError != "" {
				t.Errorf("errors %d wrong %d: %s", res.Errors, res.Wrong, res.FirstError)
			}
			// Each of the 6 agents verifies its first receipt fully, and
			// one in 3 after that.
			if res.Actions < 6 || res.Verified < 6 || res.Verified > res.Actions || res.Verified < res.Actions/3 {
				t.Errorf("actions %d verified %d", res.Actions, res.Verified)
			}
			if res.ActionsPerS <= 0 || !(0 < res.P50ms && res.P50ms <= res.P99ms && res.P99ms <= res.MaxMs) {
				t.Errorf("implausible figures: %+v", res)
			}
			if res.Agents != 6 || res.Owners != 2 || !res.Embedded || res.Rate != tc.rate || res.SetupS <= 0 {
				t.Errorf("agents %d owners %d embedded %v rate %v setup %v", res.Agents, res.Owners, res.Embedded, res.Rate, res.SetupS)
			}
			if tc.rate > 0 {
				// At 200/s for 300 ms, about 60 actions are due; each is
				// sent, none more.
				if res.Actions > 60 || res.Actions < 50 {
					t.Errorf("%d actions at 200/s for 300 ms, want 60", res.Actions)
				}
				if res.CallP50ms > res.P50ms || res.CallP99ms > res.P99ms {
					t.Errorf("the call alone (p50 %.3f, p99 %.3f) is slower than from when it was due (%.3f, %.3f)",
						res.CallP50ms, res.CallP99ms, res.P50ms, res.P99ms)
				}
			}
			// With a rate the run ends with the answer to the last action
			// due before 300 ms, which may come a little before.
			if res.DurationS < 0.25 || res.DurationS > 20 {
				t.Errorf("ran %.3f s for --duration 300ms", res.DurationS)
			}
		})
	}
}

// TestBenchActionsText: without --json, the figures in words.
func TestBenchActionsText(t *testing.T) {
	code, out, errOut := runExit(t, "bench", "actions", "--agents", "2", "--duration", "100ms")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"allowed actions: 2 agents (1 owners), closed loop", "throughput", "actions/s", "p99", "errors         0 (0 wrong answers)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output has no %q:\n%s", want, out)
		}
	}
}

// actionProxy is a real clawnet serve, whose public URL is the proxy in
// front of it, with the answers of POST /v1/actions passed through mutate.
func actionProxy(t *testing.T, mutate func(status int, body []byte) (int, []byte)) string {
	t.Helper()
	var target atomic.Pointer[url.URL]
	toServer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httputil.NewSingleHostReverseProxy(target.Load()).ServeHTTP(w, r)
	})
	proxy := httptest.NewServer(rewriteAnswers(toServer, "/v1/actions", func(w http.ResponseWriter, status int, body []byte) {
		st, out := mutate(status, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		w.Write(out)
	}))
	t.Cleanup(proxy.Close)
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"), "--public-url", proxy.URL, "--log-level", "error")
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
	return proxy.URL
}

// TestBenchActionsDetectsWrongAnswers: a server (here a proxy in front of
// a real one) that answers wrongly makes the bench count errors and exit
// 1; the unchanged answers through the same proxy pass.
func TestBenchActionsDetectsWrongAnswers(t *testing.T) {
	// receiptOf applies f to the receipt of an answer.
	receiptOf := func(b []byte, f func(r *transparency.Receipt)) []byte {
		var a map[string]json.RawMessage
		if err := json.Unmarshal(b, &a); err != nil {
			return b
		}
		r, err := transparency.ParseReceipt(a["receipt"])
		if err != nil {
			return b
		}
		f(r)
		a["receipt"], _ = r.Marshal()
		out, _ := json.Marshal(a)
		return out
	}
	var last atomic.Pointer[[]byte]
	cases := []struct {
		name   string
		sample string
		ok     bool
		mutate func(st int, b []byte) (int, []byte)
	}{
		{name: "unchanged", sample: "1", ok: true, mutate: func(st int, b []byte) (int, []byte) { return st, b }},
		{name: "denied", sample: "100", mutate: func(st int, b []byte) (int, []byte) {
			return st, bytes.Replace(b, []byte(`"decision":"allowed"`), []byte(`"decision":"denied"`), 1)
		}},
		{name: "another request's answer", sample: "100", mutate: func(st int, b []byte) (int, []byte) {
			if p := last.Swap(&b); p != nil {
				return st, *p
			}
			return st, b
		}},
		{name: "no receipt", sample: "100", mutate: func(st int, b []byte) (int, []byte) {
			return st, bytes.Replace(b, []byte(`"receipt":`), []byte(`"receipt":null,"x":`), 1)
		}},
		{name: "receipt of another index", sample: "100", mutate: func(st int, b []byte) (int, []byte) {
			return st, receiptOf(b, func(r *transparency.Receipt) { r.Index++ })
		}},
		{name: "entry changed after logging, full check", sample: "1", mutate: func(st int, b []byte) (int, []byte) {
			return st, receiptOf(b, func(r *transparency.Receipt) {
				r.Entry = bytes.Replace(r.Entry, []byte(`"bench/`), []byte(`"bench2/`), 1)
			})
		}},
		{name: "checkpoint signature broken, full check", sample: "1", mutate: func(st int, b []byte) (int, []byte) {
			return st, receiptOf(b, func(r *transparency.Receipt) {
				// The signature line is "— <name> <base64(key hash ||
				// signature)>": flip a bit of the signature.
				lines := strings.Split(strings.TrimSuffix(r.Checkpoint, "\n"), "\n")
				last := lines[len(lines)-1]
				i := strings.LastIndex(last, " ")
				sig, err := base64.StdEncoding.DecodeString(last[i+1:])
				if err != nil || len(sig) < 5 {
					return
				}
				sig[len(sig)-1] ^= 1
				lines[len(lines)-1] = last[:i+1] + base64.StdEncoding.EncodeToString(sig)
				r.Checkpoint = strings.Join(lines, "\n") + "\n"
			})
		}},
		{name: "error status", sample: "100", mutate: func(int, []byte) (int, []byte) {
			return http.StatusServiceUnavailable, []byte(`{"error":{"code":"unavailable","message":"no"}}`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := actionProxy(t, tc.mutate)
			// Without a warm-up: the measured run's checks are under test.
			code, out, errOut := runExit(t, "bench", "actions", "--server", u, "--agents", "2", "--duration", "200ms", "--json", "--sample", tc.sample, "--warmup", "0")
			res := decodeOne[actionBenchResult](t, out)
			if tc.ok {
				if code != exitOK || res.Errors != 0 || res.Actions == 0 {
					t.Fatalf("exit %d, %+v\n%s", code, res, errOut)
				}
				// And with one: every agent's warm-up action is checked
				// fully, and the run goes on.
				code, out, errOut := runExit(t, "bench", "actions", "--server", u, "--agents", "2", "--duration", "200ms", "--json", "--warmup", "2")
				if res := decodeOne[actionBenchResult](t, out); code != exitOK || res.Errors != 0 || res.Actions == 0 || res.Warmup != 2 {
					t.Fatalf("with a warm-up: exit %d, %+v\n%s", code, res, errOut)
				}
				return
			}
			// The warm-up checks every answer fully too: a wrong one stops
			// the command before the run, with exit 1 and the reason.
			wcode, wout, werr := runExit(t, "bench", "actions", "--server", u, "--agents", "2", "--duration", "200ms", "--json", "--warmup", "1")
			if wcode != exitFail || wout != "" || !strings.Contains(werr, "warm-up: agent ") {
				t.Errorf("a wrong answer in the warm-up: exit %d, stdout %q, stderr %q", wcode, wout, werr)
			}
			wantWrongAnswers(t, code, out, errOut)
			// The first answer of each agent is checked fully: a mutation
			// that every check sees leaves no action counted.
			if res.Actions > res.Errors {
				t.Errorf("%d actions counted, %d errors", res.Actions, res.Errors)
			}
		})
	}
}

// TestBenchActionsRefusals: bad flags are usage errors (exit 2) with no
// result, and a server that is not there fails the set-up (exit 1).
func TestBenchActionsRefusals(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"zero agents", []string{"--agents", "0"}, exitUsage},
		{"too many agents", []string{"--agents", "100001"}, exitUsage},
		{"no duration", []string{"--duration", "0s"}, exitUsage},
		{"negative rate", []string{"--rate", "-1"}, exitUsage},
		{"zero sample", []string{"--sample", "0"}, exitUsage},
		{"argument", []string{"extra"}, exitUsage},
		{"unknown flag", []string{"--clients", "3"}, exitUsage},
		{"server with a path", []string{"--server", "http://127.0.0.1:1/x"}, exitUsage},
		{"server not http", []string{"--server", "ftp://127.0.0.1:1"}, exitUsage},
		{"no server there", []string{"--server", dead.URL, "--duration", "100ms"}, exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) { wantBenchRefusal(t, "actions", tc.args, tc.code) })
	}
}

// TestFastSignerMatchesRequestSign: the bench's signer produces, byte for
// byte, the JWS that did/request signs (Ed25519 is deterministic), and the
// verifier accepts it for the request it was made for.
func TestFastSignerMatchesRequestSign(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	kid := keyDIDURL(d)
	s, err := newFastSigner(priv, kid, "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"bench-0123456789abcdef"}`)
	c := request.Claims{Audience: "http://127.0.0.1:8080", Method: "POST", URI: "/v1/actions", BodyDigest: request.BodyDigest(body),
		IssuedAt: 1_790_000_000, Expires: 1_790_000_060, ID: "AAAAAAAAAAAAAAAAAAAAAA"}
	got, err := s.signClaims(c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := request.Sign(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("fast signer\n%s\nrequest.Sign\n%s", got, want)
	}

	now := time.Now()
	tok, err := s.sign("POST", "/v1/actions", body, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := request.NewVerifier(request.Config{Audience: "http://127.0.0.1:8080", Resolve: request.ResolveKeyDID,
		Replay: onceCache{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/v1/actions", bytes.NewReader(body))
	r.Header.Set("Authorization", request.Scheme+" "+tok)
	vd, err := v.Verify(t.Context(), r, body)
	if err != nil {
		t.Fatalf("the verifier refuses the fast signer's token: %v", err)
	}
	if vd.DID != d {
		t.Errorf("verified as %s, want %s", vd.DID, d)
	}
	// The same token on another body is refused.
	r = httptest.NewRequest("POST", "/v1/actions", strings.NewReader("{}"))
	r.Header.Set("Authorization", request.Scheme+" "+tok)
	if _, err := v.Verify(t.Context(), r, []byte("{}")); err == nil {
		t.Error("the token was accepted for another body")
	}
}

// onceCache is a request.ReplayCache that admits every key once.
type onceCache map[string]bool

func (c onceCache) Use(_ context.Context, key string, _, _ time.Time) error {
	if c[key] {
		return request.ErrReplayed
	}
	c[key] = true
	return nil
}

// FuzzCheckActionAnswer: no answer makes the check panic, and one that
// passes the full check is an allowed action.decision of this request.
func FuzzCheckActionAnswer(f *testing.F) {
	want := benchExpect{id: "bench-00000000-0-0", agent: "did:key:z6Mk", owner: "did:key:z6Mo", cred: "urn:uuid:1", resource: "bench/bench-00000000-0-0"}
	f.Add(200, []byte(`{"id":"bench-00000000-0-0","decision":"allowed","reason":"","index":3,"receipt":{"format":"clawnet-receipt/v1","index":3,"entry":"e30=","inclusion_proof":[],"checkpoint":"x"}}`))
	f.Add(200, []byte(`{"id":"bench-00000000-0-0","decision":"denied"}`))
	f.Add(403, []byte(`{"error":{"code":"not_an_agent"}}`))
	f.Add(200, []byte(`null`))
	f.Add(200, []byte(``))
	_, vkey, err := note.GenerateKey(rand.Reader, "clawnet.test/fuzz")
	if err != nil {
		f.Fatal(err)
	}
	v, err := transparency.NewVerifier(vkey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		for _, full := range []bool{false, true} {
			err := checkActionAnswer(status, b, want, v, full)
			if err != nil {
				continue
			}
			var a server.ActionResponse
			if json.Unmarshal(b, &a) != nil || status != http.StatusOK || a.ID != want.id || a.Decision != transparency.DecisionAllowed {
				t.Fatalf("accepted %d %q", status, b)
			}
		}
	})
}

// TestBenchConn: the generator's own HTTP/1.1 client sends what net/http
// servers read as the request, reads Content-Length and chunked answers,
// follows Connection: close by dialing again, and refuses an answer too
// long for it without reading the next answer from the middle of it.
func TestBenchConn(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/actions" || r.Header.Get("Authorization") != "ClawNet-JWS tok" ||
			r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(b)) {
			http.Error(w, "bad request line or headers", http.StatusBadRequest)
			return
		}
		switch string(b) {
		case "chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush() // no Content-Length: chunked
			w.Write([]byte("part two"))
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "long":
			w.Write(bytes.Repeat([]byte("x"), maxBenchBody+10))
		default:
			w.Write(b)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newBenchConn(srv.URL, srv.Client())
	defer c.close()
	if c.host == "" {
		t.Fatalf("%s is not taken for a raw connection", srv.URL)
	}
	var answer bytes.Buffer
	call := func(body string) (int, string, error) {
		st, err := c.post(context.Background(), "/v1/actions", "ClawNet-JWS tok", []byte(body), &answer)
		return st, answer.String(), err
	}
	for _, tc := range []struct{ body, want string }{{"hello", "hello"}, {"chunked", "part one, part two"}, {"again", "again"}} {
		if st, got, err := call(tc.body); err != nil || st != http.StatusOK || got != tc.want {
			t.Fatalf("%s: %d %q %v", tc.body, st, got, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three keep-alive calls", n)
	}
	if st, got, err := call("close"); err != nil || st != http.StatusOK || got != "bye" || c.conn != nil {
		t.Fatalf("close: %d %q %v (connection kept: %v)", st, got, err, c.conn != nil)
	}
	if _, _, err := call("long"); err == nil || c.conn != nil {
		t.Fatalf("an answer over %d bytes: %v (connection kept: %v)", maxBenchBody, err, c.conn != nil)
	}
	if st, got, err := call("after"); err != nil || st != http.StatusOK || got != "after" {
		t.Fatalf("after: %d %q %v", st, got, err)
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (one, after close, after the long answer)", n)
	}
	// Another scheme goes through the client.
	if h := newBenchConn("https://example.invalid", nil).host; h != "" {
		t.Fatalf("https base taken for a raw connection: %q", h)
	}
}
