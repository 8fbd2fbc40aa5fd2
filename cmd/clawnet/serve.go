package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/web"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/mod/sumdb/note"
)

func init() {
	registerCommand(command{
		name:    "serve",
		summary: "run the ledger server (the log, its read API and /metrics)",
		run:     runServe,
	})
}

// Files in the data directory.
const (
	signerKeyFile   = "log.key"        // note signer key; its name is the log origin
	verifierKeyFile = "log.vkey"       // note verifier key
	tokenFile       = "operator.token" // bearer token of the operator endpoints
	issuerKeyFile   = "issuer.jwk"     // the credential issuer key (signs status lists), a JWK key file
	dbDir           = "db"             // the pebble store
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a signal.
const shutdownTimeout = 10 * time.Second

type serveConfig struct {
	addr         string
	data         string
	origin       string // "" = stored, or derived from the address at first start
	level        slog.Level
	maxBatchSize int
	maxBatchAge  time.Duration
	// tableWriteRate is the store's pace of table writes in MiB/s; 0 is
	// no cap.
	tableWriteRate int
	// The identity API.
	publicURL          string // "" = "http://" + the listen address
	allowPrivateDIDWeb bool
	contactRequestTTL  time.Duration
	// escalationTimeout is how long an escalation waits for its owner.
	escalationTimeout time.Duration
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		// The flag package has already reported its own errors.
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "clawnet serve: %v\n", err)
		}
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))
	if err := serve(ctx, cfg, stdout, logger); err != nil {
		fmt.Fprintf(stderr, "clawnet serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

// goMemoryHeadroom is what clawnet serve lets the Go heap grow beyond its
// live data before the GC must run, through debug.SetMemoryLimit (unless
// GOMEMLIMIT is set). Most of the live heap is the log's in-memory tree
// hashes (40 MB at 10 million entries); at the default GOGC=100 the heap
// reached twice that between collections, which with pebble's C memory
// put a 10M-entry server over its 256 MB RSS budget under proof load. A
// lower GOGC did the job too but cost a small log 17 % of its proof rate
// (a tiny heap collected hundreds of times a second); the limit only binds
// once the live heap is large. It follows the live heap, so that a growing
// log never pins the GC at the limit (spec/benchmarks.md).
const goMemoryHeadroom = 48 << 20

// goMemoryLimitEvery is how often the limit follows the live heap.
const goMemoryLimitEvery = 30 * time.Second

// followLiveHeap sets the Go memory limit to the live heap plus
// goMemoryHeadroom now and then every goMemoryLimitEvery until ctx ends.
func followLiveHeap(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetMemoryLimit(int64(sample[0].Value.Uint64()) + goMemoryHeadroom)
		}
	}
	runtime.GC() // the live heap as loaded, without the garbage of loading
	set()
	go func() {
		t := time.NewTicker(goMemoryLimitEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				set()
			}
		}
	}()
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	var cfg serveConfig
	flags := flag.NewFlagSet("clawnet serve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen `address`; port 0 picks a free port")
	flags.StringVar(&cfg.data, "data", "./clawnet-data", "data `directory`: keys, operator token and the database (created 0700)")
	flags.StringVar(&cfg.origin, "log-origin", "", "checkpoint `origin` and key name, fixed at first start (default \"clawnet.local/<address>\")")
	level := flags.String("log-level", "info", "log `level`: debug, info, warn or error")
	flags.IntVar(&cfg.maxBatchSize, "max-batch-size", 0, "most entries per log batch (0: the log's default)")
	flags.DurationVar(&cfg.maxBatchAge, "max-batch-age", 0, "how long a batch may wait for more entries (0: no wait, group commit only)")
	flags.IntVar(&cfg.tableWriteRate, "table-write-rate", store.DefaultTableWriteRate>>20, "least MiB/s at which memtable flushes and compactions write table files, so the log's fsyncs do not queue behind them; raised to twice the log's own write rate, lifted while they fall behind (0: no cap)")
	flags.StringVar(&cfg.publicURL, "public-url", "", "the server's public `origin` (scheme://host[:port]): the audience of signed requests and the host of its did:web DIDs (default http://<address>)")
	flags.BoolVar(&cfg.allowPrivateDIDWeb, "allow-private-did-web", false, "resolve remote did:web on loopback and private addresses (tests, private networks; never on a public server)")
	flags.DurationVar(&cfg.contactRequestTTL, "contact-request-ttl", 0, "how long a contact request stays pending (0: 7 days)")
	flags.DurationVar(&cfg.escalationTimeout, "escalation-timeout", server.DefaultEscalationTimeout, "how long an escalated action waits for its owner's answer before it times out as a denial (> 0)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: clawnet serve [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs the ledger: an append-only Merkle log served over HTTP. On first start it")
		fmt.Fprintln(stderr, "generates the log key and the operator token in the data directory.")
		fmt.Fprintln(stderr)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return cfg, err
	}
	if flags.NArg() > 0 {
		return cfg, &usageError{fmt.Sprintf("unexpected argument %q", flags.Arg(0))}
	}
	lv, ok := logLevels[strings.ToLower(*level)]
	if !ok {
		return cfg, &usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", *level)}
	}
	cfg.level = lv
	if cfg.maxBatchSize < 0 || cfg.maxBatchAge < 0 {
		return cfg, &usageError{"--max-batch-size and --max-batch-age must not be negative"}
	}
	if cfg.tableWriteRate < 0 || cfg.tableWriteRate > 1<<20 {
		return cfg, &usageError{fmt.Sprintf("--table-write-rate %d: want MiB/s between 0 (no cap) and %d", cfg.tableWriteRate, 1<<20)}
	}
	if cfg.data == "" {
		return cfg, &usageError{"--data must not be empty"}
	}
	if cfg.contactRequestTTL < 0 {
		return cfg, &usageError{"--contact-request-ttl must not be negative"}
	}
	if cfg.escalationTimeout <= 0 {
		return cfg, &usageError{fmt.Sprintf("--escalation-timeout %v: must be positive, such as 30m", cfg.escalationTimeout)}
	}
	if cfg.publicURL != "" {
		if _, err := didWebHost(cfg.publicURL); err != nil {
			return cfg, &usageError{fmt.Sprintf("--public-url: %v", err)}
		}
	}
	if cfg.origin != "" {
		if err := checkOrigin(cfg.origin); err != nil {
			return cfg, &usageError{fmt.Sprintf("--log-origin: %v", err)}
		}
	}
	return cfg, nil
}

