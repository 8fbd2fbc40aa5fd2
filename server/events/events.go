// Package events keeps the persisted per-recipient event streams of a
// ClawNet ledger (spec/events.md): what an owner or an agent is told about
// (an escalation to answer, a boundary violation, an action decided), kept
// so that a recipient that was offline reads it later.
//
// What it promises:
//
//   - A stream is named by its recipient's DID. Its event ids start at 1
//     and strictly increase; an id is never reused, not even after a
//     restart or after retention dropped the event, because the next id is
//     kept in the store and read through the same transaction that writes
//     the event.
//   - AppendTx writes an event inside a sequencer Apply, so that the event
//     commits with the log entry that caused it, or not at all.
//   - Since returns committed events only, in id order.
//   - Retention: a stream keeps its newest Retention events (10,000 by
//     default); older ones are deleted in the transaction that appends.
//   - A channel from Wait is closed by the next Notify of its stream, so
//     subscribers wake without polling; Notify is the caller's job, after
//     the transaction that appended committed (Append of the log
//     returned).
//
// # Storage layout
//
//	"s/events/" + stream + "/" + 8-byte BE id  -> JSON of the event
//	"s/evseq/" + stream                        -> 16 bytes: BE next id, BE oldest kept id
//
// Stream names are DIDs, which never contain "/", so one stream's key range
// never holds another's. The counter lives under its own prefix so that a
// range scan of a stream sees events only.
package events

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clawnet/ledger/transparency/store"
)

// MaxData bounds an event's Data: events are notifications that point at
// records (an escalation id, a log index), not carriers of content.
const MaxData = 16 << 10

// DefaultRetention is how many events a stream keeps when
// Config.Retention is 0: at a few hundred bytes an event, about 5 MB per
// recipient at most, and weeks of escalations for an owner who never reads.
const DefaultRetention = 10_000

// MaxStreamLen bounds a stream name (a DID).
const MaxStreamLen = 512

const (
	eventPrefix = "s/events/"
	seqPrefix   = "s/evseq/"
)

// Event is one event of a stream.
type Event struct {
	// ID is the event's position in its stream, from 1.
	ID uint64 `json:"id"`
	// Type names what happened ("escalation.opened", ...; spec/events.md).
	Type string `json:"type"`
	// Time is when the event was appended (UTC, from the caller's clock).
	Time time.Time `json:"time"`
	// Data is the event's JSON payload; its shape depends on Type.
	Data json.RawMessage `json:"data"`
}

// ErrInvalid is wrapped by every refusal of a bad stream name or event.
var ErrInvalid = errors.New("events: invalid argument")

// Config configures New.
type Config struct {
	// DB is the shared database; the streams live under "s/events/" and
	// "s/evseq/". Required.
	DB *store.DB
	// Retention is how many events each stream keeps; 0 means
	// DefaultRetention.
	Retention int
}

