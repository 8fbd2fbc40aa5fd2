package mailbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	alice    = "did:key:z6MkAliceOwner"
	aliceBot = "did:key:z6MkAliceWork"
	bobBot   = "did:key:z6MkBobWork"
	carolBot = "did:key:z6MkCarolWork"
)

// env is a mailbox over a real store and a real log in dir.
type env struct {
	t   testing.TB
	dir string
	db  *store.DB
	log *sequencer.Log
	mb  *Mailbox
	opt Options
	key string // the log's note signer key, kept across reopening
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/mailbox-test")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir(), opt: o, key: skey}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := store.Open(e.dir, store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	signer, err := note.NewSigner(e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := sequencer.Open(context.Background(), sequencer.Config{DB: db, Signer: signer, Origin: signer.Name()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.log, e.mb = db, l, New(db, e.opt)
}

func (e *env) close() {
	if e.log != nil {
		_ = e.log.Close()
		_ = e.db.Close()
		e.log, e.db = nil, nil
	}
}

// msg is message n from aliceBot to bobBot.
func msg(n int) Message {
	content := fmt.Sprintf("hello %d", n)
	return Message{
		ID: MessageID(aliceBot, fmt.Sprintf("req-%04d", n)), From: aliceBot, FromOwner: alice, To: bobBot,
		Action: "message/send", Resource: "calendar/meeting",
		ContentDigest: transparency.DigestSHA256(sha256.Sum256([]byte(content))), Content: content,
		DecisionIndex: uint64(n), Time: t0.Add(time.Duration(n) * time.Second),
	}
}

// deliver appends an entry whose Apply delivers m, as the orchestrator
// does, and returns the sequence number.
func (e *env) deliver(m Message) (uint64, error) {
	var seq uint64
	entry := &transparency.Entry{Version: transparency.EntryVersion, Type: "message.delivered", Time: t0,
		Actor: m.From, Subject: m.ID, Resource: m.To}
	_, err := e.log.Append(context.Background(), entry, func(tx *store.Tx) error {
		var err error
		seq, err = e.mb.Deliver(tx, m)
		return err
	})
	return seq, err
}

func (e *env) mustDeliver(m Message) uint64 {
	e.t.Helper()
	seq, err := e.deliver(m)
	if err != nil {
		e.t.Fatalf("deliver %s: %v", m.ID, err)
	}
	return seq
}

func (e *env) list(agent string, after uint64, limit int) []Stored {
	e.t.Helper()
	l, err := e.mb.List(agent, after, limit)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func seqs(l []Stored) string {
	var b strings.Builder
	for i, s := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, s.Seq)
	}
	return b.String()
}

func TestDeliverListOrderAndContent(t *testing.T) {
	e := newEnv(t, Options{})
	for n := 1; n <= 5; n++ {
		if seq := e.mustDeliver(msg(n)); seq != uint64(n) {
			t.Fatalf("message %d got seq %d", n, seq)
		}
	}
	l := e.list(bobBot, 0, 0)
	if got := seqs(l); got != "1,2,3,4,5" {
		t.Fatalf("seqs %s", got)
	}
	if l[2].Message != msg(3) {
		t.Errorf("stored %+v, want %+v", l[2].Message, msg(3))
	}
	if got := e.list(aliceBot, 0, 0); len(got) != 0 {
		t.Errorf("the sender's inbox has %d messages", len(got))
	}
	// Pagination.
	if got := seqs(e.list(bobBot, 0, 2)); got != "1,2" {
		t.Errorf("first page %s", got)
	}
	if got := seqs(e.list(bobBot, 2, 2)); got != "3,4" {
		t.Errorf("second page %s", got)
	}
	if got := seqs(e.list(bobBot, 4, 2)); got != "5" {
		t.Errorf("last page %s", got)
	}
	if got := e.list(bobBot, 5, 2); len(got) != 0 {
		t.Errorf("past the end: %s", seqs(got))
	}
	if got := e.list(bobBot, ^uint64(0), 2); len(got) != 0 {
		t.Errorf("after max: %s", seqs(got))
	}
}

