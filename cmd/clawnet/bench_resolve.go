package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
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
)

// clawnet bench resolve is a load generator for GET /1.0/identifiers/{did}
// (spec/benchmarks.md, "DID resolution over HTTP"). It checks every answer:
// status 200, a resolution result that decodes, no resolution error, and a
// document whose id is the DID asked; one answer in --sample per client is
// also parsed strictly (did.ParseDocument) and its key checked against the
// key the bench knows the DID has. A wrong answer is an error, and any
// error makes the command exit 1: a fast resolver that answers for the
// wrong DID has failed.

func benchResolveUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet bench resolve [--server URL] [--dids N] [--clients C] [--duration D] [--hosted] [--sample S] [--json]
      resolve N DIDs round-robin with C keep-alive clients for D (GET
      /1.0/identifiers/{did}, Accept: application/did-resolution), checking
      every answer; print resolutions/s, latency and errors. N random did:key
      DIDs, or with --hosted N did:web DIDs first created on the server
      (signed POST /v1/dids). Without --server, an embedded clawnet serve on a
      temporary data folder; with it, URL must be the server's public URL.
`)
}

// resolveBenchResult is what `clawnet bench resolve --json` prints; the
// first five keys are the documented ones.
type resolveBenchResult struct {
	ResolutionsPerS float64 `json:"resolutions_per_s"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	Errors          uint64  `json:"errors"`
	// Wrong counts the errors that were answers, but wrong ones (another
	// status, an undecodable result, a resolution error, another DID's
	// document, a key that is not the DID's); the other errors are
	// transport failures.
	Wrong uint64 `json:"wrong"`
	// Resolutions counts the correct answers; Verified how many of them
	// were also parsed strictly and had their key checked.
	Resolutions uint64 `json:"resolutions"`
	Verified    uint64 `json:"verified"`
	// Kind is "key" (did:key) or "hosted" (did:web hosted by the server).
	Kind    string `json:"kind"`
	DIDs    int    `json:"dids"`
	Clients int    `json:"clients"`
	// Embedded reports that the bench ran its own server in process.
	Embedded bool `json:"embedded"`
	// SetupS is the time taken to create the hosted DIDs (0 for did:key).
	SetupS     float64 `json:"setup_s"`
	DurationS  float64 `json:"duration_s"`
	FirstError string  `json:"first_error,omitempty"`
}

// resolveBenchConfig configures benchResolve.
type resolveBenchConfig struct {
	server   string // base URL; for --hosted also the audience of the signed creations
	dids     int
	clients  int
	duration time.Duration
	hosted   bool
	// sample: one answer in sample (per client) is parsed strictly and its
	// key checked; every answer is checked for status, form and id.
	sample int
}

func cmdBenchResolve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clawnet bench resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { benchResolveUsage(stderr); fs.PrintDefaults() }
	var cfg resolveBenchConfig
	fs.StringVar(&cfg.server, "server", "", "server `URL`, its public URL (default: an embedded server on a temporary data folder)")
	fs.IntVar(&cfg.dids, "dids", 1000, "how many distinct DIDs to resolve round-robin")
	fs.IntVar(&cfg.clients, "clients", 64, "concurrent keep-alive clients")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send requests")
	fs.BoolVar(&cfg.hosted, "hosted", false, "resolve did:web DIDs hosted by the server, created first (default: did:key)")
	fs.IntVar(&cfg.sample, "sample", 100, "parse one answer in `N` strictly and check its key")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch {
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "clawnet bench resolve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case cfg.dids < 1 || cfg.clients < 1 || cfg.duration <= 0 || cfg.sample < 1:
		fmt.Fprintln(stderr, "clawnet bench resolve: --dids, --clients, --duration and --sample must be positive")
		return exitUsage
	}
	const name = "clawnet bench resolve"
	if !benchServerOrigin(name, &cfg.server, stderr) {
		return exitUsage
	}
	embedded, stop, ok := startBenchServer(ctx, name, &cfg.server, stderr)
	if !ok {
		return exitFail
	}
	defer stop()
	res, err := benchResolve(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFail
	}
	res.Embedded = embedded
	failure := ""
	if res.Errors > 0 {
		failure = fmt.Sprintf("%d errors (%d wrong answers); first: %s", res.Errors, res.Wrong, res.FirstError)
	}
	return benchReport(name, res, *asJSON, func() {
		fmt.Fprintf(stdout, "DID resolution (%s): %d DIDs, %d clients for %.1f s against %s\n", res.Kind, res.DIDs, res.Clients, res.DurationS, benchWhere(cfg.server, embedded))
		if res.Kind == "hosted" {
			fmt.Fprintf(stdout, "  setup          %d hosted DIDs created in %.2f s\n", res.DIDs, res.SetupS)
		}
		fmt.Fprintf(stdout, "  throughput     %.0f resolutions/s (%d resolutions, %d verified strictly)\n", res.ResolutionsPerS, res.Resolutions, res.Verified)
		fmt.Fprintf(stdout, "  latency        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", res.P50ms, res.P99ms, res.MaxMs)
		fmt.Fprintf(stdout, "  errors         %d (%d wrong answers)\n", res.Errors, res.Wrong)
	}, failure, stdout, stderr)
}

