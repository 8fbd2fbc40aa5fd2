package registry

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
)

var _ did.HostedSource = (*Registry)(nil)

// Kinds of hosted DIDs: the path segment before the name.
const (
	KindOwners = "owners"
	KindAgents = "agents"
)

// HostedDID returns the did:web of a hosted name ("owners/alice" or
// "agents/bot") on this registry's host, or an *Error invalid_name.
func (r *Registry) HostedDID(name string) (string, error) {
	kind, n, ok := strings.Cut(name, "/")
	if !ok || (kind != KindOwners && kind != KindAgents) || !nameRE.MatchString(n) {
		return "", refuse(CodeInvalidName,
			"name %.80q: want owners/<name> or agents/<name>, name a lowercase DNS label ([a-z0-9-], 1 to 63 characters)", name)
	}
	return r.webPrefix + kind + ":" + n, nil
}

// isHosted reports whether d is in the form of a DID hosted here (whether
// or not it exists).
func (r *Registry) isHosted(d string) bool {
	rest, ok := strings.CutPrefix(d, r.webPrefix)
	if !ok {
		return false
	}
	kind, n, ok := strings.Cut(rest, ":")
	return ok && (kind == KindOwners || kind == KindAgents) && nameRE.MatchString(n)
}

// keyID is the verification method of a hosted DID's n-th key.
func keyID(d string, n int) string { return d + "#key-" + strconv.Itoa(n) }

// hostedDocument is the document of a hosted DID version whose key is
// key-<n> with publicKeyMultibase mb (spec/identity.md).
func hostedDocument(d string, n int, mb string) *did.Document {
	kid := keyID(d, n)
	return &did.Document{
		Context: []string{did.ContextDIDv1, did.ContextEd25519v2020},
		ID:      d,
		VerificationMethod: []did.VerificationMethod{{
			ID: kid, Type: did.TypeEd25519VerificationKey2020, Controller: d, PublicKeyMultibase: mb,
		}},
		Authentication:  []string{kid},
		AssertionMethod: []string{kid},
	}
}

// documentDigest is the entry resource of a version: "sha256:" hex of the
// document's JSON-LD bytes.
func documentDigest(doc *did.Document) (string, error) {
	b, err := did.MarshalDocument(doc, did.MediaTypeDIDLDJSON)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	return transparency.DigestSHA256(sha256.Sum256(b)), nil
}

// CreateHosted creates the hosted DID of name ("owners/alice",
// "agents/bot"), whose key-1 is the key of the signer, a did:key
// (did.created).
func (r *Registry) CreateHosted(q Request, name string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if _, err := did.ParseKeyDID(q.Signer); err != nil {
		return nil, refuse(CodeKeyInvalid, "a hosted DID is created by a request signed by a did:key, whose key becomes key-1")
	}
	d, err := r.HostedDID(name)
	if err != nil {
		return nil, err
	}
	mb := strings.TrimPrefix(q.Signer, "did:key:")
	digest, err := documentDigest(hostedDocument(d, 1, mb))
	if err != nil {
		return nil, err
	}
	e := entry("did.created", q)
	e.Subject, e.Resource = d, digest
	op := &Op{Entry: e, DID: d, KeyID: keyID(d, 1), invalidate: []string{hostedCacheKey(d)}}
	op.Apply = func(tx *store.Tx) error {
		if ok, err := exists(tx, headKey(d)); err != nil {
			return err
		} else if ok {
			return refuse(CodeNameTaken, "%s already exists (a name is never reused, even after deactivation)", d)
		}
		idx, t := tx.Index(), q.Time.UTC()
		tx.Set(versionKey(d, idx), encode(hostedVersion{Key: mb, KeyN: 1, Time: t}))
		tx.Set(headKey(d), encode(hostedHead{Created: t, CreatedIndex: idx, Index: idx, Updated: t, Key: mb, KeyN: 1}))
		r.cache.invalidate(hostedCacheKey(d))
		op.VersionID = strconv.FormatUint(idx, 10)
		return nil
	}
	return op, nil
}

