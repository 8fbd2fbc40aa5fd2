package transparency

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// EntryVersion is the version of the entry format this package writes and
// reads (spec/log-entry.md).
const EntryVersion = 1

// MaxEntrySize is the largest encoded entry: an entry bundle (C2SP
// tlog-tiles) prefixes each entry with a big-endian uint16 length.
const MaxEntrySize = 1<<16 - 1

// maxFieldLen bounds every string field of an entry.
const maxFieldLen = 4096

// Decision is the outcome recorded by an entry.
type Decision string

// The decisions of entry format v1. A v1 parser rejects any other value.
const (
	DecisionNone      Decision = ""
	DecisionAllowed   Decision = "allowed"
	DecisionDenied    Decision = "denied"
	DecisionEscalated Decision = "escalated"
	DecisionApproved  Decision = "approved"
	DecisionTimedOut  Decision = "timed_out"
	DecisionRecorded  Decision = "recorded"
)

var knownDecisions = map[Decision]bool{
	DecisionAllowed: true, DecisionDenied: true, DecisionEscalated: true,
	DecisionApproved: true, DecisionTimedOut: true, DecisionRecorded: true,
}

// AuthzRef names the authorization an entry relied on: a credential id and
// the digest of the credential's exact bytes.
type AuthzRef struct {
	Credential string `json:"credential"`
	Digest     string `json:"digest"`
}

// Entry is one event of the accountability log. Its canonical encoding
// (Marshal) is the exact byte string that is hashed into the tree, stored
// and served.
//
// Field order below is the encoding order. Empty optional fields are
// omitted.
type Entry struct {
	// Version is EntryVersion.
	Version int `json:"v"`
	// Type is the event type, dot-separated lowercase words, such as
	// "action.decision" or "owner.registered".
	Type string `json:"type"`
	// Time is when the event was decided, UTC, encoded as RFC 3339 with
	// nanoseconds and trailing zeros removed.
	Time time.Time `json:"-"`
	// Actor is the DID of whoever caused the event.
	Actor string `json:"actor,omitempty"`
	// Owner is the DID of the owner the actor acts for.
	Owner string `json:"owner,omitempty"`
	// Subject is what the event is about (an agent DID, a credential id).
	Subject string `json:"subject,omitempty"`
	// Authz is the credential the decision relied on.
	Authz *AuthzRef `json:"authz,omitempty"`
	// Action is the action asked for, such as "message/send".
	Action string `json:"action,omitempty"`
	// Resource is the resource acted on.
	Resource string `json:"resource,omitempty"`
	// Counterparty is the DID on the other side of the action.
	Counterparty string `json:"counterparty,omitempty"`
	// Decision is the outcome.
	Decision Decision `json:"decision,omitempty"`
	// Reason explains the decision.
	Reason string `json:"reason,omitempty"`
	// RequestDigest is the digest of the request that caused the event.
	RequestDigest string `json:"request_digest,omitempty"`
}

