package grant

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/scope"
	"github.com/clawnet/ledger/vc/status"
)

// Config configures New. Each field's comment is its documentation.
type Config struct {
	// DB is the shared database; the registry owns the keys under
	// "v/grant/".
	DB *store.DB
	// Status holds the revocation entries of the credentials; Revoke
	// revokes through it.
	Status *status.Lists
}

// Registry is the registry of registered delegation credentials. It is
// safe for concurrent use.
type Registry struct {
	db     *store.DB
	status *status.Lists
	cache  cache
}

// New returns the registry on c.DB.
func New(c Config) (*Registry, error) {
	if c.DB == nil {
		return nil, errors.New("new grant registry: no database")
	}
	if c.Status == nil {
		return nil, errors.New("new grant registry: no status lists")
	}
	r := &Registry{db: c.DB, status: c.Status}
	r.cache.m = map[string]*Record{}
	return r, nil
}

// Request is the authenticated request behind an Op, as the signed-request
// verifier established it.
type Request struct {
	// Signer is the DID that signed the request.
	Signer string
	// KID is the verification method that signed it.
	KID string
	// Digest is the request digest, written as the entry's
	// request_digest.
	Digest string
	// Time is the server's clock when it took the request: the entry's
	// time.
	Time time.Time
}

func (q Request) check() error {
	if !isDID(q.Signer) {
		return fmt.Errorf("grant: request signer %.80q is not a DID", q.Signer)
	}
	if q.Time.IsZero() {
		return errors.New("grant: request without time")
	}
	return nil
}

// Op is one state change: the entry to append and the Apply that checks
// the rules inside the sequencer and writes the state. Append it with
// sequencer.Log.Append(ctx, op.Entry, op.Apply), then call Committed(op)
// whether Append succeeded or not.
type Op struct {
	// Entry is the log entry to append.
	Entry *transparency.Entry
	// Apply is the sequencer.Apply to append it with.
	Apply sequencer.Apply

	// Record is the registered credential (Register); its
	// RegisteredIndex and Depth are set by Apply.
	Record *Record
	// Revoked is the revoked credential (Revoke), Cascade the
	// sub-delegations revoked with it, parents before children.
	Revoked string
	Cascade []string

	// statusOps are the status list ops Apply ran (Revoke), for
	// Committed; invalidate the record ids to drop from the cache.
	statusOps  []*status.Op
	invalidate []string
}

// Committed must be called after Append returned for op, whether it
// succeeded or not: it publishes the status lists that the revocation
// changed, and drops the cached records the change touched (again: Apply
// dropped them before the batch committed, and a reader may have cached
// the old committed record in between).
func (r *Registry) Committed(op *Op) {
	if op == nil {
		return
	}
	for _, so := range op.statusOps {
		r.status.Committed(so)
	}
	for _, id := range op.invalidate {
		r.cache.invalidate(id)
	}
}

// idRE is the credential ids this registry accepts: delegation.NewID's
// form. Keys rely on ids having no "/".
var idRE = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ValidID reports whether id is a credential id of the form this registry
// accepts ("urn:uuid:" and a lowercase UUID).
func ValidID(id string) bool { return idRE.MatchString(id) }

// validate checks the invariants of a record built from a verified
// credential (and of a stored one).
func (rec *Record) validate() error {
	switch {
	case !ValidID(rec.ID):
		return Refuse(CodeMalformed, "credential id %.80q is not urn:uuid: and a lowercase UUID", rec.ID)
	case rec.Parent != "" && !ValidID(rec.Parent):
		return Refuse(CodeMalformed, "parent credential id %.80q is not urn:uuid: and a lowercase UUID", rec.Parent)
	case rec.Parent == rec.ID:
		return Refuse(CodeMalformed, "credential %s names itself as its parent", rec.ID)
	case rec.Format != delegation.FormatJWT && rec.Format != delegation.FormatLDP:
		return Refuse(CodeMalformed, "format %.16q is neither jwt nor ldp", rec.Format)
	case rec.Raw == "" || rec.Digest != delegation.Digest([]byte(rec.Raw)):
		return Refuse(CodeMalformed, "digest is not the digest of the credential's bytes")
	case !isDID(rec.Issuer) || !isDID(rec.Subject) || !isDID(rec.Owner):
		return Refuse(CodeMalformed, "issuer, subject and owner must be DIDs")
	case rec.Status.ID == "" || len(rec.Status.ID) > 1024:
		return Refuse(CodeStatusMissing, "the credential has no status entry")
	case rec.Depth < 0 || rec.Depth > delegation.MaxSubdelegationDepth+1 ||
		rec.MaxSubdelegationDepth < 0 || rec.MaxSubdelegationDepth > delegation.MaxSubdelegationDepth:
		return Refuse(CodeMalformed, "depths out of range")
	case rec.NotBefore.IsZero() || !rec.NotAfter.After(rec.NotBefore):
		return Refuse(CodeMalformed, "validity period empty")
	}
	if _, err := scope.Parse(rec.Scopes); err != nil {
		return Refuse(CodeMalformed, "scopes: %v", err)
	}
	if _, err := rec.Status.Validate(); err != nil {
		return Refuse(CodeMalformed, "status entry: %v", err)
	}
	return nil
}