// controlled reads the committed head of a hosted DID and checks that q
// was signed by its current key.
func (r *Registry) controlled(q Request, d string) (hostedHead, error) {
	if !r.isHosted(d) {
		return hostedHead{}, refuse(CodeDIDNotHosted, "%.120q is not a DID hosted here", d)
	}
	var h hostedHead
	found, err := load(r.db, headKey(d), &h)
	if err != nil {
		return h, err
	}
	if !found {
		return h, refuse(CodeDIDNotFound, "%s does not exist", d)
	}
	return h, checkController(q, d, h)
}

func checkController(q Request, d string, h hostedHead) error {
	if h.Deactivated {
		return refuse(CodeDIDDeactivated, "%s is deactivated", d)
	}
	if q.Signer != d || q.KID != keyID(d, h.KeyN) {
		return refuse(CodeNotController, "the request must be signed with the current key of %s (key-%d)", d, h.KeyN)
	}
	return nil
}

// recheck loads the head inside Apply and checks that it is still the
// version the entry was built on, signed by its current key.
func recheck(tx *store.Tx, q Request, d string, was hostedHead) (hostedHead, error) {
	var h hostedHead
	found, err := load(tx, headKey(d), &h)
	if err != nil {
		return h, err
	}
	if !found {
		return h, refuse(CodeDIDNotFound, "%s does not exist", d)
	}
	if err := checkController(q, d, h); err != nil {
		return h, err
	}
	if h.Index != was.Index {
		// Another change signed with the same key got in first.
		return h, refuse(CodeNotController, "%s changed since the request was checked; sign again with its current key", d)
	}
	return h, nil
}

// RotateHosted replaces the key of hosted DID d by the key of newKey, a
// did:key: the new version names it key-<n+1> (did.updated). The request
// must be signed by d's current key.
func (r *Registry) RotateHosted(q Request, d, newKey string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if _, err := did.ParseKeyDID(newKey); err != nil {
		return nil, refuse(CodeKeyInvalid, "the new key must be an Ed25519 did:key")
	}
	h, err := r.controlled(q, d)
	if err != nil {
		return nil, err
	}
	mb := strings.TrimPrefix(newKey, "did:key:")
	if mb == h.Key {
		return nil, refuse(CodeKeyInvalid, "the new key is the current key")
	}
	n := h.KeyN + 1
	digest, err := documentDigest(hostedDocument(d, n, mb))
	if err != nil {
		return nil, err
	}
	e := entry("did.updated", q)
	e.Subject, e.Resource = d, digest
	op := &Op{Entry: e, DID: d, KeyID: keyID(d, n), invalidate: []string{hostedCacheKey(d)}}
	op.Apply = func(tx *store.Tx) error {
		h, err := recheck(tx, q, d, h)
		if err != nil {
			return err
		}
		idx, t := tx.Index(), q.Time.UTC()
		tx.Set(versionKey(d, idx), encode(hostedVersion{Key: mb, KeyN: n, Time: t}))
		h.Index, h.Updated, h.Key, h.KeyN = idx, t, mb, n
		tx.Set(headKey(d), encode(h))
		r.cache.invalidate(hostedCacheKey(d))
		op.VersionID = strconv.FormatUint(idx, 10)
		return nil
	}
	return op, nil
}

// DeactivateHosted deactivates hosted DID d for good (did.deactivated): its
// last version has no document, and nothing can be done by or to it any
// more. The request must be signed by d's current key.
func (r *Registry) DeactivateHosted(q Request, d string) (*Op, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	h, err := r.controlled(q, d)
	if err != nil {
		return nil, err
	}
	e := entry("did.deactivated", q)
	e.Subject = d
	op := &Op{Entry: e, DID: d, invalidate: []string{hostedCacheKey(d)}}
	op.Apply = func(tx *store.Tx) error {
		h, err := recheck(tx, q, d, h)
		if err != nil {
			return err
		}
		idx, t := tx.Index(), q.Time.UTC()
		tx.Set(versionKey(d, idx), encode(hostedVersion{KeyN: h.KeyN, Time: t, Deactivated: true}))
		h.Index, h.Updated, h.Deactivated = idx, t, true
		tx.Set(headKey(d), encode(h))
		r.cache.invalidate(hostedCacheKey(d))
		op.VersionID = strconv.FormatUint(idx, 10)
		return nil
	}
	return op, nil
}

