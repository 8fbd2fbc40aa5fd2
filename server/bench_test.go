package server

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
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
