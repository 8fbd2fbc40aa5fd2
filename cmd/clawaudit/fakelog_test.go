package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// fakeLog is an in-test log server built from parts independent of our
// server: the tree, proofs and hash tiles come from golang.org/x/mod/sumdb/tlog,
// tile paths are parsed by tlog.ParseTilePath, entry bundles are encoded by
// hand. It serves the read API of `clawnet serve` that clawaudit uses, and
// has knobs to misbehave.
type fakeLog struct {
	t   testing.TB
	key testKey

	mu sync.Mutex
	// Guarded by mu:
	entries [][]byte
	hashes  []tlog.Hash // tlog stored hashes of entries
	// cpSize, if not nil, is the size of the checkpoint served (a stale or
	// rolled-back checkpoint) instead of the full tree.
	cpSize *uint64
	// cpRaw, if not nil, is served as the checkpoint as is.
	cpRaw []byte
	// bundleSrc, hashSrc and upperSrc, if not nil, serve entry bundles,
	// level-0 hash tiles or upper hash tiles from another log: a log whose
	// data does not match its checkpoint.
	bundleSrc, hashSrc, upperSrc *fakeLog
	// dropPartials makes partial tiles 404 once the full tile exists, as
	// C2SP tlog-tiles allows.
	dropPartials bool
	// failStatus, if not 0, answers every request with this status.
	failStatus int
	// reqs lists the paths requested, in order.
	reqs []string
	// notify, if not nil, gets the path of every request (non-blocking).
	notify chan string
}

type testKey struct {
	name     string
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

func newTestKey(t testing.TB, name string) testKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{name: name, signer: s, verifier: v, vkey: vkey}
}

func newFakeLog(t testing.TB, key testKey) *fakeLog {
	return &fakeLog{t: t, key: key}
}

