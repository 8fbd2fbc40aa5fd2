package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
	"golang.org/x/mod/sumdb/note"
)

// clawnet bench actions is the load generator of issue 5 for POST
// /v1/actions (spec/benchmarks.md, "Issue 5: actions"). It first sets up,
// over the API like the CLI would, owners with did:key DIDs, one Identity
// Agent per benchmark agent bound by an owner-signed binding credential,
// and one registered delegation credential per agent that allows
// benchAction on benchResources; then every agent drives signed actions,
// each with a fresh request id and jti, in a closed loop (or, with --rate,
// an open loop at the offered rate). Every answer must be 200 "allowed"
// for this request with a receipt for the answered index; one answer in
// --sample per agent (and each agent's first) also has its receipt
// verified fully against the log's key (checkpoint signature, inclusion
// proof) and its entry checked field by field. A wrong answer is an
// error, and any error makes the command exit 1.

func benchActionsUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet bench actions [--server URL] [--agents N] [--duration D] [--rate R] [--sample S] [--warmup W] [--key VKEY] [--json]
      register owners, N Identity Agents and one delegation credential each,
      open one connection per agent and send W actions each on it (checked,
      not counted), then let the N agents send signed POST /v1/actions for D, in a closed
      loop or, with --rate, at R actions/s in all (latency counted from when
      each action was due); check every answer (allowed, with a receipt) and
      verify one receipt in S fully; print actions/s, latency and errors.
      Without --server, an embedded clawnet serve on a temporary data
      folder; with it, URL must be the server's public URL.
`)
}

// The benchmark's action: a read with no counterparty, so that every
// action is decided by the agent's own credential alone.
const (
	benchAction = "data/read"
	// benchAgentsPerOwner Identity Agents share an owner (each its own
	// context), as several agents of one person would.
	benchAgentsPerOwner = 4
	// benchSetupWorkers bounds the concurrent set-up requests.
	benchSetupWorkers = 16
	// benchSignLifetime is exp - iat of the actions' signed requests.
	benchSignLifetime = 60 * time.Second
)

// benchScopes is the one scope of every benchmark credential.
const benchScopes = `[{"id":"bench","effect":"allow","actions":["` + benchAction + `"],"resources":["bench/**"]}]`

// actionBenchResult is what `clawnet bench actions --json` prints; the
// first five keys are the ones issue 5 requires.
type actionBenchResult struct {
	ActionsPerS float64 `json:"actions_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	Errors      uint64  `json:"errors"`
	// Wrong counts the errors that were answers, but wrong ones (another
	// status or decision, another request's answer, a receipt that does
	// not verify or records something else); the other errors are
	// transport failures.
	Wrong uint64 `json:"wrong"`
	// Actions counts the correct answers (allowed); Verified how many of
	// them had their receipt verified fully.
	Actions  uint64 `json:"actions"`
	Verified uint64 `json:"verified"`
	Agents   int    `json:"agents"`
	Owners   int    `json:"owners"`
	// Rate is the offered load in actions/s (0: closed loop). With it,
	// latency counts from when each action was due, and CallP50ms and
	// CallP99ms time the request alone.
	Rate      float64 `json:"rate"`
	CallP50ms float64 `json:"call_p50_ms"`
	CallP99ms float64 `json:"call_p99_ms"`
	// Warmup is the number of actions each agent sent, and had checked,
	// before the measured window (not counted above).
	Warmup int `json:"warmup"`
	// Embedded reports that the bench ran its own server in process.
	Embedded   bool    `json:"embedded"`
	SetupS     float64 `json:"setup_s"` // set-up and warm-up
	DurationS  float64 `json:"duration_s"`
	FirstError string  `json:"first_error,omitempty"`
}

// actionBenchConfig configures benchActions.
type actionBenchConfig struct {
	server   string // the server's origin, also the audience of every signed request
	key      string // the log's verifier key; "" means fetch GET /log/key
	agents   int
	duration time.Duration
	// rate is the offered load in actions/s over all agents: action i is
	// due at start + i/rate and its latency counts from then (no
	// coordinated omission: a stalled server is not hidden by agents that
	// stop sending). 0 means closed loop, latency from the call.
	rate float64
	// sample: one answer in sample per agent (and its first) has its
	// receipt verified fully.
	sample int
	// warmup is the number of actions each agent sends, on its own
	// connection, before the clock starts; each is checked (its receipt
	// verified fully) and none is counted. The measured window then starts
	// with every connection open and every agent's first action (which
	// reads its records and key into the server's caches) behind it.
	warmup int
	// profile, if not nil, is started when the agents start sending and
	// stopped when the last answer is in (set-up excluded).
	profile *benchProfile
}

