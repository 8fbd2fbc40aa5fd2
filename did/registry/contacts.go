package registry

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/clawnet/ledger/transparency/store"
)

// Contact is one side of a mutual contact: Owner is the other owner,
// MyAgent the Identity Agent of ours that faces them, TheirAgent theirs.
type Contact struct {
	Owner      string    `json:"owner"`
	MyAgent    string    `json:"my_agent"`
	TheirAgent string    `json:"their_agent"`
	RequestID  string    `json:"request"` // the contact.requested entry
	Since      uint64    `json:"since"`   // the contact.accepted entry
	Time       time.Time `json:"time"`
}

// ContactRequest is a pending contact request.
type ContactRequest struct {
	ID        string    `json:"id"` // the log index of its contact.requested entry
	From      string    `json:"from"`
	To        string    `json:"to"`
	FromAgent string    `json:"from_agent"`
	Time      time.Time `json:"time"`
	Expires   time.Time `json:"expires"`
}

// RequestContact asks owner to to become the signer's contact, facing them
// with the signer's Identity Agent agent (contact.requested). The request
// id, set in Op.RequestID by Apply, is the log index of the entry; the
// entry cannot carry it (it is encoded before it is sequenced), so the
// entry has no subject.
func (r *Registry) RequestContact(q Request, to, agent string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	from := q.Signer
	if !isDID(to) {
		return nil, refuse(CodeInvalidDID, "%.80q is not a DID", to)
	}
	if to == from {
		return nil, refuse(CodeContactSelf, "an owner cannot be its own contact")
	}
	if !isDID(agent) {
		return nil, refuse(CodeInvalidDID, "%.80q is not a DID", agent)
	}
	e := entry("contact.requested", q)
	e.Owner, e.Counterparty = from, to
	op := &Op{Entry: e, Counterparty: to}
	expires := q.Time.UTC().Add(r.ttl)
	op.Apply = func(tx *store.Tx) error {
		if err := checkOwner(tx, from); err != nil {
			return err
		}
		if err := checkNamedOwner(tx, to); err != nil {
			return err
		}
		if ok, err := exists(tx, contactKey(from, to)); err != nil {
			return err
		} else if ok {
			return refuse(CodeAlreadyContacts, "%s is already a contact", to)
		}
		if err := checkMapping(tx, from, agent, "your"); err != nil {
			return err
		}
		if old, found, err := pendingRequest(tx, from, to); err != nil {
			return err
		} else if found && q.Time.Before(old.rec.Expires) {
			return refuse(CodeContactRequestExists, "a request to %s is already pending (id %d)", to, old.id)
		} else if found {
			dropRequest(tx, old.id, old.rec)
		}
		id := tx.Index()
		tx.Set(requestKey(id), encode(requestRecord{From: from, To: to, FromAgent: agent, Time: q.Time.UTC(), Expires: expires}))
		tx.Set(requestInKey(to, id), nil)
		tx.Set(requestOutKey(from, id), nil)
		tx.Set(pendingKey(from, to), be64(id))
		op.RequestID = strconv.FormatUint(id, 10)
		return nil
	}
	return op, nil
}

// AcceptContact accepts the pending request requestID addressed to the
// signer, facing the requester with the signer's Identity Agent agent
// (contact.accepted). The contact exists on both sides from then on.
func (r *Registry) AcceptContact(q Request, requestID, agent string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	me := q.Signer
	id, err := parseRequestID(requestID)
	if err != nil {
		return nil, err
	}
	if !isDID(agent) {
		return nil, refuse(CodeInvalidDID, "%.80q is not a DID", agent)
	}
	// The entry names the requester, so the request is read before the
	// entry is built; Apply reads it again (a request only ever goes away).
	var cur requestRecord
	found, err := load(r.db, requestKey(id), &cur)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(CodeContactRequestNotFound, "no pending contact request %s", requestID)
	}
	from := cur.From
	e := entry("contact.accepted", q)
	e.Owner, e.Counterparty, e.Subject = me, from, requestID
	op := &Op{Entry: e, RequestID: requestID, Counterparty: from}
	op.Apply = func(tx *store.Tx) error {
		if err := checkOwner(tx, me); err != nil {
			return err
		}
		var rec requestRecord
		found, err := load(tx, requestKey(id), &rec)
		if err != nil {
			return err
		}
		if !found || rec.From != from {
			return refuse(CodeContactRequestNotFound, "no pending contact request %s", requestID)
		}
		if rec.To != me {
			return refuse(CodeContactRequestNotAddressedToYou, "contact request %s is not addressed to the signer", requestID)
		}
		if !q.Time.Before(rec.Expires) {
			return refuse(CodeContactRequestExpired, "contact request %s expired at %s", requestID, rec.Expires.Format(time.RFC3339))
		}
		if err := checkActive(tx, from, "requester"); err != nil {
			return err
		}
		if ok, err := exists(tx, contactKey(me, from)); err != nil {
			return err
		} else if ok {
			return refuse(CodeAlreadyContacts, "%s is already a contact", from)
		}
		if err := checkMapping(tx, me, agent, "your"); err != nil {
			return err
		}
		// The requester's agent was checked when it asked; it may have
		// been unbound (or its DID deactivated) since.
		if err := checkMapping(tx, from, rec.FromAgent, "the requester's"); err != nil {
			return err
		}
		dropRequest(tx, id, rec)
		// A request the other way is moot now.
		if back, found, err := pendingRequest(tx, me, from); err != nil {
			return err
		} else if found {
			dropRequest(tx, back.id, back.rec)
		}
		now := q.Time.UTC()
		tx.Set(contactKey(me, from), encode(contactRecord{MyAgent: agent, TheirAgent: rec.FromAgent, Request: id, Since: tx.Index(), Time: now}))
		tx.Set(contactKey(from, me), encode(contactRecord{MyAgent: rec.FromAgent, TheirAgent: agent, Request: id, Since: tx.Index(), Time: now}))
		if err := addAgentContact(tx, agent, from); err != nil {
			return err
		}
		return addAgentContact(tx, rec.FromAgent, me)
	}
	return op, nil
}

