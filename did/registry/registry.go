package registry

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
)

// DefaultContactRequestTTL is how long a contact request stays pending when
// Config.ContactRequestTTL is 0.
const DefaultContactRequestTTL = 7 * 24 * time.Hour

// Config configures New. Each field's comment is its documentation.
type Config struct {
	// DB is the shared database; the registry owns the keys under "d/".
	DB *store.DB
	// Host is the did:web host of the DIDs hosted here: the public origin's
	// host with the port's ":" written "%3A", such as "localhost%3A8080".
	Host string
	// PublicURL is the public origin (scheme and host, no path), such as
	// "http://localhost:8080"; the logEntry metadata of a hosted DID
	// version points below it.
	PublicURL string
	// ContactRequestTTL is how long a contact request stays pending; 0
	// means DefaultContactRequestTTL.
	ContactRequestTTL time.Duration
}

// Registry is the identity registry. It is safe for concurrent use.
type Registry struct {
	db        *store.DB
	host      string
	webPrefix string // "did:web:<host>:"
	publicURL string
	ttl       time.Duration
	cache     cache
}

// nameRE is the syntax of a hosted DID's name and of an Identity Agent's
// context: a DNS label in lowercase.
var nameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// New returns a registry on c.DB.
func New(c Config) (*Registry, error) {
	if c.DB == nil {
		return nil, errors.New("new registry: no database")
	}
	if c.Host == "" {
		return nil, errors.New("new registry: empty host")
	}
	if _, err := did.WebURL("did:web:" + c.Host + ":owners:x"); err != nil || strings.Contains(c.Host, ":") {
		return nil, fmt.Errorf("new registry: host %q is not a did:web host (write the port's colon as %%3A)", c.Host)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("new registry: public URL %q is not an http(s) origin", c.PublicURL)
	}
	if c.ContactRequestTTL < 0 {
		return nil, errors.New("new registry: negative contact request TTL")
	}
	if c.ContactRequestTTL == 0 {
		c.ContactRequestTTL = DefaultContactRequestTTL
	}
	r := &Registry{
		db:        c.DB,
		host:      c.Host,
		webPrefix: "did:web:" + c.Host + ":",
		publicURL: strings.TrimSuffix(c.PublicURL, "/"),
		ttl:       c.ContactRequestTTL,
	}
	r.cache.init()
	return r, nil
}

// Request is the authenticated request behind an Op, as the signed-request
// verifier established it.
type Request struct {
	// Signer is the DID that signed the request.
	Signer string
	// KID is the verification method that signed it (a DID URL of Signer).
	KID string
	// Digest is the request digest ("sha256:" hex of the compact JWS),
	// written as the entry's request_digest.
	Digest string
	// Time is the server's clock when it took the request: the entry's
	// time, and "now" for contact request expiry.
	Time time.Time
}

func (q Request) check() error {
	u, err := did.ParseDIDURL(q.Signer)
	if err != nil || u.DID != q.Signer {
		return fmt.Errorf("registry: request signer %.80q is not a DID", q.Signer)
	}
	if q.Time.IsZero() {
		return errors.New("registry: request without time")
	}
	return nil
}

// Op is one state change: the entry to append and the Apply that checks the
// rules inside the sequencer and writes the state. The result fields are
// set by Apply; read them only after Append succeeded.
type Op struct {
	// Entry is the log entry to append.
	Entry *transparency.Entry
	// Apply is the sequencer.Apply to append it with.
	Apply sequencer.Apply

	// DID is the hosted DID (CreateHosted, RotateHosted,
	// DeactivateHosted), the owner (RegisterOwner) or the agent (BindAgent,
	// UnbindAgent).
	DID string
	// VersionID is the hosted DID's new versionId (the entry's log index).
	VersionID string
	// KeyID is the verification method of the hosted DID's new key
	// (CreateHosted, RotateHosted).
	KeyID string
	// RequestID is the contact request (RequestContact, AcceptContact).
	RequestID string
	// Counterparty is the other owner (contact operations).
	Counterparty string
	// RemovedContacts lists the owners whose contact with the unbound
	// agent's owner was removed with it (UnbindAgent), sorted.
	RemovedContacts []string

	// invalidate are the cache keys the change touches, for Committed.
	invalidate []string
}

// Committed must be called after Append returned for op, whether it
// succeeded or not. Apply already dropped the cache entries the change
// touches, but Apply runs before the batch is committed: a reader that
// missed the cache in between read the old committed state and may have
// cached it. Dropping again here, after the commit, removes that. (The
// cache's generation counters make a fill that started before an
// invalidation never land, so the two drops together close the window.)
func (r *Registry) Committed(op *Op) {
	if op == nil {
		return
	}
	for _, k := range op.invalidate {
		r.cache.invalidate(k)
	}
}

// entry returns the entry skeleton every registry event shares.
func entry(typ string, q Request) *transparency.Entry {
	return &transparency.Entry{
		Version:       transparency.EntryVersion,
		Type:          typ,
		Time:          q.Time.UTC(),
		Actor:         q.Signer,
		Decision:      transparency.DecisionRecorded,
		RequestDigest: q.Digest,
	}
}

// getter is what both a store.Tx (inside Apply) and the store.DB (reads)
// offer.
type getter interface {
	Get(key []byte) ([]byte, error)
}

// load reads and decodes k into v; found is false if k is absent.
func load(g getter, k []byte, v any) (found bool, err error) {
	b, err := g.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registry: read %q: %w", k, err)
	}
	if err := decode(b, v); err != nil {
		return false, fmt.Errorf("read %q: %w", k, err)
	}
	return true, nil
}

func exists(g getter, k []byte) (bool, error) {
	_, err := g.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registry: read %q: %w", k, err)
	}
	return true, nil
}

// checkActive refuses a DID hosted here that is deactivated; any other DID
// passes (remote and did:key DIDs cannot be deactivated here).
func checkActive(g getter, d, role string) error {
	var h hostedHead
	found, err := load(g, headKey(d), &h)
	if err != nil {
		return err
	}
	if found && h.Deactivated {
		return refuse(CodeDIDDeactivated, "the %s %s is deactivated", role, d)
	}
	return nil
}

// checkOwner refuses a signer that is deactivated or not a registered owner.
func checkOwner(g getter, d string) error {
	if err := checkActive(g, d, "signer"); err != nil {
		return err
	}
	ok, err := exists(g, ownerKey(d))
	if err != nil {
		return err
	}
	if !ok {
		return refuse(CodeOwnerNotRegistered, "the signer %s is not a registered owner", d)
	}
	return nil
}

// isDID reports whether s is a bare DID (no path, query or fragment).
func isDID(s string) bool {
	u, err := did.ParseDIDURL(s)
	return err == nil && u.DID == s
}