// benchProfile is a CPU profile of the whole process (an embedded server
// and the generator alike) written to a file.
type benchProfile struct {
	f *os.File
}

func (p *benchProfile) start() error { return pprof.StartCPUProfile(p.f) }
func (p *benchProfile) stop()        { pprof.StopCPUProfile() }

func cmdBenchActions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clawnet bench actions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { benchActionsUsage(stderr); fs.PrintDefaults() }
	var cfg actionBenchConfig
	fs.StringVar(&cfg.server, "server", "", "server `URL`, its public URL (default: an embedded server on a temporary data folder)")
	fs.StringVar(&cfg.key, "key", "", "the log's verifier `key` (default: fetched from the server's /log/key, which checks nothing about the server)")
	fs.IntVar(&cfg.agents, "agents", 64, "concurrent agents, each with its own key and credential")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send actions")
	fs.Float64Var(&cfg.rate, "rate", 0, "offered load in actions/s over all agents (0: closed loop, as fast as possible)")
	fs.IntVar(&cfg.sample, "sample", 100, "verify one receipt in `N` per agent fully")
	fs.IntVar(&cfg.warmup, "warmup", 1, "actions each agent sends, checked but not counted, on its open connection before the clock starts (0: none)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (set-up excluded; with the embedded server, server and generator) to `file`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	switch {
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "clawnet bench actions: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case cfg.agents < 1 || cfg.agents > 100_000 || cfg.duration <= 0 || cfg.sample < 1:
		fmt.Fprintln(stderr, "clawnet bench actions: --agents (at most 100000), --duration and --sample must be positive")
		return exitUsage
	case cfg.rate < 0:
		fmt.Fprintln(stderr, "clawnet bench actions: --rate must not be negative")
		return exitUsage
	case cfg.warmup < 0 || cfg.warmup > 1000:
		fmt.Fprintln(stderr, "clawnet bench actions: --warmup must be between 0 and 1000")
		return exitUsage
	}
	const name = "clawnet bench actions"
	if !benchServerOrigin(name, &cfg.server, stderr) {
		return exitUsage
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitFail
		}
		defer f.Close()
		cfg.profile = &benchProfile{f: f}
	}
	embedded, stop, ok := startBenchServer(ctx, name, &cfg.server, stderr)
	if !ok {
		return exitFail
	}
	defer stop()
	res, err := benchActions(ctx, cfg)
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
		mode := "closed loop"
		if res.Rate > 0 {
			mode = fmt.Sprintf("%.0f actions/s offered", res.Rate)
		}
		fmt.Fprintf(stdout, "allowed actions: %d agents (%d owners), %s, for %.1f s against %s\n", res.Agents, res.Owners, mode, res.DurationS, benchWhere(cfg.server, embedded))
		fmt.Fprintf(stdout, "  setup          %.2f s (with a warm-up of %d actions per agent)\n", res.SetupS, res.Warmup)
		fmt.Fprintf(stdout, "  throughput     %.0f actions/s (%d actions, %d receipts verified fully)\n", res.ActionsPerS, res.Actions, res.Verified)
		fmt.Fprintf(stdout, "  latency        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", res.P50ms, res.P99ms, res.MaxMs)
		if res.Rate > 0 {
			fmt.Fprintf(stdout, "  call alone     p50 %.3f ms, p99 %.3f ms\n", res.CallP50ms, res.CallP99ms)
		}
		fmt.Fprintf(stdout, "  errors         %d (%d wrong answers)\n", res.Errors, res.Wrong)
	}, failure, stdout, stderr)
}

// benchAgent is one agent of the run: its key, its credential, and a
// signer of its requests.
type benchAgent struct {
	did    string
	owner  string
	cred   string
	signer *fastSigner
}

