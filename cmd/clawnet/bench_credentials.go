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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
)

// clawnet bench credentials is a load generator for the VC-API
// (spec/benchmarks.md, "Issue 4: credentials and scopes"): --op issue posts
// unsigned DelegationCredentials to POST /credentials/issue (each a new
// id, so each is signed and logged as vc.issued); --op verify posts one
// credential, signed locally by a did:key made for the run, to POST
// /credentials/verify. Every answer is checked: 201 with a credential, or
// 200 with "verified": true. A wrong answer is an error, and any error
// makes the command exit 1.

func benchCredentialsUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet bench credentials --server URL [--op issue|verify] [--format jwt|ldp]
                            [--clients C] [--duration D] [--token FILE] [--json]
      issue (--token: the operator token file, required) or verify
      DelegationCredentials with C keep-alive clients for D; print
      credentials/s, latency and errors
`)
}

// credBenchResult is what `clawnet bench credentials --json` prints.
type credBenchResult struct {
	Op           string  `json:"op"`
	Format       string  `json:"format"`
	CredsPerS    float64 `json:"credentials_per_s"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	Requests     uint64  `json:"requests"`
	Errors       uint64  `json:"errors"`
	Clients      int     `json:"clients"`
	DurationS    float64 `json:"duration_s"`
	FirstError   string  `json:"first_error,omitempty"`
	RequestBytes int     `json:"request_bytes"`
}

type credBenchConfig struct {
	server, op, format, tokenPath string
	clients                       int
	duration                      time.Duration
}

func cmdBenchCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg credBenchConfig
	fs.StringVar(&cfg.server, "server", defaultServer, "server `URL`")
	fs.StringVar(&cfg.op, "op", "issue", "issue or verify")
	fs.StringVar(&cfg.format, "format", "jwt", "jwt or ldp")
	fs.StringVar(&cfg.tokenPath, "token", "", "operator token `FILE` (--op issue)")
	fs.IntVar(&cfg.clients, "clients", 8, "concurrent clients")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to run")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(rest) != 0 || (cfg.op != "issue" && cfg.op != "verify") || (cfg.format != "jwt" && cfg.format != "ldp") ||
		cfg.clients < 1 || cfg.clients > 1024 || cfg.duration <= 0 || (cfg.op == "issue" && cfg.tokenPath == "") {
		benchCredentialsUsage(stderr)
		return exitUsage
	}
	res, err := benchCredentials(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet bench credentials: %v\n", err)
		return exitFail
	}
	failure := ""
	if res.Errors > 0 {
		failure = fmt.Sprintf("%d errors; first: %s", res.Errors, res.FirstError)
	}
	return benchReport("clawnet bench credentials", res, *asJSON, func() {
		fmt.Fprintf(stdout, "%s %s: %.0f credentials/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d requests, %d errors, %d clients, %.1f s\n",
			res.Op, res.Format, res.CredsPerS, res.P50ms, res.P99ms, res.MaxMs, res.Requests, res.Errors, res.Clients, res.DurationS)
	}, failure, stdout, stderr)
}

// benchBody builds the one request body of the run.
func benchBody(cfg credBenchConfig, now time.Time) (path string, body []byte, err error) {
	agent, _, err := did.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, err
	}
	sc := `[{"id":"work-calendar","effect":"allow","actions":["calendar"],"resources":["calendar/work/**"],"counterparties":["contacts"],"constraints":[{"arg":"amount","op":"<=","value":100}],"outside":"escalate"}]`
	exp := now.Add(24 * time.Hour).UTC().Truncate(time.Second)
	if cfg.op == "issue" {
		body, err = json.Marshal(map[string]any{
			"credential": map[string]any{
				"@context":          []string{delegation.CredentialsContextURL, delegation.ContextURL, delegation.StatusContextURL},
				"type":              []string{delegation.VerifiableCredentialType, delegation.Type},
				"expirationDate":    exp.Format(time.RFC3339),
				"credentialSubject": map[string]any{"id": agent, "scopes": json.RawMessage(sc), "maxSubdelegationDepth": 0},
			},
			"options": map[string]any{"format": cfg.format},
		})
		return "/credentials/issue", body, err
	}
	owner, priv, err := did.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, err
	}
	scopes, err := scope.Parse([]byte(sc))
	if err != nil {
		return "", nil, err
	}
	id, err := delegation.NewID(rand.Reader)
	if err != nil {
		return "", nil, err
	}
	c := delegation.Credential{ID: id, Issuer: owner, Subject: agent, IssuanceDate: now.UTC().Truncate(time.Second).Add(-time.Minute),
		ExpirationDate: exp, Scopes: scopes}
	var cred json.RawMessage
	if cfg.format == "jwt" {
		tok, err := delegation.IssueJWT(priv, keyDIDURL(owner), c)
		if err != nil {
			return "", nil, err
		}
		cred, _ = json.Marshal(tok)
	} else if cred, err = delegation.IssueLDP(priv, keyDIDURL(owner), c, now.UTC().Truncate(time.Second)); err != nil {
		return "", nil, err
	}
	body, err = json.Marshal(server.VerifyCredentialRequest{VerifiableCredential: cred})
	return "/credentials/verify", body, err
}

// checkCredAnswer checks one answer of the run.
func checkCredAnswer(op string, status int, b []byte) error {
	switch op {
	case "issue":
		var r server.IssueCredentialResponse
		if status != http.StatusCreated {
			return fmt.Errorf("status %d: %.200s", status, b)
		}
		if err := json.Unmarshal(b, &r); err != nil || len(r.VerifiableCredential) == 0 || len(r.Receipt) == 0 {
			return fmt.Errorf("201 without a credential and a receipt: %.200s", b)
		}
	default:
		var r server.VerificationResult
		if status != http.StatusOK {
			return fmt.Errorf("status %d: %.200s", status, b)
		}
		if err := json.Unmarshal(b, &r); err != nil || !r.Verified {
			return fmt.Errorf("not verified: %.200s", b)
		}
	}
	return nil
}

func benchCredentials(ctx context.Context, cfg credBenchConfig) (*credBenchResult, error) {
	origin, err := serverOrigin(cfg.server)
	if err != nil {
		return nil, err
	}
	token := ""
	if cfg.op == "issue" {
		b, err := os.ReadFile(cfg.tokenPath)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
	}
	path, body, err := benchBody(cfg, time.Now())
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.clients, MaxConnsPerHost: cfg.clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	send := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "POST", origin+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		return checkCredAnswer(cfg.op, resp.StatusCode, b)
	}
	// One request first: a misconfiguration fails at once, not C times D.
	if err := send(ctx); err != nil {
		return nil, fmt.Errorf("first request: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var (
		requests, errs atomic.Uint64
		firstErr       atomic.Value
		mu             sync.Mutex
		all            latencyHist
		wg             sync.WaitGroup
	)
	start := time.Now()
	for range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h latencyHist
			for rctx.Err() == nil {
				t0 := time.Now()
				err := send(rctx)
				if rctx.Err() != nil && err != nil {
					break // the run ended during this request
				}
				h.record(time.Since(t0))
				requests.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			all.merge(&h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	n := requests.Load()
	res := &credBenchResult{Op: cfg.op, Format: cfg.format, CredsPerS: float64(n-errs.Load()) / elapsed.Seconds(),
		P50ms: ms(all.quantile(0.5)), P99ms: ms(all.quantile(0.99)), MaxMs: ms(all.quantile(1)),
		Requests: n, Errors: errs.Load(), Clients: cfg.clients, DurationS: elapsed.Seconds(), RequestBytes: len(body)}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res, nil
}