// Register returns the op that registers rec, a credential the server
// verified and whose rules it checked (spec/grants.md, "Registration"). Its
// entry is vc.granted: actor q.Signer, owner rec.Owner, subject the
// credential id, authz the id and digest, resource the format, and for a
// sub-delegation reason "subdelegation of <parent>". Apply re-checks what
// a concurrent change could break: the id is not registered
// (CodeIDTaken), the status entry names no other credential
// (CodeStatusReused), the parent is registered (CodeParentUnknown), held
// by the issuer for the same owner (CodeIssuerNotParentHolder,
// CodeSubjectOtherOwner), neither it nor an ancestor revoked
// (CodeParentRevoked), and it allows one more level (CodeDepthExceeded).
// Apply sets rec's Depth and RegisteredIndex.
func (r *Registry) Register(q Request, rec Record) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	rec.Depth, rec.Revoked, rec.RevokedIndex, rec.RevokedTime, rec.RevokedBy = 0, false, 0, time.Time{}, ""
	rec.RegisteredTime = q.Time.UTC()
	if err := rec.validate(); err != nil {
		return nil, err
	}
	e := logEntry("vc.granted", q)
	e.Owner, e.Subject, e.Resource = rec.Owner, rec.ID, string(rec.Format)
	e.Authz = &transparency.AuthzRef{Credential: rec.ID, Digest: rec.Digest}
	if rec.Parent != "" {
		e.Reason = "subdelegation of " + rec.Parent
	}
	op := &Op{Entry: e, Record: &rec}
	op.Apply = func(tx *store.Tx) error {
		if ok, err := exists(tx, recordKey(rec.ID)); err != nil {
			return err
		} else if ok {
			return Refuse(CodeIDTaken, "a credential with id %s is already registered", rec.ID)
		}
		if b, err := tx.Get(statusKey(rec.Status.ID)); err == nil {
			return Refuse(CodeStatusReused, "status entry %s belongs to credential %s", rec.Status.ID, b)
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("grant: read status index: %w", err)
		}
		depth := 0
		if rec.Parent != "" {
			p, err := loadRecord(tx, rec.Parent)
			if err != nil {
				return err
			}
			if p == nil {
				return Refuse(CodeParentUnknown, "parent credential %s is not registered", rec.Parent)
			}
			if p.Subject != rec.Issuer {
				return Refuse(CodeIssuerNotParentHolder, "the parent credential was granted to %s, not to the issuer", p.Subject)
			}
			if p.Owner != rec.Owner {
				return Refuse(CodeSubjectOtherOwner, "the parent credential belongs to another owner")
			}
			if err := checkChain(tx, p); err != nil {
				return err
			}
			if p.MaxSubdelegationDepth < 1 || rec.MaxSubdelegationDepth > p.MaxSubdelegationDepth-1 {
				return Refuse(CodeDepthExceeded, "the parent allows %d further levels; this credential asks for %d more below it",
					p.MaxSubdelegationDepth, rec.MaxSubdelegationDepth)
			}
			depth = p.Depth + 1
			kids, err := loadChildren(tx, rec.Parent)
			if err != nil {
				return err
			}
			tx.Set(childrenKey(rec.Parent), encode(append(kids, rec.ID)))
		}
		rec.Depth, rec.RegisteredIndex = depth, tx.Index()
		tx.Set(recordKey(rec.ID), encode(rec))
		tx.Set(subjectKey(rec.Subject, rec.ID), nil)
		tx.Set(ownerKey(rec.Owner, rec.ID), nil)
		tx.Set(statusKey(rec.Status.ID), []byte(rec.ID))
		return nil
	}
	return op, nil
}

// checkChain refuses p if it or one of its ancestors is revoked, as g
// sees them.
func checkChain(g getter, p *Record) error {
	for i := 0; p != nil; i++ {
		if p.Revoked {
			return Refuse(CodeParentRevoked, "credential %s in the parent chain is revoked (log entry %d)", p.ID, p.RevokedIndex)
		}
		if p.Parent == "" {
			return nil
		}
		if i > delegation.MaxSubdelegationDepth+1 {
			return fmt.Errorf("grant: parent chain of %s is longer than any allowed", p.ID)
		}
		var err error
		if p, err = loadRecord(g, p.Parent); err != nil {
			return err
		}
	}
	return fmt.Errorf("grant: a parent in the chain is missing")
}