// head returns the committed head of a hosted DID, from the cache if it
// can.
func (r *Registry) head(d string) (hostedHead, bool, error) {
	k := hostedCacheKey(d)
	v, gen, ok := r.cache.get(k)
	if ok {
		return v.(hostedHead), true, nil
	}
	var h hostedHead
	found, err := load(r.db, headKey(d), &h)
	if err != nil || !found {
		return h, false, err
	}
	r.cache.put(k, h, gen)
	return h, true, nil
}

// Deactivated reports whether d is a hosted DID that is deactivated; false
// for every other DID.
func (r *Registry) Deactivated(d string) (bool, error) {
	if !r.isHosted(d) {
		return false, nil
	}
	h, found, err := r.head(d)
	if err != nil {
		return false, err
	}
	return found && h.Deactivated, nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ResolveHosted resolves a DID hosted here (did.HostedSource): the current
// version if versionID is "", else that version. Failures are
// *did.ResolutionError: notFound for a DID or version that does not exist
// (or a DID of another host), deactivated (with its metadata) for a
// deactivated DID's current version or for its deactivation version. The
// result is freshly built on each call: the caller may modify it.
func (r *Registry) ResolveHosted(ctx context.Context, d, versionID string) (*did.Result, error) {
	if !r.isHosted(d) {
		return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "not a DID hosted here"}
	}
	h, found, err := r.head(d)
	if err != nil {
		return nil, &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error", Err: err}
	}
	if !found {
		return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no such DID"}
	}
	if versionID == "" {
		v := hostedVersion{Key: h.Key, KeyN: h.KeyN, Time: h.Updated, Deactivated: h.Deactivated}
		return r.result(d, h, h.Index, v, "", time.Time{})
	}
	idx, err := strconv.ParseUint(versionID, 10, 64)
	if err != nil || strconv.FormatUint(idx, 10) != versionID {
		return nil, &did.ResolutionError{Code: did.ErrorNotFound,
			Message: "no version " + strconv.Quote(versionID) + " (a versionId is a decimal log index)"}
	}
	var v hostedVersion
	found, err = load(r.db, versionKey(d, idx), &v)
	if err != nil {
		return nil, &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error", Err: err}
	}
	if !found {
		return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no version " + versionID + " of this DID"}
	}
	next, nextTime := "", time.Time{}
	start := versionKey(d, idx+1)
	if idx != h.Index {
		err = r.db.Scan(start, store.PrefixEnd(key(prefixVersion, d, "")), func(k, val []byte) (bool, error) {
			ni, err := decodeIndex(k[len(start)-8:])
			if err != nil {
				return false, err
			}
			var nv hostedVersion
			if err := decode(val, &nv); err != nil {
				return false, err
			}
			next, nextTime = strconv.FormatUint(ni, 10), nv.Time
			return false, nil
		})
		if err != nil {
			return nil, &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error", Err: err}
		}
	}
	return r.result(d, h, idx, v, next, nextTime)
}

// result builds the resolution of version idx of d.
func (r *Registry) result(d string, h hostedHead, idx uint64, v hostedVersion, next string, nextTime time.Time) (*did.Result, error) {
	vid := strconv.FormatUint(idx, 10)
	md := did.DocumentMetadata{
		Created:   rfc3339(h.Created),
		Updated:   rfc3339(v.Time),
		VersionID: vid,
		LogEntry:  r.publicURL + "/log/v1/receipts/" + vid,
	}
	if next != "" {
		md.NextVersionID, md.NextUpdate = next, rfc3339(nextTime)
	}
	if v.Deactivated {
		md.Deactivated = true
		return nil, &did.ResolutionError{Code: did.ErrorDeactivated, Message: "this DID is deactivated", Metadata: &md}
	}
	return &did.Result{
		Document:           hostedDocument(d, v.KeyN, v.Key),
		ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON},
		DocumentMetadata:   md,
	}, nil
}
