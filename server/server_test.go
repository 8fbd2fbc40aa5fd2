package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/tlog"
)

// refTree is an independent reference: golang.org/x/mod/sumdb/tlog over
// the entry bytes, in memory.
type refTree struct {
	hashes []tlog.Hash
	n      int64
}

func (r *refTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(r.hashes)) {
			return nil, fmt.Errorf("ref: no hash %d", x)
		}
		out[i] = r.hashes[x]
	}
	return out, nil
}

func (r *refTree) add(t *testing.T, entry []byte) {
	hs, err := tlog.StoredHashes(r.n, entry, r)
	if err != nil {
		t.Fatal(err)
	}
	r.hashes = append(r.hashes, hs...)
	r.n++
}

func (r *refTree) root(t *testing.T, n int64) transparency.Hash {
	h, err := tlog.TreeHash(n, r)
	if err != nil {
		t.Fatal(err)
	}
	return transparency.Hash(h)
}

// httpTiles is a tlog.TileReader that reads C2SP tlog-tiles over HTTP, as
// an unmodified sumdb/tlog client would (tlog's own paths carry the tile
// height, which C2SP tlog-tiles leaves out).
type httpTiles struct {
	e *testEnv
}

func (h httpTiles) Height() int { return transparency.TileHeight }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := "/log/tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
		r := h.e.get(p)
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
		out[i] = r.body
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func TestReadPath(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()

	// A few entries over HTTP, then enough through the Go API, from
	// concurrent writers, to fill a full tile and start the next.
	for i := range 3 {
		_, v := e.appendNote(fmt.Sprintf("note %d", i))
		if v.Entry.Type != OperatorNoteType || v.Entry.Decision != OperatorNoteDecision ||
			!v.Entry.Time.Equal(testNow) || v.Entry.Reason != fmt.Sprintf("note %d", i) {
			t.Errorf("appended entry %d = %+v", i, v.Entry)
		}
		if v.Index != uint64(i) || v.Checkpoint.Size != uint64(i+1) {
			t.Errorf("receipt %d: index %d in checkpoint of size %d", i, v.Index, v.Checkpoint.Size)
		}
	}
	const size = 300
	var wg sync.WaitGroup
	errs := make(chan error, size)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 3 + w; i < size; i += 8 {
				_, err := e.log.Append(ctx, &transparency.Entry{
					Version: 1, Type: "test.bulk", Time: testNow, Reason: fmt.Sprintf("bulk %d", i),
				}, nil)
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every entry, by index, into the reference tree.
	ref := &refTree{}
	entries := make([][]byte, size)
	for i := range size {
		r := e.get(fmt.Sprintf("/log/v1/entries/%d", i))
		if r.status != http.StatusOK {
			t.Fatalf("entry %d: %d %s", i, r.status, r.body)
		}
		var er EntryResponse
		decodeStrict(t, r.body, &er)
		if er.Index != uint64(i) || er.LeafHash != transparency.LeafHash(er.Entry) {
			t.Fatalf("entry %d: got index %d, leaf %s for %q", i, er.Index, er.LeafHash, er.Entry)
		}
		if _, err := transparency.ParseEntry(er.Entry); err != nil {
			t.Fatalf("entry %d does not parse: %v", i, err)
		}
		entries[i] = er.Entry
		ref.add(t, er.Entry)
	}
	root := ref.root(t, size)

	t.Run("healthz", func(t *testing.T) {
		r := e.get("/healthz")
		var h HealthResponse
		decodeStrict(t, r.body, &h)
		if r.status != http.StatusOK || h.Status != "ok" || h.TreeSize != size {
			t.Errorf("healthz = %d %+v", r.status, h)
		}
	})

	t.Run("checkpoint", func(t *testing.T) {
		r := e.get("/log/checkpoint")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("checkpoint: %d %q", r.status, r.header.Get("Content-Type"))
		}
		cp, err := transparency.OpenCheckpoint(r.body, e.verifier)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Origin != testOrigin || cp.Size != size || cp.Root != root {
			t.Errorf("checkpoint = %+v, want size %d root %s", cp.Checkpoint, size, root)
		}
	})

	t.Run("key", func(t *testing.T) {
		r := e.get("/log/key")
		if r.status != http.StatusOK || string(r.body) != e.vkey+"\n" ||
			r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("key = %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
	})

	t.Run("inclusion", func(t *testing.T) {
		for _, tc := range []struct {
			index, size uint64 // size 0: the latest
		}{
			{0, 0}, {299, 0}, {0, 1}, {5, 6}, {255, 256}, {256, 257}, {256, 300}, {100, 257}, {2, 3},
		} {
			q := fmt.Sprintf("index=%d", tc.index)
			if tc.size != 0 {
				q += fmt.Sprintf("&size=%d", tc.size)
			}
			r := e.get("/log/v1/proof/inclusion?" + q)
			if r.status != http.StatusOK {
				t.Errorf("%s: %d %s", q, r.status, r.body)
				continue
			}
			var p InclusionProofResponse
			decodeStrict(t, r.body, &p)
			wantSize := tc.size
			if wantSize == 0 {
				wantSize = size
				cp, err := transparency.OpenCheckpoint([]byte(p.Checkpoint), e.verifier)
				if err != nil || cp.Size != size || cp.Root != root {
					t.Errorf("%s: checkpoint %v %v", q, cp, err)
				}
			} else if p.Checkpoint != "" {
				t.Errorf("%s: checkpoint present with an explicit size", q)
			}
			if p.Index != tc.index || p.TreeSize != wantSize || p.LeafHash != transparency.LeafHash(entries[tc.index]) {
				t.Errorf("%s: got %+v", q, p)
			}
			if err := transparency.VerifyInclusion(tc.index, wantSize, p.LeafHash, p.Proof, ref.root(t, int64(wantSize))); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})

	t.Run("inclusion by leaf hash", func(t *testing.T) {
		const index = 200
		leaf := transparency.LeafHash(entries[index])
		for _, form := range []string{
			hex.EncodeToString(leaf[:]),
			strings.ToUpper(hex.EncodeToString(leaf[:])),
			url.QueryEscape(base64.StdEncoding.EncodeToString(leaf[:])),
			url.QueryEscape(base64.RawStdEncoding.EncodeToString(leaf[:])),
			base64.URLEncoding.EncodeToString(leaf[:]),
			base64.RawURLEncoding.EncodeToString(leaf[:]),
			// An unescaped '+' arrives as a space.
			base64.StdEncoding.EncodeToString(leaf[:]),
		} {
			for _, sz := range []string{"", "&size=201", "&size=300"} {
				r := e.get("/log/v1/proof/inclusion?leaf_hash=" + form + sz)
				if r.status != http.StatusOK {
					t.Errorf("%s%s: %d %s", form, sz, r.status, r.body)
					continue
				}
				var p InclusionProofResponse
				decodeStrict(t, r.body, &p)
				if p.Index != index || p.LeafHash != leaf {
					t.Errorf("%s: got %+v", form, p)
				}
				if err := transparency.VerifyInclusion(p.Index, p.TreeSize, leaf, p.Proof, ref.root(t, int64(p.TreeSize))); err != nil {
					t.Errorf("%s%s: %v", form, sz, err)
				}
			}
		}
	})

	t.Run("consistency", func(t *testing.T) {
		for _, tc := range []struct{ from, to uint64 }{
			{1, 0}, {10, 0}, {300, 0}, {1, 300}, {7, 8}, {256, 300}, {255, 257}, {300, 300}, {4, 4},
		} {
			q := fmt.Sprintf("from=%d", tc.from)
			if tc.to != 0 {
				q += fmt.Sprintf("&to=%d", tc.to)
			}
			r := e.get("/log/v1/proof/consistency?" + q)
			if r.status != http.StatusOK {
				t.Errorf("%s: %d %s", q, r.status, r.body)
				continue
			}
			var p ConsistencyProofResponse
			decodeStrict(t, r.body, &p)
			wantTo := tc.to
			if wantTo == 0 {
				wantTo = size
				cp, err := transparency.OpenCheckpoint([]byte(p.Checkpoint), e.verifier)
				if err != nil || cp.Size != size || cp.Root != root {
					t.Errorf("%s: checkpoint %v %v", q, cp, err)
				}
			} else if p.Checkpoint != "" {
				t.Errorf("%s: checkpoint present with an explicit to", q)
			}
			if p.From != tc.from || p.To != wantTo || p.Proof == nil {
				t.Errorf("%s: got %+v", q, p)
			}
			if err := transparency.VerifyConsistency(tc.from, wantTo, ref.root(t, int64(tc.from)), ref.root(t, int64(wantTo)), p.Proof); err != nil {
				t.Errorf("%s: %v", q, err)
			}
			// The same proof checked by sumdb/tlog.
			tp := make(tlog.TreeProof, len(p.Proof))
			for i, h := range p.Proof {
				tp[i] = tlog.Hash(h)
			}
			if tc.from < wantTo {
				if err := tlog.CheckTree(tp, int64(wantTo), tlog.Hash(ref.root(t, int64(wantTo))), int64(tc.from), tlog.Hash(ref.root(t, int64(tc.from)))); err != nil {
					t.Errorf("%s: tlog.CheckTree: %v", q, err)
				}
			}
		}
	})

	t.Run("receipt", func(t *testing.T) {
		for _, index := range []uint64{0, 1, 255, 256, 299} {
			r := e.get(fmt.Sprintf("/log/v1/receipts/%d", index))
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("receipt %d: %d %s", index, r.status, r.body)
			}
			rc, err := transparency.ParseReceipt(r.body)
			if err != nil {
				t.Fatal(err)
			}
			v, err := transparency.VerifyReceipt(rc, e.verifier)
			if err != nil {
				t.Fatalf("receipt %d: %v", index, err)
			}
			if v.Index != index || string(v.EntryBytes) != string(entries[index]) || v.Checkpoint.Size != size {
				t.Errorf("receipt %d: index %d, size %d", index, v.Index, v.Checkpoint.Size)
			}
		}
	})

	t.Run("tiles read by sumdb/tlog", func(t *testing.T) {
		hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: tlog.Hash(root)}, httpTiles{e})
		for _, index := range []int64{0, 1, 100, 255, 256, 299} {
			p, err := tlog.ProveRecord(size, index, hr)
			if err != nil {
				t.Fatalf("ProveRecord(%d) over tiles: %v", index, err)
			}
			leaf := tlog.RecordHash(entries[index])
			if err := tlog.CheckRecord(p, size, tlog.Hash(root), index, leaf); err != nil {
				t.Errorf("CheckRecord(%d): %v", index, err)
			}
		}
		tp, err := tlog.ProveTree(size, 77, hr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(tp, size, tlog.Hash(root), 77, tlog.Hash(ref.root(t, 77))); err != nil {
			t.Errorf("CheckTree over tiles: %v", err)
		}
	})

	t.Run("tiles", func(t *testing.T) {
		for _, tc := range []struct {
			path      string
			want      func() []byte
			immutable bool
		}{
			{"/log/tile/0/000", func() []byte { return refTile(t, ref, 0, 0, 256) }, true},
			{"/log/tile/0/001.p/44", func() []byte { return refTile(t, ref, 0, 1, 44) }, false},
			{"/log/tile/1/000.p/1", func() []byte { return refTile(t, ref, 1, 0, 1) }, false},
			{"/log/tile/entries/000", func() []byte { return bundle(entries[:256]) }, true},
			{"/log/tile/entries/001.p/44", func() []byte { return bundle(entries[256:300]) }, false},
		} {
			r := e.get(tc.path)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream" {
				t.Errorf("%s: %d %q %s", tc.path, r.status, r.header.Get("Content-Type"), r.body)
				continue
			}
			if want := tc.want(); string(r.body) != string(want) {
				t.Errorf("%s: %d bytes differ from the reference's %d", tc.path, len(r.body), len(want))
			}
			cc := r.header.Get("Cache-Control")
			if tc.immutable != (cc == "public, max-age=31536000, immutable") {
				t.Errorf("%s: Cache-Control %q", tc.path, cc)
			}
		}
	})
}