// Revoke returns the op that revokes credential id and, with it, every
// unrevoked sub-delegation below it. The signer must be the credential's
// owner or, for a sub-delegation, its issuer (CodeNotYours); the
// credential must be registered (CodeNotFound) and not revoked
// (CodeAlreadyRevoked).
//
// The op's entry is the vc.revoked entry of vc/status (status.Lists.Revoke
// of the credential's status entry, with the cascade's ids in its reason):
// one log entry per revocation. Its actor is the signer and its owner the
// credential's owner, to whom the status entries were allocated. Apply
// runs, in one transaction, the status op of the credential and of each
// descendant (setting their bits) and marks their records revoked. If the
// sub-delegations changed between Revoke and Apply, Apply refuses with
// CodeConflict and nothing is written; the caller may retry.
func (r *Registry) Revoke(q Request, id string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, Refuse(CodeMalformed, "credential id %.80q is not urn:uuid: and a lowercase UUID", id)
	}
	rec, err := loadRecord(r.db, id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, Refuse(CodeNotFound, "no registered credential %s", id)
	}
	if q.Signer != rec.Owner && (rec.Parent == "" || q.Signer != rec.Issuer) {
		return nil, Refuse(CodeNotYours, "only the credential's owner (or, for a sub-delegation, its issuer) may revoke it")
	}
	if rec.Revoked {
		return nil, Refuse(CodeAlreadyRevoked, "credential %s is already revoked (log entry %d)", id, rec.RevokedIndex)
	}
	desc, err := descendants(r.db, rec.ID)
	if err != nil {
		return nil, err
	}
	var cascade []*Record
	for _, d := range desc {
		if !d.Revoked {
			cascade = append(cascade, d)
		}
	}
	ids := make([]string, len(cascade))
	for i, d := range cascade {
		ids[i] = d.ID
	}
	// The status entries were allocated to the owner; the status lists
	// check that, and the entry names the real signer as actor.
	sq := status.Request{Signer: rec.Owner, KID: q.KID, Digest: q.Digest, Time: q.Time}
	sop, err := r.status.Revoke(sq, rec.ID, rec.Status, ids)
	if err != nil {
		return nil, err
	}
	sop.Entry.Actor = q.Signer
	op := &Op{Entry: sop.Entry, Revoked: rec.ID, Cascade: ids, statusOps: []*status.Op{sop},
		invalidate: append([]string{rec.ID}, ids...)}
	for _, d := range cascade {
		dop, err := r.status.Revoke(sq, d.ID, d.Status, nil)
		if err != nil {
			return nil, fmt.Errorf("revoke sub-delegation %s: %w", d.ID, err)
		}
		op.statusOps = append(op.statusOps, dop)
	}
	op.Apply = func(tx *store.Tx) error {
		cur, err := loadRecord(tx, rec.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return Refuse(CodeNotFound, "no registered credential %s", rec.ID)
		}
		if cur.Revoked {
			return Refuse(CodeAlreadyRevoked, "credential %s is already revoked (log entry %d)", rec.ID, cur.RevokedIndex)
		}
		now, err := descendants(tx, rec.ID)
		if err != nil {
			return err
		}
		var live []*Record
		for _, d := range now {
			if !d.Revoked {
				live = append(live, d)
			}
		}
		if !slices.EqualFunc(live, cascade, func(a, b *Record) bool { return a.ID == b.ID }) {
			return Refuse(CodeConflict, "the sub-delegations of %s changed during the revocation; retry", rec.ID)
		}
		for _, so := range op.statusOps {
			if err := so.Apply(tx); err != nil {
				return err
			}
		}
		for _, d := range append([]*Record{cur}, live...) {
			d.Revoked, d.RevokedIndex, d.RevokedTime, d.RevokedBy = true, tx.Index(), q.Time.UTC(), rec.ID
			tx.Set(recordKey(d.ID), encode(d))
			r.cache.invalidate(d.ID)
		}
		return nil
	}
	return op, nil
}

// descendants returns every registered credential below id, as g sees
// them, breadth first (parents before children).
func descendants(g getter, id string) ([]*Record, error) {
	var out []*Record
	queue := []string{id}
	for len(queue) > 0 {
		kids, err := loadChildren(g, queue[0])
		if err != nil {
			return nil, err
		}
		queue = queue[1:]
		for _, k := range kids {
			rec, err := loadRecord(g, k)
			if err != nil {
				return nil, err
			}
			if rec == nil {
				return nil, fmt.Errorf("grant: sub-delegation %s of %s has no record", k, id)
			}
			out = append(out, rec)
			queue = append(queue, k)
		}
		// Depth is bounded, but the fan-out is not: bound the walk.
		if len(out) > maxDescendants {
			return nil, fmt.Errorf("grant: more than %d sub-delegations below %s", maxDescendants, id)
		}
	}
	return out, nil
}

