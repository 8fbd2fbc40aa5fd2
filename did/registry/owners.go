package registry

import (
	"fmt"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
)

// Agent roles (the binding credential's role).
const (
	RoleManager  = "manager"
	RoleIdentity = "identity"
)

// Owner is a registered owner.
type Owner struct {
	DID   string    `json:"did"`
	Index uint64    `json:"index"` // the owner.registered entry
	Time  time.Time `json:"time"`
}

// Agent is an agent's binding to its owner: the public view that anyone may
// read (GET /v1/agents/{did}). An unbound agent keeps its record, with
// Revoked set, because its DID can never be bound again.
type Agent struct {
	DID     string `json:"did"`
	Owner   string `json:"owner"`
	Role    string `json:"role"`
	Context string `json:"context,omitempty"`
	// Credential is the binding credential (VC-JWT) as presented.
	Credential       string    `json:"credential"`
	CredentialID     string    `json:"credential_id"`
	CredentialDigest string    `json:"credential_digest"`
	Expires          time.Time `json:"expires,omitzero"`
	BoundIndex       uint64    `json:"bound_index"`
	BoundTime        time.Time `json:"bound_time"`
	Revoked          bool      `json:"revoked"`
	UnboundIndex     uint64    `json:"unbound_index,omitempty"`
	UnboundTime      time.Time `json:"unbound_time,omitzero"`
}

// Binding is what the caller established by verifying a binding credential
// (package vc/binding): the registry trusts these facts and checks them
// against its state only.
type Binding struct {
	CredentialID string    // the credential's id
	Digest       string    // "sha256:" hex of Token
	Token        string    // the VC-JWT as presented
	Issuer       string    // the owner DID that signed it
	Subject      string    // the agent DID
	Role         string    // RoleManager or RoleIdentity
	Context      string    // the Identity Agent's context; empty for a Manager
	Expires      time.Time // zero if the credential does not expire
}

// RegisterOwner makes the signer an owner (owner.registered).
func (r *Registry) RegisterOwner(q Request) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	d := q.Signer
	e := entry("owner.registered", q)
	e.Owner, e.Subject = d, d
	op := &Op{Entry: e, DID: d}
	op.Apply = func(tx *store.Tx) error {
		if err := checkActive(tx, d, "signer"); err != nil {
			return err
		}
		if ok, err := exists(tx, ownerKey(d)); err != nil {
			return err
		} else if ok {
			return refuse(CodeOwnerExists, "%s is already a registered owner", d)
		}
		if ok, err := exists(tx, agentKey(d)); err != nil {
			return err
		} else if ok {
			return refuse(CodeDIDIsAgent, "%s is an agent DID; an owner DID is never an agent DID", d)
		}
		tx.Set(ownerKey(d), encode(ownerRecord{Index: tx.Index(), Time: q.Time.UTC()}))
		return nil
	}
	return op, nil
}

