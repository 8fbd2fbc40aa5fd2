package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"golang.org/x/mod/sumdb/note"
)

// eventsServer is a server with event streams in this process, so that
// the test appends events as the orchestrator does (inside a log entry's
// Apply, then Notify) and can drop the client's connections.
type eventsServer struct {
	ts      *httptest.Server
	log     *sequencer.Log
	streams *events.Streams
	n       atomic.Int64
}

func newEventsServer(t *testing.T) *eventsServer {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "clawnet.test/events")
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
	st, err := events.New(events.Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	e := &eventsServer{log: l, streams: st}
	var h atomic.Pointer[http.Handler]
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	var srv *server.Server
	t.Cleanup(func() {
		if srv != nil {
			srv.CloseEvents()
		}
		e.ts.Close()
		l.Close()
		db.Close()
	})
	u, _ := url.Parse(e.ts.URL)
	host := strings.ReplaceAll(u.Host, ":", "%3A")
	reg, err := registry.New(registry.Config{DB: db, Host: host, PublicURL: e.ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv, err = server.New(server.Config{
		Log: l, VerifierKey: vkey,
		Resolver: &did.Resolver{Hosted: reg, HostedHost: host},
		Identity: &server.IdentityConfig{PublicURL: e.ts.URL, DIDWebHost: host, DB: db, Registry: reg, Events: st},
	})
	if err != nil {
		t.Fatal(err)
	}
	hh := srv.Handler()
	h.Store(&hh)
	return e
}

// emit appends an event of type typ to stream, with its log entry.
func (e *eventsServer) emit(t *testing.T, stream, typ string, n int) {
	t.Helper()
	entry := &transparency.Entry{
		Version: transparency.EntryVersion, Type: "test.event", Time: time.Now().UTC(),
		Actor: stream, Subject: fmt.Sprint(e.n.Add(1)), Decision: transparency.DecisionRecorded,
	}
	_, err := e.log.Append(context.Background(), entry, func(tx *store.Tx) error {
		_, err := e.streams.AppendTx(tx, stream, events.Event{Type: typ, Time: time.Now(), Data: []byte(fmt.Sprintf(`{"n":%d}`, n))})
		return err
	})
	e.streams.Notify(stream)
	if err != nil {
		t.Fatal(err)
	}
}

// runLines runs clawnet in the background; its stdout and stderr arrive
// line by line.
type runLines struct {
	cancel context.CancelFunc
	out    chan string
	errs   chan string
	done   chan int
}

func startLines(t *testing.T, args ...string) *runLines {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runLines{cancel: cancel, out: make(chan string, 100), errs: make(chan string, 100), done: make(chan int, 1)}
	pout, wout := io.Pipe()
	perr, werr := io.Pipe()
	for _, p := range []struct {
		r  io.Reader
		ch chan string
	}{{pout, r.out}, {perr, r.errs}} {
		go func() {
			sc := bufio.NewScanner(p.r)
			for sc.Scan() {
				p.ch <- sc.Text()
			}
			close(p.ch)
		}()
	}
	go func() {
		code := run(ctx, args, strings.NewReader(""), wout, werr)
		wout.Close()
		werr.Close()
		r.done <- code
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *runLines) line(t *testing.T, ch chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("clawnet ended before %s", what)
		}
		return l
	case <-time.After(startupDeadline):
		t.Fatalf("no %s in time", what)
	}
	return ""
}

func TestEventsCLIFollowAndResume(t *testing.T) {
	old := eventsRetry
	eventsRetry = 10 * time.Millisecond
	t.Cleanup(func() { eventsRetry = old })
	e := newEventsServer(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "alice.jwk")
	if code, _, errs := runExit(t, "key", "new", "--out", key); code != exitOK {
		t.Fatal(errs)
	}
	if code, out, errs := runExit(t, "owner", "register", "--key", key, "--server", e.ts.URL); code != exitOK {
		t.Fatalf("owner register: %s%s", out, errs)
	}
	k, err := readKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	e.emit(t, k.DID, "escalation.opened", 1)

	r := startLines(t, "events", "--owner-key", key, "--follow", "--server", e.ts.URL)
	want := func(id int, typ string) {
		t.Helper()
		l := r.line(t, r.out, fmt.Sprintf("event %d", id))
		if prefix := fmt.Sprintf("%d %s {", id, typ); !strings.HasPrefix(l, prefix) || !strings.Contains(l, fmt.Sprintf(`"data":{"n":%d}`, id)) {
			t.Fatalf("line %q, want event %d of type %s", l, id, typ)
		}
	}
	want(1, "escalation.opened")
	e.emit(t, k.DID, "boundary.violation", 2)
	want(2, "boundary.violation")

	// The connection drops: the client reconnects from event 2, signing
	// anew, and loses and repeats nothing.
	e.ts.CloseClientConnections()
	if l := r.line(t, r.errs, "the reconnect message"); !strings.Contains(l, "reconnecting after event 2") {
		t.Fatalf("stderr %q", l)
	}
	e.emit(t, k.DID, "action.decided", 3)
	e.emit(t, k.DID, "action.decided", 4)
	want(3, "action.decided")
	want(4, "action.decided")
	select {
	case l := <-r.out:
		t.Fatalf("unexpected line %q", l)
	default:
	}
	r.cancel()
	if code := <-r.done; code != exitOK {
		t.Fatalf("exit %d after interrupt", code)
	}
	r.done <- exitOK

	// Without --follow: what is stored after --since, then exit.
	code, out, errs := runExit(t, "events", "--owner-key", key, "--since", "2", "--server", e.ts.URL)
	if code != exitOK {
		t.Fatalf("events: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "3 action.decided ") || !strings.HasPrefix(lines[1], "4 action.decided ") {
		t.Fatalf("events --since 2 printed\n%s", out)
	}
}

func TestEventsCLIRefusals(t *testing.T) {
	e := newEventsServer(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "carol.jwk")
	if code, _, errs := runExit(t, "key", "new", "--out", key); code != exitOK {
		t.Fatal(errs)
	}
	// Not an owner: refused, also with --follow (retrying would not help).
	for _, follow := range []bool{false, true} {
		args := []string{"events", "--owner-key", key, "--server", e.ts.URL}
		if follow {
			args = append(args, "--follow")
		}
		code, _, errs := runExit(t, args...)
		if code != exitFail || !strings.Contains(errs, ": owner_not_registered: ") {
			t.Fatalf("follow=%v: exit %d, stderr %s", follow, code, errs)
		}
	}
	code, _, errs := runExit(t, "events", "--agent-key", key, "--server", e.ts.URL)
	if code != exitFail || !strings.Contains(errs, ": agent_not_found: ") {
		t.Fatalf("agent: exit %d, stderr %s", code, errs)
	}
	for _, args := range [][]string{
		{"events"},
		{"events", "--owner-key", key, "--agent-key", key},
		{"events", "--owner-key", key, "--since", "x"},
		{"events", "--owner-key", key, "extra"},
	} {
		if code, _, _ := runExit(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestServeEndsEventStreamsOnShutdown: clawnet serve does not wait its
// shutdown timeout for open event streams: they end when shutdown begins.
func TestServeEndsEventStreamsOnShutdown(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	key := filepath.Join(dir, "alice.jwk")
	if code, _, errs := runExit(t, "key", "new", "--out", key); code != exitOK {
		t.Fatal(errs)
	}
	if code, out, errs := runExit(t, "owner", "register", "--key", key, "--server", srv.url); code != exitOK {
		t.Fatalf("owner register: %s%s", out, errs)
	}
	k, err := readKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", srv.url+"/v1/owners/"+url.PathEscape(k.DID)+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&request.Signer{Key: k.Priv, KID: k.KID, Audience: srv.url, Now: time.Now}).SignRequest(req); err != nil {
		t.Fatal(err)
	}
	resp, err := streamClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("open stream: %s %s", resp.Status, b)
	}
	br := bufio.NewReader(resp.Body)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before ': live': %v", err)
		}
		if l == ": live\n" {
			break
		}
	}
	start := time.Now()
	if code := srv.stop(); code != exitOK {
		t.Fatalf("serve exit %d:\n%s", code, srv.stderr)
	}
	if d := time.Since(start); d >= shutdownTimeout/2 {
		t.Errorf("shutdown took %v with a stream open (timeout %v): the stream held it", d, shutdownTimeout)
	}
	if _, err := io.ReadAll(br); err != nil {
		t.Logf("stream ended with %v", err) // EOF or a closed connection: both end it
	}
}