func refTile(t *testing.T, ref *refTree, level int, n int64, w int) []byte {
	b, err := tlog.ReadTileData(tlog.Tile{H: transparency.TileHeight, L: level, N: n, W: w}, ref)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bundle(entries [][]byte) []byte {
	var b []byte
	for _, e := range entries {
		b = transparency.AppendBundleEntry(b, e)
	}
	return b
}

func TestHEAD(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.appendNote("x")
	for _, p := range []string{"/healthz", "/log/checkpoint", "/log/key", "/log/v1/entries/0", "/log/tile/entries/000.p/1"} {
		r := e.do("HEAD", p, nil, nil)
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("HEAD %s: %d, %d bytes", p, r.status, len(r.body))
		}
	}
}

func TestConcurrentHTTPAppends(t *testing.T) {
	e := newEnv(t, envOptions{})
	const writers, each = 8, 8
	var mu sync.Mutex
	seen := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				reason := fmt.Sprintf("writer %d note %d", w, i)
				body, _ := json.Marshal(OperatorNoteRequest{Reason: reason, Resource: "res:" + reason})
				req, _ := http.NewRequest("POST", e.srv.URL+"/log/v1/entries", strings.NewReader(string(body)))
				req.Header = e.operatorHeader()
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var rc transparency.Receipt
				err = json.NewDecoder(resp.Body).Decode(&rc)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusCreated {
					t.Errorf("append: %d %v", resp.StatusCode, err)
					return
				}
				v, err := transparency.VerifyReceipt(&rc, e.verifier)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := seen[v.Index]; dup {
					t.Errorf("index %d given to %q and %q", v.Index, prev, reason)
				}
				seen[v.Index] = reason
				mu.Unlock()
				if v.Entry.Reason != reason || v.Entry.Resource != "res:"+reason {
					t.Errorf("receipt for %q holds %+v", reason, v.Entry)
				}
			}
		}()
	}
	wg.Wait()
	if got := e.log.Size(); got != writers*each || len(seen) != writers*each {
		t.Errorf("size %d, %d distinct indexes; want %d", got, len(seen), writers*each)
	}
}