// resolveTarget is one DID to resolve and what its answer must say.
type resolveTarget struct {
	did string
	url string // the endpoint URL, the DID percent-encoded once
	// kid and key: the document must give key to kid for authentication.
	kid string
	key ed25519.PublicKey
}

// benchResolve prepares cfg.dids DIDs and runs the resolution load.
func benchResolve(ctx context.Context, cfg resolveBenchConfig) (*resolveBenchResult, error) {
	base := strings.TrimRight(cfg.server, "/")
	client := newBenchClient(cfg.clients)
	defer client.CloseIdleConnections()

	res := &resolveBenchResult{Kind: "key", DIDs: cfg.dids, Clients: cfg.clients}
	var targets []resolveTarget
	var err error
	if cfg.hosted {
		res.Kind = "hosted"
		t0 := time.Now()
		targets, err = createHostedDIDs(ctx, client, base, cfg.dids, cfg.clients)
		res.SetupS = time.Since(t0).Seconds()
	} else {
		targets, err = keyDIDs(cfg.dids)
	}
	if err != nil {
		return nil, err
	}
	for i := range targets {
		targets[i].url = base + "/1.0/identifiers/" + url.PathEscape(targets[i].did)
	}

	run, err := runClosedLoop(ctx, cfg.clients, cfg.duration, func(c int) benchCall {
		var body bytes.Buffer
		// Each client walks the DIDs from its own offset, so that all
		// of them are asked for from the first round.
		next := c * len(targets) / cfg.clients
		return func(ctx context.Context, n int) (bool, bool, error) {
			tg := &targets[next]
			next = (next + 1) % len(targets)
			strict := n%cfg.sample == 0
			answered, err := resolveOnce(ctx, client, tg, &body, strict)
			return answered, strict, err
		}
	})
	if err != nil {
		return nil, err
	}
	res.DurationS = run.elapsed.Seconds()
	res.Resolutions, res.Verified, res.Errors, res.Wrong, res.FirstError = run.sum.ok, run.sum.checked, run.sum.errors, run.sum.wrong, run.sum.firstError()
	res.ResolutionsPerS = float64(res.Resolutions) / run.elapsed.Seconds()
	res.P50ms, res.P99ms, res.MaxMs = run.all.ms(0.50), run.all.ms(0.99), run.all.maxMs()
	return res, nil
}

// resolutionAnswer is the part of a DID resolution result that every
// answer is checked for.
type resolutionAnswer struct {
	Document *struct {
		ID string `json:"id"`
	} `json:"didDocument"`
	Metadata struct {
		Error string `json:"error"`
	} `json:"didResolutionMetadata"`
}

// strictAnswer is a resolution result with its document kept raw, for
// did.ParseDocument.
type strictAnswer struct {
	Document json.RawMessage `json:"didDocument"`
}

