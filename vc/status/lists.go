package status

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
)

// DefaultListSize is the number of entries of a list when Config.ListSize
// is 0: the spec's minimum, 16 KiB.
const DefaultListSize = MinBits

// MaxListSize bounds Config.ListSize: a revocation rewrites the list's
// bytes in its batch, so a list stays small (1 MiB, 8,388,608 entries).
const MaxListSize = 8 << 20

// Config configures New. Each field's comment is its documentation.
type Config struct {
	// DB is the shared database; Lists owns the keys under "v/status/".
	DB *store.DB
	// BaseURL is the URL the lists are served under, ending in "/": list
	// n is at BaseURL + n (decimal, from 1), such as
	// "http://localhost:8080/status/1".
	BaseURL string
	// ListSize is the number of entries (bits) of each new list: a
	// multiple of 8 from MinBits to MaxListSize; 0 means DefaultListSize.
	// A list keeps the size it was created with.
	ListSize int
}

// Store layout (not part of the wire format; spec/status-list.md is):
//
//	v/status/head                  head          the list and index of the next allocation
//	v/status/list/<8-byte BE list> listMeta      size, creation, version
//	v/status/bits/<8-byte BE list> raw bytes     the bitstring (index 0 = MSB of byte 0)
//	v/status/e/<list><index>       entryRecord   one per allocated index (8-byte BE each)
const (
	keyHead     = "v/status/head"
	prefixMeta  = "v/status/list/"
	prefixBits  = "v/status/bits/"
	prefixEntry = "v/status/e/"
)

func be64(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return b[:]
}

func metaKey(list uint64) []byte { return append([]byte(prefixMeta), be64(list)...) }
func bitsKey(list uint64) []byte { return append([]byte(prefixBits), be64(list)...) }
func entryKey(list, index uint64) []byte {
	return append(append([]byte(prefixEntry), be64(list)...), be64(index)...)
}

type head struct {
	List uint64 `json:"list"`
	Next uint64 `json:"next"`
}

type listMeta struct {
	Size    uint64    `json:"size"`
	Created uint64    `json:"created"` // log index of the allocation that created it
	Time    time.Time `json:"time"`
	Version uint64    `json:"version"` // log index of the last change (creation or revocation)
	Revoked uint64    `json:"revoked"`
}

type entryRecord struct {
	Owner          string    `json:"owner"`
	AllocatedIndex uint64    `json:"allocated_index"`
	AllocatedTime  time.Time `json:"allocated_time"`
	Revoked        bool      `json:"revoked,omitempty"`
	RevokedIndex   uint64    `json:"revoked_index,omitempty"`
	RevokedTime    time.Time `json:"revoked_time,omitzero"`
	Credential     string    `json:"credential,omitempty"` // the credential revoked with this entry
}

// memList is one list in memory.
//
// words and hwm are written by the sequencer goroutine (in Apply) and read
// by anyone, atomically: words holds every revocation whose Apply ran, bit
// i at words[i/64] bit i%64; hwm is one more than the highest allocated
// index. published and version are the committed state (what List
// returns), guarded by mu and replaced by Committed and New only.
type memList struct {
	id    uint64
	size  uint64
	words []atomic.Uint64
	hwm   atomic.Uint64

	mu        sync.Mutex
	published *Bitstring
	version   uint64
}

func newMemList(id, size uint64) *memList {
	return &memList{id: id, size: size, words: make([]atomic.Uint64, (size+63)/64)}
}

func (m *memList) set(i uint64) { m.words[i/64].Or(1 << (i % 64)) }
func (m *memList) get(i uint64) bool {
	return m.words[i/64].Load()&(1<<(i%64)) != 0
}

// Lists is this server's status lists. It is safe for concurrent use.
type Lists struct {
	db      *store.DB
	baseURL string
	size    uint64 // of new lists

	// lists maps list id to list; copied on write (a new list), under mu.
	lists atomic.Pointer[map[uint64]*memList]

	mu      sync.Mutex // guards cur, curSize, next and writes of lists
	cur     uint64     // the list allocations go to
	curSize uint64     // its size
	next    uint64     // the next index to hand out in cur (reserved, maybe not committed)
}

