// Package server is the HTTP API of a ClawNet ledger (spec/openapi.yaml). It
// is the only package that picks HTTP status codes.
//
// It promises that:
//   - every non-2xx response is a JSON ErrorBody with a stable code, and a
//     client mistake (bad path, parameter, body, method, media type, token)
//     never yields a 500;
//   - internal error details are logged and never sent to clients;
//   - every inclusion and consistency proof it serves has been verified
//     against the root it claims before it is sent;
//   - a request that is rejected appends nothing to the log.
//
// The log read path follows C2SP tlog-checkpoint, signed-note and
// tlog-tiles, so that unmodified tlog clients can read and verify the log.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Log is what the server needs from the accountability log. *sequencer.Log
// implements it; its contract is the sequencer's: Append returns only once
// the entry is durable, and every read sees only durable entries.
type Log interface {
	Append(ctx context.Context, e *transparency.Entry, apply sequencer.Apply) (sequencer.Appended, error)
	ReceiptFor(a sequencer.Appended) (*transparency.Receipt, error)
	Checkpoint() (signed []byte, size uint64, root transparency.Hash)
	Size() uint64
	Entry(index uint64) ([]byte, error)
	LeafHashAt(index uint64) (transparency.Hash, error)
	IndexOf(leaf transparency.Hash) (uint64, error)
	RootAt(size uint64) (transparency.Hash, error)
	InclusionProof(index, size uint64) ([]transparency.Hash, error)
	ProveInclusion(index, size uint64) (sequencer.Inclusion, error)
	ConsistencyProof(size1, size2 uint64) ([]transparency.Hash, error)
	Receipt(index uint64) (*transparency.Receipt, error)
	ReadTile(t transparency.TileID) ([]byte, error)
	Err() error
}

var _ Log = (*sequencer.Log)(nil)

// Config configures New.
type Config struct {
	// Log is the log to serve. Required.
	Log Log
	// VerifierKey is the log's note verifier key string, served at /log/key.
	// Required.
	VerifierKey string
	// OperatorToken authorizes POST /log/v1/entries. Empty disables the
	// endpoint (403 operator_disabled).
	OperatorToken string
	// Logger receives access logs at debug level and internal errors at
	// error level. Nil discards.
	Logger *slog.Logger
	// Registerer receives the server's metrics, and Gatherer is served at
	// /metrics. If both are nil, a private registry is used for both.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Clock stamps entries appended through the API. Nil means time.Now.
	Clock func() time.Time

	// Resolver resolves DIDs for GET /1.0/identifiers/{did} and, with
	// Identity, for signed requests and credentials. Nil resolves did:key
	// only.
	Resolver *did.Resolver
	// Identity, if set, enables the identity API (signed requests, hosted
	// did:web, owners, agents, contacts: spec/identity.md). Nil serves
	// the log and did:key resolution only.
	Identity *IdentityConfig
}

// IdentityConfig configures the identity API. Every field is required.
type IdentityConfig struct {
	// PublicURL is the server's public origin (scheme://host[:port]): the
	// audience of signed requests and the base of hosted did:web.
	PublicURL string
	// DIDWebHost is the did:web host of the hosted DIDs (the PublicURL's
	// host, port colon written "%3A").
	DIDWebHost string
	// DB is the database; signed requests record their jti in it.
	DB *store.DB
	// Registry holds owners, agents, contacts and hosted DIDs.
	Registry *registry.Registry
	// Status holds the revocation status lists, and IssuerKey is the
	// server's credential issuer key that signs them. Both or neither:
	// without them the credential endpoints are off.
	Status    *status.Lists
	IssuerKey ed25519.PrivateKey
	// Grants is the registry of registered delegation credentials
	// (spec/grants.md); nil disables its endpoints. Needs Status.
	Grants *grant.Registry
	// Issuers are the operator's issuer instances for custodial issuance
	// (POST /issuers/{name}/credentials/issue, spec/vc-api.md), by name
	// ([a-z0-9][a-z0-9-]{0,62}); IssuerKey is the default instance
	// (POST /credentials/issue). Needs Status.
	Issuers map[string]ed25519.PrivateKey
	// ContactRequestTTL is the registry's contact request lifetime, for
	// the expiry the API reports; 0 means registry.DefaultContactRequestTTL.
	ContactRequestTTL time.Duration
	// Mailbox holds the agents' inboxes (spec/inbox.md); nil disables the
	// inbox endpoints and message delivery.
	Mailbox *mailbox.Mailbox
	// Events holds the owners' and agents' event streams (spec/events.md);
	// nil disables the event endpoints (and emit does nothing).
	// EventHeartbeat is the streams' heartbeat; 0 means
	// DefaultEventHeartbeat.
	Events         *events.Streams
	EventHeartbeat time.Duration
	// EscalationTimeout is how long an escalated action waits for its
	// owner's answer before ExpireEscalations times it out
	// (spec/escalations.md §1); 0 means DefaultEscalationTimeout (30
	// minutes). It applies to every pending escalation, including those
	// decided under another timeout before a restart.
	EscalationTimeout time.Duration
}