func TestDeliverIdempotent(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustDeliver(msg(1))
	e.mustDeliver(msg(2))
	again := msg(1)
	again.Content = "changed" // the id decides, not the fields
	if seq := e.mustDeliver(again); seq != 1 {
		t.Fatalf("redelivery got seq %d, want 1", seq)
	}
	if got := seqs(e.list(bobBot, 0, 0)); got != "1,2" {
		t.Fatalf("seqs %s", got)
	}
	if n, err := e.mb.Ack(bobBot, []string{msg(1).ID}); err != nil || n != 1 {
		t.Fatalf("ack: %d %v", n, err)
	}
	// Still a no-op after the acknowledgement: the agent never sees it twice
	// because the orchestrator retried.
	if seq := e.mustDeliver(msg(1)); seq != 1 {
		t.Fatalf("redelivery after ack got seq %d", seq)
	}
	if got := seqs(e.list(bobBot, 0, 0)); got != "2" {
		t.Fatalf("seqs %s", got)
	}
	// Two deliveries of one id in the same batch (the second sees the
	// first through the pending writes).
	var wg sync.WaitGroup
	res := make([]uint64, 8)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.deliver(msg(3))
			if err != nil {
				t.Error(err)
			}
			res[i] = s
		}()
	}
	wg.Wait()
	for _, s := range res {
		if s != 3 {
			t.Fatalf("concurrent deliveries of one id got seqs %v", res)
		}
	}
}

