package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBadInput sends bad input to every endpoint: each gets the right 4xx
// with a JSON error body and a stable code, and nothing is appended.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 3 {
		e.appendNote(fmt.Sprintf("seed %d", i))
	}
	sizeBefore := e.log.Size()
	cpBefore := e.get("/log/checkpoint").body
	// A leaf hash that is well-formed but not in the log.
	unknownLeaf := strings.Repeat("ab", 32)
	// Entry 2's leaf hash, which is not in the tree of size 2.
	leaf2 := e.get("/log/v1/proof/inclusion?index=2")
	var p2 InclusionProofResponse
	decodeStrict(t, leaf2.body, &p2)

	op := e.operatorHeader()
	withCT := func(ct string) http.Header {
		return http.Header{"Authorization": {"Bearer " + e.token}, "Content-Type": {ct}}
	}
	huge := "99999999999999999999"
	const post = "POST"
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		body               string
		status             int
		code               string
	}{
		// GET /log/v1/entries/{index}
		{"entry index = size", "GET", "/log/v1/entries/3", nil, "", 404, CodeNotFound},
		{"entry max uint64", "GET", "/log/v1/entries/18446744073709551615", nil, "", 404, CodeNotFound},
		{"entry negative", "GET", "/log/v1/entries/-1", nil, "", 400, CodeBadIndex},
		{"entry non-numeric", "GET", "/log/v1/entries/abc", nil, "", 400, CodeBadIndex},
		{"entry overflow", "GET", "/log/v1/entries/" + huge, nil, "", 400, CodeBadIndex},
		{"entry 2^64", "GET", "/log/v1/entries/18446744073709551616", nil, "", 400, CodeBadIndex},
		{"entry leading zero", "GET", "/log/v1/entries/01", nil, "", 400, CodeBadIndex},
		{"entry plus sign", "GET", "/log/v1/entries/+1", nil, "", 400, CodeBadIndex},
		{"entry hex", "GET", "/log/v1/entries/0x1", nil, "", 400, CodeBadIndex},
		{"entry fraction", "GET", "/log/v1/entries/1.0", nil, "", 400, CodeBadIndex},
		{"entry space", "GET", "/log/v1/entries/%201", nil, "", 400, CodeBadIndex},
		{"entry underscore", "GET", "/log/v1/entries/1_0", nil, "", 400, CodeBadIndex},
		{"entry extra segment", "GET", "/log/v1/entries/1/x", nil, "", 404, CodeNotFound},

		// GET /log/v1/receipts/{index}
		{"receipt index = size", "GET", "/log/v1/receipts/3", nil, "", 404, CodeNotFound},
		{"receipt negative", "GET", "/log/v1/receipts/-5", nil, "", 400, CodeBadIndex},
		{"receipt non-numeric", "GET", "/log/v1/receipts/x", nil, "", 400, CodeBadIndex},
		{"receipt overflow", "GET", "/log/v1/receipts/" + huge, nil, "", 400, CodeBadIndex},

		// GET /log/v1/proof/inclusion
		{"inclusion no params", "GET", "/log/v1/proof/inclusion", nil, "", 400, CodeBadRequest},
		{"inclusion index and hash", "GET", "/log/v1/proof/inclusion?index=0&leaf_hash=" + unknownLeaf, nil, "", 400, CodeBadRequest},
		{"inclusion repeated index", "GET", "/log/v1/proof/inclusion?index=0&index=1", nil, "", 400, CodeBadRequest},
		{"inclusion unknown param", "GET", "/log/v1/proof/inclusion?index=0&tree=1", nil, "", 400, CodeBadRequest},
		{"inclusion bad query escape", "GET", "/log/v1/proof/inclusion?index=%zz", nil, "", 400, CodeBadRequest},
		{"inclusion index = size", "GET", "/log/v1/proof/inclusion?index=3", nil, "", 404, CodeNotFound},
		{"inclusion negative index", "GET", "/log/v1/proof/inclusion?index=-1", nil, "", 400, CodeBadIndex},
		{"inclusion non-numeric index", "GET", "/log/v1/proof/inclusion?index=one", nil, "", 400, CodeBadIndex},
		{"inclusion empty index", "GET", "/log/v1/proof/inclusion?index=", nil, "", 400, CodeBadIndex},
		{"inclusion huge index", "GET", "/log/v1/proof/inclusion?index=" + huge, nil, "", 400, CodeBadIndex},
		{"inclusion size > tree size", "GET", "/log/v1/proof/inclusion?index=0&size=4", nil, "", 400, CodeBadSize},
		{"inclusion huge size", "GET", "/log/v1/proof/inclusion?index=0&size=" + huge, nil, "", 400, CodeBadSize},
		{"inclusion size 0", "GET", "/log/v1/proof/inclusion?index=0&size=0", nil, "", 400, CodeBadSize},
		{"inclusion index not in size", "GET", "/log/v1/proof/inclusion?index=2&size=2", nil, "", 400, CodeBadSize},
		{"inclusion negative size", "GET", "/log/v1/proof/inclusion?index=0&size=-1", nil, "", 400, CodeBadSize},
		{"inclusion malformed hash", "GET", "/log/v1/proof/inclusion?leaf_hash=zz", nil, "", 400, CodeBadHash},
		{"inclusion 31-byte hash", "GET", "/log/v1/proof/inclusion?leaf_hash=" + strings.Repeat("ab", 31), nil, "", 400, CodeBadHash},
		{"inclusion 33-byte hash", "GET", "/log/v1/proof/inclusion?leaf_hash=" + strings.Repeat("ab", 33), nil, "", 400, CodeBadHash},
		{"inclusion empty hash", "GET", "/log/v1/proof/inclusion?leaf_hash=", nil, "", 400, CodeBadHash},
		{"inclusion unknown hash", "GET", "/log/v1/proof/inclusion?leaf_hash=" + unknownLeaf, nil, "", 404, CodeNotFound},
		{"inclusion hash not in size", "GET", "/log/v1/proof/inclusion?size=2&leaf_hash=" + fmt.Sprintf("%x", p2.LeafHash[:]), nil, "", 404, CodeNotFound},

		// GET /log/v1/proof/consistency
		{"consistency no from", "GET", "/log/v1/proof/consistency", nil, "", 400, CodeBadRequest},
		{"consistency only to", "GET", "/log/v1/proof/consistency?to=2", nil, "", 400, CodeBadRequest},
		{"consistency unknown param", "GET", "/log/v1/proof/consistency?from=1&size=2", nil, "", 400, CodeBadRequest},
		{"consistency non-numeric", "GET", "/log/v1/proof/consistency?from=a", nil, "", 400, CodeBadSize},
		{"consistency negative", "GET", "/log/v1/proof/consistency?from=-1", nil, "", 400, CodeBadSize},
		{"consistency huge from", "GET", "/log/v1/proof/consistency?from=" + huge, nil, "", 400, CodeBadSize},
		{"consistency huge to", "GET", "/log/v1/proof/consistency?from=1&to=" + huge, nil, "", 400, CodeBadSize},
		{"consistency from 0", "GET", "/log/v1/proof/consistency?from=0", nil, "", 400, CodeBadRange},
		{"consistency from > to", "GET", "/log/v1/proof/consistency?from=3&to=2", nil, "", 400, CodeBadRange},
		{"consistency from > size", "GET", "/log/v1/proof/consistency?from=4", nil, "", 400, CodeBadRange},
		{"consistency to > size", "GET", "/log/v1/proof/consistency?from=1&to=4", nil, "", 400, CodeBadSize},

		// GET /log/tile/...
		{"tile not yet available", "GET", "/log/tile/0/001", nil, "", 404, CodeNotFound},
		{"tile partial beyond size", "GET", "/log/tile/0/000.p/4", nil, "", 404, CodeNotFound},
		{"tile full not yet", "GET", "/log/tile/0/000", nil, "", 404, CodeNotFound},
		{"entries not yet available", "GET", "/log/tile/entries/000", nil, "", 404, CodeNotFound},
		{"entries far away", "GET", "/log/tile/entries/x999/x999/x999/x999/x999/x999/999", nil, "", 400, CodeBadTilePath},
		{"tile level too high", "GET", "/log/tile/8/000", nil, "", 400, CodeBadTilePath},
		{"tile short index", "GET", "/log/tile/0/1", nil, "", 400, CodeBadTilePath},
		{"tile width 0", "GET", "/log/tile/0/000.p/0", nil, "", 400, CodeBadTilePath},
		{"tile width 256", "GET", "/log/tile/0/000.p/256", nil, "", 400, CodeBadTilePath},
		{"tile width leading zero", "GET", "/log/tile/0/000.p/01", nil, "", 400, CodeBadTilePath},
		{"tile leading zero group", "GET", "/log/tile/0/x000/001", nil, "", 400, CodeBadTilePath},
		{"tile missing index", "GET", "/log/tile/0", nil, "", 400, CodeBadTilePath},
		{"tile empty", "GET", "/log/tile/", nil, "", 400, CodeBadTilePath},
		{"tile double slash", "GET", "/log/tile/0//000", nil, "", 400, CodeBadTilePath},
		{"tile dot segment", "GET", "/log/tile/0/../0/000", nil, "", 400, CodeBadTilePath},
		{"tile escaped digits", "GET", "/log/tile/0/%30%30%30", nil, "", 400, CodeBadTilePath},
		{"tile with query", "GET", "/log/tile/0/000?x=1", nil, "", 400, CodeBadTilePath},
		{"tile sumdb height", "GET", "/log/tile/8/0/000", nil, "", 400, CodeBadTilePath},
		{"tile data", "GET", "/log/tile/data/000", nil, "", 400, CodeBadTilePath},
		{"tile trailing slash", "GET", "/log/tile/0/000/", nil, "", 400, CodeBadTilePath},

		// POST /log/v1/entries
		{"post no token", post, "/log/v1/entries", http.Header{"Content-Type": {"application/json"}}, `{"reason":"x"}`, 401, CodeUnauthorized},
		{"post wrong token", post, "/log/v1/entries", http.Header{"Authorization": {"Bearer nope"}, "Content-Type": {"application/json"}}, `{"reason":"x"}`, 401, CodeUnauthorized},
		{"post token prefix", post, "/log/v1/entries", http.Header{"Authorization": {"Bearer " + e.token[:10]}, "Content-Type": {"application/json"}}, `{"reason":"x"}`, 401, CodeUnauthorized},
		{"post token plus junk", post, "/log/v1/entries", http.Header{"Authorization": {"Bearer " + e.token + "x"}, "Content-Type": {"application/json"}}, `{"reason":"x"}`, 401, CodeUnauthorized},
		{"post basic auth", post, "/log/v1/entries", http.Header{"Authorization": {"Basic " + e.token}, "Content-Type": {"application/json"}}, `{"reason":"x"}`, 401, CodeUnauthorized},
		{"post bare token", post, "/log/v1/entries", http.Header{"Authorization": {e.token}, "Content-Type": {"application/json"}}, `{"reason":"x"}`, 401, CodeUnauthorized},
		{"post no content type", post, "/log/v1/entries", http.Header{"Authorization": {"Bearer " + e.token}}, `{"reason":"x"}`, 415, CodeUnsupportedMediaType},
		{"post text/plain", post, "/log/v1/entries", withCT("text/plain"), `{"reason":"x"}`, 415, CodeUnsupportedMediaType},
		{"post latin1", post, "/log/v1/entries", withCT("application/json; charset=latin1"), `{"reason":"x"}`, 415, CodeUnsupportedMediaType},
		{"post bad json", post, "/log/v1/entries", op, `{"reason":`, 400, CodeBadJSON},
		{"post not json", post, "/log/v1/entries", op, `reason=x`, 400, CodeBadJSON},
		{"post empty body", post, "/log/v1/entries", op, ``, 400, CodeBadJSON},
		{"post array", post, "/log/v1/entries", op, `[{"reason":"x"}]`, 400, CodeBadJSON},
		{"post null", post, "/log/v1/entries", op, `null`, 400, CodeBadJSON},
		{"post unknown field", post, "/log/v1/entries", op, `{"reason":"x","decision":"allowed"}`, 400, CodeBadJSON},
		{"post trailing data", post, "/log/v1/entries", op, `{"reason":"x"} {"reason":"y"}`, 400, CodeBadJSON},
		{"post trailing garbage", post, "/log/v1/entries", op, `{"reason":"x"}x`, 400, CodeBadJSON},
		{"post wrong type", post, "/log/v1/entries", op, `{"reason":5}`, 400, CodeBadJSON},
		{"post missing reason", post, "/log/v1/entries", op, `{"resource":"r"}`, 400, CodeInvalidEntry},
		{"post blank reason", post, "/log/v1/entries", op, `{"reason":"  "}`, 400, CodeInvalidEntry},
		{"post reason too long", post, "/log/v1/entries", op, `{"reason":"` + strings.Repeat("x", 5000) + `"}`, 400, CodeInvalidEntry},
		{"post bad digest", post, "/log/v1/entries", op, `{"reason":"x","request_digest":"md5:00"}`, 400, CodeInvalidEntry},
		{"post invalid utf-8", post, "/log/v1/entries", op, "{\"reason\":\"\xff\"}", 400, CodeBadJSON},
		{"post case-folded field", post, "/log/v1/entries", op, `{"REASON":"x"}`, 400, CodeBadJSON},
		{"post duplicate field", post, "/log/v1/entries", op, `{"reason":"x","reason":"y"}`, 400, CodeBadJSON},
		{"post oversized body", post, "/log/v1/entries", op, `{"reason":"` + strings.Repeat("x", 70<<10) + `"}`, 413, CodeBodyTooLarge},

		// Methods and paths.
		{"put checkpoint", "PUT", "/log/checkpoint", nil, "", 405, CodeMethodNotAllowed},
		{"post healthz", post, "/healthz", nil, "", 405, CodeMethodNotAllowed},
		{"delete entry", "DELETE", "/log/v1/entries/0", nil, "", 405, CodeMethodNotAllowed},
		{"get entries collection", "GET", "/log/v1/entries", nil, "", 405, CodeMethodNotAllowed},
		{"put entries collection", "PUT", "/log/v1/entries", op, `{"reason":"x"}`, 405, CodeMethodNotAllowed},
		{"post tile", post, "/log/tile/0/000", nil, "", 405, CodeMethodNotAllowed},
		{"post receipt", post, "/log/v1/receipts/0", op, `{"reason":"x"}`, 405, CodeMethodNotAllowed},
		{"post inclusion", post, "/log/v1/proof/inclusion?index=0", nil, "", 405, CodeMethodNotAllowed},
		{"unknown path", "GET", "/nope", nil, "", 404, CodeNotFound},
		{"unknown log path", "GET", "/log/v2/entries/0", nil, "", 404, CodeNotFound},
		{"root", "GET", "/", nil, "", 404, CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.header, []byte(tc.body))
			wantError(t, r, tc.status, tc.code)
			if tc.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
			}
			if cc := r.header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
				t.Errorf("error response is cacheable: %q", cc)
			}
		})
	}
	if got := e.log.Size(); got != sizeBefore {
		t.Errorf("bad requests changed the tree size from %d to %d", sizeBefore, got)
	}
	if cp := e.get("/log/checkpoint").body; !bytes.Equal(cp, cpBefore) {
		t.Errorf("bad requests changed the checkpoint:\n%s\nto\n%s", cpBefore, cp)
	}
	if e.logs.contains("level=ERROR") {
		t.Errorf("client mistakes were logged as server errors:\n%s", e.logs)
	}
}

func TestOperatorDisabled(t *testing.T) {
	e := newEnv(t, envOptions{token: "-"})
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		r := e.do("POST", "/log/v1/entries", http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}}, []byte(`{"reason":"x"}`))
		wantError(t, r, http.StatusForbidden, CodeOperatorDisabled)
	}
	if e.log.Size() != 0 {
		t.Errorf("size %d after refused appends", e.log.Size())
	}
}

func TestAcceptedContentTypes(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"} {
		r := e.do("POST", "/log/v1/entries", http.Header{"Authorization": {"bearer " + e.token}, "Content-Type": {ct}},
			[]byte(`{"reason":"ok","resource":"r","request_digest":"sha256:`+strings.Repeat("0", 64)+`"}`))
		if r.status != http.StatusCreated {
			t.Errorf("%q: %d %s", ct, r.status, r.body)
		}
		if got := e.log.Size(); got != uint64(i+1) {
			t.Errorf("size %d after %d appends", got, i+1)
		}
	}
}
