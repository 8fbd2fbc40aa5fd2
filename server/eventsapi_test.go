package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/binding"
)

// The event streams under test run over the identity test environment
// (real store, real log, loopback HTTP), with a server that has event
// streams on. Events are appended as the orchestrator appends them: by
// emit inside the Apply of a log entry, then notifyEvents.

type evEnv struct {
	*idEnv
	streams *events.Streams
	srv     *Server
	n       atomic.Int64 // entry counter
}

func newEvEnv(t *testing.T, heartbeat time.Duration) *evEnv {
	t.Helper()
	return newEvEnvRetention(t, heartbeat, 0)
}

// newEvEnvRetention is newEvEnv with streams that keep retention events.
func newEvEnvRetention(t *testing.T, heartbeat time.Duration, retention int) *evEnv {
	t.Helper()
	e := &evEnv{idEnv: newIDEnv(t, 0)}
	st, err := events.New(events.Config{DB: e.db, Retention: retention})
	if err != nil {
		t.Fatal(err)
	}
	e.streams = st
	s, err := New(Config{
		Log:         e.log,
		VerifierKey: e.vkey,
		Clock:       e.clock.Now,
		Resolver:    &did.Resolver{Hosted: e.reg, HostedHost: e.host, Cache: did.NewCache(1000, e.clock.Now)},
		Identity: &IdentityConfig{
			PublicURL: e.url, DIDWebHost: e.host, DB: e.db, Registry: e.reg,
			Events: st, EventHeartbeat: heartbeat,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = s
	h := s.Handler()
	e.current.Store(&h)
	t.Cleanup(s.CloseEvents)
	return e
}

// emitEvent logs an entry whose Apply emits one event to stream, and
// notifies the stream.
func (e *evEnv) emitEvent(t testing.TB, stream, typ string, data any) {
	t.Helper()
	n := e.n.Add(1)
	entry := &transparency.Entry{
		Version: transparency.EntryVersion, Type: "test.event", Time: e.clock.Now(),
		Actor: stream, Subject: fmt.Sprint(n), Decision: transparency.DecisionRecorded,
	}
	_, err := e.log.Append(context.Background(), entry, func(tx *store.Tx) error {
		return e.srv.emit(tx, stream, typ, data)
	})
	e.srv.notifyEvents(stream)
	if err != nil {
		t.Fatal(err)
	}
}

// sseFrame is one frame of a stream: an event, or a comment.
type sseFrame struct {
	id, event, data, comment string
}

// sseConn is an open stream: frames arrive on frames until the stream
// ends, when frames is closed.
type sseConn struct {
	resp   *http.Response
	frames chan sseFrame
	cancel context.CancelFunc
}

// openStream signs a GET of path by p and opens it; extra headers are
// added. A non-200 answer is returned as a response instead.
func (e *evEnv) openStream(t testing.TB, base string, p *idParty, path string, extra http.Header) (*sseConn, *response) {
	t.Helper()
	return e.openSigned(t, base, e.sign(p, "GET", path, nil), extra)
}

// openSigned opens a stream with a request as it was signed.
func (e *evEnv) openSigned(t testing.TB, base string, s idSigned, extra http.Header) (*sseConn, *response) {
	t.Helper()
	path := s.path
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range s.header {
		req.Header[k] = vs
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, &response{resp.StatusCode, resp.Header, b}
	}
	c := &sseConn{resp: resp, frames: make(chan sseFrame, 1024), cancel: cancel}
	go func() {
		defer close(c.frames)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var f sseFrame
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				c.frames <- f
				f = sseFrame{}
			case strings.HasPrefix(line, ": "):
				f.comment = line[2:]
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			default:
				f.comment = "BAD LINE " + line
			}
		}
	}()
	t.Cleanup(cancel)
	return c, nil
}

// next returns the next event frame, skipping comments, or fails after a
// generous deadline (nothing here waits for time to pass: a frame that
// should come comes at once).
func (c *sseConn) next(t testing.TB) sseFrame {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatal("stream ended")
			}
			if f.comment != "" && f.id == "" {
				if strings.HasPrefix(f.comment, "BAD LINE") {
					t.Fatalf("malformed stream line: %s", f.comment)
				}
				continue
			}
			return f
		case <-deadline:
			t.Fatal("no event within 20 s")
		}
	}
}

