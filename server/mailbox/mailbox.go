// Package mailbox is the durable store of agent inboxes (spec/inbox.md):
// the messages that the orchestrator relays from one owner's Identity
// Agent to another's, kept until the recipient acknowledges them.
//
// What it promises:
//   - A message is delivered inside the sequencer Apply of the log entry
//     that allows it (Deliver takes the entry's *store.Tx), so the message
//     exists if and only if that entry is in the log.
//   - Delivery is idempotent per message id: delivering an id again is a
//     no-op that returns the first sequence number, even after the message
//     was acknowledged. MessageID derives a stable id from the sender and
//     its action request id, so a retried action never yields a second
//     message.
//   - Each inbox numbers its messages 1, 2, 3, … in delivery order; List
//     returns the unacknowledged ones in that order, again and again until
//     they are acknowledged (at-least-once delivery).
//   - Ack is idempotent: unknown and already acknowledged ids are ignored.
//     An agent can only acknowledge its own messages: every key is under
//     its own inbox prefix.
//   - An inbox holds at most Options.MaxUnacked unacknowledged messages;
//     Deliver refuses more with CodeInboxFull.
//   - Everything is on disk once the log entry (Deliver) or the synced
//     batch (Ack) committed: inboxes survive a restart.
//
// Acknowledgements are not governance events and are not logged: they
// change only what the recipient is shown again, never what anyone was
// allowed to do or what was delivered (that is the log's delivery entry).
// They are committed with a synced store.Batch outside the sequencer.
package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/transparency/store"
)

// MaxContent is the largest message content in bytes.
const MaxContent = 32 << 10

// DefaultMaxUnacked is the bound of unacknowledged messages per inbox when
// Options.MaxUnacked is 0.
const DefaultMaxUnacked = 10_000

// maxIDLen bounds a message id.
const maxIDLen = 128

// maxDIDLen bounds the DIDs of a message (the log bounds entry fields at
// 4096 bytes too).
const maxDIDLen = 2048

// maxFieldLen bounds action and resource.
const maxFieldLen = 4096

// Codes of the refusals of Deliver.
const (
	// CodeInboxFull: the recipient's inbox holds MaxUnacked
	// unacknowledged messages.
	CodeInboxFull = "inbox_full"
	// CodeInvalidMessage: a field of the message is missing or malformed
	// (a bug of the caller, not of the sender).
	CodeInvalidMessage = "invalid_message"
)

// Error is a refusal with a stable code.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return "mailbox: " + e.Code + ": " + e.Msg }

// CodeOf returns the code of a refusal in err's chain, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func refuse(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Message is one relayed message.
type Message struct {
	// ID is unique per recipient inbox and stable across redelivery
	// (MessageID); [A-Za-z0-9._~:-], 1 to 128 characters.
	ID string `json:"id"`
	// From is the sending agent's DID and FromOwner its owner's DID.
	From      string `json:"from"`
	FromOwner string `json:"from_owner"`
	// To is the recipient agent's DID: the inbox.
	To string `json:"to"`
	// Action is the action that carried the message ("message/send").
	Action   string `json:"action"`
	Resource string `json:"resource,omitempty"`
	// ContentDigest is "sha256:" hex of Content, the only part of the
	// content that the log holds.
	ContentDigest string `json:"content_digest,omitempty"`
	// Content is the message text, at most MaxContent bytes of UTF-8.
	Content string `json:"content,omitempty"`
	// DecisionIndex is the log index of the entry that allowed the message.
	DecisionIndex uint64 `json:"decision_index"`
	// Time is the time of that decision, UTC.
	Time time.Time `json:"time"`
}

// Stored is a delivered message and its sequence number in its inbox.
type Stored struct {
	Seq uint64
	Message
}