func TestMessageIDStable(t *testing.T) {
	a, b := MessageID(aliceBot, "r1"), MessageID(aliceBot, "r1")
	if a != b || !ValidID(a) || len(a) != 36 {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, other := range []string{MessageID(aliceBot, "r2"), MessageID(carolBot, "r1"), MessageID(aliceBot+"\x00r", "1")} {
		if other == a {
			t.Errorf("collision %s", other)
		}
	}
}

func TestAck(t *testing.T) {
	e := newEnv(t, Options{})
	for n := 1; n <= 4; n++ {
		e.mustDeliver(msg(n))
	}
	for _, tc := range []struct {
		name  string
		agent string
		ids   []string
		want  int
		left  string
	}{
		{"nothing", bobBot, nil, 0, "1,2,3,4"},
		{"unknown and malformed ids", bobBot, []string{"msg-unknown", "", "bad id", strings.Repeat("x", 200)}, 0, "1,2,3,4"},
		{"another agent's inbox", carolBot, []string{msg(1).ID, msg(2).ID}, 0, "1,2,3,4"},
		{"the sender", aliceBot, []string{msg(1).ID}, 0, "1,2,3,4"},
		{"two, one twice", bobBot, []string{msg(2).ID, msg(2).ID, msg(4).ID}, 2, "1,3"},
		{"already acknowledged", bobBot, []string{msg(2).ID}, 0, "1,3"},
		{"the rest", bobBot, []string{msg(1).ID, msg(2).ID, msg(3).ID}, 2, ""},
	} {
		n, err := e.mb.Ack(tc.agent, tc.ids)
		if err != nil || n != tc.want {
			t.Errorf("%s: acked %d, %v; want %d", tc.name, n, err, tc.want)
		}
		if got := seqs(e.list(bobBot, 0, 0)); got != tc.left {
			t.Errorf("%s: left %q, want %q", tc.name, got, tc.left)
		}
	}
	if u, err := e.mb.Unacked(bobBot); err != nil || u != 0 {
		t.Errorf("unacked %d %v", u, err)
	}
	if _, err := e.mb.Ack("not a did", nil); CodeOf(err) != CodeInvalidMessage {
		t.Errorf("ack of a bad agent: %v", err)
	}
	if _, err := e.mb.List("did:x:a/b", 0, 0); CodeOf(err) != CodeInvalidMessage {
		t.Errorf("list of a bad agent: %v", err)
	}
	// New messages continue the numbering.
	if seq := e.mustDeliver(msg(5)); seq != 5 {
		t.Errorf("seq %d after acks", seq)
	}
}

func TestSurvivesRestart(t *testing.T) {
	e := newEnv(t, Options{})
	for n := 1; n <= 3; n++ {
		e.mustDeliver(msg(n))
	}
	if _, err := e.mb.Ack(bobBot, []string{msg(1).ID}); err != nil {
		t.Fatal(err)
	}
	e.close()
	e.open()
	l := e.list(bobBot, 0, 0)
	if got := seqs(l); got != "2,3" {
		t.Fatalf("after restart: %s", got)
	}
	if l[1].Message != msg(3) {
		t.Errorf("after restart: %+v", l[1].Message)
	}
	if seq := e.mustDeliver(msg(2)); seq != 2 {
		t.Errorf("redelivery after restart: seq %d", seq)
	}
	if seq := e.mustDeliver(msg(4)); seq != 4 {
		t.Errorf("new delivery after restart: seq %d", seq)
	}
	if u, err := e.mb.Unacked(bobBot); err != nil || u != 3 {
		t.Errorf("unacked %d %v", u, err)
	}
}

func TestInboxFull(t *testing.T) {
	e := newEnv(t, Options{MaxUnacked: 3})
	for n := 1; n <= 3; n++ {
		e.mustDeliver(msg(n))
	}
	size := e.log.Size()
	if _, err := e.deliver(msg(4)); CodeOf(err) != CodeInboxFull {
		t.Fatalf("deliver to a full inbox: %v", err)
	}
	if e.log.Size() != size {
		t.Fatalf("a refused delivery was logged")
	}
	// A full inbox still takes redeliveries (no-ops) ...
	if seq := e.mustDeliver(msg(2)); seq != 2 {
		t.Fatalf("redelivery to a full inbox: %d", seq)
	}
	// ... and another inbox is not affected.
	other := msg(4)
	other.To = carolBot
	e.mustDeliver(other)
	if _, err := e.mb.Ack(bobBot, []string{msg(1).ID}); err != nil {
		t.Fatal(err)
	}
	if seq := e.mustDeliver(msg(4)); seq != 4 {
		t.Fatalf("after an ack: seq %d", seq)
	}
}

func TestDeliverRefusesMalformed(t *testing.T) {
	e := newEnv(t, Options{})
	for name, mut := range map[string]func(m *Message){
		"empty id":        func(m *Message) { m.ID = "" },
		"id with a slash": func(m *Message) { m.ID = "a/b" },
		"long id":         func(m *Message) { m.ID = strings.Repeat("a", 129) },
		"recipient":       func(m *Message) { m.To = "bob" },
		"recipient slash": func(m *Message) { m.To = "did:web:x/y" },
		"sender":          func(m *Message) { m.From = "" },
		"sender owner":    func(m *Message) { m.FromOwner = "alice" },
		"action":          func(m *Message) { m.Action = "" },
		"digest":          func(m *Message) { m.ContentDigest = "sha256:AB" },
		"content size":    func(m *Message) { m.Content = strings.Repeat("a", MaxContent+1) },
		"content utf8":    func(m *Message) { m.Content = "\xff" },
		"time":            func(m *Message) { m.Time = time.Time{} },
	} {
		m := msg(1)
		mut(&m)
		if _, err := e.deliver(m); CodeOf(err) != CodeInvalidMessage {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := e.list(bobBot, 0, 0); len(got) != 0 {
		t.Errorf("malformed messages were stored: %s", seqs(got))
	}
	m := msg(1)
	m.Content = strings.Repeat("é", MaxContent/2)
	e.mustDeliver(m)
}

// TestConcurrent delivers from many goroutines through the real sequencer
// while the recipient lists and acknowledges: every message gets one seq,
// the seqs are 1..N, and the inbox ends empty.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, Options{})
	const writers, per = 8, 40
	var wg sync.WaitGroup
	got := make(chan uint64, writers*per)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				seq, err := e.deliver(msg(w*per + i + 1))
				if err != nil {
					t.Error(err)
					return
				}
				got <- seq
			}
		}()
	}
	done := make(chan struct{})
	ackErr := make(chan error, 1)
	go func() {
		defer close(ackErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			l, err := e.mb.List(bobBot, 0, 50)
			if err != nil {
				ackErr <- err
				return
			}
			ids := make([]string, len(l))
			for i, s := range l {
				ids[i] = s.ID
			}
			if _, err := e.mb.Ack(bobBot, ids); err != nil {
				ackErr <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if err := <-ackErr; err != nil {
		t.Fatal(err)
	}
	close(got)
	seen := map[uint64]bool{}
	for s := range got {
		if seen[s] || s < 1 || s > writers*per {
			t.Fatalf("seq %d twice or out of range", s)
		}
		seen[s] = true
	}
	rest := e.list(bobBot, 0, 0)
	ids := make([]string, len(rest))
	for i, s := range rest {
		ids[i] = s.ID
	}
	if _, err := e.mb.Ack(bobBot, ids); err != nil {
		t.Fatal(err)
	}
	if u, err := e.mb.Unacked(bobBot); err != nil || u != 0 {
		t.Fatalf("unacked %d %v", u, err)
	}
}