// RemoveContact ends the signer's contact with other, on both sides
// (contact.removed). Either side may. The entry's subject is the request id
// that started the contact.
func (r *Registry) RemoveContact(q Request, other string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	me := q.Signer
	if !isDID(other) {
		return nil, refuse(CodeInvalidDID, "%.80q is not a DID", other)
	}
	var cur contactRecord
	found, err := load(r.db, contactKey(me, other), &cur)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(CodeContactNotFound, "%s is not a contact of the signer", other)
	}
	e := entry("contact.removed", q)
	e.Owner, e.Counterparty, e.Subject = me, other, strconv.FormatUint(cur.Request, 10)
	op := &Op{Entry: e, Counterparty: other, RequestID: e.Subject}
	op.Apply = func(tx *store.Tx) error {
		if err := checkOwner(tx, me); err != nil {
			return err
		}
		var mine, theirs contactRecord
		found, err := load(tx, contactKey(me, other), &mine)
		if err != nil {
			return err
		}
		// A contact removed and made again in between is another contact
		// than the one the entry names.
		if !found || mine.Request != cur.Request {
			return refuse(CodeContactNotFound, "%s is not a contact of the signer", other)
		}
		if _, err := load(tx, contactKey(other, me), &theirs); err != nil {
			return err
		}
		if err := dropAgentContact(tx, mine.MyAgent, other); err != nil {
			return err
		}
		if err := dropAgentContact(tx, theirs.MyAgent, me); err != nil {
			return err
		}
		tx.Delete(contactKey(me, other))
		tx.Delete(contactKey(other, me))
		return nil
	}
	return op, nil
}

// checkNamedOwner refuses a DID named in a request that is not a
// registered, active owner.
func checkNamedOwner(g getter, d string) error {
	if ok, err := exists(g, ownerKey(d)); err != nil {
		return err
	} else if !ok {
		return refuse(CodeOwnerNotFound, "%s is not a registered owner", d)
	}
	return checkActive(g, d, "owner")
}

// checkMapping refuses agent as the face of owner towards a contact unless
// it is an active Identity Agent of owner whose DID is not deactivated.
func checkMapping(g getter, owner, agent, whose string) error {
	var a agentRecord
	found, err := load(g, agentKey(agent), &a)
	if err != nil {
		return err
	}
	switch {
	case !found:
		return refuse(CodeAgentNotFound, "%s (%s agent) is not a bound agent", agent, whose)
	case a.Owner != owner:
		return refuse(CodeAgentNotYours, "%s is not %s agent", agent, whose)
	case a.Revoked:
		return refuse(CodeAgentUnbound, "%s (%s agent) is unbound", agent, whose)
	case a.Role != RoleIdentity:
		return refuse(CodeManagerAgentNotAllowed, "%s is a Manager Agent; contacts are mapped to Identity Agents only", agent)
	}
	return checkActive(g, agent, whose+" agent")
}

type pending struct {
	id  uint64
	rec requestRecord
}