// MessageID is the id of the message carried by the action request
// requestID of the sending agent sender: "msg-" and 32 hex digits of a
// SHA-256 over both, so that a retried request maps to the same message.
func MessageID(sender, requestID string) string {
	h := sha256.New()
	h.Write([]byte("clawnet inbox message id v1\x00"))
	h.Write([]byte(sender))
	h.Write([]byte{0})
	h.Write([]byte(requestID))
	return "msg-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Options configure New.
type Options struct {
	// MaxUnacked bounds the unacknowledged messages of one inbox; 0 means
	// DefaultMaxUnacked.
	MaxUnacked int
}

// Mailbox is the set of all inboxes in one database. It is safe for
// concurrent use.
//
// Keys, under "s/inbox/<agent DID>/" (a DID has no "/", so one inbox's
// keys never fall under another's prefix):
//
//	"h"             big-endian uint64: messages ever delivered (the last seq);
//	                written only by Deliver, i.e. by the sequencer goroutine
//	"a"             big-endian uint64: messages acknowledged; written only by
//	                Ack, under ackMu
//	"m/" seq(be64)  the message record (JSON); deleted by Ack
//	"i/" id         big-endian uint64 seq; kept after Ack so that delivery
//	                stays idempotent
//
// The two counters have one writer each, so that Ack's batch, committed
// outside the sequencer, never overwrites a count that a delivery in a
// batch still in flight is about to commit. Unacknowledged = h - a.
type Mailbox struct {
	db  *store.DB
	max uint64
	// ackMu serializes Ack, the only writer of the "a" counters and of
	// message deletions.
	ackMu sync.Mutex
}

// New returns the mailbox over db.
func New(db *store.DB, o Options) *Mailbox {
	m := uint64(DefaultMaxUnacked)
	if o.MaxUnacked > 0 {
		m = uint64(o.MaxUnacked)
	}
	return &Mailbox{db: db, max: m}
}

const prefix = "s/inbox/"

func inboxPrefix(agent string) []byte { return []byte(prefix + agent + "/") }

func headKey(agent string) []byte  { return append(inboxPrefix(agent), 'h') }
func ackedKey(agent string) []byte { return append(inboxPrefix(agent), 'a') }
func idKey(agent, id string) []byte {
	return append(append(inboxPrefix(agent), "i/"...), id...)
}
func msgKey(agent string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(inboxPrefix(agent), "m/"...), seq)
}