// BindAgent binds the signer, an agent, to the owner that issued b
// (agent.bound). The request must be signed by the agent (b.Subject): its
// proof of control; b is the owner's consent.
func (r *Registry) BindAgent(q Request, b Binding) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if b.Subject != q.Signer {
		return nil, refuse(CodeBindingSubjectMismatch, "the binding credential's subject is not the request's signer")
	}
	if !isDID(b.Issuer) {
		return nil, refuse(CodeBindingIssuerNotOwner, "the binding credential's issuer is not a DID")
	}
	var resource string
	switch b.Role {
	case RoleManager:
		if b.Context != "" {
			return nil, refuse(CodeInvalidContext, "a Manager Agent has no context")
		}
		resource = RoleManager
	case RoleIdentity:
		if !nameRE.MatchString(b.Context) {
			return nil, refuse(CodeInvalidContext, "context %.80q: want a lowercase DNS label ([a-z0-9-], 1 to 63 characters)", b.Context)
		}
		resource = "identity:" + b.Context
	default:
		return nil, refuse(CodeBindingRoleInvalid, "role %.40q: want manager or identity", b.Role)
	}
	if b.CredentialID == "" || b.Token == "" {
		return nil, fmt.Errorf("registry: bind agent: binding without credential id or token")
	}
	agent, owner := b.Subject, b.Issuer
	e := entry("agent.bound", q)
	e.Owner, e.Subject, e.Resource = owner, agent, resource
	e.Authz = &transparency.AuthzRef{Credential: b.CredentialID, Digest: b.Digest}
	op := &Op{Entry: e, DID: agent, invalidate: []string{agentCacheKey(agent)}}
	op.Apply = func(tx *store.Tx) error {
		if err := checkActive(tx, agent, "agent"); err != nil {
			return err
		}
		if err := checkActive(tx, owner, "owner"); err != nil {
			return err
		}
		if ok, err := exists(tx, ownerKey(owner)); err != nil {
			return err
		} else if !ok {
			return refuse(CodeBindingIssuerNotOwner, "the binding credential's issuer %s is not a registered owner", owner)
		}
		if ok, err := exists(tx, ownerKey(agent)); err != nil {
			return err
		} else if ok {
			return refuse(CodeDIDIsOwner, "%s is an owner DID; an agent DID is never an owner DID", agent)
		}
		if ok, err := exists(tx, agentKey(agent)); err != nil {
			return err
		} else if ok {
			return refuse(CodeAgentAlreadyBound, "%s has already been bound (an agent DID is bound at most once, ever)", agent)
		}
		slot := managerKey(owner)
		if b.Role == RoleIdentity {
			slot = contextKey(owner, b.Context)
		}
		if ok, err := exists(tx, slot); err != nil {
			return err
		} else if ok && b.Role == RoleManager {
			return refuse(CodeSecondManager, "the owner already has an active Manager Agent")
		} else if ok {
			return refuse(CodeDuplicateContext, "the owner already has an active Identity Agent for context %q", b.Context)
		}
		tx.Set(slot, []byte(agent))
		tx.Set(ownerAgentKey(owner, agent), nil)
		tx.Set(agentKey(agent), encode(agentRecord{
			Owner: owner, Role: b.Role, Context: b.Context, Token: b.Token,
			CredentialID: b.CredentialID, Digest: b.Digest, Expires: b.Expires.UTC(),
			BoundIndex: tx.Index(), BoundTime: q.Time.UTC(),
		}))
		r.cache.invalidate(agentCacheKey(agent))
		return nil
	}
	return op, nil
}

// UnbindAgent revokes the binding of one of the signer's agents
// (agent.unbound) and removes, in the same change, every contact mapped to
// that agent (Op.RemovedContacts). It succeeds for any active agent of the
// owner, even one whose hosted DID is deactivated: an owner must always be
// able to cut an agent off.
func (r *Registry) UnbindAgent(q Request, agent string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	owner := q.Signer
	if !isDID(agent) {
		return nil, refuse(CodeInvalidDID, "%.80q is not a DID", agent)
	}
	// The entry names the binding it revokes, so it is read before the
	// entry is built; Apply checks that it is still that binding (an agent
	// DID is bound once, so only its revocation can have changed).
	var cur agentRecord
	found, err := load(r.db, agentKey(agent), &cur)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(CodeAgentNotFound, "%s is not a bound agent", agent)
	}
	e := entry("agent.unbound", q)
	e.Owner, e.Subject = owner, agent
	e.Authz = &transparency.AuthzRef{Credential: cur.CredentialID, Digest: cur.Digest}
	op := &Op{Entry: e, DID: agent, invalidate: []string{agentCacheKey(agent)}}
	op.Apply = func(tx *store.Tx) error {
		if err := checkOwner(tx, owner); err != nil {
			return err
		}
		var a agentRecord
		found, err := load(tx, agentKey(agent), &a)
		if err != nil {
			return err
		}
		if !found {
			return refuse(CodeAgentNotFound, "%s is not a bound agent", agent)
		}
		if a.Owner != owner {
			return refuse(CodeAgentNotYours, "%s is not bound to the signer", agent)
		}
		if a.Revoked {
			return refuse(CodeAgentUnbound, "%s is already unbound", agent)
		}
		if a.CredentialID != cur.CredentialID || a.Digest != cur.Digest {
			return fmt.Errorf("registry: unbind %s: binding changed under the request", agent)
		}
		removed, err := removeAgentContacts(tx, owner, agent)
		if err != nil {
			return err
		}
		if a.Role == RoleManager {
			tx.Delete(managerKey(owner))
		} else {
			tx.Delete(contextKey(owner, a.Context))
		}
		a.Revoked, a.UnboundIndex, a.UnboundTime = true, tx.Index(), q.Time.UTC()
		tx.Set(agentKey(agent), encode(a))
		r.cache.invalidate(agentCacheKey(agent))
		op.RemovedContacts = removed
		return nil
	}
	return op, nil
}