// maxBodySize bounds every request body.
const maxBodySize = 64 << 10

// Server serves the API. It is safe for concurrent use: after New it holds
// no mutable state but its metrics, which are themselves concurrency-safe.
type Server struct {
	log       Log
	vkey      string
	tokenHash [sha256.Size]byte // SHA-256 of the operator token
	operator  bool              // whether an operator token is configured
	logger    *slog.Logger
	clock     func() time.Time
	metrics   *metrics
	gatherer  prometheus.Gatherer
	promh     http.Handler // serves gatherer
	handler   http.Handler

	resolver *did.Resolver // never nil
	answers  answerCache   // encoded did:key resolutions
	// The identity API; registry is nil when it is disabled.
	registry   *registry.Registry
	auth       *signedAuth
	didWebHost string
	contactTTL time.Duration
	// Credentials; status is nil when they are disabled.
	status *status.Lists
	issuer *issuer
	lists  listCache
	// issuers are the named issuer instances of the VC-API.
	issuers map[string]*issuer
	// grants is the delegation credential registry (nil: disabled);
	// grantSetCache its compiled scopes.
	grants        *grant.Registry
	grantSetCache grantSets
	// mailbox holds the agents' inboxes (nil: disabled).
	mailbox *mailbox.Mailbox
	// events holds the event streams (nil: disabled); sse is the serving
	// side of them (eventsapi.go).
	events *events.Streams
	sse    eventStreams
	// escalationTimeout is IdentityConfig.EscalationTimeout, defaulted.
	escalationTimeout time.Duration
	// decided is the filter of the action records (actionPrefix): a new
	// request id is decided without a store read once it is loaded
	// (LoadActionFilter). Nil without the identity API.
	decided *store.Filter
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		return nil, errors.New("server: Config.Log is required")
	}
	v, err := transparency.NewVerifier(cfg.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("server: Config.VerifierKey: %w", err)
	}
	// Serving a key that does not verify the log's checkpoints would make
	// every receipt look forged; refuse the misconfiguration up front.
	if signed, _, _ := cfg.Log.Checkpoint(); len(signed) > 0 {
		if _, err := transparency.OpenCheckpoint(signed, v); err != nil {
			return nil, fmt.Errorf("server: Config.VerifierKey does not verify the log's checkpoint: %w", err)
		}
	}
	s := &Server{
		log:      cfg.Log,
		vkey:     strings.TrimSpace(cfg.VerifierKey),
		operator: cfg.OperatorToken != "",
		logger:   cfg.Logger,
		clock:    cfg.Clock,
		gatherer: cfg.Gatherer,
	}
	if s.operator {
		s.tokenHash = sha256.Sum256([]byte(cfg.OperatorToken))
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	reg := cfg.Registerer
	switch {
	case reg == nil && s.gatherer == nil:
		r := prometheus.NewRegistry()
		reg, s.gatherer = r, r
	case reg == nil || s.gatherer == nil:
		return nil, errors.New("server: set both Config.Registerer and Config.Gatherer, or neither")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.metrics = m
	s.resolver = cfg.Resolver
	if s.resolver == nil {
		s.resolver = &did.Resolver{}
	}
	if id := cfg.Identity; id != nil {
		if id.PublicURL == "" || id.DIDWebHost == "" || id.DB == nil || id.Registry == nil {
			return nil, errors.New("server: Config.Identity needs PublicURL, DIDWebHost, DB and Registry")
		}
		if s.auth, err = newSignedAuth(id.PublicURL, s.resolveDocument, id.DB, s.clock); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.registry, s.didWebHost, s.contactTTL = id.Registry, id.DIDWebHost, id.ContactRequestTTL
		s.decided = store.NewFilter([]byte(actionPrefix))
		s.mailbox = id.Mailbox
		if s.events = id.Events; s.events != nil {
			s.sse = eventStreams{heartbeat: id.EventHeartbeat, closed: make(chan struct{})}
			if s.sse.heartbeat <= 0 {
				s.sse.heartbeat = DefaultEventHeartbeat
			}
		}
		if (id.Status == nil) != (id.IssuerKey == nil) {
			return nil, errors.New("server: Config.Identity needs both Status and IssuerKey, or neither")
		}
		if id.Grants != nil && id.Status == nil {
			return nil, errors.New("server: Config.Identity.Grants needs Status")
		}
		if id.Status != nil {
			if len(id.IssuerKey) != ed25519.PrivateKeySize {
				return nil, errors.New("server: Config.Identity.IssuerKey is not an Ed25519 private key")
			}
			s.status, s.issuer = id.Status, newIssuer(id.IssuerKey)
			s.grants = id.Grants
			if s.issuers, err = issuerInstances(id.Issuers); err != nil {
				return nil, fmt.Errorf("server: Config.Identity.Issuers: %w", err)
			}
		}
		if s.contactTTL == 0 {
			s.contactTTL = registry.DefaultContactRequestTTL
		}
		switch s.escalationTimeout = id.EscalationTimeout; {
		case s.escalationTimeout < 0:
			return nil, errors.New("server: Config.Identity.EscalationTimeout is negative")
		case s.escalationTimeout == 0:
			s.escalationTimeout = DefaultEscalationTimeout
		}
	}
	s.promh = promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.handler }

// handlerFunc is an API handler: it writes a success response itself and
// returns any error, which the route wrapper turns into a JSON error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	method, path string
	h            handlerFunc
}

