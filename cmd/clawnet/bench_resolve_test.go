package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/server"
)

// TestBenchResolveEmbedded runs bench resolve briefly against its embedded
// server, for did:key and for hosted did:web, and checks that every answer
// was right and that the figures hang together.
func TestBenchResolveEmbedded(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		extra      []string
	}{
		{"did:key", "key", nil},
		{"hosted did:web", "hosted", []string{"--hosted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "resolve", "--dids", "20", "--clients", "4", "--duration", "300ms", "--sample", "3", "--json"}, tc.extra...)
			code, out, errOut := runExit(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			res := decodeOne[resolveBenchResult](t, out)
			if res.Errors != 0 || res.Wrong != 0 || res.FirstError != "" {
				t.Errorf("errors %d wrong %d: %s", res.Errors, res.Wrong, res.FirstError)
			}
			// 4 clients for 300 ms on loopback get far more than 20
			// answers: every DID was asked for at least once.
			if res.Resolutions < 20 || res.Verified == 0 || res.Verified > res.Resolutions {
				t.Errorf("resolutions %d verified %d", res.Resolutions, res.Verified)
			}
			if res.ResolutionsPerS <= 0 || !(0 < res.P50ms && res.P50ms <= res.P99ms && res.P99ms <= res.MaxMs) {
				t.Errorf("implausible figures: %+v", res)
			}
			if res.Kind != tc.kind || res.DIDs != 20 || res.Clients != 4 || !res.Embedded {
				t.Errorf("kind %q dids %d clients %d embedded %v, want %q 20 4 true", res.Kind, res.DIDs, res.Clients, res.Embedded, tc.kind)
			}
			if (tc.kind == "hosted") != (res.SetupS > 0) {
				t.Errorf("setup_s %.3f for %s", res.SetupS, tc.kind)
			}
			if res.DurationS < 0.3 || res.DurationS > 10 {
				t.Errorf("ran %.3f s for --duration 300ms", res.DurationS)
			}
		})
	}
}

