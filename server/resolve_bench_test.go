package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

// The resolution benchmarks (spec/benchmarks.md, "DID resolution over
// HTTP") resolve resolveBenchDIDs DIDs round-robin: did:key, whose results
// the resolver caches (as clawnet serve configures it), and did:web hosted
// by a real registry whose DIDs were created through a real log.

// resolveBenchDIDs is how many distinct DIDs each benchmark resolves.
const resolveBenchDIDs = 1000

// resolveBenchHost and resolveBenchURL name the server the hosted DIDs
// belong to; requests go to the httptest address whatever the DID's host.
const (
	resolveBenchHost = "localhost%3A8080"
	resolveBenchURL  = "http://localhost:8080"
)

// resolveBench is a server resolving did:key and hosted did:web, on a real
// log and registry on disk.
type resolveBench struct {
	resolver *did.Resolver
	handler  http.Handler
	srv      *httptest.Server
	keyDIDs  []string
	webDIDs  []string
}

func newResolveBench(b *testing.B) *resolveBench {
	b.Helper()
	ctx := context.Background()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := sequencer.Open(ctx, sequencer.Config{DB: db, Signer: signer, Origin: testOrigin})
	if err != nil {
		db.Close()
		b.Fatal(err)
	}
	reg, err := registry.New(registry.Config{DB: db, Host: resolveBenchHost, PublicURL: resolveBenchURL})
	if err != nil {
		b.Fatal(err)
	}
	// As clawnet serve wires it (cmd/clawnet/serve.go), without remote
	// did:web, which these benchmarks never ask for.
	resolver := &did.Resolver{
		Hosted:     reg,
		HostedHost: resolveBenchHost,
		Cache:      did.NewCache(100_000, time.Now),
	}
	s, err := New(Config{Log: l, VerifierKey: vkey, Resolver: resolver})
	if err != nil {
		b.Fatal(err)
	}
	rb := &resolveBench{resolver: resolver, handler: s.Handler()}
	rb.srv = httptest.NewServer(rb.handler)
	b.Cleanup(func() {
		rb.srv.Close()
		if err := l.Close(); err != nil {
			b.Errorf("close log: %v", err)
		}
		if err := db.Close(); err != nil {
			b.Errorf("close db: %v", err)
		}
	})
	rb.keyDIDs = make([]string, resolveBenchDIDs)
	for i := range rb.keyDIDs {
		if rb.keyDIDs[i], _, err = did.GenerateKey(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
	rb.webDIDs = createBenchHostedDIDs(b, l, reg, resolveBenchDIDs)
	return rb
}

// createBenchHostedDIDs creates n hosted DIDs through the log, as the
// server's POST /v1/dids does (registry op, Append, Committed), from 64
// goroutines so that the sequencer batches them.
func createBenchHostedDIDs(b *testing.B, l *sequencer.Log, reg *registry.Registry, n int) []string {
	b.Helper()
	dids := make([]string, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				signer, _, err := did.GenerateKey(rand.Reader)
				if err != nil {
					b.Error(err)
					return
				}
				q := registry.Request{
					Signer: signer,
					KID:    signer + "#" + signer[len("did:key:"):],
					Digest: transparency.DigestSHA256(sha256.Sum256([]byte(signer))),
					Time:   testNow,
				}
				op, err := reg.CreateHosted(q, fmt.Sprintf("owners/bench-%d", i))
				if err != nil {
					b.Error(err)
					return
				}
				_, err = l.Append(context.Background(), op.Entry, op.Apply)
				reg.Committed(op)
				if err != nil {
					b.Error(err)
					return
				}
				dids[i] = op.DID
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return dids
}

// resolveBenchClients is the number of keep-alive clients of the loopback
// benchmarks, as in clawnet bench resolve and the inclusion proof
// benchmark.
const resolveBenchClients = 64

// benchResolveHTTP measures GET /1.0/identifiers/{did} (Accept
// application/did-resolution) of dids round-robin and reports
// resolutions/s:
//
//   - loopback: resolveBenchClients keep-alive clients over TCP on
//     127.0.0.1 (client and server share the CPUs);
//   - handler: straight into the handler with httptest.NewRecorder from
//     all CPUs, without the network stack and the client.
//
// Every answer is checked for status 200 and for the DID as the
// document's id (a byte search; clawnet bench resolve decodes them).
func benchResolveHTTP(b *testing.B, rb *resolveBench, dids []string) {
	paths := make([]string, len(dids))
	wants := make([][]byte, len(dids))
	for i, d := range dids {
		paths[i] = "/1.0/identifiers/" + url.PathEscape(d)
		wants[i] = []byte(`"id":"` + d + `"`)
	}
	var offset atomic.Int64 // spreads the goroutines over the DIDs
	check := func(status int, body []byte, i int) error {
		if status != http.StatusOK || !bytes.Contains(body, wants[i]) {
			return fmt.Errorf("resolve %s: status %d: %.300s", dids[i], status, body)
		}
		return nil
	}

	b.Run("loopback", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConns: resolveBenchClients, MaxIdleConnsPerHost: resolveBenchClients, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		b.SetParallelism(max(1, resolveBenchClients/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(offset.Add(97)) % len(dids)
			var buf bytes.Buffer
			for pb.Next() {
				req, err := http.NewRequest(http.MethodGet, rb.srv.URL+paths[i], nil)
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Accept", did.MediaTypeDIDResolution)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				buf.Reset()
				_, err = buf.ReadFrom(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = check(resp.StatusCode, buf.Bytes(), i)
				}
				if err != nil {
					b.Error(err)
					return
				}
				i = (i + 1) % len(dids)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolutions/s")
	})

	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(offset.Add(97)) % len(dids)
			for pb.Next() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, paths[i], nil)
				req.Header.Set("Accept", did.MediaTypeDIDResolution)
				rb.handler.ServeHTTP(rec, req)
				if err := check(rec.Code, rec.Body.Bytes(), i); err != nil {
					b.Error(err)
					return
				}
				i = (i + 1) % len(dids)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolutions/s")
	})
}

// benchResolve measures did.Resolver.Resolve of dids round-robin in
// process from all CPUs: the resolver alone, without HTTP or JSON.
func benchResolve(b *testing.B, r *did.Resolver, dids []string) {
	var offset atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(offset.Add(97)) % len(dids)
		ctx := context.Background()
		for pb.Next() {
			res, err := r.Resolve(ctx, dids[i])
			if err != nil {
				b.Error(err)
				return
			}
			if res.Document == nil || res.Document.ID != dids[i] {
				b.Errorf("resolve %s: wrong document", dids[i])
				return
			}
			i = (i + 1) % len(dids)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolutions/s")
}

// BenchmarkResolveKeyHTTP: did:key over HTTP, results cached.
func BenchmarkResolveKeyHTTP(b *testing.B) {
	rb := newResolveBench(b)
	benchResolveHTTP(b, rb, rb.keyDIDs)
}

// BenchmarkResolveHostedHTTP: hosted did:web over HTTP.
func BenchmarkResolveHostedHTTP(b *testing.B) {
	rb := newResolveBench(b)
	benchResolveHTTP(b, rb, rb.webDIDs)
}

// BenchmarkResolveKey: did.Resolver for did:key, with the cache that
// clawnet serve gives it (cached) and without (decode and build the
// document each time).
func BenchmarkResolveKey(b *testing.B) {
	rb := newResolveBench(b)
	b.Run("cached", func(b *testing.B) { benchResolve(b, rb.resolver, rb.keyDIDs) })
	b.Run("uncached", func(b *testing.B) { benchResolve(b, &did.Resolver{}, rb.keyDIDs) })
}

// BenchmarkResolveHosted: did.Resolver for hosted did:web, read from the
// registry (its own cache in front of the store).
func BenchmarkResolveHosted(b *testing.B) {
	rb := newResolveBench(b)
	benchResolve(b, rb.resolver, rb.webDIDs)
}