// checkOrigin applies the rules of a note key name, since the origin is
// also the key's name: non-empty UTF-8 without spaces or '+'.
func checkOrigin(origin string) error {
	switch {
	case origin == "":
		return errors.New("empty origin")
	case !utf8.ValidString(origin):
		return fmt.Errorf("origin %q is not valid UTF-8", origin)
	case strings.IndexFunc(origin, unicode.IsSpace) >= 0:
		return fmt.Errorf("origin %q contains a space", origin)
	case strings.Contains(origin, "+"):
		return fmt.Errorf("origin %q contains '+'", origin)
	}
	return nil
}

// serve runs the server until ctx is canceled, then shuts down in order:
// stop accepting and drain HTTP, close the log (it finishes queued
// batches), close the database.
func serve(ctx context.Context, cfg serveConfig, stdout io.Writer, logger *slog.Logger) (err error) {
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close() // after a successful Serve it is closed already
	addr := ln.Addr().String()

	keys, err := loadOrCreateKeys(cfg.data, cfg.origin, "clawnet.local/"+addr, logger)
	if err != nil {
		return err
	}
	token, err := loadOrCreateToken(cfg.data, logger)
	if err != nil {
		return err
	}
	issuerKey, err := loadOrCreateIssuerKey(cfg.data, logger)
	if err != nil {
		return err
	}
	issuers, err := loadIssuerInstances(cfg.data)
	if err != nil {
		return fmt.Errorf("issuer instances: %w", err)
	}

	rate := int64(cfg.tableWriteRate) << 20
	if rate == 0 {
		rate = -1 // no cap
	}
	db, err := store.Open(filepath.Join(cfg.data, dbDir), store.Options{Logger: logger, TableWriteRate: rate})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := sequencer.Open(ctx, sequencer.Config{
		DB:           db,
		Signer:       keys.signer,
		Origin:       keys.signer.Name(),
		MaxBatchSize: cfg.maxBatchSize,
		MaxBatchAge:  cfg.maxBatchAge,
		Logger:       logger,
		Registerer:   reg,
	})
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	followLiveHeap(ctx)
	defer func() {
		// Runs after the HTTP server has drained: no request can append
		// any more, and Close finishes what is queued.
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close log: %w", cerr))
		}
		logger.Info("log closed", "tree_size", l.Size())
	}()

	publicURL := cfg.publicURL
	if publicURL == "" {
		publicURL = "http://" + addr
	}
	publicURL = strings.TrimSuffix(publicURL, "/")
	host, err := didWebHost(publicURL)
	if err != nil {
		return fmt.Errorf("public URL: %w", err)
	}
	identity, err := registry.New(registry.Config{
		DB: db, Host: host, PublicURL: publicURL, ContactRequestTTL: cfg.contactRequestTTL,
	})
	if err != nil {
		return err
	}
	lists, err := status.New(status.Config{DB: db, BaseURL: publicURL + "/status/"})
	if err != nil {
		return err
	}
	grants, err := grant.New(grant.Config{DB: db, Status: lists})
	if err != nil {
		return err
	}
	streams, err := events.New(events.Config{DB: db})
	if err != nil {
		return err
	}
	resolver := &did.Resolver{
		Hosted:     identity,
		HostedHost: host,
		Remote:     &web.Remote{AllowPrivate: cfg.allowPrivateDIDWeb},
		Cache:      did.NewCache(resolverCacheSize, time.Now),
	}
	srv, err := server.New(server.Config{
		Log:           l,
		VerifierKey:   keys.vkey,
		OperatorToken: token,
		Logger:        logger,
		Registerer:    reg,
		Gatherer:      reg,
		Resolver:      resolver,
		Identity: &server.IdentityConfig{
			PublicURL: publicURL, DIDWebHost: host, DB: db, Registry: identity,
			ContactRequestTTL: cfg.contactRequestTTL,
			Status:            lists, IssuerKey: issuerKey.Priv,
			Issuers: issuers,
			Grants:  grants,
			Mailbox: mailbox.New(db, mailbox.Options{}),
			Events:  streams,

			EscalationTimeout: cfg.escalationTimeout,
		},
	})
	if err != nil {
		return err
	}
	// A crash between an allowed message's decision and its delivery entry
	// leaves the message in the inbox without its entry: append it before
	// serving (spec/actions.md §7).
	if n, err := srv.RecoverDeliveries(ctx); err != nil {
		return fmt.Errorf("recover message deliveries: %w", err)
	} else if n > 0 {
		logger.Info("recovered message deliveries", "entries", n)
	}
	// The background loops use the database and the log: they stop, and
	// serve waits for them, before either closes (this defer runs before
	// the ones above), whichever way serve returns.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	background.Go(func() { loadActionFilter(bgCtx, srv, logger) })
	background.Go(func() { sweepReplayRecords(bgCtx, srv, logger) })
	background.Go(func() { expireEscalations(bgCtx, srv, expiryInterval(cfg.escalationTimeout), logger) })
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for open requests, and an event stream never ends
	// by itself: end the streams when shutdown begins.
	hs.RegisterOnShutdown(srv.CloseEvents)

	fmt.Fprintf(stdout, "clawnet ledger serving on http://%s\n", addr)
	fmt.Fprintf(stdout, "log origin: %s\n", keys.signer.Name())
	fmt.Fprintf(stdout, "log verifier key: %s\n", keys.vkey)
	fmt.Fprintf(stdout, "operator token: %s\n", filepath.Join(cfg.data, tokenFile))
	fmt.Fprintf(stdout, "public URL: %s (hosted DIDs: did:web:%s:owners:<name>)\n", publicURL, host)
	fmt.Fprintf(stdout, "credential issuer: %s\n", issuerKey.DID)
	if len(issuers) > 0 {
		fmt.Fprintf(stdout, "issuer instances: %d (clawnet issuer list --data %s)\n", len(issuers), cfg.data)
	}
	logger.Info("serving", "addr", addr, "origin", keys.signer.Name(), "data", cfg.data, "tree_size", l.Size())

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", shutdownTimeout)
	case err := <-serveErr:
		// Serve only returns early on a listener failure.
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		logger.Warn("in-flight requests did not finish in time; closing their connections", "err", err)
		_ = hs.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// resolverCacheSize bounds the resolver's cache of did:key and remote
