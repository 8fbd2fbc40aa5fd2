package events

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

const (
	alice = "did:key:z6MkAlice"
	bob   = "did:key:z6MkBob"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(dir, store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newStreams(t testing.TB, db *store.DB, retention int) *Streams {
	t.Helper()
	s, err := New(Config{DB: db, Retention: retention})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// appendDirect appends events in one committed transaction, as an Apply
// would, without a log.
func appendDirect(t testing.TB, db *store.DB, s *Streams, stream string, evs ...Event) []uint64 {
	t.Helper()
	tx := store.NewTx(db, nil, 0)
	var ids []uint64
	for _, e := range evs {
		id, err := s.AppendTx(tx, stream, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	b := db.NewBatch()
	if err := tx.Apply(b, map[string][]byte{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Notify(stream)
	return ids
}

func ev(i int) Event {
	return Event{Type: "test.event", Time: t0.Add(time.Duration(i) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
}

func ids(evs []Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIDsMonotonicAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := openDB(t, dir)
	s := newStreams(t, db, 0)
	if got := appendDirect(t, db, s, alice, ev(1), ev(2)); !equalIDs(got, []uint64{1, 2}) {
		t.Fatalf("ids %v, want [1 2]", got)
	}
	// Another stream counts on its own.
	if got := appendDirect(t, db, s, bob, ev(3)); !equalIDs(got, []uint64{1}) {
		t.Fatalf("bob's ids %v, want [1]", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	defer db.Close()
	s = newStreams(t, db, 0)
	if last, err := s.Last(alice); err != nil || last != 2 {
		t.Fatalf("Last after restart = %d, %v; want 2", last, err)
	}
	if got := appendDirect(t, db, s, alice, ev(4)); !equalIDs(got, []uint64{3}) {
		t.Fatalf("id after restart %v, want [3]", got)
	}
	evs, err := s.Since(alice, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(ids(evs), []uint64{1, 2, 3}) {
		t.Fatalf("Since = %v", ids(evs))
	}
	want := ev(4)
	if got := evs[2]; got.Type != want.Type || !got.Time.Equal(want.Time) || string(got.Data) != string(want.Data) {
		t.Errorf("event read back %+v, want %+v", got, want)
	}
}

func TestRetention(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := newStreams(t, db, 3)
	for i := 1; i <= 5; i++ {
		appendDirect(t, db, s, alice, ev(i))
	}
	// Many in one transaction too: the bound holds inside a batch.
	appendDirect(t, db, s, alice, ev(6), ev(7), ev(8), ev(9))
	evs, err := s.Since(alice, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(ids(evs), []uint64{7, 8, 9}) {
		t.Fatalf("kept %v, want [7 8 9]", ids(evs))
	}
	// Nothing older is left in the store.
	n := 0
	if err := db.Scan([]byte(eventPrefix), []byte("s/events0"), func(k, v []byte) (bool, error) {
		n++
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d event records stored, want 3", n)
	}
	// A reader behind the retention bound sees the gap.
	if evs, _ := s.Since(alice, 2, 1); len(evs) != 1 || evs[0].ID != 7 {
		t.Errorf("Since(2) = %v, want [7]", ids(evs))
	}
}

func TestSincePagination(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := newStreams(t, db, 0)
	for i := 1; i <= 10; i++ {
		appendDirect(t, db, s, alice, ev(i))
	}
	appendDirect(t, db, s, "did:key:z6MkAlice0", ev(99)) // a stream whose name extends alice's
	appendDirect(t, db, s, "did:key:z6MkAlic", ev(98))   // and one that alice's extends
	var got []uint64
	after := uint64(0)
	for {
		evs, err := s.Since(alice, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		if len(evs) > 3 {
			t.Fatalf("page of %d, limit 3", len(evs))
		}
		got = append(got, ids(evs)...)
		after = evs[len(evs)-1].ID
	}
	if !equalIDs(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("paged ids %v", got)
	}
	for _, c := range []struct {
		after uint64
		limit int
		n     int
	}{{10, 5, 0}, {9, 5, 1}, {0, 0, 0}, {0, -1, 0}, {^uint64(0), 5, 0}} {
		evs, err := s.Since(alice, c.after, c.limit)
		if err != nil || len(evs) != c.n {
			t.Errorf("Since(%d, %d) = %d events, %v; want %d", c.after, c.limit, len(evs), err, c.n)
		}
	}
	if evs, _ := s.Since(bob, 0, 10); len(evs) != 0 {
		t.Errorf("empty stream has %d events", len(evs))
	}
}

func TestAppendRefusals(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := newStreams(t, db, 0)
	big := make([]byte, MaxData+1)
	for i := range big {
		big[i] = ' '
	}
	big[0], big[1] = '"', '"'
	for name, c := range map[string]struct {
		stream string
		e      Event
	}{
		"stream not a DID":    {"alice", ev(1)},
		"stream with slash":   {"did:web:x/y", ev(1)},
		"stream with newline": {"did:key:a\nb", ev(1)},
		"empty stream":        {"", ev(1)},
		"empty type":          {alice, Event{Data: json.RawMessage(`{}`)}},
		"type with newline":   {alice, Event{Type: "a\nb"}},
		"type upper case":     {alice, Event{Type: "Escalation"}},
		"data not JSON":       {alice, Event{Type: "a.b", Data: json.RawMessage(`{`)}},
		"data too large":      {alice, Event{Type: "a.b", Data: big}},
	} {
		tx := store.NewTx(db, nil, 0)
		if _, err := s.AppendTx(tx, c.stream, c.e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Since("nope", 0, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Since of a bad stream: %v", err)
	}
	// No data is an empty object.
	appendDirect(t, db, s, alice, Event{Type: "a.b", Time: t0})
	if evs, _ := s.Since(alice, 0, 1); len(evs) != 1 || string(evs[0].Data) != "{}" {
		t.Errorf("event without data read back as %+v", evs)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without DB succeeded")
	}
	if _, err := New(Config{DB: db, Retention: -1}); err == nil {
		t.Error("New with negative retention succeeded")
	}
}

func TestWaitNotify(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := newStreams(t, db, 0)
	ch := s.Wait(alice)
	other := s.Wait(bob)
	select {
	case <-ch:
		t.Fatal("woken before any Notify")
	default:
	}
	appendDirect(t, db, s, alice, ev(1)) // notifies alice
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by Notify")
	}
	select {
	case <-other:
		t.Fatal("bob woken by alice's Notify")
	default:
	}
	// A fresh Wait after a Notify waits for the next one.
	select {
	case <-s.Wait(alice):
		t.Fatal("a new Wait is already closed")
	default:
	}
}

// TestConcurrentAppendersThroughLog appends from many goroutines through a
// real sequencer, several events per entry and across streams, and checks
// that ids are dense per stream, that each committed with its entry, and
// that a subscriber following with Wait and Since saw every event once.
func TestConcurrentAppendersThroughLog(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/events-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: signer.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newStreams(t, db, 0)

	const writers, perWriter = 8, 25
	total := writers * perWriter
	followed := make(chan []uint64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		var seen []uint64
		after := uint64(0)
		for len(seen) < total {
			ch := s.Wait(alice)
			evs, err := s.Since(alice, after, 7)
			if err != nil {
				t.Error(err)
				break
			}
			for _, e := range evs {
				seen = append(seen, e.ID)
				after = e.ID
			}
			if len(evs) == 7 || len(seen) == total {
				continue // more may be stored already, or done
			}
			select {
			case <-ch:
			case <-ctx.Done():
				followed <- seen
				return
			}
		}
		followed <- seen
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				e := &transparency.Entry{
					Version: transparency.EntryVersion, Type: "test.event", Time: t0,
					Actor: alice, Subject: fmt.Sprintf("%d-%d", w, i), Decision: transparency.DecisionRecorded,
				}
				var got uint64
				_, err := l.Append(context.Background(), e, func(tx *store.Tx) error {
					id, err := s.AppendTx(tx, alice, ev(w*1000+i))
					if err != nil {
						return err
					}
					got = id
					_, err = s.AppendTx(tx, bob, ev(i))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				if got == 0 {
					t.Error("event id 0")
				}
				s.Notify(alice)
				s.Notify(bob)
			}
		}()
	}
	wg.Wait()
	var seen []uint64
	select {
	case seen = <-followed:
	case <-time.After(30 * time.Second):
		cancel()
		seen = <-followed
	}
	for _, stream := range []string{alice, bob} {
		evs, err := s.Since(stream, 0, total+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != total {
			t.Fatalf("%s: %d events, want %d", stream, len(evs), total)
		}
		for i, e := range evs {
			if e.ID != uint64(i+1) {
				t.Fatalf("%s: event %d has id %d: ids are not dense", stream, i, e.ID)
			}
		}
	}
	if len(seen) != total {
		t.Fatalf("the follower saw %d events, want %d", len(seen), total)
	}
	for i, id := range seen {
		if id != uint64(i+1) {
			t.Fatalf("the follower saw id %d at position %d", id, i)
		}
	}
}

// TestRejectedEntryWritesNoEvent: an event appended by an Apply that then
// fails is not stored and its id is not consumed.
func TestRejectedEntryWritesNoEvent(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/events-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: signer.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newStreams(t, db, 0)
	entry := func(i int) *transparency.Entry {
		return &transparency.Entry{Version: transparency.EntryVersion, Type: "test.event", Time: t0,
			Actor: alice, Subject: fmt.Sprint(i), Decision: transparency.DecisionRecorded}
	}
	boom := errors.New("boom")
	if _, err := l.Append(context.Background(), entry(1), func(tx *store.Tx) error {
		if _, err := s.AppendTx(tx, alice, ev(1)); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("append: %v", err)
	}
	if _, err := l.Append(context.Background(), entry(2), func(tx *store.Tx) error {
		_, err := s.AppendTx(tx, alice, ev(2))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Since(alice, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(ids(evs), []uint64{1}) || string(evs[0].Data) != `{"n":2}` {
		t.Fatalf("stored %+v, want only the second event, with id 1", evs)
	}
}

func FuzzValidStream(f *testing.F) {
	for _, s := range []string{alice, "did:web:example.com%3A8080:owners:a", "did:", "", "did:a/b", "did:a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidStream(s) {
			return
		}
		// A valid stream's key range holds its own events only.
		k := eventKey(s, 1)
		end := append([]byte(eventPrefix+s), '/'+1)
		if string(k) >= string(end) || string(k) < eventPrefix+s+"/" {
			t.Fatalf("key %q outside [%q, %q)", k, eventPrefix+s+"/", end)
		}
	})
}

// marshalEventReference is how AppendTx encoded an event before
// appendEvent: json.Marshal, after a json.Valid check of the data.
func marshalEventReference(e Event) ([]byte, error) {
	if !json.Valid(e.Data) {
		return nil, ErrInvalid
	}
	return json.Marshal(e)
}

// checkAppendEvent compares appendEvent with the reference on e: the same
// bytes, or both refusing (appendEvent with ErrInvalid).
func checkAppendEvent(t *testing.T, e Event) {
	t.Helper()
	want, werr := marshalEventReference(e)
	got, gerr := appendEvent([]byte("prefix"), &e)
	switch {
	case (werr == nil) != (gerr == nil):
		t.Fatalf("event %+v (data %q): appendEvent error %v, Marshal error %v", e, e.Data, gerr, werr)
	case gerr != nil && !errors.Is(gerr, ErrInvalid):
		t.Fatalf("event data %q: error %v is not ErrInvalid", e.Data, gerr)
	case gerr == nil && string(got) != "prefix"+string(want):
		t.Fatalf("event data %q:\nappendEvent %s\nMarshal     prefix%s", e.Data, got, want)
	}
}

// TestAppendEventMatchesMarshal: the stored form of an event is what
// json.Marshal wrote before, for data that needs compacting, HTML escaping
// (<, >, &, U+2028, U+2029), carries escapes or invalid UTF-8, and for data
// and times that cannot be encoded.
func TestAppendEventMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 11, 26, 2, 3, 4, 5006007, time.UTC)
	for _, data := range []string{
		`{}`, `{"id":"a","decision":"allowed","index":12}`, ` { "a" : [ 1 , 2.5e3 , true , null ] } `,
		`{"s":"<script>&amp;</script>"}`, "{\"s\":\"line\u2028sep\u2029\"}", `{"s":"\u003c\n\"\\"}`,
		"{\"s\":\"\xff\xfe\"}", `"just a string"`, `12`, `[]`, `{"a":{"b":{"c":[{}]}}}`,
		``, `{`, `{"a":}`, `{} {}`, `nul`, "{\"s\":\"\x01\"}", `{"a":1,}`,
	} {
		checkAppendEvent(t, Event{ID: 7, Type: "action.decided", Time: at, Data: json.RawMessage(data)})
	}
	for _, tm := range []time.Time{{}, time.Unix(0, 0).UTC(), at.AddDate(8000, 0, 0), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		checkAppendEvent(t, Event{ID: 1<<64 - 1, Type: "escalation.opened", Time: tm, Data: json.RawMessage(`{}`)})
	}
}

// FuzzAppendEvent holds appendEvent to json.Marshal on any data, id and
// time (the type is always ValidType, as AppendTx checks first).
func FuzzAppendEvent(f *testing.F) {
	f.Add(uint64(1), int64(0), []byte(`{"a":"<b>"}`))
	f.Add(uint64(99), int64(1<<40), []byte(" [1, {\"x\": \"\u2028\"}] "))
	f.Add(uint64(0), int64(-1<<62), []byte(`{"a":1,}`))
	f.Fuzz(func(t *testing.T, id uint64, nanos int64, data []byte) {
		if len(data) == 0 {
			data = []byte(`{}`) // AppendTx's default for empty data
		}
		checkAppendEvent(t, Event{ID: id, Type: "message.received", Time: time.Unix(0, nanos).UTC(), Data: data})
	})
}