// benchActions sets up cfg.agents agents and runs the action load.
func benchActions(ctx context.Context, cfg actionBenchConfig) (*actionBenchResult, error) {
	base := strings.TrimRight(cfg.server, "/")
	client := newBenchClient(cfg.agents + benchSetupWorkers)
	defer client.CloseIdleConnections()

	setupCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	verifier, err := benchVerifier(setupCtx, client, base, cfg.key)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	agents, owners, err := setupBenchAgents(setupCtx, client, base, cfg.agents)
	if err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	res := &actionBenchResult{Agents: cfg.agents, Owners: owners, Rate: cfg.rate, Warmup: cfg.warmup}
	// Request ids start with a random prefix, so that runs against one
	// server never reuse an id (which would be answered as a replay).
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	run := hex.EncodeToString(rnd[:])
	conns := make([]*benchConn, len(agents))
	for i := range conns {
		conns[i] = newBenchConn(base, client)
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	if cfg.warmup > 0 {
		err := benchParallel(setupCtx, benchSetupWorkers, len(agents), func(ctx context.Context, i int) error {
			var body, answer bytes.Buffer
			for n := range cfg.warmup {
				id := "bench-" + run + "-" + strconv.Itoa(i) + "-warmup-" + strconv.Itoa(n)
				if _, err := actOnce(ctx, conns[i], &agents[i], id, &body, &answer, verifier, true); err != nil {
					return fmt.Errorf("agent %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	res.SetupS = time.Since(t0).Seconds()

	// stats[i] belongs to agent i until wg.Wait returns. The latencies go
	// to a few shared histograms instead: one per agent (60 KB each, two
	// per agent) made the live heap of an embedded run with 256 agents
	// 30 MB, and the server's memory limit (serve's followLiveHeap, set
	// from the heap before the run) then kept its GC running all the time.
	stats := make([]benchCounts, len(agents))
	hists := make([]benchHists, min(len(agents), benchHistShards))
	// No action starts after end, and every action started is waited for
	// and counted, however late it is answered: an overloaded server shows
	// in the latency, and the run takes longer than asked.
	if cfg.profile != nil {
		if err := cfg.profile.start(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	end := start.Add(cfg.duration)
	var (
		next atomic.Int64 // with a rate: the number of the next action due
		wg   sync.WaitGroup
	)
	due := func(i int64) time.Time {
		return start.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
	}
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ag, st := &agents[i], &stats[i]
			conn := conns[i]
			var body, answer bytes.Buffer
			var timer *time.Timer
			for n := 0; ; n++ {
				var t0 time.Time
				if cfg.rate > 0 {
					t0 = due(next.Add(1) - 1)
					if !t0.Before(end) {
						return
					}
					if d := time.Until(t0); d > 0 {
						if timer == nil {
							timer = time.NewTimer(d)
						} else {
							timer.Reset(d)
						}
						select {
						case <-timer.C:
						case <-ctx.Done():
							return
						}
					}
				} else if !time.Now().Before(end) {
					return
				}
				full := n%cfg.sample == 0
				c0 := time.Now()
				if cfg.rate == 0 {
					t0 = c0
				}
				id := "bench-" + run + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(n)
				answered, err := actOnce(ctx, conn, ag, id, &body, &answer, verifier, full)
				done := time.Now()
				if err != nil {
					if ctx.Err() != nil && !answered {
						return // interrupted
					}
					st.fail(err, answered)
					continue
				}
				hists[i%len(hists)].record(done.Sub(t0), done.Sub(c0))
				st.succeed(full)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if cfg.profile != nil {
		cfg.profile.stop()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.DurationS = elapsed.Seconds()
	var (
		all, calls latencyHist
		sum        benchCounts
	)
	for i := range hists {
		all.merge(&hists[i].lat)
		calls.merge(&hists[i].calls)
	}
	for i := range stats {
		sum.add(&stats[i])
	}
	res.Actions, res.Verified, res.Errors, res.Wrong, res.FirstError = sum.ok, sum.checked, sum.errors, sum.wrong, sum.firstError()
	res.ActionsPerS = float64(res.Actions) / elapsed.Seconds()
	res.P50ms, res.P99ms, res.MaxMs = all.ms(0.50), all.ms(0.99), all.maxMs()
	res.CallP50ms, res.CallP99ms = calls.ms(0.50), calls.ms(0.99)
	return res, nil
}

// benchHistShards is how many histogram pairs the agents share.
const benchHistShards = 8

// benchHists are the latencies of some agents, from when each action was
// due and of the call alone. mu guards both.
type benchHists struct {
	mu         sync.Mutex
	lat, calls latencyHist
}

func (h *benchHists) record(lat, call time.Duration) {
	h.mu.Lock()
	h.lat.record(lat)
	h.calls.record(call)
	h.mu.Unlock()
}

// benchActionBody is the body of one benchmark action.
type benchActionBody struct {
	ID         string `json:"id"`
	Action     string `json:"action"`
	Resource   string `json:"resource"`
	Credential string `json:"credential"`
}

// actOnce sends one signed action of ag with request id id and checks the
// answer (its receipt fully if full). answered reports whether the server
// answered at all, so that a wrong answer is told apart from a transport
// failure.
func actOnce(ctx context.Context, c *benchConn, ag *benchAgent, id string, body, answer *bytes.Buffer,
	v note.Verifier, full bool) (answered bool, err error) {
	resource := "bench/" + id
	body.Reset()
	if err := json.NewEncoder(body).Encode(benchActionBody{ID: id, Action: benchAction, Resource: resource, Credential: ag.cred}); err != nil {
		return false, err
	}
	b := bytes.TrimSuffix(body.Bytes(), []byte("\n"))
	tok, err := ag.signer.sign(http.MethodPost, "/v1/actions", b, time.Now())
	if err != nil {
		return false, err
	}
	status, err := c.post(ctx, "/v1/actions", request.Scheme+" "+tok, b, answer)
	if err != nil {
		return false, fmt.Errorf("action %s: %w", id, err)
	}
	want := benchExpect{id: id, agent: ag.did, owner: ag.owner, cred: ag.cred, resource: resource, requestDigest: request.RequestDigest(tok)}
	if err := checkActionAnswer(status, answer.Bytes(), want, v, full); err != nil {
		return true, fmt.Errorf("action %s: %w", id, err)
	}
	return true, nil
}

// benchAnswer is the part of server.ActionResponse that the bench checks.
type benchAnswer struct {
	ID       string                `json:"id"`
	Decision transparency.Decision `json:"decision"`
	Reason   string                `json:"reason"`
	Index    uint64                `json:"index"`
	Receipt  json.RawMessage       `json:"receipt"`
}

// benchExpect is what the answer to one benchmark action must say.
type benchExpect struct {
	id, agent, owner, cred, resource, requestDigest string
}

// checkActionAnswer checks the answer to the action want describes:
// status 200, decision allowed, this request's id, and a receipt for the
// answered index. If full, the receipt is also verified with v (the
// checkpoint's signature and the entry's inclusion proof) and its entry
// must be this action's allowed action.decision: actor, owner, subject,
// action, resource, credential, and the request digest of the token sent.
func checkActionAnswer(status int, b []byte, want benchExpect, v note.Verifier, full bool) error {
	if status != http.StatusOK {
		return fmt.Errorf("status %d: %s", status, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	if !full {
		// The receipt's form and index only: ParseReceipt and the
		// verification below cost the generator more than the server's
		// whole answer.
		return checkActionAnswerLight(b, want)
	}
	var a benchAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("not an action answer: %w", err)
	}
	if err := checkActionDecision(a.ID, a.Decision, a.Reason, want); err != nil {
		return err
	}
	switch {
	case len(a.Receipt) == 0 || string(a.Receipt) == "null":
		return errors.New("no receipt")
	}
	rc, err := transparency.ParseReceipt(a.Receipt)
	if err != nil {
		return err
	}
	if rc.Index != a.Index {
		return fmt.Errorf("the receipt is for entry %d, the answer says %d", rc.Index, a.Index)
	}
	vr, err := transparency.VerifyReceipt(rc, v)
	if err != nil {
		return err
	}
	e := vr.Entry
	switch {
	case e.Type != "action.decision" || e.Decision != transparency.DecisionAllowed:
		return fmt.Errorf("the receipt's entry is a %s %s, want an allowed action.decision", e.Decision, e.Type)
	case e.Actor != want.agent || e.Owner != want.owner:
		return fmt.Errorf("the receipt's entry is by %s of %s, want %s of %s", e.Actor, e.Owner, want.agent, want.owner)
	case e.Subject != want.id || e.Action != benchAction || e.Resource != want.resource || e.Counterparty != "":
		return fmt.Errorf("the receipt's entry records %s %s %s %s", e.Subject, e.Action, e.Resource, e.Counterparty)
	case e.Authz == nil || e.Authz.Credential != want.cred:
		return fmt.Errorf("the receipt's entry does not name credential %s", want.cred)
	case e.RequestDigest != want.requestDigest:
		return fmt.Errorf("the receipt's entry has request digest %s, want %s", e.RequestDigest, want.requestDigest)
	}
	return nil
}

// checkActionDecision checks what both checks of checkActionAnswer look
// at first: the answer (with id, decision and reason) is for want's
// request, and allowed.
func checkActionDecision(id string, decision transparency.Decision, reason string, want benchExpect) error {
	switch {
	case id != want.id:
		return fmt.Errorf("the server answered for request %.80q", id)
	case decision != transparency.DecisionAllowed:
		return fmt.Errorf("decision %q (%.200s), want allowed", decision, reason)
	}
	return nil
}

// setupBenchAgents registers ceil(n/benchAgentsPerOwner) owners and n
// Identity Agents with one delegation credential each, with up to
// benchSetupWorkers owners set up at once, and returns the agents and the
// number of owners.
func setupBenchAgents(ctx context.Context, client *http.Client, base string, n int) ([]benchAgent, int, error) {
	owners := (n + benchAgentsPerOwner - 1) / benchAgentsPerOwner
	agents := make([]benchAgent, n)
	err := benchParallel(ctx, benchSetupWorkers, owners, func(ctx context.Context, o int) error {
		lo, hi := o*benchAgentsPerOwner, min(n, (o+1)*benchAgentsPerOwner)
		return setupBenchOwner(ctx, client, base, agents[lo:hi])
	})
	if err != nil {
		return nil, 0, err
	}
	return agents, owners, nil
}

// newBenchKey returns a fresh did:key signing key.
func newBenchKey() (*signingKey, error) {
	d, priv, err := did.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate did:key: %w", err)
	}
	return &signingKey{Priv: priv, KID: keyDIDURL(d), DID: d, Path: "(generated)"}, nil
}

// setupBenchOwner registers a new owner and binds len(agents) new
// Identity Agents to it, each with a registered delegation credential
// for the benchmark action, filling in agents.
func setupBenchOwner(ctx context.Context, client *http.Client, base string, agents []benchAgent) error {
	owner, err := newBenchKey()
	if err != nil {
		return err
	}
	if _, err := signedPost(ctx, client, base, owner, "/v1/owners", struct{}{}); err != nil {
		return fmt.Errorf("register owner: %w", err)
	}
	scopes, err := scope.Parse([]byte(benchScopes))
	if err != nil {
		return err
	}
	for j := range agents {
		agent, err := newBenchKey()
		if err != nil {
			return err
		}
		id, err := binding.NewID(rand.Reader)
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		tok, err := binding.Issue(owner.Priv, owner.KID, binding.Binding{
			ID: id, Issuer: owner.DID, Subject: agent.DID, Role: binding.RoleIdentity, Context: "bench-" + strconv.Itoa(j), IssuedAt: now,
		})
		if err != nil {
			return fmt.Errorf("binding credential: %w", err)
		}
		if _, err := signedPost(ctx, client, base, agent, "/v1/agents", map[string]string{"credential": tok}); err != nil {
			return fmt.Errorf("bind agent: %w", err)
		}
		b, err := signedPost(ctx, client, base, owner, "/v1/status", struct{}{})
		if err != nil {
			return fmt.Errorf("reserve a status entry: %w", err)
		}
		entry, err := statusEntryOf(b)
		if err != nil {
			return fmt.Errorf("reserve a status entry: %w", err)
		}
		c := delegation.Credential{Issuer: owner.DID, Subject: agent.DID, IssuanceDate: now,
			ExpirationDate: now.Add(24 * time.Hour), Scopes: scopes, Status: &entry}
		if c.ID, err = delegation.NewID(rand.Reader); err != nil {
			return err
		}
		jwt, err := delegation.IssueJWT(owner.Priv, owner.KID, c)
		if err != nil {
			return err
		}
		sent, err := json.Marshal(jwt)
		if err != nil {
			return err
		}
		b, err = signedPost(ctx, client, base, owner, "/v1/credentials", map[string]json.RawMessage{"credential": sent})
		if err != nil {
			return fmt.Errorf("register the delegation credential: %w", err)
		}
		var gr server.GrantResponse
		if err := json.Unmarshal(b, &gr); err != nil || gr.Credential != c.ID {
			return fmt.Errorf("register the delegation credential: the answer does not name %s: %.200s", c.ID, b)
		}
		s, err := newFastSigner(agent.Priv, agent.KID, base)
		if err != nil {
			return err
		}
		agents[j] = benchAgent{did: agent.DID, owner: owner.DID, cred: c.ID, signer: s}
	}
	return nil
}

// fastSigner signs requests as request.Signer does (the same compact JWS,
// byte for byte: see TestFastSignerMatchesRequestSign), without the JOSE
// library's generic machinery, whose cost would be taken from the server
// under test on a shared machine.
type fastSigner struct {
	key      ed25519.PrivateKey
	audience string
	header   string // the base64url protected header, with its "."
	buf      []byte // reused by sign; a signer is used by one goroutine
}

func newFastSigner(key ed25519.PrivateKey, kid, audience string) (*fastSigner, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ed25519 private key of %d bytes", len(key))
	}
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{"EdDSA", kid, request.Type})
	if err != nil {
		return nil, err
	}
	return &fastSigner{key: key, audience: audience, header: base64.RawURLEncoding.EncodeToString(h) + "."}, nil
}

// sign returns the compact JWS of a request with a fresh jti, issued at
// now and valid for benchSignLifetime.
func (s *fastSigner) sign(method, uri string, body []byte, now time.Time) (string, error) {
	var j [16]byte
	if _, err := rand.Read(j[:]); err != nil {
		return "", fmt.Errorf("jti: %w", err)
	}
	iat := now.Unix()
	return s.signClaims(request.Claims{
		Audience: s.audience, Method: method, URI: uri, BodyDigest: request.BodyDigest(body),
		IssuedAt: iat, Expires: iat + int64(benchSignLifetime/time.Second), ID: base64.RawURLEncoding.EncodeToString(j[:]),
	})
}

func (s *fastSigner) signClaims(c request.Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	b := append(s.buf[:0], s.header...)
	b = enc.AppendEncode(b, payload)
	sig := ed25519.Sign(s.key, b)
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	s.buf = b
	return string(b), nil
}

// benchConn is one agent's keep-alive HTTP/1.1 connection to the server
// under test. For an http:// server it writes each request itself, in one
// write, and parses the answer with http.ReadResponse, without the
// Transport's two goroutines and channels per connection, which cost the
// generator a quarter of its CPU on the 2 CPUs it shares with the server;
// the server sees an ordinary HTTP/1.1 request. Any other scheme goes
// through the http.Client. Not safe for concurrent use.
type benchConn struct {
	client *http.Client // for a base that is not http://
	base   string       // scheme://host[:port]
	host   string       // host[:port] of an http:// base, else ""
	conn   net.Conn
	r      *bufio.Reader
	req    []byte
}

func newBenchConn(base string, client *http.Client) *benchConn {
	c := &benchConn{client: client, base: base}
	if h, ok := strings.CutPrefix(base, "http://"); ok && !strings.ContainsAny(h, "/?#@") {
		c.host = h
	}
	return c
}

// benchCallTimeout bounds one request and its answer.
const benchCallTimeout = 30 * time.Second

// post sends body to path with the Authorization value auth and reads the
// answer (at most maxBenchBody bytes) into answer. A failed call closes
// the connection; the next one dials again.
func (c *benchConn) post(ctx context.Context, path, auth string, body []byte, answer *bytes.Buffer) (int, error) {
	answer.Reset()
	if c.host == "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		resp, err := c.client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		// Read to the end even on an error status, so the connection is
		// reused.
		if _, err := answer.ReadFrom(io.LimitReader(resp.Body, maxBenchBody)); err != nil {
			return 0, fmt.Errorf("read body: %w", err)
		}
		return resp.StatusCode, nil
	}
	status, err := c.rawPost(ctx, path, auth, body, answer)
	if err != nil {
		c.close()
	}
	return status, err
}

func (c *benchConn) rawPost(ctx context.Context, path, auth string, body []byte, answer *bytes.Buffer) (int, error) {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.host)
		if err != nil {
			return 0, err
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	deadline := time.Now().Add(benchCallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return 0, err
	}
	c.req = append(c.req[:0], "POST "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.host...)
	c.req = append(c.req, "\r\nUser-Agent: clawnet-bench\r\nContent-Type: application/json\r\nAuthorization: "...)
	c.req = append(c.req, auth...)
	c.req = append(c.req, "\r\nContent-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	_, err = answer.ReadFrom(io.LimitReader(resp.Body, maxBenchBody+1))
	resp.Body.Close()
	switch {
	case err != nil:
		return 0, fmt.Errorf("read body: %w", err)
	case answer.Len() > maxBenchBody:
		// The rest is still on the connection, which post closes.
		return 0, fmt.Errorf("answer longer than %d bytes", maxBenchBody)
	case resp.Close:
		c.close() // the server ends the connection after this answer
	}
	return resp.StatusCode, nil
}

func (c *benchConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}