// did:web results.
const resolverCacheSize = 100_000

// didWebHost checks that publicURL is an http(s) origin and returns its
// did:web host: the host, with the port's colon written "%3A".
func didWebHost(publicURL string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(publicURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an http(s) origin (scheme://host[:port], no path)", publicURL)
	}
	if strings.HasPrefix(u.Host, "[") {
		return "", fmt.Errorf("%q: did:web cannot name an IPv6 literal host; use a DNS name", publicURL)
	}
	return strings.ReplaceAll(strings.ToLower(u.Host), ":", "%3A"), nil
}

// loadActionFilter loads the filter of decided actions (see
// server.LoadActionFilter); serving does not wait for it.
func loadActionFilter(ctx context.Context, srv *server.Server, logger *slog.Logger) {
	start := time.Now()
	if err := srv.LoadActionFilter(ctx); err != nil {
		if ctx.Err() == nil {
			logger.Warn("load the filter of decided actions; every decision reads the store", "err", err)
		}
		return
	}
	logger.Debug("filter of decided actions loaded", "took", time.Since(start))
}

// sweepReplayRecords deletes expired jti records every minute until ctx
// ends.
func sweepReplayRecords(ctx context.Context, srv *server.Server, logger *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := srv.SweepReplayRecords(now); err != nil {
				logger.Warn("sweep expired jti records", "err", err)
			} else if n > 0 {
				logger.Debug("swept expired jti records", "deleted", n)
			}
		}
	}
}

