package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
)

// benchLogSize is the size of the log that the proof benchmarks read.
const benchLogSize = 100_000

// fillLog appends n realistic action decisions (about 600 bytes each) with
// 256 concurrent writers, so that the sequencer batches them.
func fillLog(b *testing.B, e *testEnv, n int) {
	b.Helper()
	const writers = 256
	digest := transparency.DigestSHA256([32]byte{7})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				entry := &transparency.Entry{
					Version:       transparency.EntryVersion,
					Type:          "action.decision",
					Time:          testNow.Add(time.Duration(i) * time.Microsecond),
					Actor:         "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
					Owner:         "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
					Authz:         &transparency.AuthzRef{Credential: "urn:uuid:bench-" + strconv.Itoa(i%1000), Digest: digest},
					Action:        "message/send",
					Resource:      "calendar/2026/meeting-" + strconv.Itoa(i),
					Counterparty:  "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
					Decision:      transparency.DecisionAllowed,
					Reason:        "scope work/message matched",
					RequestDigest: digest,
				}
				if _, err := e.log.Append(context.Background(), entry, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkInclusionProofHTTP measures GET /log/v1/proof/inclusion?index=
// <random>&size=<size> on a log of benchLogSize entries (real disk, built
// once per run of the outer benchmark), and reports proofs/s:
//
//   - loopback: 64 keep-alive clients (b.SetParallelism) over TCP on
//     127.0.0.1 against httptest.Server. Client and server share the
//     machine's CPUs, so this is a lower bound for a server with the
//     machine to itself.
//   - handler: the same requests straight into the handler with
//     httptest.NewRecorder from all CPUs: the cost of the API without
//     the network stack and the client.
//
// The clients check the status and read every body but do not verify the
// proofs (the server verifies each one before sending it; clawnet bench
// proofs verifies a sample).
func BenchmarkInclusionProofHTTP(b *testing.B) {
	env := newEnv(b, envOptions{})
	fillLog(b, env, benchLogSize)
	size := env.log.Size()
	url := func(rng *rand.Rand) string {
		return fmt.Sprintf("/log/v1/proof/inclusion?index=%d&size=%d", rng.Uint64N(size), size)
	}

	b.Run("loopback", func(b *testing.B) {
		const clients = 64
		tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		parallelism := max(1, clients/runtime.GOMAXPROCS(0))
		b.SetParallelism(parallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for pb.Next() {
				resp, err := client.Get(env.srv.URL + url(rng))
				if err != nil {
					b.Error(err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("status %d, read error %v", resp.StatusCode, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})

	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				rec := httptest.NewRecorder()
				env.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url(rng), nil))
				if rec.Code != http.StatusOK {
					b.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})
}

// benchActionAgents is how many agents BenchmarkActionAllowed spreads its
// actions over (each with its own owner, binding and credential).
const benchActionAgents = 16

// benchActionSetup is grantEnv as the action tests wire it, with
// benchActionAgents Identity Agents of their own owners, each holding a
// registered credential that allows data/read on bench/**.
func benchActionSetup(b *testing.B) (*grantEnv, []*idParty, []string) {
	b.Helper()
	_, priv, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	g := &grantEnv{idEnv: newIDEnv(b, 0), issuerKey: priv}
	g.restart()
	scopes, err := scope.Parse([]byte(`[{"id":"bench","effect":"allow","actions":["data/read"],"resources":["bench/**"]}]`))
	if err != nil {
		b.Fatal(err)
	}
	agents := make([]*idParty, benchActionAgents)
	creds := make([]string, benchActionAgents)
	for i := range agents {
		owner := newKeyParty(b, "owner-"+strconv.Itoa(i))
		g.register(b, owner)
		agents[i] = g.bind(b, owner, "agent-"+strconv.Itoa(i), binding.RoleIdentity, "bench")
		m := g.mustMutate(b, owner, "POST", "/v1/status", struct{}{}, http.StatusCreated,
			transparency.Entry{Type: "vc.status_allocated", Actor: owner.did, Owner: owner.did, Subject: "*", Resource: "*"})
		idx, err := strconv.ParseUint(m.resp.Status.ListIndex, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		st := delegation.NewStatusEntry(m.resp.Status.ListCredential, idx)
		id, err := delegation.NewID(crand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		now := g.clock.Now()
		tok, err := delegation.IssueJWT(owner.key, owner.kid, delegation.Credential{ID: id, Issuer: owner.did, Subject: agents[i].did,
			IssuanceDate: now, ExpirationDate: now.Add(24 * time.Hour), Scopes: scopes, Status: &st})
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(tok)
		if r, _ := g.call(owner, "POST", "/v1/credentials", map[string]json.RawMessage{"credential": raw}); r.status != http.StatusCreated {
			b.Fatalf("register credential: %d %s", r.status, r.body)
		}
		creds[i] = id
	}
	return g, agents, creds
}

// BenchmarkActionAllowed measures allowed POST /v1/actions end to end in
// the server: signed request → every check of spec/actions.md §3 →
// durable action.decision entry → receipt, from 64 concurrent callers
// spread over benchActionAgents agents (so that the sequencer batches).
// The requests are signed before the timer starts (signing is the
// client's cost), each with its own id and jti; every answer must be 200
// allowed. It reports actions/s:
//
//   - handler: straight into the handler with httptest.NewRecorder, the
//     server's own cost;
//   - loopback: over keep-alive TCP on 127.0.0.1 (client and server
//     share the CPUs).
func BenchmarkActionAllowed(b *testing.B) {
	g, agents, creds := benchActionSetup(b)
	var seq atomic.Int64
	// signed returns b.N signed actions, round-robin over the agents.
	signed := func(b *testing.B) []idSigned {
		out := make([]idSigned, b.N)
		for i := range out {
			n := seq.Add(1)
			a := n % benchActionAgents
			body, err := json.Marshal(map[string]string{"id": fmt.Sprintf("bench-action-%08d", n), "action": "data/read",
				"resource": "bench/" + strconv.FormatInt(n, 10), "credential": creds[a]})
			if err != nil {
				b.Fatal(err)
			}
			out[i] = g.sign(agents[a], "POST", "/v1/actions", body)
		}
		return out
	}
	check := func(code int, body []byte) error {
		if code != http.StatusOK || !bytes.Contains(body, []byte(`"decision":"allowed"`)) {
			return fmt.Errorf("status %d: %.300s", code, body)
		}
		return nil
	}
	const callers = 64
	parallelism := max(1, callers/runtime.GOMAXPROCS(0))

	b.Run("handler", func(b *testing.B) {
		reqs := signed(b)
		h := *g.current.Load()
		var next atomic.Int64
		b.SetParallelism(parallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s := &reqs[next.Add(1)-1]
				r := httptest.NewRequest(s.method, s.path, bytes.NewReader(s.body))
				r.Header = s.header.Clone()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if err := check(rec.Code, rec.Body.Bytes()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
	})

	b.Run("loopback", func(b *testing.B) {
		reqs := signed(b)
		tr := &http.Transport{MaxIdleConns: callers, MaxIdleConnsPerHost: callers, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var next atomic.Int64
		b.SetParallelism(parallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s := &reqs[next.Add(1)-1]
				req, err := http.NewRequest(s.method, g.url+s.path, bytes.NewReader(s.body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header = s.header.Clone()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = check(resp.StatusCode, body)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
	})
}
