package grant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/status"
)

// Record is a registered delegation credential. Records are immutable
// once registered, but for the revocation fields.
type Record struct {
	// ID is the credential's id (urn:uuid:…), Digest delegation.Digest of
	// Raw, Format its encoding, Raw its exact bytes as registered (the
	// compact JWS, or the JSON-LD document).
	ID     string            `json:"id"`
	Digest string            `json:"digest"`
	Format delegation.Format `json:"format"`
	Raw    string            `json:"raw"`
	// Issuer signed it: the owner, or for a sub-delegation the Identity
	// Agent holding the parent. Subject is the Identity Agent it grants
	// to; Owner the owner both belong to.
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Owner   string `json:"owner"`
	// Parent is the parent credential's id ("" for an owner's grant);
	// Depth is 0 for an owner's grant, the parent's Depth + 1 otherwise.
	Parent string `json:"parent,omitempty"`
	Depth  int    `json:"depth"`
	// MaxSubdelegationDepth is how many further levels the subject may
	// sub-delegate.
	MaxSubdelegationDepth int `json:"max_subdelegation_depth"`
	// Status is the credential's revocation entry.
	Status status.Entry `json:"status"`
	// NotBefore and NotAfter are issuanceDate and expirationDate.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Scopes is the canonical JSON of the granted scopes (scope.Marshal).
	Scopes json.RawMessage `json:"scopes"`
	// RegisteredIndex is the vc.granted entry, RegisteredTime its time.
	RegisteredIndex uint64    `json:"registered_index"`
	RegisteredTime  time.Time `json:"registered_time"`
	// Revoked is set by a committed revocation: RevokedIndex is its
	// vc.revoked entry, RevokedBy the credential whose revocation it was
	// (this one's id, or an ancestor's for a cascaded revocation).
	Revoked      bool      `json:"revoked,omitempty"`
	RevokedIndex uint64    `json:"revoked_index,omitempty"`
	RevokedTime  time.Time `json:"revoked_time,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
}

// Store layout, under "v/grant/" (the vc namespace of package store).
// Credential ids and DIDs never contain "/" (ids are checked), so "/"
// separates the parts of a key; Apply functions can only do point reads,
// which is why the children of a credential are one value.
//
//	v/grant/c/<id>               Record
//	v/grant/subj/<agent>/<id>    (empty)   the credentials of a subject agent
//	v/grant/owner/<owner>/<id>   (empty)   the credentials of an owner
//	v/grant/kids/<id>            []string  the direct sub-delegations of a credential, in registration order
//	v/grant/status/<entry id>    id        the credential a status entry belongs to
const (
	prefixRecord   = "v/grant/c/"
	prefixSubject  = "v/grant/subj/"
	prefixOwner    = "v/grant/owner/"
	prefixChildren = "v/grant/kids/"
	prefixStatus   = "v/grant/status/"
)

func recordKey(id string) []byte         { return []byte(prefixRecord + id) }
func subjectKey(agent, id string) []byte { return []byte(prefixSubject + agent + "/" + id) }
func ownerKey(owner, id string) []byte   { return []byte(prefixOwner + owner + "/" + id) }
func childrenKey(id string) []byte       { return []byte(prefixChildren + id) }
func statusKey(entryID string) []byte    { return []byte(prefixStatus + entryID) }
func subjectPrefix(agent string) []byte  { return []byte(prefixSubject + agent + "/") }
func ownerPrefix(owner string) []byte    { return []byte(prefixOwner + owner + "/") }

// errCorrupt marks a stored value that does not decode.
var errCorrupt = errors.New("grant: corrupt stored record")

// DecodeRecord reads a stored record strictly: one JSON object of Record's
// shape, no unknown members, nothing after it, and the invariants a
// registered record has (an id, a digest, a known format, DIDs, a status
// entry, canonical scopes that parse).
func DecodeRecord(b []byte) (*Record, error) {
	var r Record
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return &r, nil
}

func decodeStrict(b []byte, v any) error {
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

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only Record and []string are encoded, and they always marshal.
		panic(fmt.Sprintf("grant: encode %T: %v", v, err))
	}
	return b
}

type getter interface {
	Get(key []byte) ([]byte, error)
}

// loadRecord reads record id as g sees it; nil if absent.
func loadRecord(g getter, id string) (*Record, error) {
	b, err := g.Get(recordKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("grant: read credential %s: %w", id, err)
	}
	r, err := DecodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("grant: read credential %s: %w", id, err)
	}
	return r, nil
}

// loadChildren reads the direct sub-delegations of id.
func loadChildren(g getter, id string) ([]string, error) {
	b, err := g.Get(childrenKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("grant: read sub-delegations of %s: %w", id, err)
	}
	var kids []string
	if err := decodeStrict(b, &kids); err != nil {
		return nil, fmt.Errorf("grant: read sub-delegations of %s: %w", id, err)
	}
	return kids, nil
}