// resolveOnce resolves tg and checks the answer (strictly if strict).
// answered reports whether the server answered at all, so that a wrong
// answer is told apart from a transport failure.
func resolveOnce(ctx context.Context, c *http.Client, tg *resolveTarget, body *bytes.Buffer, strict bool) (answered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", did.MediaTypeDIDResolution)
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body.Reset()
	// Read to the end even on an error status, so the connection is
	// reused.
	if _, err := body.ReadFrom(io.LimitReader(resp.Body, maxBenchBody)); err != nil {
		return false, fmt.Errorf("resolve %s: read body: %w", tg.did, err)
	}
	b := body.Bytes()
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("resolve %s: status %d: %s", tg.did, resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	if err := checkAnswer(b, tg, strict); err != nil {
		return true, fmt.Errorf("resolve %s: %w", tg.did, err)
	}
	return true, nil
}

// checkAnswer checks the body of a 200 answer for tg: a resolution result
// without error whose document's id is tg.did and, if strict, a document
// that did.ParseDocument accepts and that gives tg.key to tg.kid for
// authentication.
func checkAnswer(b []byte, tg *resolveTarget, strict bool) error {
	var a resolutionAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("not a resolution result: %w", err)
	}
	switch {
	case a.Metadata.Error != "":
		return fmt.Errorf("status 200 with resolution error %.80q", a.Metadata.Error)
	case a.Document == nil:
		return errors.New("no didDocument")
	case a.Document.ID != tg.did:
		return fmt.Errorf("the server answered the document of %.120q", a.Document.ID)
	}
	if !strict {
		return nil
	}
	var sa strictAnswer
	if err := json.Unmarshal(b, &sa); err != nil {
		return err
	}
	doc, err := did.ParseDocument(sa.Document)
	if err != nil {
		return err
	}
	if doc.ID != tg.did {
		return fmt.Errorf("the server answered the document of %.120q", doc.ID)
	}
	key, err := did.VerificationKey(doc, tg.kid, did.Authentication)
	if err != nil {
		return err
	}
	if !key.Equal(tg.key) {
		return fmt.Errorf("%s is not the DID's key", tg.kid)
	}
	return nil
}

// keyDIDs returns n random did:key DIDs.
func keyDIDs(n int) ([]resolveTarget, error) {
	targets := make([]resolveTarget, n)
	for i := range targets {
		d, priv, err := did.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate did:key: %w", err)
		}
		targets[i] = resolveTarget{
			did: d,
			kid: d + "#" + strings.TrimPrefix(d, "did:key:"),
			key: priv.Public().(ed25519.PublicKey),
		}
	}
	return targets, nil
}

// createHostedDIDs creates n hosted did:web DIDs on the server at base
// with up to workers concurrent signed POST /v1/dids, each with a fresh
// did:key that becomes its key-1. Their names start with a random prefix,
// so that runs against one server never collide (a name is never reused).
func createHostedDIDs(ctx context.Context, client *http.Client, base string, n, workers int) ([]resolveTarget, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	prefix := "owners/bench-" + hex.EncodeToString(rnd[:]) + "-"
	targets := make([]resolveTarget, n)
	err := benchParallel(ctx, workers, n, func(ctx context.Context, i int) error {
		tg, err := createHostedDID(ctx, client, base, fmt.Sprintf("%s%d", prefix, i))
		if err != nil {
			return fmt.Errorf("create hosted DIDs: %w", err)
		}
		targets[i] = tg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return targets, nil
}

// createHostedDID creates the hosted DID name with a fresh key.
func createHostedDID(ctx context.Context, client *http.Client, base, name string) (resolveTarget, error) {
	keyDID, priv, err := did.GenerateKey(rand.Reader)
	if err != nil {
		return resolveTarget{}, fmt.Errorf("generate did:key: %w", err)
	}
	k := &signingKey{Priv: priv, KID: keyDID + "#" + strings.TrimPrefix(keyDID, "did:key:"), DID: keyDID, Path: "(generated)"}
	b, err := signedPost(ctx, client, base, k, "/v1/dids", map[string]string{"name": name})
	if err != nil {
		return resolveTarget{}, fmt.Errorf("POST /v1/dids %s: %w", name, err)
	}
	var res struct {
		DID string `json:"did"`
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.DID == "" || res.KID != res.DID+"#key-1" {
		return resolveTarget{}, fmt.Errorf("POST /v1/dids %s: the answer has no DID and key-1: %.200s", name, b)
	}
	return resolveTarget{did: res.DID, kid: res.KID, key: priv.Public().(ed25519.PublicKey)}, nil
}