// removeAgentContacts deletes both directions of every contact of owner
// that is mapped to its agent, and returns the other owners, sorted.
func removeAgentContacts(tx *store.Tx, owner, agent string) ([]string, error) {
	others, err := agentContacts(tx, agent)
	if err != nil {
		return nil, err
	}
	for _, other := range others {
		var theirs contactRecord
		found, err := load(tx, contactKey(other, owner), &theirs)
		if err != nil {
			return nil, err
		}
		if found {
			if err := dropAgentContact(tx, theirs.MyAgent, owner); err != nil {
				return nil, err
			}
		}
		tx.Delete(contactKey(owner, other))
		tx.Delete(contactKey(other, owner))
	}
	tx.Delete(agentContactsKey(agent))
	return others, nil
}

// Owner returns a registered owner, or an *Error owner_not_found.
func (r *Registry) Owner(d string) (*Owner, error) {
	var o ownerRecord
	found, err := load(r.db, ownerKey(d), &o)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(CodeOwnerNotFound, "%.200s is not a registered owner", d)
	}
	return &Owner{DID: d, Index: o.Index, Time: o.Time}, nil
}

// Agent returns an agent's binding, active or revoked, or an *Error
// agent_not_found. It is served from a cache: the result is shared and
// must not be modified.
func (r *Registry) Agent(d string) (*Agent, error) {
	if !isDID(d) {
		return nil, refuse(CodeInvalidDID, "%.80q is not a DID", d)
	}
	k := agentCacheKey(d)
	v, gen, ok := r.cache.get(k)
	if ok {
		return v.(*Agent), nil
	}
	var a agentRecord
	found, err := load(r.db, agentKey(d), &a)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(CodeAgentNotFound, "%.200s is not a bound agent", d)
	}
	ag := a.view(d)
	r.cache.put(k, ag, gen)
	return ag, nil
}

func (a agentRecord) view(d string) *Agent {
	return &Agent{
		DID: d, Owner: a.Owner, Role: a.Role, Context: a.Context, Credential: a.Token,
		CredentialID: a.CredentialID, CredentialDigest: a.Digest, Expires: a.Expires,
		BoundIndex: a.BoundIndex, BoundTime: a.BoundTime, Revoked: a.Revoked,
		UnboundIndex: a.UnboundIndex, UnboundTime: a.UnboundTime,
	}
}

// Agents returns every agent ever bound to owner, active and revoked, in
// the order of their DIDs; owner_not_registered if owner is not an owner.
func (r *Registry) Agents(owner string) ([]Agent, error) {
	if ok, err := exists(r.db, ownerKey(owner)); err != nil {
		return nil, err
	} else if !ok {
		return nil, refuse(CodeOwnerNotRegistered, "%.200s is not a registered owner", owner)
	}
	start := key(prefixOwnerAgent, owner, "")
	var dids []string
	err := r.db.Scan(start, store.PrefixEnd(start), func(k, _ []byte) (bool, error) {
		dids = append(dids, string(k[len(start):]))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list agents: %w", err)
	}
	out := make([]Agent, 0, len(dids))
	for _, d := range dids {
		var a agentRecord
		found, err := load(r.db, agentKey(d), &a)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%w: agent %s listed for %s has no record", errCorrupt, d, owner)
		}
		out = append(out, *a.view(d))
	}
	return out, nil
}