// New loads the lists of c.DB into memory.
func New(c Config) (*Lists, error) {
	if c.DB == nil {
		return nil, errors.New("new status lists: no database")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/") ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(c.BaseURL, "?# ") || !httpURL(c.BaseURL) {
		return nil, fmt.Errorf("new status lists: base URL %q is not an http(s) URL ending in \"/\"", c.BaseURL)
	}
	if c.ListSize == 0 {
		c.ListSize = DefaultListSize
	}
	if c.ListSize%8 != 0 || c.ListSize < MinBits || c.ListSize > MaxListSize {
		return nil, fmt.Errorf("new status lists: list size %d: want a multiple of 8 from %d to %d", c.ListSize, MinBits, MaxListSize)
	}
	l := &Lists{db: c.DB, baseURL: c.BaseURL, size: uint64(c.ListSize)}
	m := map[uint64]*memList{}
	err = c.DB.Scan([]byte(prefixMeta), store.PrefixEnd([]byte(prefixMeta)), func(k, v []byte) (bool, error) {
		if len(k) != len(prefixMeta)+8 {
			return false, fmt.Errorf("new status lists: bad key %q", k)
		}
		id := binary.BigEndian.Uint64(k[len(prefixMeta):])
		ml, err := l.loadList(id)
		if err != nil {
			return false, err
		}
		m[id] = ml
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// Allocated indexes, for Revoked's status_not_allocated.
	err = c.DB.Scan([]byte(prefixEntry), store.PrefixEnd([]byte(prefixEntry)), func(k, _ []byte) (bool, error) {
		if len(k) != len(prefixEntry)+16 {
			return false, fmt.Errorf("new status lists: bad key %q", k)
		}
		id, i := binary.BigEndian.Uint64(k[len(prefixEntry):]), binary.BigEndian.Uint64(k[len(prefixEntry)+8:])
		if ml := m[id]; ml != nil && i+1 > ml.hwm.Load() {
			ml.hwm.Store(i + 1)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	l.lists.Store(&m)
	var h head
	found, err := load(c.DB, []byte(keyHead), &h)
	if err != nil {
		return nil, err
	}
	l.cur, l.next, l.curSize = 1, 0, l.size
	if found {
		l.cur, l.next = h.List, h.Next
		if ml := m[h.List]; ml != nil {
			l.curSize = ml.size
		}
	}
	return l, nil
}

// loadList reads list id's committed state from the database.
func (l *Lists) loadList(id uint64) (*memList, error) {
	var meta listMeta
	found, err := load(l.db, metaKey(id), &meta)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("status lists: list %d has no metadata", id)
	}
	raw, err := l.db.Get(bitsKey(id))
	if err != nil {
		return nil, fmt.Errorf("status lists: read list %d: %w", id, err)
	}
	if uint64(len(raw))*8 != meta.Size {
		return nil, fmt.Errorf("status lists: list %d has %d bytes, its size is %d bits", id, len(raw), meta.Size)
	}
	ml := newMemList(id, meta.Size)
	ml.published = &Bitstring{b: raw}
	ml.version = meta.Version
	for i := uint64(0); i < meta.Size; i++ {
		if raw[i/8]&(0x80>>(i%8)) != 0 {
			ml.set(i)
		}
	}
	return ml, nil
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
	// time.
	Time time.Time
}

func (q Request) check() error {
	if !isDID(q.Signer) {
		return fmt.Errorf("status lists: request signer %.80q is not a DID", q.Signer)
	}
	if q.Time.IsZero() {
		return errors.New("status lists: request without time")
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

	// ListID is the list's id (decimal), ListURL its URL (BaseURL +
	// ListID), Index the entry's index in it.
	ListID  string
	ListURL string
	Index   uint64
	// Status is the status entry: for Allocate, the credentialStatus the
	// owner puts in the credential it signs.
	Status Entry
	// Cascade lists the credentials revoked with this one (Revoke).
	Cascade []string

	list uint64
}

// entryID is the id of a status entry: "<list URL>#<index>".
func (l *Lists) entryID(list, index uint64) string {
	return l.listURL(list) + "#" + strconv.FormatUint(index, 10)
}

func (l *Lists) listURL(list uint64) string { return l.baseURL + strconv.FormatUint(list, 10) }

// Allocate reserves the next free index for owner (the owner DID that may
// later revoke it; "" means q.Signer) and returns the op that logs it
// (vc.status_allocated: actor q.Signer, owner, subject the status entry
// id, resource the list URL). The index is taken now, in the current list
// or in a new one when it is full, so that the entry can name it; an
// append that fails leaves that index unused forever, never handed out
// twice. The caller decides who may allocate for whom (a registered owner
// for itself, an Identity Agent for its bound owner).
func (l *Lists) Allocate(q Request, owner string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if owner == "" {
		owner = q.Signer
	}
	if !isDID(owner) {
		return nil, fmt.Errorf("status lists: allocate: owner %.80q is not a DID", owner)
	}
	l.mu.Lock()
	if l.next >= l.curSize {
		l.cur, l.curSize, l.next = l.cur+1, l.size, 0
	}
	list, size, index := l.cur, l.curSize, l.next
	l.next++
	l.mu.Unlock()

	st := Entry{ID: l.entryID(list, index), Type: EntryType, Purpose: PurposeRevocation,
		ListIndex: strconv.FormatUint(index, 10), ListCredential: l.listURL(list)}
	e := logEntry("vc.status_allocated", q)
	e.Owner, e.Subject, e.Resource = owner, st.ID, st.ListCredential
	op := &Op{Entry: e, ListID: strconv.FormatUint(list, 10), ListURL: st.ListCredential, Index: index, Status: st, list: list}
	op.Apply = func(tx *store.Tx) error {
		if ok, err := exists(tx, entryKey(list, index)); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("status lists: allocate: index %d of list %d is already allocated", index, list)
		}
		var meta listMeta
		found, err := load(tx, metaKey(list), &meta)
		if err != nil {
			return err
		}
		created := false
		if !found {
			meta = listMeta{Size: size, Created: tx.Index(), Time: q.Time.UTC(), Version: tx.Index()}
			tx.Set(metaKey(list), encode(meta))
			tx.Set(bitsKey(list), make([]byte, size/8))
			created = true
		}
		if index >= meta.Size {
			return fmt.Errorf("status lists: allocate: index %d beyond list %d of %d entries", index, list, meta.Size)
		}
		tx.Set(entryKey(list, index), encode(entryRecord{Owner: owner, AllocatedIndex: tx.Index(), AllocatedTime: q.Time.UTC()}))
		var h head
		if _, err := load(tx, []byte(keyHead), &h); err != nil {
			return err
		}
		if list > h.List || (list == h.List && index+1 > h.Next) {
			tx.Set([]byte(keyHead), encode(head{List: list, Next: index + 1}))
		}
		ml := l.list(list)
		if ml == nil && created {
			ml = newMemList(list, size)
			ml.published = &Bitstring{b: make([]byte, size/8)}
			ml.version = tx.Index()
			l.addList(ml)
		}
		if ml != nil {
			for {
				h := ml.hwm.Load()
				if index+1 <= h || ml.hwm.CompareAndSwap(h, index+1) {
					break
				}
			}
		}
		return nil
	}
	return op, nil
}

// Revoke revokes the credential credentialID whose status entry is entry
// (vc.revoked: actor and owner q.Signer, subject credentialID, resource
// the status entry id, reason "revoked", or "revoked with
// sub-delegations: " and the cascade's ids separated by spaces). The
// signer must be the owner the entry was allocated to (CodeNotYours), and
// the entry not yet revoked (CodeAlreadyRevoked). The bit is set in the
// same batch as the entry, and Revoked reports it from the moment Apply
// ran. cascade names the sub-delegations that fall with this credential
// (their own entries are revoked by their own ops, or their chain check
// fails at use); it must fit the entry's reason (CodeReasonTooLong).
func (l *Lists) Revoke(q Request, credentialID string, entry Entry, cascade []string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if !validCredentialID(credentialID) {
		return nil, fail(CodeMalformed, "credential id %.128q: want 1 to 512 bytes of printable UTF-8 without spaces", credentialID)
	}
	list, index, err := l.parseOwn(entry)
	if err != nil {
		return nil, err
	}
	reason := "revoked"
	if len(cascade) > 0 {
		for _, c := range cascade {
			if !validCredentialID(c) {
				return nil, fail(CodeMalformed, "cascaded credential id %.128q: want 1 to 512 bytes of printable UTF-8 without spaces", c)
			}
		}
		reason = "revoked with sub-delegations: " + strings.Join(cascade, " ")
		if len(reason) > maxReasonLen {
			return nil, fail(CodeReasonTooLong, "%d cascaded credentials do not fit a log entry's reason (%d bytes); revoke the deepest sub-delegations first", len(cascade), maxReasonLen)
		}
	}
	owner := q.Signer
	e := logEntry("vc.revoked", q)
	e.Owner, e.Subject, e.Resource, e.Reason = owner, credentialID, entry.ID, reason
	op := &Op{Entry: e, ListID: strconv.FormatUint(list, 10), ListURL: l.listURL(list), Index: index,
		Status: entry, Cascade: append([]string(nil), cascade...), list: list}
	op.Apply = func(tx *store.Tx) error {
		var rec entryRecord
		found, err := load(tx, entryKey(list, index), &rec)
		if err != nil {
			return err
		}
		if !found {
			return fail(CodeNotAllocated, "status entry %s was never allocated", entry.ID)
		}
		if rec.Owner != owner {
			return fail(CodeNotYours, "status entry %s was allocated to another owner", entry.ID)
		}
		if rec.Revoked {
			return fail(CodeAlreadyRevoked, "status entry %s is already revoked (log entry %d)", entry.ID, rec.RevokedIndex)
		}
		var meta listMeta
		if found, err := load(tx, metaKey(list), &meta); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("status lists: revoke: list %d has no metadata", list)
		}
		bits, err := tx.Get(bitsKey(list))
		if err != nil {
			return fmt.Errorf("status lists: revoke: read list %d: %w", list, err)
		}
		if uint64(len(bits))*8 != meta.Size || index >= meta.Size {
			return fmt.Errorf("status lists: revoke: list %d is inconsistent", list)
		}
		// tx.Get may return the batch's own buffer: write a copy.
		nb := append([]byte(nil), bits...)
		nb[index/8] |= 0x80 >> (index % 8)
		meta.Version, meta.Revoked = tx.Index(), meta.Revoked+1
		rec.Revoked, rec.RevokedIndex, rec.RevokedTime, rec.Credential = true, tx.Index(), q.Time.UTC(), credentialID
		tx.Set(bitsKey(list), nb)
		tx.Set(metaKey(list), encode(meta))
		tx.Set(entryKey(list, index), encode(rec))
		if ml := l.list(list); ml != nil {
			ml.set(index)
		}
		return nil
	}
	return op, nil
}

// Committed must be called after Append returned for op, whether it
// succeeded or not: it publishes the list's committed state (List) from
// the database, so that a change that did not commit is never published.
func (l *Lists) Committed(op *Op) {
	if op == nil || op.list == 0 {
		return
	}
	ml := l.list(op.list)
	if ml == nil {
		return
	}
	var meta listMeta
	found, err := load(l.db, metaKey(op.list), &meta)
	if err != nil || !found {
		return
	}
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if meta.Version <= ml.version && ml.published != nil {
		return
	}
	raw, err := l.db.Get(bitsKey(op.list))
	if err != nil || uint64(len(raw))*8 != meta.Size {
		return
	}
	ml.published, ml.version = &Bitstring{b: raw}, meta.Version
}

// Revoked reports whether the credential with status entry e is revoked,
// from memory. e must be one of this server's entries (CodeListUnknown
// otherwise), in the profile's form (CodeMalformed), at an allocated index
// (CodeNotAllocated; CodeIndexOutOfRange beyond the list).
func (l *Lists) Revoked(e Entry) (bool, error) {
	list, index, err := l.parseOwn(e)
	if err != nil {
		return false, err
	}
	ml := l.list(list)
	if ml == nil {
		return false, fail(CodeListUnknown, "list %s is not a list of this server", e.ListCredential)
	}
	if index >= ml.size {
		return false, fail(CodeIndexOutOfRange, "index %d is beyond list %d of %d entries", index, list, ml.size)
	}
	if index >= ml.hwm.Load() {
		return false, fail(CodeNotAllocated, "status entry %s was never allocated", e.ID)
	}
	return ml.get(index), nil
}

// List returns a copy of list listID's committed bitstring and its
// version: the log index of the last committed change to it (its creation
// or a revocation). The version only grows; a publisher caches the signed
// list credential per version.
func (l *Lists) List(listID string) (*Bitstring, uint64, error) {
	id, err := parseListID(listID)
	if err != nil {
		return nil, 0, err
	}
	ml := l.list(id)
	if ml == nil {
		return nil, 0, fail(CodeListUnknown, "no status list %.32q", listID)
	}
	ml.mu.Lock()
	defer ml.mu.Unlock()
	return ml.published.Clone(), ml.version, nil
}

// ListURL returns the URL of list listID (BaseURL + listID); it does not
// check that the list exists.
func (l *Lists) ListURL(listID string) string { return l.baseURL + listID }

// Allocation is what the store knows of one status entry.
type Allocation struct {
	Owner          string    // the owner that may revoke it
	AllocatedIndex uint64    // the vc.status_allocated entry
	AllocatedTime  time.Time //
	Revoked        bool      // committed revocation
	RevokedIndex   uint64    // the vc.revoked entry
	RevokedTime    time.Time //
	Credential     string    // the credential named by the revocation
}

// Allocation returns the committed record of the status entry e: whom it
// was allocated to, and whether it was revoked. The server checks it when
// it registers a credential (the credential's issuer's owner holds the
// entry, and it is not revoked).
func (l *Lists) Allocation(e Entry) (*Allocation, error) {
	list, index, err := l.parseOwn(e)
	if err != nil {
		return nil, err
	}
	var rec entryRecord
	found, err := load(l.db, entryKey(list, index), &rec)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fail(CodeNotAllocated, "status entry %s was never allocated", e.ID)
	}
	return &Allocation{Owner: rec.Owner, AllocatedIndex: rec.AllocatedIndex, AllocatedTime: rec.AllocatedTime,
		Revoked: rec.Revoked, RevokedIndex: rec.RevokedIndex, RevokedTime: rec.RevokedTime, Credential: rec.Credential}, nil
}

// parseOwn checks that e is one of this server's entries in the profile's
// form: type and purpose, statusListCredential BaseURL + a list id,
// statusListIndex canonical, id = statusListCredential#statusListIndex.
// It allocates nothing: Revoked calls it on every action.
func (l *Lists) parseOwn(e Entry) (list, index uint64, err error) {
	if e.Type != EntryType {
		return 0, 0, fail(CodeMalformed, "credentialStatus.type %.64q, want %q", e.Type, EntryType)
	}
	if e.Purpose != PurposeRevocation {
		return 0, 0, fail(CodePurposeMismatch, "credentialStatus.statusPurpose %.64q: this server's lists are %q lists", e.Purpose, PurposeRevocation)
	}
	if !strings.HasPrefix(e.ListCredential, l.baseURL) {
		return 0, 0, fail(CodeListUnknown, "list %.128q is not a list of this server", e.ListCredential)
	}
	list, perr := parseListID(e.ListCredential[len(l.baseURL):])
	if perr != nil {
		return 0, 0, perr
	}
	index, ierr := parseIndex(e.ListIndex)
	if ierr != nil {
		return 0, 0, ierr
	}
	n := len(e.ListCredential)
	if len(e.ID) != n+1+len(e.ListIndex) || e.ID[:n] != e.ListCredential || e.ID[n] != '#' || e.ID[n+1:] != e.ListIndex {
		return 0, 0, fail(CodeMalformed, "credentialStatus.id %.128q is not statusListCredential#statusListIndex", e.ID)
	}
	return list, index, nil
}

// parseListID parses a list id: a decimal integer from 1, no leading zero.
func parseListID(s string) (uint64, *Error) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, fail(CodeListUnknown, "list id %.32q is not a decimal integer from 1", s)
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fail(CodeListUnknown, "list id %.32q is not a decimal integer from 1", s)
		}
		id = id*10 + uint64(c-'0')
	}
	return id, nil
}

func (l *Lists) list(id uint64) *memList {
	return (*l.lists.Load())[id]
}

// addList adds ml to the map (copy on write).
func (l *Lists) addList(ml *memList) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.lists.Load()
	m := make(map[uint64]*memList, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[ml.id] = ml
	l.lists.Store(&m)
}

// maxReasonLen is the entry format's bound on reason (spec/log-entry.md).
const maxReasonLen = 4096

func validCredentialID(s string) bool {
	if len(s) == 0 || len(s) > 512 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
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

// isDID reports whether s is a bare DID (no path, query or fragment).
func isDID(s string) bool {
	u, err := did.ParseDIDURL(s)
	return err == nil && u.DID == s
}

type getter interface {
	Get(key []byte) ([]byte, error)
}

func load(g getter, k []byte, v any) (bool, error) {
	b, err := g.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("status lists: read %q: %w", k, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("status lists: decode %q: %w", k, err)
	}
	return true, nil
}

func exists(g getter, k []byte) (bool, error) {
	_, err := g.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("status lists: read %q: %w", k, err)
	}
	return true, nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the record structs above are encoded, and they always
		// marshal.
		panic(fmt.Sprintf("status lists: encode %T: %v", v, err))
	}
	return b
}