// opened waits for the stream's opening comment: from then on the
// server is waiting for events.
func (c *sseConn) opened(t testing.TB) {
	t.Helper()
	select {
	case f := <-c.frames:
		if !strings.HasPrefix(f.comment, "stream after ") {
			t.Fatalf("first frame %+v, want the opening comment", f)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stream did not open")
	}
}

// expectEvent reads the next event and checks its id, type and data.
func (c *sseConn) expectEvent(t testing.TB, id uint64, typ string, data string) {
	t.Helper()
	f := c.next(t)
	if f.id != fmt.Sprint(id) || f.event != typ {
		t.Fatalf("event id %q type %q, want %d %q", f.id, f.event, id, typ)
	}
	var ev events.Event
	dec := json.NewDecoder(strings.NewReader(f.data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("event data %q: %v", f.data, err)
	}
	if ev.ID != id || ev.Type != typ || string(ev.Data) != data || ev.Time.IsZero() {
		t.Fatalf("event %+v (data %s), want id %d type %s data %s", ev, ev.Data, id, typ, data)
	}
}

// live reads the ": live" comment that ends the stored backlog; no event
// may come before it.
func (c *sseConn) live(t testing.TB) {
	t.Helper()
	for {
		select {
		case f, ok := <-c.frames:
			switch {
			case !ok:
				t.Fatal("stream ended")
			case f.id != "":
				t.Fatalf("event %+v before the end of the backlog", f)
			case f.comment == "live":
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no live comment")
		}
	}
}

// quiet checks that no event is pending right now.
func (c *sseConn) quiet(t testing.TB) {
	t.Helper()
	for {
		select {
		case f, ok := <-c.frames:
			if ok && f.id != "" {
				t.Fatalf("unexpected event %+v", f)
			}
			if !ok {
				return
			}
		default:
			return
		}
	}
}

func ownerEventsPath(d string) string { return "/v1/owners/" + url.PathEscape(d) + "/events" }
func agentEventsPath(d string) string { return "/v1/agents/" + url.PathEscape(d) + "/events" }

type evData struct {
	N int `json:"n"`
}

func TestEventStreamLiveAndResume(t *testing.T) {
	e := newEvEnv(t, time.Hour)
	alice := newKeyParty(t, "alice")
	e.register(t, alice)
	path := ownerEventsPath(alice.did)

	c, r := e.openStream(t, e.url, alice, path, nil)
	if r != nil {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	if ct, cc := c.resp.Header.Get("Content-Type"), c.resp.Header.Get("Cache-Control"); ct != "text/event-stream" || cc != "no-store" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	c.opened(t)
	// Appended while connected: arrives without polling.
	for i := 1; i <= 3; i++ {
		e.emitEvent(t, alice.did, "escalation.opened", evData{i})
		c.expectEvent(t, uint64(i), "escalation.opened", fmt.Sprintf(`{"n":%d}`, i))
	}
	// Another recipient's event does not show.
	bob := newKeyParty(t, "bob")
	e.emitEvent(t, bob.did, "escalation.opened", evData{99})
	c.cancel()
	for range c.frames {
	}

	// Appended while the owner is away: kept.
	e.emitEvent(t, alice.did, "boundary.violation", evData{4})
	e.emitEvent(t, alice.did, "action.decided", evData{5})

	// Resume with Last-Event-ID (a new signature: the jti is single-use).
	c, r = e.openStream(t, e.url, alice, path, http.Header{"Last-Event-Id": {"3"}})
	if r != nil {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	c.expectEvent(t, 4, "boundary.violation", `{"n":4}`)
	c.expectEvent(t, 5, "action.decided", `{"n":5}`)
	c.live(t)
	c.quiet(t)
	e.emitEvent(t, alice.did, "escalation.opened", evData{6})
	c.expectEvent(t, 6, "escalation.opened", `{"n":6}`)
	c.cancel()

	// Resume with the query parameter, from the start; and the same id
	// in both places is accepted.
	c, r = e.openStream(t, e.url, alice, path+"?last_event_id=0", http.Header{"Last-Event-Id": {"0"}})
	if r != nil {
		t.Fatalf("resume from 0: %d %s", r.status, r.body)
	}
	for i := 1; i <= 6; i++ {
		f := c.next(t)
		if f.id != fmt.Sprint(i) {
			t.Fatalf("replayed id %s, want %d", f.id, i)
		}
	}
	c.cancel()

	// After a restart of the server (new streams over the same store) the
	// ids go on.
	e.restartEvents(t)
	e.emitEvent(t, alice.did, "escalation.opened", evData{7})
	c, r = e.openStream(t, e.url, alice, path+"?last_event_id=6", nil)
	if r != nil {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	c.expectEvent(t, 7, "escalation.opened", `{"n":7}`)
}

// restartEvents builds new streams and a new server over the same store.
func (e *evEnv) restartEvents(t *testing.T) {
	t.Helper()
	e.srv.CloseEvents()
	e.restart()
	st, err := events.New(events.Config{DB: e.db})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Log: e.log, VerifierKey: e.vkey, Clock: e.clock.Now,
		Resolver: &did.Resolver{Hosted: e.reg, HostedHost: e.host, Cache: did.NewCache(1000, e.clock.Now)},
		Identity: &IdentityConfig{PublicURL: e.url, DIDWebHost: e.host, DB: e.db, Registry: e.reg, Events: st},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.streams, e.srv = st, s
	h := s.Handler()
	e.current.Store(&h)
	t.Cleanup(s.CloseEvents)
}

func TestEventStreamAgent(t *testing.T) {
	e := newEvEnv(t, time.Hour)
	alice := newKeyParty(t, "alice")
	e.register(t, alice)
	work := e.bind(t, alice, "work", binding.RoleIdentity, "work")
	home := e.bind(t, alice, "home", binding.RoleIdentity, "home")
	e.emitEvent(t, work.did, "action.decided", evData{1})

	c, r := e.openStream(t, e.url, work, agentEventsPath(work.did), nil)
	if r != nil {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	c.expectEvent(t, 1, "action.decided", `{"n":1}`)
	c.cancel()

	// Another agent, even of the same owner, and the owner itself may not
	// read an agent's stream.
	_, r = e.openStream(t, e.url, home, agentEventsPath(work.did), nil)
	wantError(t, *r, http.StatusForbidden, CodeEventsForbidden)
	_, r = e.openStream(t, e.url, alice, agentEventsPath(work.did), nil)
	wantError(t, *r, http.StatusForbidden, CodeEventsForbidden)
	// An agent has no owner stream.
	_, r = e.openStream(t, e.url, work, ownerEventsPath(work.did), nil)
	wantError(t, *r, http.StatusForbidden, registry.CodeOwnerNotRegistered)
	// Never bound.
	stranger := newKeyParty(t, "stranger")
	_, r = e.openStream(t, e.url, stranger, agentEventsPath(stranger.did), nil)
	wantError(t, *r, http.StatusForbidden, registry.CodeAgentNotFound)
	// Unbound by its owner.
	if rr, _ := e.call(alice, "DELETE", agentPath(home.did), nil); rr.status != http.StatusOK {
		t.Fatalf("unbind: %d %s", rr.status, rr.body)
	}
	_, r = e.openStream(t, e.url, home, agentEventsPath(home.did), nil)
	wantError(t, *r, http.StatusForbidden, registry.CodeAgentUnbound)
}

func TestEventStreamAgentBindingExpired(t *testing.T) {
	e := newEvEnv(t, time.Hour)
	alice := newKeyParty(t, "alice")
	e.register(t, alice)
	a := newKeyParty(t, "short")
	id, err := binding.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := binding.Issue(alice.key, alice.kid, binding.Binding{
		ID: id, Issuer: alice.did, Subject: a.did, Role: binding.RoleIdentity, Context: "short",
		IssuedAt: e.clock.Now(), Expires: e.clock.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := e.call(a, "POST", "/v1/agents", bindBody{tok}); r.status != http.StatusCreated {
		t.Fatalf("bind: %d %s", r.status, r.body)
	}
	e.clock.Advance(2 * time.Hour)
	_, r := e.openStream(t, e.url, a, agentEventsPath(a.did), nil)
	wantError(t, *r, http.StatusForbidden, codeEventsBindingExpired)
}

func TestEventStreamRefusals(t *testing.T) {
	e := newEvEnv(t, time.Hour)
	alice := newKeyParty(t, "alice")
	bob := newKeyParty(t, "bob")
	e.register(t, alice)
	e.register(t, bob)
	path := ownerEventsPath(alice.did)

	// Wrong signer: a registered owner reading another's stream.
	_, r := e.openStream(t, e.url, bob, path, nil)
	wantError(t, *r, http.StatusForbidden, CodeEventsForbidden)
	// Unknown owner reading its own stream.
	carol := newKeyParty(t, "carol")
	_, r = e.openStream(t, e.url, carol, ownerEventsPath(carol.did), nil)
	wantError(t, *r, http.StatusForbidden, registry.CodeOwnerNotRegistered)
	// Unsigned.
	rr := e.do("GET", path, nil, nil)
	wantError(t, rr, http.StatusUnauthorized, "request_header_missing")
	// A replayed signed GET.
	s := e.sign(alice, "GET", path+"?last_event_id=5", nil)
	c, r := e.openSigned(t, e.url, s, nil)
	if r != nil {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	c.cancel()
	_, r = e.openSigned(t, e.url, s, nil)
	wantError(t, *r, http.StatusUnauthorized, "request_replayed")

	// Bad resume positions: 400 bad_request, before the signature is
	// checked (and without using its jti).
	for _, bad := range []struct {
		query  string
		header []string
	}{
		{"?last_event_id=abc", nil},
		{"?last_event_id=01", nil},
		{"?last_event_id=-1", nil},
		{"?last_event_id=", nil},
		{"?last_event_id=18446744073709551616", nil},
		{"?last_event_id=1&last_event_id=1", nil},
		{"?last_event_id=1", []string{"2"}},
		{"?since=1", nil},
		{"", []string{"x"}},
		{"", []string{"+1"}},
		{"", []string{"1", "1"}},
	} {
		h := http.Header{}
		if bad.header != nil {
			h["Last-Event-Id"] = bad.header
		}
		_, r = e.openStream(t, e.url, alice, path+bad.query, h)
		if r == nil {
			t.Fatalf("%q %q: stream opened", bad.query, bad.header)
		}
		wantError(t, *r, http.StatusBadRequest, CodeBadRequest)
	}
	// Wrong method.
	rr, _ = e.call(alice, "POST", path, struct{}{})
	wantError(t, rr, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
}

// TestEventStreamHeartbeatOutlivesTimeouts: behind an http.Server with
// short read and write timeouts, a stream stays open (heartbeats keep
// coming) past both, and still carries events.
func TestEventStreamHeartbeatOutlivesTimeouts(t *testing.T) {
	e := newEvEnv(t, 20*time.Millisecond)
	alice := newKeyParty(t, "alice")
	e.register(t, alice)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.current.Load()).ServeHTTP(w, r)
	}))
	ts.Config.ReadTimeout = 100 * time.Millisecond
	ts.Config.WriteTimeout = 100 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close) // after the stream is canceled (cleanups run last first)

	c, r := e.openStream(t, ts.URL, alice, ownerEventsPath(alice.did), nil)
	if r != nil {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	start := time.Now()
	pings := 0
	for pings < 15 || time.Since(start) < 300*time.Millisecond {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("stream ended after %d pings, %v", pings, time.Since(start))
			}
			if f.comment == "ping" {
				pings++
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no heartbeat")
		}
	}
	e.emitEvent(t, alice.did, "escalation.opened", evData{1})
	c.expectEvent(t, 1, "escalation.opened", `{"n":1}`)
}

// TestEventStreamEndsOnShutdown: CloseEvents ends open streams, and a
// stream opened afterwards ends at once after its backlog.
func TestEventStreamEndsOnShutdown(t *testing.T) {
	e := newEvEnv(t, time.Hour)
	alice := newKeyParty(t, "alice")
	e.register(t, alice)
	c, r := e.openStream(t, e.url, alice, ownerEventsPath(alice.did), nil)
	if r != nil {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	c.opened(t)
	e.srv.CloseEvents()
	e.srv.CloseEvents() // idempotent
	select {
	case _, ok := <-c.frames:
		for ok {
			_, ok = <-c.frames
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stream still open after CloseEvents")
	}
}

func TestEmitWithoutStreams(t *testing.T) {
	s := &Server{}
	if err := s.emit(nil, "did:key:x", "a.b", nil); err != nil {
		t.Fatal(err)
	}
	s.notifyEvents("did:key:x")
	s.CloseEvents()
}

func TestEventsOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, p := range []string{"  /v1/owners/{did}/events:\n    get:", "  /v1/agents/{did}/events:\n    get:"} {
		if !strings.Contains(spec, p) {
			t.Errorf("spec/openapi.yaml does not document %q", p)
		}
	}
	for _, code := range []string{CodeEventsForbidden, codeEventsBindingExpired} {
		if !strings.Contains(spec, "                - "+code+"\n") {
			t.Errorf("code %s is not in the Error schema's enum", code)
		}
		if !strings.Contains(spec, "`"+code+"` |") {
			t.Errorf("code %s is not in an error table", code)
		}
	}
}

func FuzzParseLastEventID(f *testing.F) {
	f.Add("", "", false, false)
	f.Add("3", "3", true, true)
	f.Add("01", "", true, false)
	f.Add("18446744073709551615", "", false, true)
	f.Add("-1", "x", true, true)
	f.Fuzz(func(t *testing.T, h, q string, hasH, hasQ bool) {
		var header []string
		if hasH {
			header = []string{h}
		}
		query := map[string]string{}
		if hasQ {
			query["last_event_id"] = q
		}
		id, err := parseLastEventID(header, query)
		if err != nil {
			if toAPIError(err).status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		// Accepted: the value given (any of them) is the canonical
		// spelling of the id.
		switch {
		case hasQ:
			if fmt.Sprint(id) != q {
				t.Fatalf("accepted %q as %d", q, id)
			}
		case hasH:
			if fmt.Sprint(id) != h {
				t.Fatalf("accepted %q as %d", h, id)
			}
		default:
			if id != 0 {
				t.Fatalf("no id given, got %d", id)
			}
		}
	})
}

// TestEventStreamRetentionGap: a client that resumes from an id the
// stream no longer keeps receives the oldest kept event next, and sees
// the gap in the ids.
func TestEventStreamRetentionGap(t *testing.T) {
	e := newEvEnvRetention(t, time.Hour, 3)
	alice := newKeyParty(t, "alice")
	e.register(t, alice)
	for i := 1; i <= 6; i++ {
		e.emitEvent(t, alice.did, "action.decided", evData{i})
	}
	c, r := e.openStream(t, e.url, alice, ownerEventsPath(alice.did)+"?last_event_id=1", nil)
	if r != nil {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	for i := 4; i <= 6; i++ {
		c.expectEvent(t, uint64(i), "action.decided", fmt.Sprintf(`{"n":%d}`, i))
	}
	c.live(t)
}

// TestEmitRejectsEntry: an event that cannot be appended (a stream that
// is not a DID, a bad type) rejects the log entry that carried it.
func TestEmitRejectsEntry(t *testing.T) {
	e := newEvEnv(t, time.Hour)
	size := e.log.Size()
	for _, c := range []struct{ stream, typ string }{{"alice", "a.b"}, {"did:key:z6Mkx", "Bad Type"}} {
		entry := &transparency.Entry{
			Version: transparency.EntryVersion, Type: "test.event", Time: e.clock.Now(),
			Actor: "did:key:z6Mkx", Subject: c.stream, Decision: transparency.DecisionRecorded,
		}
		_, err := e.log.Append(context.Background(), entry, func(tx *store.Tx) error {
			return e.srv.emit(tx, c.stream, c.typ, evData{1})
		})
		if err == nil {
			t.Errorf("emit to %q type %q: entry accepted", c.stream, c.typ)
		}
	}
	if e.log.Size() != size {
		t.Errorf("log grew from %d to %d", size, e.log.Size())
	}
	// Data that does not encode is refused before anything is written.
	entry := &transparency.Entry{Version: transparency.EntryVersion, Type: "test.event", Time: e.clock.Now(),
		Actor: "did:key:z6Mkx", Subject: "chan", Decision: transparency.DecisionRecorded}
	if _, err := e.log.Append(context.Background(), entry, func(tx *store.Tx) error {
		return e.srv.emit(tx, "did:key:z6Mkx", "a.b", make(chan int))
	}); err == nil {
		t.Error("emit of unencodable data: entry accepted")
	}
}