const tilePrefix = "/log/tile/"

// routeTable lists every route but the tiles, which routes() dispatches
// before the mux.
func (s *Server) routeTable() []route {
	routes := []route{
		{"GET", "/healthz", s.healthz},
		{"GET", "/metrics", s.serveMetrics},
		{"GET", "/log/checkpoint", s.checkpoint},
		{"GET", "/log/key", s.key},
		{"GET", "/log/v1/entries/{index}", s.entry},
		{"POST", "/log/v1/entries", s.appendNote},
		{"GET", "/log/v1/proof/inclusion", s.inclusionProof},
		{"GET", "/log/v1/proof/consistency", s.consistencyProof},
		{"GET", "/log/v1/receipts/{index}", s.receipt},
	}
	if s.registry != nil {
		routes = append(routes, s.identityRoutes()...)
	}
	if s.mailbox != nil {
		routes = append(routes, s.inboxRoutes()...)
	}
	if s.events != nil {
		routes = append(routes, s.eventRoutes()...)
	}
	if s.status != nil {
		routes = append(routes, s.statusRoutes()...)
		routes = append(routes, s.vcapiRoutes()...)
		if s.grants != nil {
			routes = append(routes, s.grantRoutes()...)
		}
	}
	if s.registry != nil && s.grants != nil {
		routes = append(routes, s.actionRoutes()...)
		routes = append(routes, s.escalationRoutes()...)
	}
	return routes
}