// pendingRequest returns the request from one owner to another that is
// still recorded as pending (it may have expired).
func pendingRequest(tx *store.Tx, from, to string) (pending, bool, error) {
	b, err := tx.Get(pendingKey(from, to))
	if err == store.ErrNotFound {
		return pending{}, false, nil
	}
	if err != nil {
		return pending{}, false, fmt.Errorf("registry: read pending request: %w", err)
	}
	id, err := decodeIndex(b)
	if err != nil {
		return pending{}, false, err
	}
	var rec requestRecord
	found, err := load(tx, requestKey(id), &rec)
	if err != nil {
		return pending{}, false, err
	}
	if !found {
		return pending{}, false, fmt.Errorf("%w: pending request %d has no record", errCorrupt, id)
	}
	return pending{id, rec}, true, nil
}

// dropRequest deletes a request and its index keys.
func dropRequest(tx *store.Tx, id uint64, rec requestRecord) {
	tx.Delete(requestKey(id))
	tx.Delete(requestInKey(rec.To, id))
	tx.Delete(requestOutKey(rec.From, id))
	tx.Delete(pendingKey(rec.From, rec.To))
}

// parseRequestID accepts the canonical decimal form of a log index only, so
// that one request has one id.
func parseRequestID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(id, 10) != s {
		return 0, refuse(CodeContactRequestNotFound, "%.40q is not a contact request id (a decimal log index)", s)
	}
	return id, nil
}

func agentContacts(g getter, agent string) ([]string, error) {
	var others []string
	if _, err := load(g, agentContactsKey(agent), &others); err != nil {
		return nil, err
	}
	return others, nil
}

func addAgentContact(tx *store.Tx, agent, other string) error {
	others, err := agentContacts(tx, agent)
	if err != nil {
		return err
	}
	if i, found := slices.BinarySearch(others, other); !found {
		others = slices.Insert(others, i, other)
	}
	tx.Set(agentContactsKey(agent), encode(others))
	return nil
}

func dropAgentContact(tx *store.Tx, agent, other string) error {
	others, err := agentContacts(tx, agent)
	if err != nil {
		return err
	}
	if i, found := slices.BinarySearch(others, other); found {
		others = slices.Delete(others, i, i+1)
	}
	if len(others) == 0 {
		tx.Delete(agentContactsKey(agent))
	} else {
		tx.Set(agentContactsKey(agent), encode(others))
	}
	return nil
}

// Contacts returns owner's contacts in the order of the other owners' DIDs;
// owner_not_registered if owner is not an owner.
func (r *Registry) Contacts(owner string) ([]Contact, error) {
	if ok, err := exists(r.db, ownerKey(owner)); err != nil {
		return nil, err
	} else if !ok {
		return nil, refuse(CodeOwnerNotRegistered, "%.200s is not a registered owner", owner)
	}
	start := key(prefixContact, owner, "")
	var out []Contact
	err := r.db.Scan(start, store.PrefixEnd(start), func(k, v []byte) (bool, error) {
		var c contactRecord
		if err := decode(v, &c); err != nil {
			return false, err
		}
		out = append(out, Contact{
			Owner: string(k[len(start):]), MyAgent: c.MyAgent, TheirAgent: c.TheirAgent,
			RequestID: strconv.FormatUint(c.Request, 10), Since: c.Since, Time: c.Time,
		})
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list contacts: %w", err)
	}
	return out, nil
}

// ContactRequests returns owner's pending requests that are still live at
// now: those addressed to owner and those it sent, oldest first.
func (r *Registry) ContactRequests(owner string, now time.Time) (incoming, outgoing []ContactRequest, err error) {
	if ok, err := exists(r.db, ownerKey(owner)); err != nil {
		return nil, nil, err
	} else if !ok {
		return nil, nil, refuse(CodeOwnerNotRegistered, "%.200s is not a registered owner", owner)
	}
	incoming, err = r.requests(key(prefixRequestIn, owner, ""), now)
	if err != nil {
		return nil, nil, err
	}
	outgoing, err = r.requests(key(prefixRequestOut, owner, ""), now)
	if err != nil {
		return nil, nil, err
	}
	return incoming, outgoing, nil
}

func (r *Registry) requests(start []byte, now time.Time) ([]ContactRequest, error) {
	var ids []uint64
	err := r.db.Scan(start, store.PrefixEnd(start), func(k, _ []byte) (bool, error) {
		id, err := decodeIndex(k[len(start):])
		if err != nil {
			return false, err
		}
		ids = append(ids, id)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list contact requests: %w", err)
	}
	var out []ContactRequest
	for _, id := range ids {
		var rec requestRecord
		found, err := load(r.db, requestKey(id), &rec)
		if err != nil {
			return nil, err
		}
		if !found || !now.Before(rec.Expires) {
			continue
		}
		out = append(out, ContactRequest{
			ID: strconv.FormatUint(id, 10), From: rec.From, To: rec.To,
			FromAgent: rec.FromAgent, Time: rec.Time, Expires: rec.Expires,
		})
	}
	return out, nil
}