// expiryInterval is how often serve looks for escalations past their
// deadline: a quarter of the timeout, so that a short timeout is not
// overshot by much more than itself, between 1 second (a scan of the
// pending escalations is cheap, but not free) and 30 seconds (the
// default timeout of 30 minutes needs no more). A timeout is logged at
// most this long after its deadline (spec/escalations.md §4).
func expiryInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/4, time.Second), 30*time.Second)
}

// testHookExpire, if set by a test, runs at the start of each round of
// expireEscalations.
var testHookExpire func()

// expireEscalations times out the pending escalations past their deadline
// now and every interval until ctx ends (spec/escalations.md §4).
func expireEscalations(ctx context.Context, srv *server.Server, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	now := time.Now()
	for {
		if testHookExpire != nil {
			testHookExpire()
		}
		if n, err := srv.ExpireEscalations(ctx, now); err != nil {
			logger.Warn("expire escalations", "err", err)
		} else if n > 0 {
			logger.Info("escalations timed out", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
	}
}

type logKeys struct {
	signer note.Signer
	vkey   string
}

// loadOrCreateKeys returns the log's signing key from dir, generating it on
// first start. It never overwrites a key file, and refuses to go on when
// the pair is incomplete, unreadable or mismatched, or when the stored
// origin differs from an explicit one: a log's key and origin are its
// identity, and changing either silently would make every receipt and
// checkpoint ever handed out unverifiable.
func loadOrCreateKeys(dir, origin, defaultOrigin string, logger *slog.Logger) (logKeys, error) {
	skPath, vkPath := filepath.Join(dir, signerKeyFile), filepath.Join(dir, verifierKeyFile)
	skB, skErr := os.ReadFile(skPath)
	vkB, vkErr := os.ReadFile(vkPath)
	skMissing, vkMissing := errors.Is(skErr, fs.ErrNotExist), errors.Is(vkErr, fs.ErrNotExist)

	if skMissing && vkMissing {
		if _, err := os.Stat(filepath.Join(dir, dbDir)); err == nil {
			return logKeys{}, fmt.Errorf("%s holds a log database but no %s: refusing to create a new key for an existing log (restore the key files from a backup)", dir, signerKeyFile)
		}
		if origin == "" {
			origin = defaultOrigin
		}
		if err := checkOrigin(origin); err != nil {
			return logKeys{}, fmt.Errorf("log origin derived from the address: %w; set --log-origin", err)
		}
		return createKeys(skPath, vkPath, origin, logger)
	}
	switch {
	case skMissing:
		return logKeys{}, fmt.Errorf("%s exists but %s is missing: refusing to start (restore %s, or move both away to start a new log)", vkPath, signerKeyFile, signerKeyFile)
	case vkMissing && skErr == nil:
		// The verifier key is a function of the signer key, so a start that
		// died between writing the two (createKeys writes the signer key
		// first) is repaired rather than refused.
		vkey, err := verifierKeyOf(strings.TrimSpace(string(skB)))
		if err != nil {
			return logKeys{}, fmt.Errorf("%s exists but %s is missing, and it cannot be rebuilt: %s is not a valid note signer key", skPath, verifierKeyFile, skPath)
		}
		if err := writeNewFile(vkPath, []byte(vkey+"\n"), 0o644); err != nil {
			return logKeys{}, fmt.Errorf("rebuild %s: %w", vkPath, err)
		}
		logger.Warn("rebuilt the missing verifier key from the log key", "path", vkPath)
		vkB, vkErr = []byte(vkey+"\n"), nil
	case skErr != nil:
		return logKeys{}, fmt.Errorf("read log key: %w", skErr)
	case vkErr != nil:
		return logKeys{}, fmt.Errorf("read verifier key: %w", vkErr)
	}

	signer, err := note.NewSigner(strings.TrimSpace(string(skB)))
	if err != nil {
		// The note error would repeat nothing useful; never echo key bytes.
		return logKeys{}, fmt.Errorf("%s is not a valid note signer key", skPath)
	}
	vkey := strings.TrimSpace(string(vkB))
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return logKeys{}, fmt.Errorf("%s is not a valid note verifier key: %v", vkPath, err)
	}
	msg := []byte("clawnet key pair check\n")
	sig, err := signer.Sign(msg)
	if err != nil {
		return logKeys{}, fmt.Errorf("sign with %s: %w", skPath, err)
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() || !verifier.Verify(msg, sig) {
		return logKeys{}, fmt.Errorf("%s and %s are not a key pair (signer %s+%08x, verifier %s+%08x): refusing to start",
			skPath, vkPath, signer.Name(), signer.KeyHash(), verifier.Name(), verifier.KeyHash())
	}
	if origin != "" && origin != signer.Name() {
		return logKeys{}, fmt.Errorf("--log-origin %q differs from this log's origin %q (stored as the name of %s): a log's origin cannot change; drop --log-origin or use another --data",
			origin, signer.Name(), skPath)
	}
	if fi, err := os.Stat(skPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("log key file is readable by others; chmod 600 it", "path", skPath, "mode", fi.Mode().Perm().String())
	}
	return logKeys{signer: signer, vkey: vkey}, nil
}

// verifierKeyOf derives the note verifier key from a note signer key
// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || Ed25519 seed)>", and checks
// that the derived key has the signer's key hash.
func verifierKeyOf(skey string) (string, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return "", err
	}
	// After the prefix come name, hash and key data, separated by '+';
	// the name and the hash never hold a '+', the base64 key data may.
	parts := strings.SplitN(strings.TrimPrefix(skey, "PRIVATE+KEY+"), "+", 3)
	if len(parts) != 3 {
		return "", errors.New("not a note signer key")
	}
	data, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(data) != 1+ed25519.SeedSize || data[0] != 1 {
		return "", errors.New("not an Ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(data[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return "", err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || v.KeyHash() != signer.KeyHash() {
		return "", errors.New("derived verifier key does not match the signer key")
	}
	return vkey, nil
}

func createKeys(skPath, vkPath, origin string, logger *slog.Logger) (logKeys, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return logKeys{}, fmt.Errorf("generate log key for origin %q: %w", origin, err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return logKeys{}, fmt.Errorf("generate log key: %w", err)
	}
	// The signer key first: a crash in between leaves a signer key alone,
	// from which the next start rebuilds the verifier key, rather than a
	// verifier key that nothing can sign for.
	if err := writeNewFile(skPath, []byte(skey+"\n"), 0o600); err != nil {
		return logKeys{}, err
	}
	if err := writeNewFile(vkPath, []byte(vkey+"\n"), 0o644); err != nil {
		return logKeys{}, err
	}
	logger.Info("generated a new log key", "origin", origin, "key", skPath, "verifier_key", vkPath)
	return logKeys{signer: signer, vkey: vkey}, nil
}

// minTokenLen is the shortest operator token accepted from the token file.
const minTokenLen = 32

// loadOrCreateToken returns the operator token, generating 32 random bytes
// (hex) on first start. Unlike the log key, the token may be regenerated by
// deleting the file.
func loadOrCreateToken(dir string, logger *slog.Logger) (string, error) {
	path := filepath.Join(dir, tokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("generate operator token: %w", err)
		}
		token := hex.EncodeToString(raw[:])
		if err := writeNewFile(path, []byte(token+"\n"), 0o600); err != nil {
			return "", err
		}
		logger.Info("generated an operator token", "path", path)
		return token, nil
	}
	if err != nil {
		return "", fmt.Errorf("read operator token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < minTokenLen || strings.IndexFunc(token, unicode.IsSpace) >= 0 {
		return "", fmt.Errorf("%s must hold one token of at least %d characters without spaces (delete the file to generate one)", path, minTokenLen)
	}
	return token, nil
}

// loadOrCreateIssuerKey returns the server's credential issuer key (a
// did:key key file), generating it on first start. A lost issuer key only
// changes who signs the status lists from then on (they are signed anew
// on request), so a missing one is generated with a warning when the
// database already exists.
func loadOrCreateIssuerKey(dir string, logger *slog.Logger) (*signingKey, error) {
	path := filepath.Join(dir, issuerKeyFile)
	k, err := readKeyFile(path)
	if err == nil {
		if !strings.HasPrefix(k.DID, "did:key:") {
			return nil, fmt.Errorf("%s: the issuer key must be a did:key key file", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read issuer key: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbDir)); err == nil {
		logger.Warn("no issuer key next to an existing database: generating a new one; status lists will be signed by the new key", "path", path)
	}
	d, priv, err := did.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err := marshalKeyFile(priv, keyDIDURL(d))
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(path, b, 0o600); err != nil {
		return nil, err
	}
	logger.Info("generated a credential issuer key", "path", path, "did", d)
	return &signingKey{Priv: priv, KID: keyDIDURL(d), DID: d, Path: path}, nil
}

// writeNewFile creates path with data and perm, failing if it exists, and
// syncs it so that a key is never half-written after a crash.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
