package store

import "errors"

// Tx is the view of the database an apply function gets inside the log's
// sequencer: reads see the committed database, then the writes of earlier
// transactions in the same batch, then this transaction's own writes.
// Writes become durable together with the log entry, or not at all.
//
// A Tx is used by one goroutine (the sequencer) and only during the apply
// call.
type Tx struct {
	db      *DB
	pending map[string][]byte // writes of earlier Txs in this batch; nil value = deleted
	own     map[string][]byte // this Tx's writes; nil value = deleted
	order   []string          // keys of own in write order
	index   uint64            // the log index of the entry this Tx belongs to
}

// NewTx returns a transaction over db that sees pending (the batch's
// earlier writes; may be nil), for the log entry that gets index index if
// it is accepted. Used by the sequencer and by tests.
func NewTx(db *DB, pending map[string][]byte, index uint64) *Tx {
	return &Tx{db: db, pending: pending, own: map[string][]byte{}, index: index}
}

// Index is the log index that the entry of this transaction gets if the
// transaction is applied: state may record it (a hosted DID's versionId is
// the index of the entry that created that version).
func (t *Tx) Index() uint64 { return t.index }

// Get returns the value of key as this transaction sees it, or ErrNotFound.
// The returned slice must not be modified.
func (t *Tx) Get(key []byte) ([]byte, error) {
	if v, ok := t.own[string(key)]; ok {
		if v == nil {
			return nil, ErrNotFound
		}
		return v, nil
	}
	if v, ok := t.pending[string(key)]; ok {
		if v == nil {
			return nil, ErrNotFound
		}
		return v, nil
	}
	return t.db.Get(key)
}

// Set writes key. Both slices are copied.
func (t *Tx) Set(key, value []byte) {
	// A non-nil copy even for an empty value: nil means "deleted".
	v := make([]byte, len(value))
	copy(v, value)
	k := string(key)
	if _, ok := t.own[k]; !ok {
		t.order = append(t.order, k)
	}
	t.own[k] = v
}

// Delete deletes key.
func (t *Tx) Delete(key []byte) {
	k := string(key)
	if _, ok := t.own[k]; !ok {
		t.order = append(t.order, k)
	}
	t.own[k] = nil
}

// ErrReservedKey is returned when a Tx tries to write the log's own keys.
var ErrReservedKey = errors.New("store: key prefix t/ is reserved for the log")

// Apply moves the transaction's writes into the batch and into pending.
// It fails, writing nothing, if the transaction wrote a key under "t/".
func (t *Tx) Apply(b *Batch, pending map[string][]byte) error {
	for _, k := range t.order {
		if len(k) >= 2 && k[:2] == "t/" {
			return ErrReservedKey
		}
	}
	for _, k := range t.order {
		v := t.own[k]
		if v == nil {
			b.Delete([]byte(k))
		} else {
			b.Set([]byte(k), v)
		}
		pending[k] = v
	}
	return nil
}