func (s *Server) routes() http.Handler {
	routes := s.routeTable()
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		pattern := rt.method + " " + rt.path
		mux.Handle(pattern, s.wrap(pattern, rt.h))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// ServeMux answers a known path with another method with a plain-text
	// 405; a method-less pattern per path is less specific than the
	// method patterns and catches those requests to answer in JSON.
	for _, p := range paths {
		mux.Handle(p, s.wrap(p, methodNotAllowed(allowed[p])))
	}
	mux.Handle("/", s.wrap("unmatched", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, CodeNotFound, "no such path")
	}))

	// Tile paths bypass the mux: it would redirect unclean paths such as
	// "/log/tile/0//001" instead of letting us reject them as malformed.
	tiles := s.wrap("GET "+tilePrefix, s.tile)
	tilesMethod := s.wrap(tilePrefix, methodNotAllowed([]string{"GET"}))
	// DID resolution bypasses the mux too: see identifiersPrefix.
	resolve := s.wrap("GET "+identifiersPrefix+"{did}", s.resolveDID)
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, identifiersPrefix) {
			resolve.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, tilePrefix) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				tiles.ServeHTTP(w, r)
			} else {
				tilesMethod.ServeHTTP(w, r)
			}
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s.middleware(root)
}

func methodNotAllowed(methods []string) handlerFunc {
	allow := strings.Join(methods, ", ")
	for _, m := range methods {
		if m == "GET" {
			allow += ", HEAD"
		}
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s not allowed; allowed: %s", r.Method, allow)
	}
}

// requestState is shared between the middleware and the route wrapper of
// one request; only that request's goroutine touches it.
type requestState struct {
	route string
}

type stateKey struct{}

// wrap turns a handlerFunc into an http.Handler that labels the request
// with its route and writes any returned error as JSON.
func (s *Server) wrap(routeName string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
			st.route = routeName
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// middleware adds panic recovery, metrics and access logging.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{route: "unmatched"}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.metrics.panics.Inc()
				s.logger.Error("panic in HTTP handler", "panic", fmt.Sprint(v),
					"method", r.Method, "path", r.URL.Path, "stack", string(debug.Stack()))
				if !rec.wroteHeader {
					s.writeError(rec, r, &apiError{http.StatusInternalServerError, CodeInternal, "internal error", nil})
				}
			}
			status := rec.status
			if !rec.wroteHeader {
				status = http.StatusOK
			}
			d := time.Since(start)
			code := strconv.Itoa(status)
			s.metrics.requests.WithLabelValues(st.route, code).Inc()
			s.metrics.duration.WithLabelValues(st.route).Observe(d.Seconds())
			// Checked first: building the attributes costs allocations on
			// every request even when debug logging is off.
			if s.logger.Enabled(r.Context(), slog.LevelDebug) {
				s.logger.Debug("http request", "method", r.Method, "path", r.URL.Path, "route", st.route,
					"status", status, "bytes", rec.bytes, "duration", d, "remote", r.RemoteAddr)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder captures the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writeError writes err as a JSON error body. Server-side failures are
// logged with their cause; client mistakes are not (they are counted).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	s.metrics.errors.WithLabelValues(ae.code).Inc()
	if ae.status >= 500 {
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path,
			"status", ae.status, "code", ae.code, "err", err)
	}
	h := w.Header()
	// Headers meant for a success response must not survive on an error.
	h.Del("Cache-Control")
	h.Del("Location")
	if ae.status == http.StatusServiceUnavailable || ae.status == http.StatusInternalServerError {
		h.Set("Cache-Control", "no-store")
	}
	writeJSON(w, ae.status, ErrorBody{Error: ErrorDetail{Code: ae.code, Message: ae.message}})
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here, and they always encode.
		panic(fmt.Sprintf("server: encode response: %v", err))
	}
	writeJSONBytes(w, status, b)
}

// writeJSONBytes writes b, an encoded JSON value, as writeJSON does.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Header values shared by every JSON response, set without Header.Set's
// canonicalization and allocation. net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.promh.ServeHTTP(w, r)
	return nil
}