// newResolveServer serves a real server.Server (did:key resolution only,
// on a real log) over loopback, with the answers of the resolution
// endpoint passed through rewrite when it is not nil.
func newResolveServer(t *testing.T, rewrite func(w http.ResponseWriter, status int, body []byte)) string {
	t.Helper()
	l, _, vkey := newTestLog(t)
	s, err := server.New(server.Config{Log: l, VerifierKey: vkey, Resolver: &did.Resolver{Cache: did.NewCache(100, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if rewrite != nil {
		h = rewriteAnswers(h, "/1.0/identifiers/", rewrite)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBenchResolveDetectsWrongAnswers serves answers that are wrong in one
// way each and checks that bench resolve counts them as wrong and exits 1;
// the first case, unchanged answers through the same rewriting server,
// shows that the others fail because of their mutation.
func TestBenchResolveDetectsWrongAnswers(t *testing.T) {
	otherDID, _, err := did.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherMB := strings.TrimPrefix(otherDID, "did:key:")
	// The DID asked for is the id of the document the server answered.
	askedDID := func(body []byte) string {
		_, rest, _ := bytes.Cut(body, []byte(`"id":"`))
		id, _, _ := bytes.Cut(rest, []byte(`"`))
		return string(id)
	}
	cases := []struct {
		name   string
		sample string
		ok     bool
		mutate func(body []byte) (status int, out []byte)
	}{
		{name: "unchanged", sample: "1", ok: true, mutate: func(b []byte) (int, []byte) { return http.StatusOK, b }},
		{name: "another DID's document", sample: "100", mutate: func(b []byte) (int, []byte) {
			return http.StatusOK, bytes.ReplaceAll(b, []byte(askedDID(b)), []byte(otherDID))
		}},
		{name: "another key, strict check", sample: "1", mutate: func(b []byte) (int, []byte) {
			mb := strings.TrimPrefix(askedDID(b), "did:key:")
			return http.StatusOK, bytes.ReplaceAll(b, []byte(`"publicKeyMultibase":"`+mb+`"`), []byte(`"publicKeyMultibase":"`+otherMB+`"`))
		}},
		{name: "resolution error with status 200", sample: "100", mutate: func(b []byte) (int, []byte) {
			return http.StatusOK, bytes.Replace(b, []byte(`"didResolutionMetadata":{`), []byte(`"didResolutionMetadata":{"error":"notFound",`), 1)
		}},
		{name: "null document", sample: "100", mutate: func([]byte) (int, []byte) {
			return http.StatusOK, []byte(`{"@context":"https://w3id.org/did-resolution/v1","didDocument":null,"didResolutionMetadata":{},"didDocumentMetadata":{}}`)
		}},
		{name: "truncated", sample: "100", mutate: func(b []byte) (int, []byte) { return http.StatusOK, b[:len(b)/2] }},
		{name: "not found", sample: "100", mutate: func(b []byte) (int, []byte) { return http.StatusNotFound, b }},
		{name: "document not strictly valid", sample: "1", mutate: func(b []byte) (int, []byte) {
			return http.StatusOK, bytes.Replace(b, []byte(`"didDocument":{`), []byte(`"didDocument":{"authentication":7,`), 1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := newResolveServer(t, func(w http.ResponseWriter, status int, body []byte) {
				if status != http.StatusOK {
					// Not what the mutation expects: the bench sees the
					// server's own answer.
					w.WriteHeader(status)
					w.Write(body)
					return
				}
				st, out := tc.mutate(body)
				w.Header().Set("Content-Type", did.MediaTypeDIDResolution)
				w.WriteHeader(st)
				w.Write(out)
			})
			code, out, errOut := runExit(t, "bench", "resolve", "--server", url, "--dids", "5", "--clients", "2",
				"--duration", "200ms", "--json", "--sample", tc.sample)
			res := decodeOne[resolveBenchResult](t, out)
			if tc.ok {
				if code != exitOK || res.Errors != 0 || res.Resolutions == 0 {
					t.Fatalf("exit %d, %+v\n%s", code, res, errOut)
				}
				return
			}
			wantWrongAnswers(t, code, out, errOut)
			if res.Resolutions != 0 {
				t.Errorf("%d wrong answers counted as resolutions", res.Resolutions)
			}
		})
	}
}

// TestBenchResolveRefusals: bad flags are usage errors (exit 2), and
// --hosted against a server without the identity API fails before any load
// (exit 1, no result).
func TestBenchResolveRefusals(t *testing.T) {
	url := newResolveServer(t, nil)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"zero DIDs", []string{"--dids", "0"}, exitUsage},
		{"zero clients", []string{"--clients", "0"}, exitUsage},
		{"no duration", []string{"--duration", "0s"}, exitUsage},
		{"zero sample", []string{"--sample", "0"}, exitUsage},
		{"argument", []string{"extra"}, exitUsage},
		{"server with a path", []string{"--server", url + "/x"}, exitUsage},
		{"server not http", []string{"--server", "ftp://127.0.0.1:1"}, exitUsage},
		{"hosted without identity API", []string{"--server", url, "--hosted", "--dids", "3", "--duration", "100ms"}, exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) { wantBenchRefusal(t, "resolve", tc.args, tc.code) })
	}
}

// answerTarget is a fixed did:key target and the answer the server gives
// for it (the resolution result of did.Resolver, as the endpoint encodes
// it).
func answerTarget(t testing.TB) (*resolveTarget, []byte) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	d := did.KeyDID(pub)
	res, err := (&did.Resolver{}).Resolve(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return &resolveTarget{did: d, kid: d + "#" + strings.TrimPrefix(d, "did:key:"), key: pub}, b
}

// TestCheckAnswer: the server's own answer passes both checks; answers
// that differ in what matters fail the check that looks at it.
func TestCheckAnswer(t *testing.T) {
	tg, good := answerTarget(t)
	other, _, err := did.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mb := strings.TrimPrefix(tg.did, "did:key:")
	otherMB := strings.TrimPrefix(other, "did:key:")
	for _, tc := range []struct {
		name          string
		body          []byte
		loose, strict bool // want accepted
	}{
		{"the server's answer", good, true, true},
		{"another DID", bytes.ReplaceAll(good, []byte(tg.did), []byte(other)), false, false},
		{"another key", bytes.ReplaceAll(good, []byte(`"publicKeyMultibase":"`+mb+`"`), []byte(`"publicKeyMultibase":"`+otherMB+`"`)), true, false},
		{"no authentication", bytes.Replace(good, []byte(`"authentication":`), []byte(`"keyAgreement":`), 1), true, false},
		{"resolution error", bytes.Replace(good, []byte(`"didResolutionMetadata":{`), []byte(`"didResolutionMetadata":{"error":"notFound",`), 1), false, false},
		{"null document", []byte(`{"didDocument":null,"didResolutionMetadata":{}}`), false, false},
		{"empty", nil, false, false},
		{"a document, not a result", []byte(`{"id":"` + tg.did + `"}`), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				want := tc.loose
				if strict {
					want = tc.strict
				}
				if err := checkAnswer(tc.body, tg, strict); (err == nil) != want {
					t.Errorf("strict=%v: err = %v, want accepted %v", strict, err, want)
				}
			}
		})
	}
}

// FuzzCheckAnswer: checkAnswer never panics on any body, a strictly
// accepted answer is also accepted loosely, and an accepted answer names
// the DID asked for (strictly: with its key).
func FuzzCheckAnswer(f *testing.F) {
	tg, good := answerTarget(f)
	f.Add(good)
	f.Add(bytes.Replace(good, []byte(`"didResolutionMetadata":{`), []byte(`"didResolutionMetadata":{"error":"notFound",`), 1))
	f.Add([]byte(`{"didDocument":{"id":"` + tg.did + `"}}`))
	f.Add([]byte(`{"didDocument":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		loose := checkAnswer(b, tg, false)
		strict := checkAnswer(b, tg, true)
		if strict == nil && loose != nil {
			t.Fatalf("strictly accepted, loosely refused: %v", loose)
		}
		if loose != nil {
			return
		}
		var a resolutionAnswer
		if err := json.Unmarshal(b, &a); err != nil || a.Document == nil || a.Document.ID != tg.did {
			t.Fatalf("accepted an answer that does not name %s", tg.did)
		}
		if strict != nil {
			return
		}
		var sa strictAnswer
		if err := json.Unmarshal(b, &sa); err != nil {
			t.Fatal(err)
		}
		doc, err := did.ParseDocument(sa.Document)
		if err != nil {
			t.Fatalf("strictly accepted a document that does not parse: %v", err)
		}
		if k, err := did.VerificationKey(doc, tg.kid, did.Authentication); err != nil || !k.Equal(tg.key) {
			t.Fatalf("strictly accepted a document without the DID's key: %v", err)
		}
	})
}