// maxDescendants bounds a revocation's cascade; the status lists refuse
// a cascade that does not fit a log entry's reason well below it.
const maxDescendants = 4096

// Get returns the registered credential id (CodeNotFound if none). It is
// served from a cache: the result is shared and must not be modified.
func (r *Registry) Get(id string) (*Record, error) {
	rec, gen, ok := r.cache.get(id)
	if ok {
		return rec, nil
	}
	rec, err := loadRecord(r.db, id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, Refuse(CodeNotFound, "no registered credential %.80s", id)
	}
	r.cache.put(id, rec, gen)
	return rec, nil
}

// Chain returns the credential id and its ancestors, the credential first
// and the owner's grant last.
func (r *Registry) Chain(id string) ([]Record, error) {
	var out []Record
	for cur := id; cur != ""; {
		if len(out) > delegation.MaxSubdelegationDepth+1 {
			return nil, fmt.Errorf("grant: parent chain of %s is longer than any allowed", id)
		}
		rec, err := r.Get(cur)
		if err != nil {
			if len(out) > 0 && CodeOf(err) == CodeNotFound {
				return nil, fmt.Errorf("grant: parent %s of a registered credential has no record", cur)
			}
			return nil, err
		}
		out = append(out, *rec)
		cur = rec.Parent
	}
	return out, nil
}

// Descendants returns every registered credential below id (revoked or
// not), parents before children. id must be registered (CodeNotFound).
func (r *Registry) Descendants(id string) ([]Record, error) {
	if _, err := r.Get(id); err != nil {
		return nil, err
	}
	d, err := descendants(r.db, id)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(d))
	for i, rec := range d {
		out[i] = *rec
	}
	return out, nil
}

// BySubject returns the credentials granted to agent, revoked or not, in
// the order of their ids.
func (r *Registry) BySubject(agent string) ([]Record, error) {
	return r.scan(subjectPrefix(agent))
}

// ByOwner returns the credentials of owner's agents, revoked or not, in
// the order of their ids.
func (r *Registry) ByOwner(owner string) ([]Record, error) {
	return r.scan(ownerPrefix(owner))
}

func (r *Registry) scan(prefix []byte) ([]Record, error) {
	var ids []string
	err := r.db.Scan(prefix, store.PrefixEnd(prefix), func(k, _ []byte) (bool, error) {
		ids = append(ids, string(k[len(prefix):]))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("grant: list credentials: %w", err)
	}
	out := make([]Record, 0, len(ids))
	for _, id := range ids {
		rec, err := loadRecord(r.db, id)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("grant: indexed credential %s has no record", id)
		}
		out = append(out, *rec)
	}
	return out, nil
}

// ByStatus returns the id of the credential whose status entry is
// entryID, or "" if none.
func (r *Registry) ByStatus(entryID string) (string, error) {
	b, err := r.db.Get(statusKey(entryID))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("grant: read status index: %w", err)
	}
	return string(b), nil
}

// cache holds committed records by id, for the check on every action.
// Only registered records are cached. A fill reads the generation, then
// the store, and stores only if no invalidation happened in between (one
// generation for all keys: invalidations are revocations, which are rare).
// mu guards m and gen.
type cache struct {
	mu  sync.RWMutex
	m   map[string]*Record
	gen uint64
}

const maxCached = 1 << 16

func (c *cache) get(id string) (*Record, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if rec, ok := c.m[id]; ok {
		return rec, 0, true
	}
	return nil, c.gen, false
}

func (c *cache) put(id string, rec *Record, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[id] = rec
}

func (c *cache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
	c.gen++
}

func logEntry(typ string, q Request) *transparency.Entry {
	return &transparency.Entry{
		Version:       transparency.EntryVersion,
		Type:          typ,
		Time:          q.Time.UTC(),
		Actor:         q.Signer,
		Decision:      transparency.DecisionRecorded,
		RequestDigest: q.Digest,
	}
}

func exists(g getter, k []byte) (bool, error) {
	_, err := g.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("grant: read %q: %w", k, err)
	}
	return true, nil
}

// isDID reports whether s is a bare DID (no path, query or fragment).
func isDID(s string) bool {
	u, err := did.ParseDIDURL(s)
	return err == nil && u.DID == s
}