// ValidAgent reports whether agent can name an inbox: a DID of at most
// 2048 bytes without "/" or control characters.
func ValidAgent(agent string) bool {
	if !strings.HasPrefix(agent, "did:") || len(agent) > maxDIDLen || !utf8.ValidString(agent) {
		return false
	}
	for _, c := range agent {
		if c == '/' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidID reports whether id is a well-formed message id.
func ValidID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '~' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

func validDigest(s string) bool {
	if len(s) != len("sha256:")+64 || !strings.HasPrefix(s, "sha256:") {
		return false
	}
	for _, c := range s[len("sha256:"):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (m *Message) validate() error {
	switch {
	case !ValidID(m.ID):
		return refuse(CodeInvalidMessage, "bad message id %.140q", m.ID)
	case !ValidAgent(m.To):
		return refuse(CodeInvalidMessage, "bad recipient %.140q", m.To)
	case !ValidAgent(m.From):
		return refuse(CodeInvalidMessage, "bad sender %.140q", m.From)
	case !ValidAgent(m.FromOwner):
		return refuse(CodeInvalidMessage, "bad sender owner %.140q", m.FromOwner)
	case m.Action == "" || len(m.Action) > maxFieldLen || !utf8.ValidString(m.Action):
		return refuse(CodeInvalidMessage, "bad action")
	case len(m.Resource) > maxFieldLen || !utf8.ValidString(m.Resource):
		return refuse(CodeInvalidMessage, "bad resource")
	case m.ContentDigest != "" && !validDigest(m.ContentDigest):
		return refuse(CodeInvalidMessage, "bad content digest")
	case len(m.Content) > MaxContent || !utf8.ValidString(m.Content):
		return refuse(CodeInvalidMessage, "content is not UTF-8 of at most %d bytes", MaxContent)
	case m.Time.IsZero() || m.Time.Location() != time.UTC:
		return refuse(CodeInvalidMessage, "time missing or not UTC")
	}
	return nil
}

// Deliver puts m into the inbox of m.To and returns its sequence number.
// It must be called inside the sequencer Apply of the log entry that
// allows the message (tx), so that the message commits with it. If a
// message with m.ID was ever delivered to that inbox, it does nothing and
// returns that message's sequence number. It refuses with CodeInboxFull
// when the inbox is full, and with CodeInvalidMessage a malformed m.
func (mb *Mailbox) Deliver(tx *store.Tx, m Message) (uint64, error) {
	m.Time = m.Time.UTC()
	if err := m.validate(); err != nil {
		return 0, err
	}
	switch v, err := tx.Get(idKey(m.To, m.ID)); {
	case err == nil:
		if len(v) != 8 {
			return 0, fmt.Errorf("mailbox: corrupt id record of %s in %s", m.ID, m.To)
		}
		return binary.BigEndian.Uint64(v), nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("mailbox: deliver: %w", err)
	}
	head, err := counter(tx.Get, headKey(m.To))
	if err != nil {
		return 0, fmt.Errorf("mailbox: deliver: %w", err)
	}
	// The acked counter is only ever in the committed database (Ack does
	// not go through the sequencer); a count read while an Ack commits is
	// at worst too low, which refuses early, never admits too many.
	acked, err := counter(tx.Get, ackedKey(m.To))
	if err != nil {
		return 0, fmt.Errorf("mailbox: deliver: %w", err)
	}
	if head-acked >= mb.max {
		return 0, refuse(CodeInboxFull, "the inbox of %s holds %d unacknowledged messages", m.To, head-acked)
	}
	rec, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("mailbox: deliver: %w", err)
	}
	seq := head + 1
	tx.Set(msgKey(m.To, seq), rec)
	tx.Set(idKey(m.To, m.ID), binary.BigEndian.AppendUint64(nil, seq))
	tx.Set(headKey(m.To), binary.BigEndian.AppendUint64(nil, seq))
	return seq, nil
}

func counter(get func([]byte) ([]byte, error), key []byte) (uint64, error) {
	v, err := get(key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("corrupt counter %q", key)
	}
	return binary.BigEndian.Uint64(v), nil
}

// DecodeRecord decodes a stored message record strictly: one JSON object
// with exactly the members of Message, valid as Deliver requires.
func DecodeRecord(b []byte) (Message, error) {
	var m Message
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("mailbox: decode record: %w", err)
	}
	if d.More() {
		return Message{}, errors.New("mailbox: decode record: trailing data")
	}
	if err := m.validate(); err != nil {
		return Message{}, fmt.Errorf("mailbox: decode record: %w", err)
	}
	return m, nil
}

// List returns up to limit unacknowledged messages of agent's inbox with
// a sequence number above after, in order. limit <= 0 means no bound.
func (mb *Mailbox) List(agent string, after uint64, limit int) ([]Stored, error) {
	if !ValidAgent(agent) {
		return nil, refuse(CodeInvalidMessage, "bad agent %.140q", agent)
	}
	if after == ^uint64(0) {
		return nil, nil
	}
	start := msgKey(agent, after+1)
	end := append(inboxPrefix(agent), "m0"...) // just past "m/"
	var out []Stored
	err := mb.db.Scan(start, end, func(k, v []byte) (bool, error) {
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		m, err := DecodeRecord(v)
		if err != nil {
			return false, fmt.Errorf("inbox %s seq %d: %w", agent, seq, err)
		}
		out = append(out, Stored{Seq: seq, Message: m})
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: list: %w", err)
	}
	return out, nil
}

// Ack acknowledges the messages ids of agent's inbox, which List then no
// longer returns, and returns how many were unacknowledged until now.
// Unknown, malformed and already acknowledged ids are ignored. The change
// is synced to disk before Ack returns.
func (mb *Mailbox) Ack(agent string, ids []string) (int, error) {
	if !ValidAgent(agent) {
		return 0, refuse(CodeInvalidMessage, "bad agent %.140q", agent)
	}
	mb.ackMu.Lock()
	defer mb.ackMu.Unlock()
	seen := make(map[string]bool, len(ids))
	var del [][]byte
	for _, id := range ids {
		if !ValidID(id) || seen[id] {
			continue
		}
		seen[id] = true
		v, err := mb.db.Get(idKey(agent, id))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("mailbox: ack: %w", err)
		}
		if len(v) != 8 {
			return 0, fmt.Errorf("mailbox: ack: corrupt id record of %s in %s", id, agent)
		}
		k := msgKey(agent, binary.BigEndian.Uint64(v))
		switch _, err := mb.db.Get(k); {
		case errors.Is(err, store.ErrNotFound):
			continue // acknowledged before
		case err != nil:
			return 0, fmt.Errorf("mailbox: ack: %w", err)
		}
		del = append(del, k)
	}
	if len(del) == 0 {
		return 0, nil
	}
	acked, err := counter(mb.db.Get, ackedKey(agent))
	if err != nil {
		return 0, fmt.Errorf("mailbox: ack: %w", err)
	}
	b := mb.db.NewBatch()
	for _, k := range del {
		b.Delete(k)
	}
	b.Set(ackedKey(agent), binary.BigEndian.AppendUint64(nil, acked+uint64(len(del))))
	if err := b.Commit(); err != nil {
		return 0, fmt.Errorf("mailbox: ack: %w", err)
	}
	return len(del), nil
}

// Unacked returns the number of unacknowledged messages of agent's inbox.
func (mb *Mailbox) Unacked(agent string) (uint64, error) {
	// acked first: a message is acknowledged only once delivered, so a
	// head read afterwards is never below it.
	acked, err := counter(mb.db.Get, ackedKey(agent))
	if err != nil {
		return 0, fmt.Errorf("mailbox: %w", err)
	}
	head, err := counter(mb.db.Get, headKey(agent))
	if err != nil {
		return 0, fmt.Errorf("mailbox: %w", err)
	}
	return head - acked, nil
}