// wireEntry is Entry as it is on the wire: Time as a string, in place.
type wireEntry struct {
	Version       int       `json:"v"`
	Type          string    `json:"type"`
	Time          string    `json:"time"`
	Actor         string    `json:"actor,omitempty"`
	Owner         string    `json:"owner,omitempty"`
	Subject       string    `json:"subject,omitempty"`
	Authz         *AuthzRef `json:"authz,omitempty"`
	Action        string    `json:"action,omitempty"`
	Resource      string    `json:"resource,omitempty"`
	Counterparty  string    `json:"counterparty,omitempty"`
	Decision      Decision  `json:"decision,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	RequestDigest string    `json:"request_digest,omitempty"`
}

// validType reports whether s matches ^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$:
// two or more dot-separated lowercase words. Hand-written because a regexp
// here cost half of Marshal's time on the append path.
func validType(s string) bool {
	words := 0
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case c >= 'a' && c <= 'z':
			if start {
				words++
			}
			start = false
		case (c >= '0' && c <= '9') || c == '_':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return !start && words >= 2
}

// validDigest reports whether s matches ^sha256:[0-9a-f]{64}$.
func validDigest(s string) bool {
	const prefix = "sha256:"
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// DigestSHA256 formats a SHA-256 digest the way entries carry it:
// "sha256:" followed by 64 lowercase hex digits.
func DigestSHA256(sum [32]byte) string {
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Validate checks the entry against the rules of spec/log-entry.md.
func (e *Entry) Validate() error {
	if e.Version != EntryVersion {
		return fmt.Errorf("%w: entry: unsupported version %d", ErrMalformed, e.Version)
	}
	if !validType(e.Type) || len(e.Type) > 128 {
		return fmt.Errorf("%w: entry: bad type %q", ErrMalformed, e.Type)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: entry: missing time", ErrMalformed)
	}
	if y := e.Time.UTC().Year(); y < 2000 || y > 9999 {
		return fmt.Errorf("%w: entry: time out of range", ErrMalformed)
	}
	for _, f := range []struct{ name, v string }{
		{"actor", e.Actor}, {"owner", e.Owner}, {"counterparty", e.Counterparty},
	} {
		if f.v != "" && !strings.HasPrefix(f.v, "did:") {
			return fmt.Errorf("%w: entry: %s must be a DID", ErrMalformed, f.name)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"actor", e.Actor}, {"owner", e.Owner}, {"subject", e.Subject},
		{"action", e.Action}, {"resource", e.Resource}, {"counterparty", e.Counterparty},
		{"reason", e.Reason},
	} {
		if len(f.v) > maxFieldLen {
			return fmt.Errorf("%w: entry: %s longer than %d bytes", ErrMalformed, f.name, maxFieldLen)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: entry: %s is not valid UTF-8", ErrMalformed, f.name)
		}
	}
	if e.Authz != nil {
		if e.Authz.Credential == "" || len(e.Authz.Credential) > maxFieldLen || !utf8.ValidString(e.Authz.Credential) {
			return fmt.Errorf("%w: entry: bad authz credential", ErrMalformed)
		}
		if !validDigest(e.Authz.Digest) {
			return fmt.Errorf("%w: entry: bad authz digest", ErrMalformed)
		}
	}
	if e.Decision != DecisionNone && !knownDecisions[e.Decision] {
		return fmt.Errorf("%w: entry: unknown decision %q", ErrMalformed, e.Decision)
	}
	if e.RequestDigest != "" && !validDigest(e.RequestDigest) {
		return fmt.Errorf("%w: entry: bad request_digest", ErrMalformed)
	}
	return nil
}

// Marshal validates the entry and returns its canonical encoding.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	w := wireEntry{
		Version: e.Version, Type: e.Type, Time: e.Time.UTC().Format(time.RFC3339Nano),
		Actor: e.Actor, Owner: e.Owner, Subject: e.Subject, Authz: e.Authz,
		Action: e.Action, Resource: e.Resource, Counterparty: e.Counterparty,
		Decision: e.Decision, Reason: e.Reason, RequestDigest: e.RequestDigest,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("%w: entry: %v", ErrMalformed, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: entry: %d bytes, more than %d", ErrMalformed, len(b), MaxEntrySize)
	}
	return b, nil
}

// ParseEntry parses an encoded entry. It rejects unknown fields, unknown
// versions and any encoding that is not byte-for-byte the canonical one, so
// that an entry has exactly one encoding and one leaf hash.
func ParseEntry(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: entry: %d bytes, more than %d", ErrMalformed, len(b), MaxEntrySize)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: entry: not valid UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireEntry
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: entry: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: entry: trailing data", ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return nil, fmt.Errorf("%w: entry: bad time: %v", ErrMalformed, err)
	}
	e := &Entry{
		Version: w.Version, Type: w.Type, Time: t.UTC(),
		Actor: w.Actor, Owner: w.Owner, Subject: w.Subject, Authz: w.Authz,
		Action: w.Action, Resource: w.Resource, Counterparty: w.Counterparty,
		Decision: w.Decision, Reason: w.Reason, RequestDigest: w.RequestDigest,
	}
	canon, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("%w: entry: not in canonical form", ErrMalformed)
	}
	return e, nil
}