// Streams is the set of event streams. Its methods are safe for concurrent
// use; AppendTx is called by the sequencer goroutine inside an Apply.
type Streams struct {
	db        *store.DB
	retention uint64

	// mu guards waiters: for each stream with subscribers, the channel
	// that the next Notify closes. Notify removes it and the next Wait
	// makes a fresh one, so a subscriber that took the channel before
	// reading Since never misses a wake-up. A channel whose subscribers
	// left stays until the stream's next Notify: at most one small
	// channel per recipient that ever subscribed.
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

// New returns the streams stored in cfg.DB.
func New(cfg Config) (*Streams, error) {
	if cfg.DB == nil {
		return nil, errors.New("events: Config.DB is required")
	}
	if cfg.Retention < 0 {
		return nil, errors.New("events: Config.Retention is negative")
	}
	r := cfg.Retention
	if r == 0 {
		r = DefaultRetention
	}
	return &Streams{db: cfg.DB, retention: uint64(r), waiters: map[string]chan struct{}{}}, nil
}

// ValidStream reports whether name can name a stream: a DID (it starts
// with "did:"), at most MaxStreamLen bytes, without "/" or control
// characters.
func ValidStream(name string) bool {
	if len(name) <= len("did:") || len(name) > MaxStreamLen || !strings.HasPrefix(name, "did:") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '/' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidType reports whether t can be an event type: 1 to 64 bytes of
// [a-z0-9._-], starting with a letter (an SSE "event:" line must not hold
// a line break, and types are registry names).
func ValidType(t string) bool {
	if len(t) == 0 || len(t) > 64 || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func eventKey(stream string, id uint64) []byte {
	k := make([]byte, 0, len(eventPrefix)+len(stream)+1+8)
	k = append(k, eventPrefix...)
	k = append(k, stream...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, id)
}

func seqKey(stream string) []byte { return []byte(seqPrefix + stream) }

// counters reads a stream's next id and oldest kept id (1 and 1 for a new
// stream).
func counters(get func([]byte) ([]byte, error), stream string) (next, oldest uint64, err error) {
	v, err := get(seqKey(stream))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 1, 1, nil
	case err != nil:
		return 0, 0, fmt.Errorf("events: read counter of %s: %w", stream, err)
	case len(v) != 16:
		return 0, 0, fmt.Errorf("events: counter of %s is %d bytes, want 16", stream, len(v))
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), nil
}

// AppendTx appends e to stream inside tx and returns its id; e.ID is
// ignored. The event is durable, and visible to Since, once tx's log entry
// is committed; call Notify(stream) then. Events beyond the retention
// bound are deleted in the same transaction.
func (s *Streams) AppendTx(tx *store.Tx, stream string, e Event) (uint64, error) {
	if !ValidStream(stream) {
		return 0, fmt.Errorf("%w: stream %.80q is not a DID", ErrInvalid, stream)
	}
	if !ValidType(e.Type) {
		return 0, fmt.Errorf("%w: event type %.80q", ErrInvalid, e.Type)
	}
	if len(e.Data) > MaxData {
		return 0, fmt.Errorf("%w: event data is %d bytes, more than %d", ErrInvalid, len(e.Data), MaxData)
	}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	}
	next, oldest, err := counters(tx.Get, stream)
	if err != nil {
		return 0, err
	}
	e.ID = next
	e.Time = e.Time.UTC()
	b, err := appendEvent(make([]byte, 0, 64+len(e.Data)), &e)
	if err != nil {
		return 0, err
	}
	tx.Set(eventKey(stream, e.ID), b)
	// Keep ids [next+1-retention, next]: normally one deletion per append.
	for ; oldest+s.retention <= next; oldest++ {
		tx.Delete(eventKey(stream, oldest))
	}
	var c [16]byte
	binary.BigEndian.PutUint64(c[:], next+1)
	binary.BigEndian.PutUint64(c[8:], oldest)
	tx.Set(seqKey(stream), c[:])
	return e.ID, nil
}

// appendEvent appends the stored form of e: the bytes of json.Marshal(e)
// (TestAppendEventMatchesMarshal, FuzzAppendEvent), written directly: an
// event is encoded on every decision, and Marshal found its four fields
// by reflection and scanned Data twice. e.Type must be ValidType (plain
// characters, nothing to escape). Data that is not JSON is ErrInvalid.
func appendEvent(b []byte, e *Event) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, `,"type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","time":"`...)
	b, err := e.Time.AppendText(b)
	if err != nil {
		return nil, fmt.Errorf("%w: event time: %w", ErrInvalid, err)
	}
	b = append(b, `","data":`...)
	// As Marshal writes a json.RawMessage: compacted, and <, >, & and
	// U+2028, U+2029 escaped (they occur only inside strings).
	start := len(b)
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, e.Data); err != nil {
		return nil, fmt.Errorf("%w: event data is not JSON", ErrInvalid)
	}
	b = buf.Bytes()
	if data := b[start:]; bytes.ContainsAny(data, "<>&\u2028\u2029") {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, data)
		b = append(b[:start], esc.Bytes()...)
	}
	return append(b, '}'), nil
}

// Since returns up to limit committed events of stream with an id greater
// than after, oldest first. An id older than the retention bound is simply
// gone: the first event returned then has an id greater than after+1
// (callers that care compare).
func (s *Streams) Since(stream string, after uint64, limit int) ([]Event, error) {
	if !ValidStream(stream) {
		return nil, fmt.Errorf("%w: stream %.80q is not a DID", ErrInvalid, stream)
	}
	if limit <= 0 || after == ^uint64(0) {
		return nil, nil
	}
	var out []Event
	start := eventKey(stream, after+1)
	end := append([]byte(eventPrefix+stream), '/'+1)
	err := s.db.Scan(start, end, func(k, v []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("events: stored event %x: %w", k, err)
		}
		out = append(out, e)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Last returns the id of the newest committed event of stream (0 if none).
func (s *Streams) Last(stream string) (uint64, error) {
	if !ValidStream(stream) {
		return 0, fmt.Errorf("%w: stream %.80q is not a DID", ErrInvalid, stream)
	}
	next, _, err := counters(s.db.Get, stream)
	if err != nil {
		return 0, err
	}
	return next - 1, nil
}

// Wait returns a channel that is closed by the next Notify of stream. A
// subscriber takes it BEFORE reading Since, so that an event committed
// between the read and the wait still wakes it:
//
//	for {
//		ch := s.Wait(stream)
//		evs, _ := s.Since(stream, last, n) // send them, advance last
//		<-ch                               // or ctx.Done()
//	}
func (s *Streams) Wait(stream string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.waiters[stream]
	if !ok {
		ch = make(chan struct{})
		s.waiters[stream] = ch
	}
	return ch
}

// Notify wakes every subscriber of stream. Call it after the transaction
// that appended to stream committed. A stream nobody waits on costs
// nothing: its channel is created by the first Wait after the Notify.
func (s *Streams) Notify(stream string) {
	s.mu.Lock()
	ch, ok := s.waiters[stream]
	delete(s.waiters, stream)
	s.mu.Unlock()
	if ok {
		close(ch)
	}
}
