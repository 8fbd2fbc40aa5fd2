package registry

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Store layout. Every key is under "d/" (the did namespace of package
// store). DIDs never contain "/" (DID Core §3.1: a "/" starts the path of a
// DID URL), so "/" separates the parts of a key unambiguously; an index is
// 8 bytes big-endian so that keys sort in log order.
//
//	d/web/<did>/<index>       hostedVersion  one per version of a hosted DID
//	d/webhead/<did>           hostedHead     the current version; its presence takes the name
//	d/owner/<did>             ownerRecord
//	d/agent/<did>             agentRecord    kept after unbinding: a DID is bound once, ever
//	d/oagent/<owner>/<agent>  (empty)        an owner's agents, for listing
//	d/omgr/<owner>            agent DID      the owner's active Manager Agent
//	d/octx/<owner>/<context>  agent DID      the owner's active Identity Agent of a context
//	d/contact/<me>/<other>    contactRecord  both directions of every contact
//	d/acontacts/<agent>       []string       the other owners mapped to this agent
//	d/creq/<index>            requestRecord  a pending contact request (deleted on accept)
//	d/creqin/<to>/<index>     (empty)        pending requests to an owner, for listing
//	d/creqout/<from>/<index>  (empty)        pending requests from an owner, for listing
//	d/cpend/<from>/<to>       index          the pending request from one owner to another
//
// The layout is not part of the wire format (spec/identity.md is); it is
// written down because Apply functions can only do point reads (store.Tx
// has no scan), which is why per-agent contact lists exist as values.
const (
	prefixVersion     = "d/web/"
	prefixHead        = "d/webhead/"
	prefixOwner       = "d/owner/"
	prefixAgent       = "d/agent/"
	prefixOwnerAgent  = "d/oagent/"
	prefixManager     = "d/omgr/"
	prefixContext     = "d/octx/"
	prefixContact     = "d/contact/"
	prefixAgentCont   = "d/acontacts/"
	prefixRequest     = "d/creq/"
	prefixRequestIn   = "d/creqin/"
	prefixRequestOut  = "d/creqout/"
	prefixRequestPend = "d/cpend/"
)

func be64(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return b[:]
}

func key(parts ...string) []byte {
	var b []byte
	for i, p := range parts {
		if i > 1 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return b
}

func versionKey(d string, index uint64) []byte {
	return append(key(prefixVersion, d, ""), be64(index)...)
}
func headKey(d string) []byte                  { return key(prefixHead, d) }
func ownerKey(d string) []byte                 { return key(prefixOwner, d) }
func agentKey(d string) []byte                 { return key(prefixAgent, d) }
func ownerAgentKey(owner, agent string) []byte { return key(prefixOwnerAgent, owner, agent) }
func managerKey(owner string) []byte           { return key(prefixManager, owner) }
func contextKey(owner, ctx string) []byte      { return key(prefixContext, owner, ctx) }
func contactKey(me, other string) []byte       { return key(prefixContact, me, other) }
func agentContactsKey(agent string) []byte     { return key(prefixAgentCont, agent) }
func requestKey(id uint64) []byte              { return append([]byte(prefixRequest), be64(id)...) }
func requestInKey(to string, id uint64) []byte {
	return append(key(prefixRequestIn, to, ""), be64(id)...)
}
func requestOutKey(from string, id uint64) []byte {
	return append(key(prefixRequestOut, from, ""), be64(id)...)
}
func pendingKey(from, to string) []byte { return key(prefixRequestPend, from, to) }

// hostedVersion is one version of a hosted DID: the key it names key-<KeyN>
// in its document, or, for the last version of a deactivated DID, no
// document at all.
type hostedVersion struct {
	Key         string    `json:"key,omitempty"` // publicKeyMultibase (the did:key method-specific id)
	KeyN        int       `json:"n"`
	Time        time.Time `json:"time"`
	Deactivated bool      `json:"deactivated,omitempty"`
}

// hostedHead is the state of a hosted DID: where its versions start and
// end. Kept apart from the versions so that the current one is one read.
type hostedHead struct {
	Created      time.Time `json:"created"`
	CreatedIndex uint64    `json:"created_index"`
	Index        uint64    `json:"index"` // the current version's index
	Updated      time.Time `json:"updated"`
	Key          string    `json:"key,omitempty"`
	KeyN         int       `json:"n"`
	Deactivated  bool      `json:"deactivated,omitempty"`
}

type ownerRecord struct {
	Index uint64    `json:"index"`
	Time  time.Time `json:"time"`
}

type agentRecord struct {
	Owner        string    `json:"owner"`
	Role         string    `json:"role"`
	Context      string    `json:"context,omitempty"`
	Token        string    `json:"token"`
	CredentialID string    `json:"credential_id"`
	Digest       string    `json:"digest"`
	Expires      time.Time `json:"expires,omitzero"`
	BoundIndex   uint64    `json:"bound_index"`
	BoundTime    time.Time `json:"bound_time"`
	Revoked      bool      `json:"revoked,omitempty"`
	UnboundIndex uint64    `json:"unbound_index,omitempty"`
	UnboundTime  time.Time `json:"unbound_time,omitzero"`
}

type contactRecord struct {
	MyAgent    string    `json:"my_agent"`
	TheirAgent string    `json:"their_agent"`
	Request    uint64    `json:"request"` // the contact.requested entry that started it
	Since      uint64    `json:"since"`   // the contact.accepted entry
	Time       time.Time `json:"time"`
}

type requestRecord struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	FromAgent string    `json:"from_agent"`
	Time      time.Time `json:"time"`
	Expires   time.Time `json:"expires"`
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the concrete record structs above are encoded, and they
		// always marshal.
		panic(fmt.Sprintf("registry: encode %T: %v", v, err))
	}
	return b
}

// errCorrupt marks a stored value that does not decode: the store was
// written by something else, or damaged.
var errCorrupt = errors.New("registry: corrupt stored record")

// decode reads a stored record strictly: one JSON value of v's type, no
// unknown members, nothing after it.
func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %T: %w", errCorrupt, v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: %T: data after the record", errCorrupt, v)
	}
	return nil
}

func decodeIndex(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: index of %d bytes", errCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