// testEntry is a valid entry; reason makes entries of different logs
// differ.
func testEntry(t testing.TB, i int, reason string) []byte {
	t.Helper()
	e := transparency.Entry{
		Version:  transparency.EntryVersion,
		Type:     "operator.note",
		Time:     time.Date(2026, 1, 2, 3, 4, 5, i, time.UTC),
		Actor:    "did:key:z6MkTest",
		Decision: transparency.DecisionRecorded,
		Reason:   fmt.Sprintf("%s %d", reason, i),
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (l *fakeLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

// appendRaw adds entries as given (valid or not).
func (l *fakeLog) appendRaw(entries ...[]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		hs, err := tlog.StoredHashes(int64(len(l.entries)), e, l)
		if err != nil {
			l.t.Fatal(err)
		}
		l.entries = append(l.entries, e)
		l.hashes = append(l.hashes, hs...)
	}
}

// grow appends valid entries until the log has size n.
func (l *fakeLog) grow(n int, reason string) *fakeLog {
	for i := l.size(); i < n; i++ {
		l.appendRaw(testEntry(l.t, i, reason))
	}
	return l
}

func (l *fakeLog) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *fakeLog) rootLocked(size uint64) transparency.Hash {
	h, err := tlog.TreeHash(int64(size), l)
	if err != nil {
		l.t.Fatal(err)
	}
	return transparency.Hash(h)
}

func (l *fakeLog) root(size uint64) transparency.Hash {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rootLocked(size)
}

// signCheckpoint signs a checkpoint of the tree of the given size with k.
// The note is built with sumdb/note directly, not with our SignCheckpoint.
func signCheckpoint(t testing.TB, k testKey, size uint64, root transparency.Hash) []byte {
	t.Helper()
	text := fmt.Sprintf("%s\n%d\n%s\n", k.name, size, root)
	b, err := note.Sign(&note.Note{Text: text}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (l *fakeLog) checkpoint(size uint64) []byte {
	return signCheckpoint(l.t, l.key, size, l.root(size))
}

// receipt builds a receipt for entry index in the tree of the given size.
func (l *fakeLog) receipt(index, size uint64) *transparency.Receipt {
	l.mu.Lock()
	p, err := tlog.ProveRecord(int64(size), int64(index), l)
	entry := l.entries[index]
	l.mu.Unlock()
	if err != nil {
		l.t.Fatal(err)
	}
	proof := make([]transparency.Hash, len(p))
	for i := range p {
		proof[i] = transparency.Hash(p[i])
	}
	return &transparency.Receipt{
		Format:         transparency.ReceiptFormat,
		Index:          index,
		Entry:          append([]byte(nil), entry...),
		InclusionProof: proof,
		Checkpoint:     string(l.checkpoint(size)),
	}
}

// consistencyProof proves the tree of size from is a prefix of the tree of
// size to, with tlog.ProveTree.
func (l *fakeLog) consistencyProof(from, to uint64) []transparency.Hash {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.consistencyProofLocked(from, to)
}

func (l *fakeLog) consistencyProofLocked(from, to uint64) []transparency.Hash {
	if from == 0 || from == to {
		return []transparency.Hash{}
	}
	p, err := tlog.ProveTree(int64(to), int64(from), l)
	if err != nil {
		l.t.Fatal(err)
	}
	out := make([]transparency.Hash, len(p))
	for i := range p {
		out[i] = transparency.Hash(p[i])
	}
	return out
}

func (l *fakeLog) set(f func(l *fakeLog)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// requests returns the paths requested so far and forgets them.
func (l *fakeLog) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (l *fakeLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r.URL.Path)
	if l.notify != nil {
		select {
		case l.notify <- r.URL.Path:
		default:
		}
	}
	if l.failStatus != 0 {
		writeAPIError(w, l.failStatus, "log_failed", "the log has failed")
		return
	}
	size := uint64(len(l.entries))
	switch {
	case r.URL.Path == "/log/checkpoint":
		b := l.cpRaw
		if b == nil {
			s := size
			if l.cpSize != nil {
				s = *l.cpSize
			}
			b = signCheckpoint(l.t, l.key, s, l.rootLocked(s))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(b)
	case r.URL.Path == "/log/key":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, l.key.vkey)
	case strings.HasPrefix(r.URL.Path, "/log/tile/"):
		l.serveTile(w, strings.TrimPrefix(r.URL.Path, "/log/"))
	case r.URL.Path == "/log/v1/proof/consistency":
		from, err1 := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		to, err2 := strconv.ParseUint(r.URL.Query().Get("to"), 10, 64)
		if err1 != nil || err2 != nil || from > to {
			writeAPIError(w, http.StatusBadRequest, "bad_size", "bad from or to")
			return
		}
		if to > size {
			writeAPIError(w, http.StatusNotFound, "not_found", "tree too small")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"from": from, "to": to, "proof": transparency.EncodeHashes(l.consistencyProofLocked(from, to)),
		})
	default:
		writeAPIError(w, http.StatusNotFound, "not_found", "no such resource")
	}
}

// serveTile serves a C2SP tile path ("tile/0/001.p/5", "tile/entries/..."),
// parsed by tlog after inserting the tile height it expects.
func (l *fakeLog) serveTile(w http.ResponseWriter, p string) {
	rest := strings.TrimPrefix(p, "tile/")
	rest = strings.Replace(rest, "entries/", "data/", 1)
	tile, err := tlog.ParseTilePath("tile/8/" + rest)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "bad_tile_path", "malformed tile path")
		return
	}
	src := l
	if tile.L == -1 && l.bundleSrc != nil {
		src = l.bundleSrc
	}
	if tile.L == 0 && l.hashSrc != nil {
		src = l.hashSrc
	}
	if tile.L > 0 && l.upperSrc != nil {
		src = l.upperSrc
	}
	if src != l {
		src.mu.Lock()
		defer src.mu.Unlock()
	}
	size := int64(len(src.entries))
	// A level-L tile holds the nodes N*256 .. N*256+W-1 of height 8L,
	// each covering 256^L leaves.
	level := max(tile.L, 0)
	if (tile.N*256+int64(tile.W))<<(8*level) > size {
		writeAPIError(w, http.StatusNotFound, "not_found", "tile not yet available")
		return
	}
	if l.dropPartials && tile.W < 256 && (tile.N*256+256)<<(8*level) <= size {
		writeAPIError(w, http.StatusNotFound, "not_found", "partial tile deleted")
		return
	}
	var b []byte
	if tile.L == -1 {
		for i := int64(0); i < int64(tile.W); i++ {
			e := src.entries[tile.N*256+i]
			b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
			b = append(b, e...)
		}
	} else if b, err = tlog.ReadTileData(tile, src); err != nil {
		l.t.Errorf("ReadTileData(%v): %v", tile, err)
		writeAPIError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

// serve starts an httptest server for l on 127.0.0.1.
func (l *fakeLog) serve(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return srv.URL
}

// deadURL returns a loopback URL where nothing listens.
func deadURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
